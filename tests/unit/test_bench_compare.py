"""The side-by-side benchmark's own parts: its HTTP reader and its table.
(The benchmark measures and asserts nothing about speed; these check that
what it reads and prints is right.)"""

from __future__ import annotations

import pytest

from raftctl.bench.compare import Figure, table
from raftctl.bench.etcd import HttpResponse, parse_response


def test_a_response_is_read_whole_with_content_length_or_chunks() -> None:
    plain = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX: y\r\n\r\nhello" + b"HTTP/1.1 5"
    assert parse_response(plain) == (HttpResponse(200, b"hello"), len(plain) - 10)
    assert parse_response(plain[:30]) is None  # the head is not all there yet
    assert parse_response(plain[:-13]) is None  # nor the body
    chunked = (
        b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"
    )
    assert parse_response(chunked) == (HttpResponse(503, b"abcde"), len(chunked))
    assert parse_response(chunked[:-3]) is None
    with pytest.raises(ValueError, match="neither"):
        parse_response(b"HTTP/1.1 200 OK\r\n\r\n")


def test_the_table_gives_medians_ranges_and_who_wins() -> None:
    writes = Figure("writes", "ops/s", higher_is_better=True)
    writes.samples = {"raftctl": [900.0, 1100.0, 1000.0], "etcd": [500.0, 400.0, 450.0]}
    latency = Figure("p50", "ms", higher_is_better=False)
    latency.samples = {"raftctl": [2.0], "etcd": [1.0]}
    empty = Figure("failover", "s", higher_is_better=False)
    lines = table([writes, latency, empty]).splitlines()
    assert lines[2] == (
        "| writes | 1,000 ops/s (900-1,100) | 450 ops/s (400-500) | 2.22x (better) |"
    )
    assert lines[3] == "| p50 | 2.00 ms | 1.00 ms | 2.00x (worse) |"
    assert lines[4] == "| failover | - | - | - |"


def test_pysyncobj_gets_its_columns_only_when_it_took_part() -> None:
    writes = Figure("writes", "ops/s", higher_is_better=True)
    writes.samples = {"raftctl": [1000.0], "etcd": [500.0], "pysyncobj": [100.0]}
    cli = Figure("cli", "ms", higher_is_better=False)  # PySyncObj has no command line
    cli.samples = {"raftctl": [200.0], "etcd": [20.0], "pysyncobj": []}
    lines = table([writes, cli]).splitlines()
    assert lines[0] == "| figure | raftctl | etcd | raftctl/etcd | PySyncObj | raftctl/PySyncObj |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert lines[2] == (
        "| writes | 1,000 ops/s | 500 ops/s | 2.00x (better) | 100 ops/s | 10.00x (better) |"
    )
    assert lines[3] == "| cli | 200 ms | 20.0 ms | 10.00x (worse) | - | - |"
