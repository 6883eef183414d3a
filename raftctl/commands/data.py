"""Data commands: put, get, delete, cas, keys, txn.

A negative answer (missing key, CAS mismatch) exits 1; no leader within the
deadline exits 3, and for a write that means its outcome is unknown.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any, NoReturn

import typer

from node.messages import Cas, Compare, Consistency, Delete, Get, Keys, Put, Txn
from raftctl.app import DirOption, JsonOption, TimeoutOption, app, session
from raftctl.errors import UsageError
from raftctl.render import Output

CONSISTENCIES = tuple(Consistency)


def _negative(output: Output, document: dict[str, Any], message: str) -> NoReturn:
    """A negative answer: the document (with --json), one line on stderr, exit 1."""
    output.document(document)
    output.note(f"raftctl: {message}")
    raise typer.Exit(1)


def _value(raw: str) -> str:
    """VALUE, or standard input when VALUE is '-'."""
    return sys.stdin.read() if raw == "-" else raw


@app.command()
def put(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    value: Annotated[str, typer.Argument(help="The value; '-' reads it from stdin.")],
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Write KEY = VALUE through the leader. Example: raftctl put greeting hello"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        result = control.client.call(Put(key, _value(value)), timeout_s=control.remaining_s())
        output.document({"ok": True, "key": key, "previous": result.get("previous")}, "OK")


@app.command()
def get(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    consistency: Annotated[
        str, typer.Option(help="linearizable (default), lease, or stale (local state of --node).")
    ] = "linearizable",
    node: Annotated[
        str | None, typer.Option(help="Ask this node (an id or leader, follower, random).")
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Read KEY; exits 1 when it is missing. Example: raftctl get greeting --consistency stale"""
    if consistency not in CONSISTENCIES:
        raise typer.BadParameter(
            f"use one of {', '.join(CONSISTENCIES)}", param_hint="--consistency"
        )
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        target = control.resolve(node) if node else None
        result = control.client.call(
            Get(key), Consistency(consistency), target, timeout_s=control.remaining_s()
        )
        document = {
            "key": key,
            "value": result["value"],
            "found": result["found"],
            "consistency": consistency,
        }
        if not result["found"]:
            _negative(output, document, f"key not found: {key}")
        output.document(document, result["value"])


@app.command()
def delete(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help="The key.")],
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """Delete KEY; exits 1 when it was missing. Example: raftctl delete greeting"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        result = control.client.call(Delete(key), timeout_s=control.remaining_s())
        document = {"ok": result["ok"], "key": key, "found": result["found"]}
        if not result["found"]:
            _negative(output, document, f"key not found: {key}")
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
        result = control.client.call(
            Cas(key, expected, _value(new)), timeout_s=control.remaining_s()
        )
        document = {
            "ok": result["ok"],
            "key": key,
            "value": result["value"],
            "found": result["found"],
        }
        if not result["ok"]:
            current = "absent" if not result["found"] else repr(result["value"])
            _negative(output, document, f"cas mismatch on {key}: it holds {current}")
        output.document(document, "OK")


@app.command()
def keys(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="Only keys starting with this.")] = "",
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: TimeoutOption = None,
) -> None:
    """List the keys (with PREFIX), sorted. Example: raftctl keys user/"""
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        result = control.client.call(Keys(prefix), timeout_s=control.remaining_s())
        output.document(
            {"ok": True, "prefix": prefix, "keys": result["keys"]}, "\n".join(result["keys"])
        )


def _txn_op(raw: Any, where: str) -> Get | Put | Delete:
    if not isinstance(raw, dict) or raw.get("op") not in ("get", "put", "delete"):
        raise UsageError(f'txn: each op in {where} is {{"op": get|put|delete, "key": ...}}')
    key = raw.get("key")
    if not isinstance(key, str):
        raise UsageError(f"txn: an op in {where} needs a string key")
    if raw["op"] == "put":
        if not isinstance(raw.get("value"), str):
            raise UsageError(f"txn: a put in {where} needs a string value")
        return Put(key, raw["value"])
    return Get(key) if raw["op"] == "get" else Delete(key)


def parse_txn(text: str) -> Txn:
    """etcd's Txn in JSON: {"compare": [{"key", "value"}], "success": [OP], "failure": [OP]}."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"txn: stdin is not JSON ({error})") from error
    if not isinstance(document, dict) or set(document) - {"compare", "success", "failure"}:
        raise UsageError('txn: expected {"compare": [...], "success": [...], "failure": [...]}')
    compare = []
    for item in document.get("compare", []):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("key"), str)
            or (item.get("value") is not None and not isinstance(item.get("value"), str))
        ):
            raise UsageError('txn: a comparison is {"key": K, "value": V or null}')
        compare.append(Compare(item["key"], item.get("value")))
    return Txn(
        tuple(compare),
        tuple(_txn_op(op, "success") for op in document.get("success", [])),
        tuple(_txn_op(op, "failure") for op in document.get("failure", [])),
    )


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
    """
    with session(ctx, directory, json_mode, timeout_s) as (control, output):
        transaction = parse_txn(sys.stdin.read())
        result = control.client.call(transaction, timeout_s=control.remaining_s())
        document = {"ok": True, "succeeded": result["succeeded"], "results": result["results"]}
        branch = "success" if result["succeeded"] else "failure"
        lines = [f"{branch} branch ran"] + [json.dumps(r) for r in result["results"]]
        output.document(document, "\n".join(lines))
