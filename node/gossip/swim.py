"""SWIM (Das, Gupta and Motivala, 2002, with the suspicion and incarnation
numbers hashicorp/memberlist runs): who is alive, by probing one member per
period, and spreading what was learnt on every message anyway. Pure: ticks
in, messages out, randomness injected.

Rules:
- Each protocol period (PERIOD ticks) a node probes the next member of a
  shuffled round-robin list (every live member once per round): a ping. No
  ack within ACK_TIMEOUT ticks: it asks INDIRECT others to probe it (ping-req)
  and relays their answer. No ack by the period's end: the member is
  suspect; a suspect not refuted within SUSPECT_TIMEOUT ticks is dead.
- News (alive, suspect, dead, with the member's incarnation) rides on every
  message, each item RETRANSMIT * ceil(log2(N + 1)) times: the epidemic that
  spreads it in O(log N) periods.
- Which news wins: a higher incarnation always; at one incarnation, dead
  over suspect over alive. A node that hears itself suspected or declared
  dead refutes it: its incarnation becomes one more than the one accused,
  and "alive" at that incarnation spreads (so a paused node that resumes, or
  a killed one that restarts, comes back). Accused at an older incarnation
  than its own (by a member that restarted and knows only incarnation 0),
  it spreads its "alive" again. A node that hears from a member
  it holds suspect or dead tells it so on its answer, so that it refutes.
- A node first heard of in news is a new member (a join through any live one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.messages.gossip import (
    ALIVE,
    DEAD,
    SUSPECT,
    MemberNews,
    SwimAck,
    SwimPing,
    SwimPingReq,
)

if TYPE_CHECKING:
    import random  # injected, never created here: the core stays deterministic

__all__ = ["Member", "Swim", "SwimOptions"]

SwimMessage = SwimPing | SwimAck | SwimPingReq
_RANK = {ALIVE: 0, SUSPECT: 1, DEAD: 2}


@dataclass(frozen=True, slots=True)
class SwimOptions:
    period_ticks: int = 8
    ack_timeout_ticks: int = 3
    suspect_timeout_ticks: int = 24
    indirect: int = 3  # members asked to probe for us
    retransmit: int = 3  # news sent this many times per log2 of the cluster size
    news_per_message: int = 8


@dataclass(slots=True)
class Member:
    status: str
    incarnation: int
    since_tick: int  # when this status began (suspicion counts from it)


@dataclass(slots=True)
class _Probe:
    target: str
    seq: int
    sent_tick: int
    acked: bool = False
    asked_others: bool = False


class Swim:
    """One node's view of the membership, and its side of the protocol."""

    def __init__(
        self,
        node_id: str,
        peers: Iterable[str],
        rng: random.Random,
        options: SwimOptions | None = None,
        incarnation: int = 0,
    ) -> None:
        self.node_id = node_id
        self.rng = rng
        self.options = options or SwimOptions()
        self.incarnation = incarnation
        self.members = {peer: Member(ALIVE, 0, 0) for peer in peers if peer != node_id}
        self.ticks = 0
        self._seq = 0
        self._probe: _Probe | None = None
        self._order: list[str] = []
        self._news: dict[str, tuple[MemberNews, int]] = {}  # node -> (news, sends left)
        self._relays: dict[int, tuple[str, int, str]] = {}  # my seq -> (asker, its seq, target)
        self.spread(MemberNews(node_id, ALIVE, incarnation))  # a (re)start announces itself

    # -- what others ask ------------------------------------------------------------

    def status_of(self, node_id: str) -> str:
        if node_id == self.node_id:
            return ALIVE
        member = self.members.get(node_id)
        return member.status if member is not None else DEAD

    def view(self) -> dict[str, tuple[str, int]]:
        """Every other member's status and incarnation, as this node sees them."""
        return {node: (m.status, m.incarnation) for node, m in sorted(self.members.items())}

    def live(self) -> list[str]:
        """Members not known dead (suspects included: they may still answer)."""
        return [node for node, m in self.members.items() if m.status != DEAD]

    def dead(self) -> list[str]:
        return [node for node, m in self.members.items() if m.status == DEAD]

    # -- time -------------------------------------------------------------------------

    def tick(self) -> list[SwimMessage]:
        self.ticks += 1
        out: list[SwimMessage] = []
        options = self.options
        for node, member in self.members.items():
            waited = self.ticks - member.since_tick
            if member.status == SUSPECT and waited >= options.suspect_timeout_ticks:
                self.learn([MemberNews(node, DEAD, member.incarnation)])
        probe = self._probe
        if probe is not None and not probe.acked:
            waited = self.ticks - probe.sent_tick
            if waited >= options.ack_timeout_ticks and not probe.asked_others:
                probe.asked_others = True
                helpers = [n for n in self.live() if n != probe.target]
                for helper in self.rng.sample(helpers, min(options.indirect, len(helpers))):
                    out.append(SwimPingReq(self.node_id, helper, probe.seq, probe.target,
                                           self.news()))  # fmt: skip
        if self.ticks % options.period_ticks == 0:
            out += self._next_period()
        return out

    def _next_period(self) -> list[SwimMessage]:
        probe = self._probe
        if probe is not None and not probe.acked:
            member = self.members.get(probe.target)
            if member is not None and member.status == ALIVE:
                self.learn([MemberNews(probe.target, SUSPECT, member.incarnation)])
        self._probe = None
        target = self._next_target()
        if target is None:
            return []
        self._seq += 1
        self._probe = _Probe(target, self._seq, self.ticks)
        return [SwimPing(self.node_id, target, self._seq, "", self.news())]

    def _next_target(self) -> str | None:
        while self._order:
            candidate = self._order.pop()
            if self.status_of(candidate) != DEAD:
                return candidate
        live = sorted(self.live())
        if not live:
            return None
        self.rng.shuffle(live)
        self._order = live
        return self._order.pop()

    # -- messages in ------------------------------------------------------------------

    def receive(self, message: SwimMessage) -> list[SwimMessage]:
        self.learn(message.news)
        self.heard_from(message.src)
        match message:
            case SwimPing(src=src, seq=seq, on_behalf_of=asker):
                return [SwimAck(self.node_id, src, seq, self.node_id, asker, self.news())]
            case SwimPingReq(src=src, seq=seq, target=target):
                self._seq += 1
                self._relays[self._seq] = (src, seq, target)
                return [SwimPing(self.node_id, target, self._seq, src, self.news())]
            case SwimAck(seq=seq, target=target, on_behalf_of=asker):
                if asker and asker != self.node_id:
                    relay = self._relays.pop(seq, None)
                    if relay is None:
                        return []
                    origin, origin_seq, _ = relay
                    return [SwimAck(self.node_id, origin, origin_seq, target, "", self.news())]
                probe = self._probe
                if probe is not None and probe.seq == seq and probe.target == target:
                    probe.acked = True
                    self.heard_from(target)
                return []
        return []

    def heard_from(self, node_id: str) -> None:
        """A message from `node_id` itself. Only it may clear a suspicion or
        a death (with a higher incarnation), so tell it what it is accused
        of: the news rides on the answer, and it refutes."""
        member = self.members.get(node_id)
        if member is None:
            self.learn([MemberNews(node_id, ALIVE, 0)])
        elif member.status != ALIVE:
            self.spread(MemberNews(node_id, member.status, member.incarnation))

    # -- news ---------------------------------------------------------------------------

    def learn(self, news: Iterable[MemberNews]) -> None:
        for item in news:
            if item.node == self.node_id:
                if item.status != ALIVE and item.incarnation >= self.incarnation:
                    self.incarnation = item.incarnation + 1  # refute
                    self.spread(MemberNews(self.node_id, ALIVE, self.incarnation))
                elif item.status != ALIVE and self.node_id not in self._news:
                    # Accused at an incarnation older than ours (by a member
                    # that restarted and never heard our latest): our news
                    # already wins, but it must reach the accuser again.
                    self.spread(MemberNews(self.node_id, ALIVE, self.incarnation))
                continue
            known = self.members.get(item.node)
            if known is not None and not _overrides(item, known):
                continue
            self.members[item.node] = Member(item.status, item.incarnation, self.ticks)
            self.spread(item)

    def spread(self, item: MemberNews) -> None:
        size = len(self.members) + 1
        sends = self.options.retransmit * max(1, math.ceil(math.log2(size + 1)))
        self._news[item.node] = (item, sends)

    def news(self) -> tuple[MemberNews, ...]:
        """The news to piggy-back on one message: the least sent first."""
        chosen = sorted(self._news.items(), key=lambda kv: -kv[1][1])[
            : self.options.news_per_message
        ]
        for node, (item, left) in chosen:
            if left <= 1:
                del self._news[node]
            else:
                self._news[node] = (item, left - 1)
        return tuple(item for _, (item, _) in chosen)


def _overrides(news: MemberNews, known: Member) -> bool:
    """SWIM's precedence: a higher incarnation, or at the same one a graver status."""
    if news.incarnation != known.incarnation:
        return news.incarnation > known.incarnation
    return _RANK[news.status] > _RANK[known.status]
