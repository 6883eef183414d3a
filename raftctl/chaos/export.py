"""Histories for outside checkers: Jepsen's EDN and Porcupine's key-value JSON.

Rules:
- EDN (Jepsen's history.edn): one map per line, `{:index 0, :type :invoke,
  :f :write, :value ["r0" "1.7"], :process 0, :time 123, :node "n2", :key "r0"}`.
  Register operations carry `[key value]` as Jepsen's independent keys do
  (a cas: `[key [expected new]]`); `:key` is kept too, so that the file reads
  back to exactly the history it came from. `:type`, `:f` and the nemesis's
  `:process` are keywords; map keys that are plain words become keywords.
- Porcupine (its key-value model's `Operation`): a JSON array of
  `{"ClientId", "Input": {"Op", "Key", "Value"}, "Call", "Output", "Return"}`
  with Op 0 get, 1 put; our cas is Op 3 with `Input.Expected`, an extension
  (Porcupine's example model has get, put and append), whose step is
  `state == Expected -> new state`. A missing key is told apart from "":
  a read of it outputs `{"Value": "", "Absent": true}` and a cas that expects
  it has `"ExpectAbsent": true`. A cas outputs `{"Ok": true}` or, when its
  comparison failed, `{"Ok": false}`: a failed cas is kept, an observation
  that the state was not `Expected` (as our checker keeps it). Other `fail`
  operations and reads that timed out are left out (they constrain nothing);
  an `info` write or cas returns at 2^63-1 (it may take effect any time after
  its call) and its Output says `"Unknown": true`. Only register histories
  have a Porcupine form.
- `read_edn` and `read_porcupine` parse the files back, so tests can show the
  round trip.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from node.messages import is_utf8
from raftctl.judges.history import NEMESIS
from raftctl.judges.linearizable import MISMATCH, REGISTER_FS, operations_from
from raftctl.judges.verdicts import HistoryError

__all__ = [
    "EXPORT_FORMATS",
    "EdnError",
    "from_porcupine",
    "read_edn",
    "read_porcupine",
    "to_edn",
    "to_porcupine",
    "write_exports",
]

NEVER = 2**63 - 1
_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.?!]*$")


class EdnError(HistoryError):
    """Text that is not the EDN this module writes, or a value EDN cannot hold."""


# -- EDN ------------------------------------------------------------------------------


def _edn(value: Any, keyword: bool = False) -> str:
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        if keyword and _WORD.match(value):
            return ":" + value
        # Bytes that are not UTF-8 (node.messages.client) go as \\udcXX escapes,
        # which read back to the same str; other text stays as it is.
        return json.dumps(value, ensure_ascii=not is_utf8(value))
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_edn(k, keyword=True)} {_edn(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + " ".join(_edn(item) for item in value) + "]"
    raise EdnError(f"no EDN form for {value!r}")


def to_edn(events: Iterable[Mapping[str, Any]]) -> str:
    lines = []
    for index, event in enumerate(events):
        value = event.get("value")
        if event.get("f") in REGISTER_FS and event.get("process") != NEMESIS:
            value = [event.get("key"), value]
        process = event.get("process")
        fields = [
            f":index {index}",
            f":type :{event['type']}",
            f":f {_edn(event['f'], keyword=True)}",
            f":value {_edn(value)}",
            f":process {_edn(process, keyword=process == NEMESIS)}",
            f":time {int(event['time'])}",
            f":node {_edn(event.get('node'))}",
            f":key {_edn(event.get('key'))}",
        ]
        if event.get("error") is not None:  # why a definite fail failed, as Jepsen's :error
            fields.append(f":error {_edn(event['error'], keyword=True)}")
        lines.append("{" + ", ".join(fields) + "}")
    return "\n".join(lines) + ("\n" if lines else "")


_TOKEN = re.compile(
    r"""\s*(?:(?P<open>\#\{|[\[{(])|(?P<close>[\]})])|(?P<string>"(?:[^"\\]|\\.)*")"""
    r"""|(?P<atom>[^\s,\[\]{}()"]+))""",
    re.VERBOSE,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    found = []
    position = 0
    while position < len(text):
        if text[position].isspace() or text[position] == ",":  # commas are white space
            position += 1
            continue
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            where = text[position : position + 20]
            raise EdnError(f"unexpected text at offset {position}: {where!r}")
        kind = match.lastgroup
        if kind is None:
            raise AssertionError(f"the EDN token pattern matched no group at offset {position}")
        found.append((kind, match.group(kind)))
        position = match.end()
    return found


def _atom(text: str) -> Any:
    if text == "nil":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith(":"):
        return text[1:]  # keywords read back as the words they were written from
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError as error:
        raise EdnError(f"unknown atom {text!r}") from error


def _parse(tokens: list[tuple[str, str]], position: int) -> tuple[Any, int]:
    kind, text = tokens[position]
    if kind == "string":
        return json.loads(text), position + 1
    if kind == "atom":
        return _atom(text), position + 1
    if kind == "close":
        raise EdnError(f"unexpected {text!r}")
    items: list[Any] = []
    position += 1
    closer = {"[": "]", "{": "}", "(": ")", "#{": "}"}[text]
    while True:
        if position >= len(tokens):
            raise EdnError(f"unclosed {text!r}")
        if tokens[position] == ("close", closer):
            position += 1
            break
        item, position = _parse(tokens, position)
        items.append(item)
    if text == "{":
        if len(items) % 2:
            raise EdnError("a map needs an even number of forms")
        return {items[i]: items[i + 1] for i in range(0, len(items), 2)}, position
    return items, position


def read_edn(text: str) -> list[dict[str, Any]]:
    """Parse a history written by `to_edn` back into our events."""
    tokens = _tokens(text)
    position = 0
    events = []
    while position < len(tokens):
        form, position = _parse(tokens, position)
        if not isinstance(form, dict):
            raise EdnError(f"a history holds maps, not {form!r}")
        value = form.get("value")
        if form.get("f") in REGISTER_FS and form.get("process") != NEMESIS:
            if not isinstance(value, list) or len(value) != 2:
                raise EdnError(f"a register operation's value is [key value], not {value!r}")
            value = value[1]
        event = {
            "process": form.get("process"),
            "type": form.get("type"),
            "f": form.get("f"),
            "key": form.get("key"),
            "value": value,
            "time": form.get("time"),
            "node": form.get("node"),
        }
        if form.get("error") is not None:
            event["error"] = form["error"]
        events.append(event)
    return events


# -- Porcupine ---------------------------------------------------------------------------


def to_porcupine(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The operations our linearizability checker judges, in Porcupine's shape."""
    register = [
        event
        for event in events
        if event.get("process") != NEMESIS and event.get("f") in REGISTER_FS
    ]
    operations = []
    for op in operations_from(register):
        client = int(op.process)
        if op.f == "read":
            given: dict[str, Any] = {"Op": 0, "Key": op.key, "Value": ""}
            output: dict[str, Any] = {"Value": "" if op.value is None else op.value}
            if op.value is None:
                output["Absent"] = True
        elif op.f == "write":
            given, output = {"Op": 1, "Key": op.key, "Value": op.value}, {"Value": ""}
        else:
            expected, new = op.value
            given = {
                "Op": 3,
                "Key": op.key,
                "Value": new,
                "Expected": "" if expected is None else expected,
            }
            if expected is None:
                given["ExpectAbsent"] = True
            output = {"Value": "", "Ok": not op.mismatch}
        if not op.certain:
            output["Unknown"] = True
        operations.append(
            {
                "ClientId": client,
                "Input": given,
                "Call": int(op.call),
                "Output": output,
                "Return": NEVER if not op.certain else int(op.ret),
            }
        )
    return operations


def read_porcupine(text: str) -> list[dict[str, Any]]:
    document = json.loads(text)
    if not isinstance(document, list):
        raise ValueError("a Porcupine history is a JSON array of operations")
    return document


def from_porcupine(operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Porcupine operations back into our events (each op an invoke and a completion)."""
    names = {0: "read", 1: "write", 3: "cas"}
    timed: list[tuple[int, int, dict[str, Any]]] = []
    for number, op in enumerate(operations):
        given, output = op["Input"], op["Output"]
        f = names[given["Op"]]
        failed = False
        if f == "read":
            value = None if output.get("Absent") else output["Value"]
            invoke_value: Any = None
        elif f == "write":
            value = invoke_value = given["Value"]
        else:
            expected = None if given.get("ExpectAbsent") else given["Expected"]
            value = invoke_value = [expected, given["Value"]]
            failed = output.get("Ok") is False
        unknown = bool(output.get("Unknown"))
        process = op["ClientId"]
        invoke = {"process": process, "type": "invoke", "f": f, "key": given["Key"]}
        timed.append((op["Call"], number, {**invoke, "value": invoke_value, "time": op["Call"]}))
        done_time = op["Call"] + 1 if unknown else op["Return"]
        timed.append(
            (
                done_time,
                number,
                {
                    **invoke,
                    "type": "info" if unknown else "fail" if failed else "ok",
                    "value": value,
                    "time": done_time,
                    **({"error": MISMATCH} if failed else {}),
                },
            )
        )
    timed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in timed]


EXPORT_FORMATS = {"edn": "history.edn", "porcupine": "history.porcupine.json"}


def write_exports(
    directory: Path, events: list[dict[str, Any]], formats: Iterable[str]
) -> list[Path]:
    """Write each format beside the history; Porcupine takes register histories only."""
    written = []
    for name in formats:
        path = directory / EXPORT_FORMATS[name]
        if name == "edn":
            path.write_text(to_edn(events), encoding="utf-8")
        else:
            if any(e.get("f") not in REGISTER_FS for e in events if e.get("process") != NEMESIS):
                raise ValueError("only register histories (read, write, cas) have a Porcupine form")
            path.write_text(json.dumps(to_porcupine(events)) + "\n")
        written.append(path)
    return written
