#!/usr/bin/env bash
# Jepsen on a laptop: a short chaos run of the register workload while the
# leader is killed, partitioned away and paused, checked for linearizability;
# then a negative control that must be found invalid (stale reads from a node
# behind a partition), so we know the checker can say no; its report.html shows
# the stale read in red inside the partition's window (CHAOS_OUT=DIR keeps it).
set -euo pipefail
# CHAOS_OUT=DIR keeps the runs (and their report.html) there; otherwise they
# go to a temporary directory removed at the end.
if [ -n "${CHAOS_OUT:-}" ]; then
  out="$CHAOS_OUT"; mkdir -p "$out"
else
  out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
fi
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
# Not on nothing: the faults took effect, and the clients did real work.
assert not r["faults_without_effect"], r["faults_without_effect"]
assert r["operations"].get("ok", 0) >= 200, r["operations"]
print(f"   {r['operations'].get('ok', 0)} operations acknowledged under {len(r['faults'])} faults; "
      f"the history is linearizable")
PY

echo "-- the negative control: a stale read from a node behind a partition"
status=0
raftctl chaos --control stale-read --seed 1 --out "$out/control" >/dev/null || status=$?
[ "$status" -eq 1 ] || fail "the stale-read control exited $status, not 1 (invalid)"
grep -q "not linearizable" "$out/control/results.json" || fail "no explanation in results.json"
[ -s "$out/control/report.html" ] || fail "no report.html for the control"

echo "-- raftctl check judges the saved history again and exports it for Jepsen (EDN)"
status=0
raftctl check "$out/control" --export edn >/dev/null || status=$?
[ "$status" -eq 1 ] || fail "raftctl check of the control exited $status, not 1 (invalid)"
[ -s "$out/control/history.edn" ] || fail "no history.edn"

echo "OK: a run under faults is valid, a stale read is caught, and a re-check agrees"
