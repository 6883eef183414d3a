"""What a leader sends one follower to bring its log up to date (Raft §5.3, §7),
within the flow control that follower's Progress allows (etcd-raft's
maybeSendAppend).

Rules:
- Pure: messages are built from the log and recorded in the Progress as sent;
  the core decides when to replicate and sends what comes back.
- A follower whose next entry was compacted away gets our snapshot instead
  (a SnapshotSend for the server), and nothing else meanwhile.
- Every AppendEntries carries the commit index up to the last entry it
  matches, and the Progress remembers the highest one a follower can act on.
"""

from __future__ import annotations

from node.errors import known
from node.log import RaftLog
from node.messages import AppendEntries, Entry
from node.progress import Progress, ReplicationState
from node.raft_config import RaftConfig
from node.ready import SnapshotSend

__all__ = ["Replicator"]

Outgoing = AppendEntries | SnapshotSend


class Replicator:
    """Builds a leader's AppendEntries (or snapshot sends) for its followers."""

    def __init__(self, log: RaftLog, config: RaftConfig, leader_id: str) -> None:
        self._log = log
        self._config = config
        self._leader_id = leader_id

    def catch_up(self, term: int, peer: str, progress: Progress) -> list[Outgoing]:
        """Everything `peer` is missing, as many messages as flow control allows;
        then, if it was told less of the commit index than it could act on, an
        empty AppendEntries carrying it. A probe may be empty: a member just
        added starts beyond our log."""
        out: list[Outgoing] = []
        probing = progress.state is ReplicationState.PROBE
        while (message := self.next_append(term, peer, progress, allow_empty=probing)) is not None:
            out.append(message)
            if (
                isinstance(message, SnapshotSend)
                or progress.state is not ReplicationState.REPLICATE
            ):
                break
        if progress.commit_sent < min(self._log.commit_index, progress.match_index):
            message = self.next_append(term, peer, progress, allow_empty=True)
            if message is not None:
                out.append(message)
        return out

    def after_heartbeat(self, term: int, peer: str, progress: Progress) -> list[Outgoing]:
        """A heartbeat answer shows the follower is there: a probe may go again,
        a full window lets one more message go (an answer may have been lost),
        and a follower that lacks entries gets an empty AppendEntries at
        next_index - 1, which finds out whether a lost message left a gap (the
        follower rejects it, and the leader probes again)."""
        if progress.state is ReplicationState.SNAPSHOT:
            return []
        progress.probe_sent = False
        config = self._config
        if progress.state is ReplicationState.REPLICATE and progress.is_paused(
            config.inflight_messages_max, config.inflight_bytes_max
        ):
            progress.free_first_inflight()
        if progress.match_index >= self._log.last_index:
            return []
        message = self.next_append(term, peer, progress, allow_empty=True)
        return [message] if message is not None else []

    def next_append(
        self, term: int, peer: str, progress: Progress, allow_empty: bool
    ) -> Outgoing | None:
        """The next message for `peer`, recorded in `progress`; None when flow
        control pauses it, or when nothing is new and an empty one is not wanted."""
        config, log = self._config, self._log
        if progress.is_paused(config.inflight_messages_max, config.inflight_bytes_max):
            return None
        prev_index = progress.next_index - 1
        if prev_index < log.snapshot_index:
            progress.become_snapshot(log.snapshot_index)
            return SnapshotSend(peer, term, log.snapshot_index)
        prev_term = known(
            log.term_at(prev_index), "no term for prev_log_index", peer=peer, prev_index=prev_index
        )
        entries: list[Entry] = []
        payload_bytes = 0
        if progress.next_index <= log.last_index:
            entries, payload_bytes = log.entries_for_message(
                progress.next_index, config.entries_per_message_max, config.bytes_per_message_max
            )
        if not entries and not allow_empty:
            return None
        commit = log.commit_index
        # The follower will commit up to the last entry this message matches.
        progress.commit_sent = max(progress.commit_sent, min(commit, prev_index + len(entries)))
        if entries:
            progress.sent_entries(entries[-1].index, payload_bytes)
        elif progress.state is ReplicationState.PROBE:
            progress.probe_sent = True
        return AppendEntries(
            term, self._leader_id, peer, prev_index, prev_term, tuple(entries), commit
        )
