"""ReplyQueues: answers to slow clients, bounded in bytes, oldest dropped first."""

from __future__ import annotations

from node.reply_queues import ReplyQueues, SendResult


class FakePipes:
    """Pipes that hold `room` answers per client until told to drain."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.sent: dict[bytes, list[bytes]] = {}
        self.gone: set[bytes] = set()

    def send(self, identity: bytes, frame: bytes) -> SendResult:
        if identity in self.gone:
            return SendResult.GONE
        pipe = self.sent.setdefault(identity, [])
        if len(pipe) >= self.room:
            return SendResult.FULL
        pipe.append(frame)
        return SendResult.SENT

    def drain(self, identity: bytes) -> list[bytes]:
        return self.sent.pop(identity, [])


def test_a_reading_client_gets_every_answer_in_order() -> None:
    pipes = FakePipes(room=2)
    queues = ReplyQueues(pipes.send, bytes_max=100)
    for number in range(5):
        queues.reply(b"c", b"%d" % number)
    received = pipes.drain(b"c")
    while queues.waiting:
        queues.flush()
        received += pipes.drain(b"c")
    assert received == [b"0", b"1", b"2", b"3", b"4"]
    assert queues.dropped_full == 0 and queues.total_bytes == 0


def test_a_client_that_never_reads_keeps_only_its_newest_answers_within_the_bound() -> None:
    pipes = FakePipes(room=1)
    queues = ReplyQueues(pipes.send, bytes_max=30)
    for number in range(100):
        queues.reply(b"slow", b"%09d" % number)  # 9 bytes each
    assert queues.total_bytes == 27  # three answers wait: 27 <= 30 < 36
    assert queues.dropped_full == 100 - 1 - 3
    queues.reply(b"fast", b"x")  # another client is not held up
    assert pipes.drain(b"fast") == [b"x"]
    assert pipes.drain(b"slow") == [b"%09d" % 0]
    queues.flush()
    assert pipes.drain(b"slow") == [b"%09d" % 97]


def test_the_bound_for_all_clients_holds_too() -> None:
    pipes = FakePipes(room=0)
    queues = ReplyQueues(pipes.send, bytes_max=100, total_bytes_max=150)
    for client in (b"a", b"b", b"c"):
        for _ in range(10):
            queues.reply(client, b"0123456789")
    assert queues.total_bytes <= 150
    assert queues.dropped_full == 30 - 15


def test_answers_to_a_client_that_left_are_dropped_with_its_backlog() -> None:
    pipes = FakePipes(room=0)
    queues = ReplyQueues(pipes.send)
    queues.reply(b"c", b"one")
    queues.reply(b"c", b"two")
    pipes.gone.add(b"c")
    assert queues.flush() == 2
    assert queues.waiting == 0 and queues.total_bytes == 0 and queues.dropped_gone == 2
    queues.reply(b"c", b"three")
    assert queues.dropped_gone == 3
