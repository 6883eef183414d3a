"""Items between their replica form (node.gossip.store) and their wire form
(node.messages.gossip), and entries of a gossip replica's WAL.

A gossip replica's WAL holds one entry per item that changed, its data the
item's wire form packed by msgpack: storage keeps its own record encoding,
not the wire codec's (node.wal). Replaying every entry into an empty store
rebuilds the state, since merges are commutative and idempotent.
"""

from __future__ import annotations

from typing import Any

import msgpack

from node.errors import InvalidMessage
from node.gossip.crdt import ORSet, Register, Stamp
from node.gossip.store import Item
from node.messages.gossip import WireItem, WireStamp, WireTag

__all__ = ["item_from_wire", "item_to_wire", "pack_item", "unpack_item"]


def _stamp_to_wire(stamp: Stamp) -> WireStamp:
    return WireStamp(stamp.wall_ms, stamp.logical, stamp.node)


def _stamp_from_wire(stamp: WireStamp) -> Stamp:
    return Stamp(stamp.wall_ms, stamp.logical, stamp.node)


def item_to_wire(item: Item) -> WireItem:
    if item.register is not None:
        return WireItem("r", item.key, item.register.value, _stamp_to_wire(item.register.stamp))
    members = item.members or ORSet()
    adds = tuple(
        WireTag(element, _stamp_to_wire(tag))
        for element, tags in sorted(members.adds.items())
        for tag in sorted(tags)
    )
    removed = tuple(_stamp_to_wire(tag) for tag in sorted(members.removed))
    return WireItem("s", item.key, adds=adds, removed=removed)


def item_from_wire(wire: WireItem) -> Item:
    """InvalidMessage for a register without a stamp or an unknown kind."""
    if wire.kind == "r":
        if wire.stamp is None:
            raise InvalidMessage(f"register {wire.key!r} arrived without a stamp")
        return Item("r", wire.key, Register(wire.value, _stamp_from_wire(wire.stamp)))
    if wire.kind == "s":
        members = ORSet.of(
            ((tag.element, _stamp_from_wire(tag.tag)) for tag in wire.adds),
            (_stamp_from_wire(stamp) for stamp in wire.removed),
        )
        return Item("s", wire.key, members=members)
    raise InvalidMessage(f"an item of unknown kind {wire.kind!r}")


def pack_item(item: Item) -> bytes:
    wire = item_to_wire(item)
    stamp = None if wire.stamp is None else _stamp_row(wire.stamp)
    adds = [[tag.element, *_stamp_row(tag.tag)] for tag in wire.adds]
    removed = [_stamp_row(stamp) for stamp in wire.removed]
    packed: bytes = msgpack.packb([wire.kind, wire.key, wire.value, stamp, adds, removed])
    return packed


def unpack_item(data: bytes) -> Item:
    """What pack_item wrote; InvalidMessage if it is not that."""
    try:
        kind, key, value, stamp, adds, removed = msgpack.unpackb(data)
        wire = WireItem(
            str(kind),
            str(key),
            None if value is None else str(value),
            None if stamp is None else _stamp_of(stamp),
            tuple(WireTag(str(row[0]), _stamp_of(row[1:])) for row in adds),
            tuple(_stamp_of(row) for row in removed),
        )
    except (ValueError, TypeError, IndexError) as error:
        raise InvalidMessage(f"not a gossip item: {error}") from error
    return item_from_wire(wire)


def _stamp_row(stamp: WireStamp) -> list[Any]:
    return [stamp.wall_ms, stamp.logical, stamp.node]


def _stamp_of(row: Any) -> WireStamp:
    wall_ms, logical, node = row
    return WireStamp(int(wall_ms), int(logical), str(node))
