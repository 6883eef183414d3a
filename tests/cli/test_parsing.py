"""Parsing and rendering without a cluster: typer's CliRunner and pure helpers."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.messages import (
    Command,
    Compare,
    Delete,
    Get,
    Put,
    Txn,
    data_bytes,
    data_text,
    decode_command,
    encode_command,
)
from raftctl.cli import COMMAND_MODULES, command_name, every_command
from raftctl.commands.data import parse_txn
from raftctl.commands.inspect import log_grid
from raftctl.errors import UsageError
from raftctl.render import status_table
from raftctl.values import shown, with_encoding
from tests.cli.harness import invoke

app = every_command()


def subprocess_lines(code: str) -> list[str]:
    """What a fresh interpreter prints: imports made by one start-up alone."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_no_cluster_is_exit_4_in_both_modes(tmp_path: Path) -> None:
    result = invoke(["--dir", str(tmp_path), "status"])
    assert result.exit_code == 4 and "no cluster" in result.stderr
    result = invoke(["status", "--json", "--dir", str(tmp_path)])
    assert result.exit_code == 4 and '"kind": "no_cluster"' in result.stdout


def test_wait_needs_a_condition(tmp_path: Path) -> None:
    result = invoke(["--dir", str(tmp_path), "wait"])
    assert result.exit_code in (2, 4)  # no cluster is checked after the usage


def test_txn_json_is_parsed_into_operations() -> None:
    txn = parse_txn(
        '{"compare": [{"key": "a", "value": null}], '
        '"success": [{"op": "put", "key": "a", "value": "1"}, {"op": "get", "key": "a"}],'
        ' "failure": [{"op": "delete", "key": "a"}]}'
    )
    assert txn == Txn((Compare("a", None),), (Put("a", "1"), Get("a")), (Delete("a"),))
    for bad in (
        "[]",
        '{"compare": [{"key": 1}]}',
        '{"success": [{"op": "cas"}]}',
        '{"success": [{"op": "put", "key": "a"}]}',
        '{"other": []}',
        "nope",
    ):
        with pytest.raises(UsageError):
            parse_txn(bad)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"compare": [{"key": "a", "val": "1"}], "success": [{"op": "get", "key": "a"}]}', "val"),
        ('{"compare": [{"key": "a", "target": "VALUE", "value": "1"}]}', "target"),
        ('{"compare": [{"key": "a"}], "success": [{"op": "get", "key": "a"}]}', "needs a value"),
        ('{"success": [{"op": "put", "key": "a", "vale": "1"}]}', "vale"),
        ('{"success": [{"op": "get", "key": "a", "value": "1"}]}', "value"),
        ('{"success": [{"op": "get", "key": ""}]}', "success[0].key cannot be empty"),
        ('{"success": [{"op": "cas", "key": "a"}]}', "success[0].op is 'cas'"),
        ('{"success": {"op": "get", "key": "a"}}', "success must be a list"),
        ('{"success": [{"op": "put", "key": "a", "value": 1}]}', "success[0].value"),
        ('{"failure": [{"op": "get", "key": "a"}], "result": []}', "result"),
        ('{"success": [{"op": "get", "key": "!!"}], "encoding": "base64"}', "not base64"),
        ('{"success": [{"op": "get", "key": "a"}], "encoding": "hex"}', "hex"),
        ("{}", "nothing to run"),
        ('{"compare": []}', "nothing to run"),
    ],
)
def test_txn_names_what_is_wrong_at_every_level(text: str, named: str) -> None:
    """A misspelt field is an error that names it, never read as absent."""
    with pytest.raises(UsageError, match=re.escape(named)):
        parse_txn(text)


def test_txn_carries_bytes_in_base64() -> None:
    txn = parse_txn(
        '{"encoding": "base64", "compare": [{"key": "/w==", "value": null}],'
        ' "success": [{"op": "put", "key": "/w==", "value": "AAGA"}]}'
    )
    assert txn == Txn((Compare("\udcff", None),), (Put("\udcff", "\x00\x01\udc80"),), ())


@given(st.binary(min_size=1, max_size=64), st.binary(max_size=64))
def test_any_bytes_survive_json_and_the_wire(key: bytes, value: bytes) -> None:
    """Bytes -> the str that carries them -> the wire -> JSON (base64 when
    not UTF-8) -> a txn's input -> the same bytes."""
    carried = Put(data_text(key), data_text(value))
    assert decode_command(encode_command(Command("c", 1, 0, carried))).operation == carried
    document = with_encoding({"key": carried.key, "value": carried.value})
    assert document["encoding"] in ("utf-8", "base64")
    back = json.loads(json.dumps(document))
    parsed = parse_txn(
        json.dumps(
            {
                "encoding": back["encoding"],
                "success": [{"op": "put", "key": back["key"], "value": back["value"]}],
            }
        )
    )
    assert parsed.success == (carried,)
    assert data_bytes(parsed.success[0].key) == key


def test_keys_that_are_not_printable_are_quoted_for_people() -> None:
    assert shown("plain/key") == "plain/key"
    assert shown("é") == "é"
    assert shown("a\nb") == "$'a\\nb'"
    assert shown("k\udcffbad") == "$'k\\xffbad'"
    assert shown("it's") == "it's"
    assert shown("tab\there's") == "$'tab\\there\\'s'"


def test_status_table_shows_every_node() -> None:
    document = {
        "leader": "n1",
        "term": 3,
        "nodes": [
            {
                "id": "n1",
                "pid": 10,
                "process": "running",
                "role": "leader",
                "term": 3,
                "leader": "n1",
                "commit_index": 5,
                "applied_index": 5,
                "last_log_index": 5,
                "snapshot_index": 0,
                "group": ["n1", "n2"],
            },
            {
                "id": "n2",
                "pid": None,
                "process": "stopped",
                "role": None,
                "term": None,
                "leader": None,
                "commit_index": None,
                "applied_index": None,
                "last_log_index": None,
                "snapshot_index": None,
                "group": None,
            },
        ],
    }
    table = status_table(document, changed={"n1"})
    assert table.row_count == 2 and "leader n1, term 3" in str(table.title)


def test_help_of_every_command_carries_an_example() -> None:
    result = invoke(["--help"])
    commands = [
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    ]
    assert len(commands) >= 20
    for command in commands:
        help_text = invoke([command, "--help"]).stdout
        assert "Example" in help_text, command


def test_every_command_is_found_in_the_module_that_registers_it() -> None:
    """COMMAND_MODULES must name each command's module, or that command would
    load the wrong one (and answer "No such command")."""
    found = {}
    for command in app.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        found[name] = command.callback.__module__
    for group in app.registered_groups:
        assert group.name and group.typer_instance
        callback = group.typer_instance.registered_commands[0].callback
        assert callback is not None
        found[group.name] = callback.__module__
    assert found == {name: f"raftctl.commands.{module}" for name, module in COMMAND_MODULES.items()}


def test_a_command_imports_its_own_module_alone() -> None:
    code = """
import json, sys
from raftctl.cli import load_commands
app = load_commands(["--dir", "x", "--timeout", "3", "put", "k", "v"])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("raftctl.commands."))))
print(json.dumps(sorted(m for m in sys.modules if m.startswith("raftctl.chaos"))))
print(json.dumps([c.callback.__name__ for c in app.registered_commands]))
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("psutil", "rich"))))
core = [m for m in sys.modules if m == "node.raft" or m.startswith("node.messages.")]
print(json.dumps(sorted(core)))
"""
    commands, chaos, registered, heavy, messages = subprocess_lines(code)
    assert json.loads(commands) == ["raftctl.commands.data"]
    assert json.loads(chaos) == []
    # Only the command run is built; a put never loads psutil, rich, the core,
    # nor the peer and admin messages.
    assert json.loads(registered) == ["put"]
    assert json.loads(heavy) == []
    assert json.loads(messages) == ["node.messages.client", "node.messages.codec"]


def test_the_command_name_is_the_first_word_after_the_global_options() -> None:
    assert command_name(["--dir", "put", "--json", "get", "k"]) == "get"
    assert command_name(["--timeout", "5", "status", "--dir", "x"]) == "status"
    assert command_name(["--json", "--help"]) is None
    assert command_name(["-w", "json", "get", "k"]) == "get"
    assert command_name([]) is None


def _wide_status(nodes: int) -> dict[str, object]:
    rows = []
    for number in range(1, nodes + 1):
        node_id = f"n{number}"
        rows.append(
            {
                "id": node_id,
                "pid": 4_000_000 + number,
                "process": "running",
                "role": "follower" if number > 1 else "leader",
                "term": 12345,
                "leader": "n1",
                "commit_index": 1_234_567,
                "applied_index": 1_234_560 + number,
                "last_log_index": 1_234_570,
                "snapshot_index": 1_200_000,
                "group": [f"n{i}" for i in range(1, nodes + 1)],
                "link_faults": [
                    {
                        "from": [node_id],
                        "to": ["n2", "n3"],
                        "drop": 0.2,
                        "delay_ms": 50,
                        "jitter_ms": 10,
                        "duplicate": 0.0,
                    }
                ],
            }
        )
    return {"leader": "n1", "term": 12345, "nodes": rows}


@pytest.mark.parametrize("width", [80, 120])
def test_status_fits_the_terminal_and_shows_whole_values(width: int) -> None:
    from rich.console import Console

    document = _wide_status(12)
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    console.print(status_table(document, width=width))
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
    lines = text.splitlines()
    for row in document["nodes"]:  # type: ignore[attr-defined]
        line = next(line for line in lines if line.startswith(f"│ {row['id']} "))
        assert row["role"] in line and str(row["commit_index"]) in line
    if width == 80:
        assert "hidden to fit: pid" in text


@pytest.mark.parametrize("width", [80, 120])
def test_inspect_log_fits_the_terminal_and_shows_whole_indexes(width: int) -> None:
    first, count = 99_990, 40
    nodes = []
    for number in (1, 2, 10):
        nodes.append(
            {
                "id": f"n{number}",
                "answered": number != 10,
                "role": "leader" if number == 1 else "follower",
                "commit_index": 100_010,
                "snapshot_index": 99_992,
                "last_index": 100_029 - number,
                "entries": [
                    {"index": index, "term": 7 if index < 100_000 else 11, "kind": "command"}
                    for index in range(99_993, 100_030 - number)
                ],
            }
        )
    document = {"from": first, "count": count, "longest": 100_028, "nodes": nodes}
    text = log_grid(document, width, styled=False)
    assert isinstance(text, str)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    shown = [int(word) for line in lines if line.startswith(" ") for word in line.split()]
    assert shown == list(range(first, first + count))  # every index, whole, once
    for node in ("n1 L", "n2 F", "n10 -"):
        assert any(line.startswith(node) for line in lines), node
    # The commit bar follows index 100010 on the nodes that answered.
    header = next(line for line in lines if "100010" in line and line.startswith(" "))
    row = lines[lines.index(header) + 1]
    assert row[header.index("100010") + len("100010")] == "|"


def test_events_since_takes_a_duration_or_a_time_today() -> None:
    from raftctl.commands.observe import since_moment

    now = time.mktime((2026, 11, 30, 15, 0, 0, 0, 0, -1))
    assert since_moment("90s", now) == now - 90
    assert since_moment("5m", now) == now - 300
    assert since_moment("250ms", now) == now - 0.25
    assert since_moment("14:05", now) == now - 55 * 60
    assert since_moment("14:05:30", now) == now - 55 * 60 + 30
    for bad in ("soon", "25:00", "14:61", "-5s", "5 minutes"):
        with pytest.raises(UsageError):
            since_moment(bad, now)


def test_the_shell_completes_node_ids_and_choices(tmp_path: Path) -> None:
    from raftctl.cluster import ClusterDir

    ClusterDir.create(tmp_path / "c", 4, base_port=0)  # written, never started
    raftctl = str(Path(sys.executable).parent / "raftctl")

    def complete(words: str) -> list[str]:
        environment = {
            **os.environ,
            "_RAFTCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
        done = subprocess.run(
            [raftctl], env=environment, capture_output=True, text=True, timeout=60
        )
        return done.stdout.split()

    assert complete(f"raftctl --dir {tmp_path / 'c'} kill ") == [
        "n1",
        "n2",
        "n3",
        "n4",
        "leader",
        "follower",
        "random",
    ]
    assert complete(f"raftctl kill --dir {tmp_path / 'c'} n") == ["n1", "n2", "n3", "n4"]
    assert complete("raftctl get k --consistency l") == ["linearizable", "lease"]
