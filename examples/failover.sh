#!/usr/bin/env bash
# Failover: SIGKILL the leader. A new leader is elected within seconds, every
# acknowledged write survives, and the old leader catches up when restarted.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
for i in $(seq 1 5); do raftctl put "key$i" "value$i" >/dev/null; done

old=$(raftctl leader)
raftctl kill leader >/dev/null
started=$(date +%s.%N)
raftctl wait --leader --timeout 60 >/dev/null || fail "no new leader after killing $old"
elapsed=$(python3 -c "print(f'{$(date +%s.%N) - $started:.1f}')")
new=$(raftctl leader)
[ "$new" != "$old" ] || fail "$old still leads after being killed"

for i in $(seq 1 5); do
  [ "$(raftctl get "key$i")" = "value$i" ] || fail "key$i was acknowledged but is gone"
done
raftctl put after-failover yes >/dev/null
raftctl restart "$old" >/dev/null
raftctl wait --caught-up --timeout 60 >/dev/null || fail "$old did not catch up"
[ "$(raftctl get after-failover --consistency stale --node "$old")" = yes ] \
  || fail "$old lacks a write made while it was down"
echo "OK: killed leader $old; $new took over in ${elapsed}s; 5/5 writes survived; $old caught up"
