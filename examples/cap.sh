#!/usr/bin/env bash
# CAP on a gossip cluster: cut three replicas into n1 | n2,n3. Both sides
# take writes (available), each reads its own value (not consistent), SWIM on
# each side holds the other dead, and a write of two replicas cannot be met
# on the side of one (exit 3: its outcome is unknown). After the heal the
# replicas agree, the later write wins everywhere (last-writer-wins: the
# other is lost), and the write that missed its quorum has spread.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

raftctl start --protocol gossip --nodes 3 --base-port 0 --timeout 60 >/dev/null
raftctl partition n1 n2,n3 >/dev/null

raftctl put color red --from n1 >/dev/null || fail "the small side refused a write"
raftctl put color green --from n2 >/dev/null || fail "the large side refused a write"
[ "$(raftctl get color --from n1)" = red ] || fail "n1 does not read its side's write"
[ "$(raftctl get color --from n3)" = green ] || fail "n3 does not read its side's write"

status=0
raftctl put size large --from n1 --ack 2 --timeout 5 >/dev/null 2>&1 || status=$?
[ "$status" -eq 3 ] || fail "a write of 2 replicas on a side of 1 ended with exit $status, not 3"

# SWIM: n1 holds the other side suspect, then dead (waited for, with a deadline).
apart=""
for _ in $(seq 1 50); do
  view=$(raftctl status --json | python3 -c '
import json, sys
rows = {row["id"]: row for row in json.load(sys.stdin)["nodes"]}
print((rows["n1"]["members"] or {}).get("n3"))')
  [ "$view" = dead ] && apart=yes && break
  sleep 0.2
done
[ -n "$apart" ] || fail "n1 never held n3 dead (last seen: $view)"

raftctl heal >/dev/null
raftctl wait --converged --timeout 60 >/dev/null || fail "the replicas did not agree after the heal"
for node in n1 n2 n3; do
  [ "$(raftctl get color --node "$node")" = green ] || fail "$node does not hold the later write"
done
# The write that missed its quorum was stored where it reached: its outcome
# was unknown (exit 3), and now it has spread.
[ "$(raftctl get size --node n3)" = large ] || fail "the unacknowledged write did not spread"
echo "OK: both sides wrote; after the heal all hold green (red lost), and the write short of its quorum spread"
