"""Data commands: put, get, delete, cas, keys, txn.

A negative answer (missing key, CAS mismatch) exits 1; no leader within the
deadline exits 3, and for a write that means its outcome is unknown. Keys and
values are bytes: raftctl.values says how they are read, printed and put in JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer

from node.messages import (
    Cas,
    Compare,
    Consistency,
    Delete,
    DeletePrefix,
    Get,
    GetPrefix,
    Keys,
    Put,
    Txn,
)
from raftctl.app import (
    DirOption,
    JsonOption,
    TimeoutOption,
    app,
    complete_node,
    completing,
    session,
)
from raftctl.controller import Controller
from raftctl.errors import UsageError
from raftctl.render import Output
from raftctl.values import (
    ENCODINGS,
    check_key,
    from_json,
    read_value,
    shown,
    with_encoding,
    write_value,
)

CONSISTENCIES = tuple(Consistency)

NodeOption = Annotated[
    str | None,
    typer.Option(
        help="Ask this node (an id or random; under raft it passes writes to the leader).",
        autocompletion=complete_node,
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        help="Act as a client beside NODE: ask it first, and reach only the nodes on its "
        "side of a partition (what CAP is about).",
        autocompletion=complete_node,
    ),
]
AckOption = Annotated[
    int | None,
    typer.Option(help="gossip: W, replicas that must hold the write before it is answered."),
]


def _negative(output: Output, document: dict[str, Any], message: str) -> NoReturn:
    """A negative answer: the document (with --json), one line on stderr, exit 1."""
    output.document(document)
    output.note(f"raftctl: {message}")
    raise typer.Exit(1)


@app.command()
def put(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    value: Annotated[str, typer.Argument(help="The value; '-' reads it from stdin.")],
    node: NodeOption = None,
    beside: FromOption = None,
    ack: AckOption = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Write KEY = VALUE through the leader. Example: raftctl put greeting hello

    VALUE '-' stores exactly the bytes of stdin: raftctl put photo - < photo.jpg.
    A VALUE that starts with '-' goes after '--': raftctl put temp -- -5.
    Under --protocol gossip the node asked (--node, else a random running
    one) takes the write alone and spreads it by gossip.
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        operation = Put(check_key(key), read_value(value))
        control.set_quorum("--ack", ack)
        target = control.data_node(node, beside)
        result = control.client.call(operation, node=target, timeout_s=control.remaining_s())
        document = {"ok": True, "key": key, "previous": result.get("previous")}
        output.document(with_encoding(document), "OK")


@app.command()
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    consistency: Annotated[
        str | None,
        typer.Option(
            help="linearizable (default), lease, or stale (local state of --node); "
            "under --protocol gossip only stale (the default there).",
            autocompletion=completing(*CONSISTENCIES),
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            help="Ask this node (an id or leader, follower, random).", autocompletion=complete_node
        ),
    ] = None,
    beside: FromOption = None,
    prefix: Annotated[
        bool, typer.Option("--prefix", help="Every key starting with KEY, with its value.")
    ] = False,
    read: Annotated[
        int | None,
        typer.Option(help="gossip: R, replicas the read asks (their newest wins)."),
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Read KEY; exits 1 when it is missing. Example: raftctl get greeting --consistency stale

    Writes exactly the stored bytes (a terminal also gets a newline after
    them), so raftctl get photo > photo.jpg gives back the file. With --prefix,
    every key starting with KEY and its value, a line each, at one point of
    the log (raftctl get user/ --prefix; exits 1 when none matches).
    """
    if consistency is not None and consistency not in CONSISTENCIES:
        raise typer.BadParameter(
            f"use one of {', '.join(CONSISTENCIES)}", param_hint="--consistency"
        )
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        if consistency not in (None, "stale"):
            control.require_log(
                f"get --consistency {consistency}",
                "a replica answers with what it holds; there is no leader to confirm it",
            )
        if consistency is None:
            consistency = "linearizable" if control.cluster.config.has_log else "stale"
        control.set_quorum("--read", read)
        target = control.data_node(node, beside)
        if prefix:
            _get_prefix(control, output, key, Consistency(consistency), target)
            return
        if target is not None:
            control.check_holds(target, check_key(key))
        result = control.client.call(
            Get(check_key(key)), Consistency(consistency), target, timeout_s=control.remaining_s()
        )
        document = {
            "key": key,
            "value": result["value"],
            "found": result["found"],
            "consistency": consistency,
        }
        if not result["found"]:
            _negative(output, with_encoding(document), f"key not found: {shown(key)}")
        if output.wants_document:
            output.document(with_encoding(document))
        else:
            write_value(result["value"])


def _get_prefix(
    control: Controller,
    output: Output,
    prefix: str,
    consistency: Consistency,
    target: str | None,
) -> None:
    result = control.on_every_shard(GetPrefix(prefix), "pairs", consistency, target)
    pairs = [{"key": key, "value": value} for key, value in result["pairs"]]
    document = {
        "prefix": prefix,
        "pairs": pairs,
        "count": len(pairs),
        "revision": result["revision"],
        "consistency": consistency.value,
    }
    if "revisions" in result:  # a sharded cluster: each shard's own
        document["revisions"] = result["revisions"]
    if not pairs:
        _negative(output, with_encoding(document), f"no key starts with {shown(prefix)}")
    lines = [f"{shown(pair['key'])}\n{shown(pair['value'])}" for pair in pairs]
    output.document(with_encoding(document), "\n".join(lines))


@app.command()
def delete(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    prefix: Annotated[
        bool, typer.Option("--prefix", help="Every key starting with KEY (not the empty one).")
    ] = False,
    node: NodeOption = None,
    beside: FromOption = None,
    ack: AckOption = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Delete KEY; exits 1 when it was missing. Example: raftctl delete greeting

    With --prefix, every key starting with KEY, at one point of the log
    (raftctl delete tmp/ --prefix; exits 1 when none matched).
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.set_quorum("--ack", ack)
        target = control.data_node(node, beside)
        if prefix:
            deleted = control.on_every_shard(
                DeletePrefix(check_key(key, "the prefix")), "deleted", node=target
            )
            document = with_encoding(
                {
                    "ok": True,
                    "prefix": key,
                    "deleted": deleted["deleted"],
                    "count": len(deleted["deleted"]),
                    "revision": deleted["revision"],
                }
                | ({"revisions": deleted["revisions"]} if "revisions" in deleted else {})
            )
            if not deleted["deleted"]:
                _negative(output, document, f"no key starts with {shown(key)}")
            output.document(document, f"deleted {len(deleted['deleted'])} keys")
            return
        result = control.client.call(
            Delete(check_key(key)), node=target, timeout_s=control.remaining_s()
        )
        document = with_encoding({"ok": result["ok"], "key": key, "found": result["found"]})
        if not result["found"]:
            _negative(output, document, f"key not found: {shown(key)}")
        output.document(document, "OK")


@app.command()
def cas(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    expected: Annotated[str, typer.Argument(help="The value KEY must hold now.")],
    new: Annotated[str, typer.Argument(help="The value to set; '-' reads stdin.")],
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Set KEY to NEW if it holds EXPECTED; exits 1 on a mismatch.

    Example: raftctl cas counter 1 2
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log(
            "cas", "two replicas may both see EXPECTED and both write (no linearizable order)"
        )
        result = control.client.call(
            Cas(check_key(key), expected, read_value(new)), timeout_s=control.remaining_s()
        )
        document = with_encoding(
            {"ok": result["ok"], "key": key, "value": result["value"], "found": result["found"]}
        )
        if not result["ok"]:
            current = (
                "it is absent" if not result["found"] else f"it holds {shown(result['value'])}"
            )
            _negative(output, document, f"cas mismatch on {shown(key)}: {current}")
        output.document(document, "OK")


@app.command()
def keys(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="Only keys starting with this.")] = "",
    node: NodeOption = None,
    beside: FromOption = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """List the keys (with PREFIX), sorted, one a line. Example: raftctl keys user/

    A key that is not printable text (a newline in it, bytes that are not
    UTF-8) is shown in the shell's $'...' quoting; --json has them exactly.
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        target = control.data_node(node, beside)
        gossip = control.cluster.config.protocol == "gossip"
        consistency = Consistency.STALE if gossip else Consistency.LINEARIZABLE
        result = control.on_every_shard(Keys(prefix), "keys", consistency, target)
        document = {"ok": True, "prefix": prefix, "keys": result["keys"]}
        output.document(with_encoding(document), "\n".join(shown(k) for k in result["keys"]))


_TXN_FIELDS = ("compare", "success", "failure", "encoding")
_OP_FIELDS = {"get": ("op", "key"), "delete": ("op", "key"), "put": ("op", "key", "value")}


def _fields(raw: Any, where: str, allowed: tuple[str, ...], shape: str) -> dict[str, Any]:
    """`raw` as an object with only `allowed` fields; a UsageError names what is wrong."""
    if not isinstance(raw, dict):
        raise UsageError(f"txn: {where} must be an object {shape}")
    unknown = [name for name in raw if name not in allowed]
    if unknown:
        raise UsageError(
            f"txn: {where} has an unknown field {unknown[0]!r} "
            f"(it takes {', '.join(allowed)}: {shape})"
        )
    return raw


def _txn_key(raw: dict[str, Any], where: str, encoding: str) -> str:
    if "key" not in raw:
        raise UsageError(f"txn: {where} needs a key")
    return check_key(from_json(raw["key"], encoding, f"{where}.key"), f"{where}.key")


def _txn_op(raw: Any, where: str, encoding: str) -> Get | Put | Delete:
    shape = '{"op": "get"|"put"|"delete", "key": K, "value": V (put only)}'
    kind = raw.get("op") if isinstance(raw, dict) else None
    if kind not in _OP_FIELDS:
        if isinstance(raw, dict) and "op" in raw:
            raise UsageError(f"txn: {where}.op is {raw['op']!r}; use get, put or delete")
        raise UsageError(f"txn: {where} must be an object {shape}")
    op = _fields(raw, where, _OP_FIELDS[kind], shape)
    key = _txn_key(op, where, encoding)
    if kind == "put":
        if "value" not in op:
            raise UsageError(f"txn: {where} is a put and needs a value")
        return Put(key, from_json(op["value"], encoding, f"{where}.value"))
    return Get(key) if kind == "get" else Delete(key)


def _txn_compare(raw: Any, where: str, encoding: str) -> Compare:
    shape = '{"key": K, "value": V, or null for "K is absent"}'
    comparison = _fields(raw, where, ("key", "value"), shape)
    key = _txn_key(comparison, where, encoding)
    if "value" not in comparison:
        raise UsageError(f"txn: {where} needs a value (null: the key is absent)")
    value = comparison["value"]
    return Compare(key, None if value is None else from_json(value, encoding, f"{where}.value"))


def _txn_list(document: dict[str, Any], name: str) -> list[Any]:
    items = document.get(name, [])
    if not isinstance(items, list):
        raise UsageError(f"txn: {name} must be a list")
    return items


def parse_txn(text: str) -> Txn:
    """etcd's Txn in JSON: {"compare": [{"key", "value"}], "success": [OP],
    "failure": [OP], "encoding": "utf-8"|"base64"}. Every field at every level
    is checked, so a misspelt one is an error, never read as absent."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"txn: stdin is not JSON ({error})") from error
    shape = '{"compare": [...], "success": [...], "failure": [...]}'
    document = _fields(document, "the transaction", _TXN_FIELDS, shape)
    encoding = document.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        raise UsageError(f"txn: encoding is {encoding!r}; use {' or '.join(ENCODINGS)}")
    compare = [
        _txn_compare(item, f"compare[{n}]", encoding)
        for n, item in enumerate(_txn_list(document, "compare"))
    ]
    success, failure = (
        [
            _txn_op(item, f"{name}[{n}]", encoding)
            for n, item in enumerate(_txn_list(document, name))
        ]
        for name in ("success", "failure")
    )
    if not success and not failure:
        raise UsageError("txn: nothing to run: give a success or a failure branch with an op")
    return Txn(tuple(compare), tuple(success), tuple(failure))


@app.command()
def txn(
    ctx: typer.Context,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Run a transaction read as JSON from stdin, atomically at one point of the log.

    Example: echo '{"compare":[{"key":"a","value":"1"}],"success":[{"op":"put","key":"a",
    "value":"2"}],"failure":[{"op":"get","key":"a"}]}' | raftctl txn

    A comparison {"key": K, "value": null} holds when K is absent. With
    "encoding": "base64" every key and value in the input is base64 (bytes that
    are not UTF-8); the answer says its own encoding the same way.
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        control.require_log("txn", "transactions need a log, and gossip has none")
        try:
            text = sys.stdin.buffer.read().decode("utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"txn: stdin is not UTF-8 JSON ({error})") from None
        transaction = parse_txn(text)
        if control.client.shard_of(transaction) is None:  # keys on several shards
            from raftctl.txn.coordinator import execute_txn

            # 2pc: this process coordinates; 2pc-classic and 3pc: the coordinator process.
            result = execute_txn(control.client, transaction, control.remaining_s())
        else:
            result = control.client.call(transaction, timeout_s=control.remaining_s())
        document = {"ok": True, "succeeded": result["succeeded"], "results": result["results"]}
        if "txn_id" in result:  # across shards: which transaction, on which shards
            document.update(
                {name: result[name] for name in ("txn_id", "shards", "attempts", "revisions")}
            )
        branch = "success" if result["succeeded"] else "failure"
        lines = [f"{branch} branch ran"] + [json.dumps(with_encoding(r)) for r in result["results"]]
        output.document(with_encoding(document), "\n".join(lines))
