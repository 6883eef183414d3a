#!/usr/bin/env bash
# A lost disk: a follower's WAL loses its second half, then its storage is
# wiped. The same leader repairs the short log and says the follower lost what
# it had acknowledged; the wiped node refuses to start as a voter (it forgot
# its votes) and names the way back, `raftctl rejoin`, which brings it back
# through a membership change with nothing acknowledged lost.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
for i in $(seq 1 3); do raftctl put "key$i" "value$i" >/dev/null; done
raftctl wait --caught-up --timeout 60 >/dev/null
leader=$(raftctl leader)
victim=$(raftctl kill follower --json | python3 -c "import json,sys; print(json.load(sys.stdin)['node'])")

segment=$(ls "$RAFTCTL_DIR/$victim"/wal/*.wal | tail -1)
truncate -s $(( $(stat -c %s "$segment") / 2 )) "$segment"
raftctl restart "$victim" >/dev/null
raftctl put after-loss yes >/dev/null
raftctl wait --caught-up --timeout 60 >/dev/null || fail "$victim was not repaired"
[ "$(raftctl leader)" = "$leader" ] || fail "the repair needed a new leader"
grep -q "found that $victim lost entries" "$RAFTCTL_DIR/$leader/node.log" \
  || fail "$leader did not report what $victim lost"

raftctl kill "$victim" >/dev/null
rm -rf "${RAFTCTL_DIR:?}/$victim/wal" "${RAFTCTL_DIR:?}/$victim/snapshots"
refusal=$(raftctl restart "$victim" 2>&1 >/dev/null) && fail "$victim started with no state"
grep -q "raftctl rejoin $victim" <<<"$refusal" || fail "the refusal names no way back: $refusal"
raftctl rejoin "$victim" --timeout 60 >/dev/null
raftctl wait --caught-up --timeout 60 >/dev/null || fail "$victim did not catch up after rejoin"
[ "$(raftctl get after-loss --consistency stale --node "$victim")" = yes ] \
  || fail "$victim lacks the write made after the loss"
for i in $(seq 1 3) ; do
  [ "$(raftctl get "key$i" --consistency stale --node "$victim")" = "value$i" ] \
    || fail "$victim lacks key$i after rejoin"
done
echo "OK: $leader repaired $victim's half-lost log in term; the wiped $victim refused to start and rejoined with 3/3 writes and the write made after the loss"
