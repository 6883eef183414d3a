"""The mistake walk: every command, each class of mistake a user makes, and the
exit code the contract promises, one line on stderr, never a traceback.

Classes: no cluster at --dir, a file as --dir, an unknown node, a paused node,
a stopped node, bad numbers, input that is not UTF-8 (Ctrl-C is walked in
test_commands.py, against a real wait). `python -m tests.cli.test_mistake_walk DIR`
prints the table (command x mistake -> exit code) against the cluster at DIR.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from tests.cli import harness
from tests.cli.harness import run, started_cluster

# Every command that needs a cluster, with arguments that are otherwise right.
CLUSTER_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("status",),
    ("leader",),
    ("wait", "--leader"),
    ("logs", "n1"),
    ("stop",),
    ("destroy", "--yes"),
    ("put", "k", "v"),
    ("get", "k"),
    ("delete", "k"),
    ("cas", "k", "a", "b"),
    ("keys",),
    ("txn",),
    ("watch", "k", "--count", "1"),
    ("kill", "n1"),
    ("restart", "n1"),
    ("pause", "n1"),
    ("resume", "n1"),
    ("partition", "n1"),
    ("heal",),
    ("net",),
    ("net", "clear"),
    ("transfer-leader", "n1"),
    ("snapshot",),
    ("add-node",),
    ("remove-node", "n1"),
    ("rejoin", "n1"),
    ("member", "list"),
    ("events",),
    ("bench", "--duration", "1"),
    ("inspect", "log"),
)

# Commands aimed at one node: {} is where the node goes. What each answers
# when that node is paused or stopped (None: not walked, it would change the
# cluster under the walk: stopping, removing or wiping the node).
NODE_COMMANDS: dict[tuple[str, ...], tuple[int | None, int | None]] = {
    ("kill", "{}"): (None, 0),  # a stopped node: "already stopped"
    ("restart", "{}"): (None, None),
    ("pause", "{}"): (0, 2),  # already paused; a stopped one has nothing to pause
    ("resume", "{}"): (None, 2),
    ("stop", "{}"): (None, 0),
    ("transfer-leader", "{}"): (3, 3),  # it cannot take over: said at once
    ("snapshot", "{}"): (3, 3),
    ("get", "k", "--node", "{}", "--consistency", "stale"): (3, 3),
    ("wait", "--applied", "1", "--node", "{}"): (3, 3),
    ("logs", "{}"): (0, 0),  # its log file is there either way
    ("events", "--node", "{}"): (0, 0),
    ("remove-node", "{}"): (None, None),
    ("rejoin", "{}"): (None, None),
    ("partition", "{}"): (None, None),
}

BAD_NUMBERS: tuple[tuple[str, ...], ...] = (
    ("status", "--timeout", "nan"),
    ("status", "--timeout", "0"),
    ("put", "k", "v", "--timeout", "-1"),
    ("start", "--nodes", "many"),
    ("start", "--base-port", "99999"),
    ("wait", "--applied", "-1"),
    ("inspect", "log", "--count", "0"),
    ("inspect", "log", "--from", "99999"),
    ("bench", "--clients", "0"),
    ("net", "--drop", "1.5"),
    ("net", "--delay", "soon"),
    ("watch", "k", "--from-revision", "0"),
    ("events", "--since", "yesterday"),
    ("sim", "--seeds", "0"),
    ("chaos", "--duration", "-5"),
    ("kill", "n1", "--signal", "HUP"),
)


# What a command reads on stdin when it is given right.
GOOD_STDIN = '{"success": [{"op": "get", "key": "k"}]}'


def invoke(args: list[str], stdin: bytes | str | None = None) -> Result:
    return harness.invoke(args, GOOD_STDIN if stdin is None else stdin)


def assert_one_line(result: Result, code: int, what: str) -> None:
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        what,
        result.exception,
    )
    assert "Traceback" not in result.output, what
    assert result.exit_code == code, (what, result.exit_code, result.stderr)
    if code != 0:
        assert len(result.stderr.strip().splitlines()) == 1, (what, result.stderr)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with started_cluster(tmp_path_factory.mktemp("walk") / "cluster") as path:
        yield path


@pytest.mark.parametrize("command", CLUSTER_COMMANDS, ids=" ".join)
def test_no_cluster_and_a_file_as_dir(tmp_path: Path, command: tuple[str, ...]) -> None:
    assert_one_line(invoke(["--dir", str(tmp_path / "none"), *command]), 4, "no cluster")
    assert not (tmp_path / "none").exists()
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    assert_one_line(invoke(["--dir", str(a_file), *command]), 2, "a file as --dir")
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize("command", BAD_NUMBERS, ids=" ".join)
def test_bad_numbers_are_usage_errors(tmp_path: Path, command: tuple[str, ...]) -> None:
    result = invoke(["--dir", str(tmp_path / "cluster"), *command])
    # A bad number is found before the cluster is looked for, or right after.
    assert result.exit_code in (2, 4), (command, result.stderr)
    assert_one_line(result, result.exit_code, " ".join(command))
    assert not (tmp_path / "cluster" / "cluster.toml").exists()


def test_nodes_unknown_paused_and_stopped_answer_at_once(cluster: Path) -> None:
    table = walk_nodes(cluster)
    for command, (unknown, paused, stopped) in table.items():
        expected = NODE_COMMANDS[command]
        assert unknown == 4, command
        assert (paused, stopped) == expected, command


def walk_nodes(cluster: Path) -> dict[tuple[str, ...], tuple[int, int | None, int | None]]:
    """Each node command aimed at n9 (unknown), at a paused n2, at a stopped n3."""
    where = ["--dir", str(cluster), "--timeout", "30"]
    codes: dict[tuple[str, ...], list[int | None]] = {}
    for command in NODE_COMMANDS:
        result = invoke([*where, *(w.replace("{}", "n9") for w in command)])
        assert_one_line(result, 4, f"{command} unknown")
        codes[command] = [4]
    for column, (node, fault, undo) in enumerate(
        [("n2", "pause", "resume"), ("n3", "kill", "restart")]
    ):
        assert run(*where, fault, node).returncode == 0
        try:
            for command, expected in NODE_COMMANDS.items():
                if expected[column] is None:
                    codes[command].append(None)
                    continue
                result = invoke([*where, *(w.replace("{}", node) for w in command)])
                assert_one_line(result, expected[column], f"{command} {fault}d")  # type: ignore[arg-type]
                codes[command].append(result.exit_code)
        finally:
            assert run(*where, undo, node).returncode == 0
    return {command: (c[0] or 0, c[1], c[2]) for command, c in codes.items()}


def test_input_that_is_not_utf8(cluster: Path) -> None:
    where = ["--dir", str(cluster)]
    # Keys and values are bytes: not UTF-8 is not a mistake.
    assert_one_line(invoke([*where, "put", "raw", "-"], b"\xff\xfe\x00\x80"), 0, "put -")
    assert_one_line(invoke([*where, "put", "k\udcffbad", "v"]), 0, "a key from argv")
    # A transaction is JSON, and JSON is text: its bytes travel in base64.
    assert_one_line(invoke([*where, "txn"], b'{"success": [\xff]}'), 2, "txn")
    assert_one_line(invoke([*where, "txn"], b"[]"), 2, "txn of a list")


def main() -> None:
    """Print the walk's table against the cluster at argv[1] (for a note):
    every cluster command with no cluster and with a file as --dir, then the
    node commands at an unknown, a paused and a stopped node."""
    import tempfile

    cluster = Path(sys.argv[1])
    print("| command | no cluster | a file as --dir |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        a_file = Path(scratch) / "file"
        a_file.write_text("mine")
        for command in CLUSTER_COMMANDS:
            none = invoke(["--dir", str(Path(scratch) / "none"), *command])
            filed = invoke(["--dir", str(a_file), *command])
            print(f"| {' '.join(command)} | {none.exit_code} | {filed.exit_code} |")
    print()
    print("| command | unknown node | paused node | stopped node |")
    print("|---|---|---|---|")
    for command, (unknown, paused, stopped) in walk_nodes(cluster).items():
        cells = [str(unknown), *("-" if c is None else str(c) for c in (paused, stopped))]
        print(f"| {' '.join(command).replace('{}', 'NODE')} | {' | '.join(cells)} |")
    print()
    print("| bad number | exit |")
    print("|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for command in BAD_NUMBERS:
            code = invoke(["--dir", str(Path(scratch) / "c"), *command]).exit_code
            print(f"| {' '.join(command)} | {code} |")


if __name__ == "__main__":
    main()
