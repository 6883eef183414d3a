#!/usr/bin/env bash
# The bank transfer across machines (2PC, notes/consistency-zh.md): six accounts
# spread over three shards (three Raft groups of three nodes), 100 each. Money
# moves between shards by two-phase commit: the shards vote and lock through
# their Raft logs, the decision is a record replicated in the first key's shard.
# We kill a coordinating client right after its decision (its locks stay until a
# shard's resolver finishes it from the record) and one before its decision (the
# resolvers abort it), and kill a participant shard's leader while clients move
# money. Every atomic read of all balances (itself a transaction across shards)
# sums to 600.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
moved_dir=$(mktemp -d)
trap 'raftctl destroy --yes >/dev/null 2>&1 || true; kill $(jobs -p) 2>/dev/null || true; rm -rf "$moved_dir"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ACCOUNTS=(a0 a1 a2 a3 a4 a5)

raftctl start --shards 3 --nodes 3 --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
for account in "${ACCOUNTS[@]}"; do raftctl put "$account" 100 >/dev/null; done
# The placement rule is documented: any client can compute a key's shard.
shard_of() {
  python3 -c 'import hashlib,sys; print(1 + int.from_bytes(hashlib.sha256(sys.argv[1].encode()).digest()[:8], "big") % 3)' "$1"
}
for account in "${ACCOUNTS[@]}"; do echo "$account lives in shard $(shard_of "$account")"; done

gets=$(printf '{"op":"get","key":"%s"},' "${ACCOUNTS[@]}")
all_balances="{\"success\": [${gets%,}]}"
check_total() {  # an atomic read of every balance, across the three shards
  raftctl --json txn --timeout 30 <<<"$all_balances" | python3 -c '
import json, sys
document = json.load(sys.stdin)
values = [int(r["value"]) for r in document["results"]]
assert sum(values) == 600 and min(values) >= 0, values
print(sum(values), "across shards", document["shards"])'
}

# Two accounts on different shards, and a transfer between them as JSON.
from=a0; to=""
for account in "${ACCOUNTS[@]}"; do
  [ "$(shard_of "$account")" != "$(shard_of "$from")" ] && { to=$account; break; }
done
[ -n "$to" ] || fail "every account landed in one shard"
transfer_json() {  # FROM TO AMOUNT, with the balances read now as the comparison
  read -r have_from have_to < <(raftctl --json txn --timeout 30 \
    <<<"{\"success\": [{\"op\":\"get\",\"key\":\"$1\"},{\"op\":\"get\",\"key\":\"$2\"}]}" |
    python3 -c 'import json,sys; r=json.load(sys.stdin)["results"]; print(r[0]["value"], r[1]["value"])')
  echo "{\"compare\": [{\"key\":\"$1\",\"value\":\"$have_from\"},{\"key\":\"$2\",\"value\":\"$have_to\"}],
    \"success\": [{\"op\":\"put\",\"key\":\"$1\",\"value\":\"$((have_from - $3))\"},
                  {\"op\":\"put\",\"key\":\"$2\",\"value\":\"$((have_to + $3))\"}]}"
}

# 1. A plain transfer across shards: its answer names the transaction and its shards.
raftctl --json txn <<<"$(transfer_json "$from" "$to" 5)" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["succeeded"]; print("moved 5 in", d["txn_id"], "over shards", d["shards"])'

# 2. The coordinator dies right after its decision record is written (a
#    deterministic failpoint): nobody was told, the locks stay, and a read of
#    those accounts waits until a resolver finishes the transaction from the record.
body=$(transfer_json "$from" "$to" 7)
code=0
{ RAFTCTL_TXN_FAILPOINT=after-decide raftctl txn <<<"$body" >/dev/null; } 2>/dev/null || code=$?
[ "$code" -eq 137 ] || fail "the coordinator should have died by SIGKILL (exit 137), not $code"
started=$(date +%s.%N)
total=$(check_total) || fail "the total changed after the coordinator died"
waited=$(python3 -c "import time; print(round(time.time() - $started, 1))")
echo "coordinator killed after its decision: the read waited ${waited}s for the resolvers; total $total"
raftctl --json status | python3 -c '
import json, sys
rows = json.load(sys.stdin)["nodes"]
assert sum(row["txn_locks"] or 0 for row in rows) == 0, "a lock outlived its transaction"
print("transactions resolved by the shards leaders:", sum(row["txn_resolved"] or 0 for row in rows))'

# 3. The coordinator dies after every shard voted, before any decision: the
#    resolvers find no record, write "aborted" there, and the money stays put.
before=$(raftctl get "$from")
body=$(transfer_json "$from" "$to" 3)
{ RAFTCTL_TXN_FAILPOINT=after-prepare raftctl txn <<<"$body" >/dev/null; } 2>/dev/null || true
check_total >/dev/null || fail "the total changed after an undecided coordinator died"
[ "$(raftctl get "$from")" = "$before" ] || fail "an undecided transaction was applied"
echo "coordinator killed before its decision: aborted by the resolvers, $from still holds $before"

# 4. Clients move money across shards while a participant shard's leader is killed.
transfer_loop() {
  local seed=$1 moved=0
  for step in $(seq 1 2); do
    a=${ACCOUNTS[$(( (seed + step) % 6 ))]}; b=${ACCOUNTS[$(( (seed + 2 * step + 1) % 6 ))]}
    [ "$a" = "$b" ] && continue
    body=$(transfer_json "$a" "$b" 2) || continue
    succeeded=$(raftctl --json txn --timeout 30 <<<"$body" |
      python3 -c 'import json,sys; print(json.load(sys.stdin).get("succeeded", False))') || succeeded=unknown
    [ "$succeeded" = True ] && moved=$((moved + 1))
  done
  echo "$moved" >"$moved_dir/$seed"
}
clients=()
for seed in 1 2 3; do transfer_loop "$seed" & clients+=($!); done
sleep 1
victim=$(raftctl leader --shard 2)
raftctl kill leader@s2 >/dev/null
raftctl wait --leader --timeout 60 >/dev/null || fail "a shard found no leader after the kill"
raftctl restart "$victim" >/dev/null
for client in "${clients[@]}"; do wait "$client" || fail "a transfer client failed"; done
moved=0
for count in "$moved_dir"/*; do moved=$((moved + $(cat "$count"))); done
[ "$moved" -ge 2 ] || fail "only $moved transfers went through: too little to judge"
total=$(check_total) || fail "the total changed"
echo "OK: $moved transfers across shards while $victim (shard 2's leader) was killed; every read summed to $total"
