"""Push-pull anti-entropy between two stores, as three pure steps, so that
the replica's core (node.gossip.core) and the epidemic simulation
(raftctl.sim.epidemic) run the one exchange.

    A: digest()                      -> my bucket summaries
    B: on_digest(theirs)             -> my items of the differing buckets, and those buckets
    A: on_items(items, want)         -> what changed here, and my items of `want`
    B: on_items(items, ())           -> what changed here

A converged pair stops at the first step: equal digests, nothing to send.
"""

from __future__ import annotations

from node.gossip.digest import differing
from node.gossip.store import Item, Store

__all__ = ["digest", "on_digest", "on_items"]


def digest(store: Store) -> tuple[int, ...]:
    return store.digest.summary()


def on_digest(store: Store, theirs: tuple[int, ...]) -> tuple[list[Item], tuple[int, ...]]:
    """The items to push back and the buckets to pull: both empty when equal."""
    wanted = differing(store.digest.summary(), theirs)
    if not wanted:
        return [], ()
    return store.items_in(wanted), wanted


def on_items(
    store: Store, items: list[Item], want: tuple[int, ...]
) -> tuple[list[Item], list[Item]]:
    """Merge `items`; (what changed here, my items of the buckets `want` names)."""
    changed = store.merge(items)
    return changed, store.items_in(want) if want else []
