#!/usr/bin/env bash
# Membership change, one server at a time (dissertation §4.1-§4.2): a new node
# joins as a learner, receives the log, and is promoted to voter once caught
# up; then the leader removes itself, steps down once the change commits, and
# hands over to an up-to-date voter. No write is lost along the way.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
for i in $(seq 1 5); do raftctl put "key$i" "value$i" >/dev/null; done
new=$(raftctl add-node --timeout 30)
voters=$(raftctl status --json | python3 -c "
import json, sys
print(','.join(next(n['voters'] for n in json.load(sys.stdin)['nodes'] if n['role'] == 'leader')))")
[[ ",$voters," == *",$new,"* ]] || fail "$new is not a voter ($voters)"
[ "$(raftctl get key5 --consistency stale --node "$new")" = value5 ] \
  || fail "$new did not receive the log written before it joined"

old=$(raftctl leader)
raftctl remove-node "$old" --timeout 30 >/dev/null
leader=$(raftctl leader)
[ "$leader" != "$old" ] || fail "$old still leads after removing itself"
raftctl put after-change yes >/dev/null
for i in $(seq 1 5); do
  [ "$(raftctl get "key$i")" = "value$i" ] || fail "key$i was acknowledged but is gone"
done
echo "OK: $new joined (voters $voters); $old removed itself and $leader took over; 5/5 writes kept"
