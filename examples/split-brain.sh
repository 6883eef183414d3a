#!/usr/bin/env bash
# Split brain cannot happen: cut the leader off with one follower in a five-node
# cluster. The majority elects a new leader and goes on; the minority never sees
# (let alone accepts) the majority's writes; healing brings everyone together.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

raftctl start --nodes 5 --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
raftctl put before-partition 1 >/dev/null
old=$(raftctl leader)
other=$(for n in n1 n2 n3 n4 n5; do [ "$n" != "$old" ] && echo "$n" && break; done)

raftctl partition "$old,$other" >/dev/null
# Until their election timeout fires, the majority still follows $old: wait,
# with a deadline, for the leader they elect among themselves.
new=""
for _ in $(seq 1 60); do
  new=$(raftctl leader --timeout 2 2>/dev/null || true)
  case "$new" in ""|"$old"|"$other") sleep 0.5 ;; *) break ;; esac
done
case "$new" in ""|"$old"|"$other") fail "the majority elected no leader of its own" ;; esac
raftctl put during-partition majority >/dev/null || fail "the majority could not write"

status=0
raftctl get during-partition --consistency stale --node "$old" >/dev/null 2>&1 || status=$?
[ "$status" -ne 0 ] || fail "the cut-off $old holds a write it could only have learned across the partition"
# Exit 1 is "not found": anything else (a crash, no answer) would prove nothing.
[ "$status" -eq 1 ] || fail "reading from the cut-off $old ended with exit $status, not 1 (not found)"

raftctl heal >/dev/null
raftctl wait --caught-up --timeout 60 >/dev/null || fail "logs did not converge after healing"
[ "$(raftctl get during-partition --consistency stale --node "$old")" = majority ] \
  || fail "$old did not learn the majority's write after healing"
echo "OK: $old,$other cut off; $new led the majority; the minority saw nothing; healed and converged"
