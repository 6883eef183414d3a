#!/usr/bin/env bash
# The bank transfer (ACID consistency, notes/consistency-zh.md): five accounts of
# 100 each; four clients move money with transactions while the leader is
# killed and restarted. Every atomic read of all balances sums to 500, and no
# balance goes negative.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ACCOUNTS=(a0 a1 a2 a3 a4)

raftctl start --base-port 0 --election-timeout 1000-2000 --timeout 60 >/dev/null
for account in "${ACCOUNTS[@]}"; do raftctl put "$account" 100 >/dev/null; done

balances_txn='{"success": [{"op":"get","key":"a0"},{"op":"get","key":"a1"},{"op":"get","key":"a2"},{"op":"get","key":"a3"},{"op":"get","key":"a4"}]}'
check_total() {
  raftctl --json txn --timeout 30 <<<"$balances_txn" | python3 -c '
import json, sys
values = [int(r["value"]) for r in json.load(sys.stdin)["results"]]
assert sum(values) == 500 and min(values) >= 0, values
print(sum(values))'
}

transfer_loop() {  # one client: read two balances, move money if the compare holds
  local seed=$1
  for step in $(seq 1 5); do
    from=${ACCOUNTS[$(( (seed + step) % 5 ))]}; to=${ACCOUNTS[$(( (seed + 2 * step + 1) % 5 ))]}
    [ "$from" = "$to" ] && continue
    read -r have_from have_to < <(raftctl --json txn --timeout 30 \
      <<<"{\"success\": [{\"op\":\"get\",\"key\":\"$from\"},{\"op\":\"get\",\"key\":\"$to\"}]}" |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(r[0]["value"], r[1]["value"])') || continue
    amount=$(( step * 3 ))
    [ "$have_from" -ge "$amount" ] || continue
    raftctl txn --timeout 30 >/dev/null <<<"{
      \"compare\": [{\"key\":\"$from\",\"value\":\"$have_from\"},{\"key\":\"$to\",\"value\":\"$have_to\"}],
      \"success\": [{\"op\":\"put\",\"key\":\"$from\",\"value\":\"$((have_from - amount))\"},
                    {\"op\":\"put\",\"key\":\"$to\",\"value\":\"$((have_to + amount))\"}]}" || true
  done
}

for seed in 1 2 3 4; do transfer_loop "$seed" & done
sleep 1
victim=$(raftctl leader)
raftctl kill leader >/dev/null
raftctl wait --leader --timeout 60 >/dev/null || fail "no leader after the kill"
check_total >/dev/null || fail "the total changed while the leader was down"
raftctl restart "$victim" >/dev/null
wait
total=$(check_total) || fail "the total changed"
raftctl wait --caught-up --timeout 60 >/dev/null
echo "OK: four clients moved money while $victim was killed; every read summed to $total"
