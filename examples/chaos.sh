#!/usr/bin/env bash
# Jepsen on a laptop: a short chaos run of the register workload while the
# leader is killed, partitioned away and paused, checked for linearizability;
# then a negative control that must be found invalid (stale reads from a node
# behind a partition), so we know the checker can say no.
set -euo pipefail
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

echo "-- 12 s of reads, writes and cas on 5 nodes; the nemesis kills, cuts off and pauses the leader"
status=0
raftctl chaos --workload register --nemesis kill:leader,partition:leader,pause:leader \
  --duration 12 --rate 50 --seed 8 --out "$out/run" || status=$?
[ "$status" -eq 0 ] || fail "the chaos run ended with exit $status (0 is valid)"
python3 - "$out/run/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verdict"] == "valid", r["verdict"]
assert len(r["faults"]) >= 2, r["faults"]
print(f"   {r['operations'].get('ok', 0)} operations acknowledged under {len(r['faults'])} faults; "
      f"the history is linearizable")
PY

echo "-- the negative control: a stale read from a node behind a partition"
status=0
raftctl chaos --control stale-read --seed 1 --out "$out/control" >/dev/null || status=$?
[ "$status" -eq 1 ] || fail "the stale-read control exited $status, not 1 (invalid)"
grep -q "not linearizable" "$out/control/results.json" || fail "no explanation in results.json"

echo "OK: a run under faults is valid, and a stale read is caught"
