"""Keys and values at the command line's edges: read from argv and stdin,
written to a terminal or a pipe, carried in JSON.

Keys and values are bytes (node.messages.client carries them as str in the
PEP 383 convention, which is also how argv arrives). So:
- `put KEY -` stores exactly the bytes of stdin; `get` writes exactly the
  stored bytes to stdout, and adds a newline only for a terminal;
- in JSON a document whose keys and values are all UTF-8 says
  `"encoding": "utf-8"` and holds them as strings; one that holds any other
  bytes says `"encoding": "base64"`, and then every key and value in it is
  base64, so that a script checks one field, not one per value. `txn` reads
  the same field from its input;
- a line for people shows a key that is not printable text in the shell's
  $'...' quoting, which a user can paste back.
"""

from __future__ import annotations

import base64
import binascii
import sys
from collections.abc import Iterator
from typing import Any

from node.messages import data_bytes, data_text, is_utf8
from raftctl.errors import UsageError

__all__ = [
    "DATA_FIELDS",
    "ENCODINGS",
    "check_key",
    "from_json",
    "read_value",
    "shown",
    "with_encoding",
    "write_value",
]

ENCODINGS = ("utf-8", "base64")

# The fields of a document that hold keys or values (or lists of them).
DATA_FIELDS = frozenset(
    {"key", "value", "previous", "prefix", "keys", "expected", "new", "deleted"}
)


def check_key(key: str, what: str = "a key") -> str:
    if not key:
        raise UsageError(f"{what} cannot be empty")
    return key


def read_value(raw: str) -> str:
    """VALUE, or exactly the bytes of standard input when VALUE is '-'."""
    if raw != "-":
        return raw
    return data_text(sys.stdin.buffer.read())


def write_value(value: str) -> None:
    """The stored bytes, exactly; a terminal also gets a newline after them."""
    out = sys.stdout.buffer
    out.write(data_bytes(value))
    if sys.stdout.isatty():
        out.write(b"\n")
    out.flush()


def shown(text: str) -> str:
    """`text` for a line a person reads: as it is when it is printable UTF-8,
    otherwise in the shell's $'...' quoting (a newline is $'a\\nb')."""
    if text and is_utf8(text) and text.isprintable():
        return text
    quoted = []
    for byte in data_bytes(text):
        char = chr(byte)
        if char in "\\'":
            quoted.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            quoted.append(char)
        else:
            quoted.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(char, f"\\x{byte:02x}"))
    return "$'" + "".join(quoted) + "'"


def with_encoding(document: dict[str, Any]) -> dict[str, Any]:
    """`document` ready for json.dumps: its keys and values as strings, or all
    as base64 when any of them is not UTF-8, and an "encoding" field that says which."""
    encoding = "utf-8" if all(is_utf8(text) for text in _data_strings(document)) else "base64"
    encoded = _encode(document, encoding) if encoding == "base64" else document
    return {**encoded, "encoding": encoding}


def from_json(value: Any, encoding: str, where: str) -> str:
    """A key or value read from JSON in `encoding`; UsageError naming `where`."""
    if not isinstance(value, str):
        raise UsageError(f"{where} must be a string, not {_json_type(value)}")
    if encoding == "base64":
        try:
            return data_text(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            raise UsageError(f"{where} is not base64: {value!r}") from None
    if not is_utf8(value):
        raise UsageError(f"{where} holds a lone surrogate; send bytes with encoding base64")
    return value


def _data_strings(node: Any, inside: bool = False) -> Iterator[str]:
    if isinstance(node, dict):
        for name, child in node.items():
            yield from _data_strings(child, inside or name in DATA_FIELDS)
    elif isinstance(node, list):
        for child in node:
            yield from _data_strings(child, inside)
    elif inside and isinstance(node, str):
        yield node


def _encode(node: Any, encoding: str, inside: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            name: _encode(child, encoding, inside or name in DATA_FIELDS)
            for name, child in node.items()
        }
    if isinstance(node, list):
        return [_encode(child, encoding, inside) for child in node]
    if inside and isinstance(node, str):
        return base64.b64encode(data_bytes(node)).decode("ascii")
    return node


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
