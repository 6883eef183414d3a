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

raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
for account in "${ACCOUNTS[@]}"; do raftctl put "$account" 100 >/dev/null; done

balances_txn='{"success": [{"op":"get","key":"a0"},{"op":"get","key":"a1"},{"op":"get","key":"a2"},{"op":"get","key":"a3"},{"op":"get","key":"a4"}]}'
check_total() {
  raftctl --json txn --timeout 30 <<<"$balances_txn" | python3 -c '
import json, sys
values = [int(r["value"]) for r in json.load(sys.stdin)["results"]]
assert sum(values) == 500 and min(values) >= 0, values
print(sum(values))'
}

moved_dir=$(mktemp -d)  # each client writes how many transfers it made
trap 'raftctl destroy --yes >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$moved_dir"' EXIT
transfer_loop() {  # one client: read two balances, move money if the compare holds
  local seed=$1 moved=0
  for step in $(seq 1 5); do
    from=${ACCOUNTS[$(( (seed + step) % 5 ))]}; to=${ACCOUNTS[$(( (seed + 2 * step + 1) % 5 ))]}
    [ "$from" = "$to" ] && continue
    read -r have_from have_to < <(raftctl --json txn --timeout 30 \
      <<<"{\"success\": [{\"op\":\"get\",\"key\":\"$from\"},{\"op\":\"get\",\"key\":\"$to\"}]}" |
      python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(r[0]["value"], r[1]["value"])') || continue
    amount=$(( step * 3 ))
    [ "$have_from" -ge "$amount" ] || continue
    # A transfer may time out while the leader is down (its outcome unknown) or
    # find the balances changed; only a success branch counts as money moved.
    succeeded=$(raftctl --json txn --timeout 30 <<<"{
      \"compare\": [{\"key\":\"$from\",\"value\":\"$have_from\"},{\"key\":\"$to\",\"value\":\"$have_to\"}],
      \"success\": [{\"op\":\"put\",\"key\":\"$from\",\"value\":\"$((have_from - amount))\"},
                    {\"op\":\"put\",\"key\":\"$to\",\"value\":\"$((have_to + amount))\"}]}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin).get("succeeded", False))') || succeeded=unknown
    [ "$succeeded" = True ] && moved=$((moved + 1))
  done
  echo "$moved" >"$moved_dir/$seed"
}

clients=()
for seed in 1 2 3 4; do transfer_loop "$seed" & clients+=($!); done
sleep 1
victim=$(raftctl leader)
raftctl kill leader >/dev/null
raftctl wait --leader --timeout 60 >/dev/null || fail "no leader after the kill"
check_total >/dev/null || fail "the total changed while the leader was down"
raftctl restart "$victim" >/dev/null
for client in "${clients[@]}"; do wait "$client" || fail "a transfer client failed"; done
moved=0
for count in "$moved_dir"/*; do moved=$((moved + $(cat "$count"))); done
[ "$moved" -ge 4 ] || fail "only $moved transfers went through: too little to judge"
total=$(check_total) || fail "the total changed"
raftctl wait --caught-up --timeout 60 >/dev/null
echo "OK: four clients made $moved transfers while $victim was killed; every read summed to $total"
