#!/usr/bin/env bash
# PreVote (dissertation §9.6): a follower cut off from the others keeps timing
# out. With PreVote it asks "would you vote for me?" first, never raises its
# term, and when it returns the leader stays. With --no-prevote every timeout
# raises its term; when it returns, its higher term deposes the leader.
set -euo pipefail
export RAFTCTL_DIR="${RAFTCTL_DIR:-$(mktemp -d)/cluster}"
trap 'raftctl destroy --yes >/dev/null 2>&1 || true' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
field() {  # field NODE KEY: one field of NODE's row in status
  raftctl status --json | python3 -c "
import json, sys
print(next(n['$2'] for n in json.load(sys.stdin)['nodes'] if n['id'] == '$1'))"
}
isolate_a_follower() {
  leader=$(raftctl leader)
  term=$(field "$leader" term)
  loner=$(raftctl status --json | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(sorted(n['id'] for n in d['nodes'] if n['id'] != d['leader'])[0])")
  raftctl partition "$loner" >/dev/null
}
timeouts_of() { raftctl events --node "$loner" | grep -c "election timeout" || true; }
timed_out_thrice() { [ "$(timeouts_of)" -ge 3 ]; }
loner_term_inflated() { [ "$(field "$loner" term)" -gt $((term + 2)) ]; }
cluster_term() { raftctl status --json | python3 -c "import json, sys; print(json.load(sys.stdin)['term'] or 0)"; }
leader_above_inflated_term() { raftctl leader >/dev/null 2>&1 && [ "$(cluster_term)" -gt $((term + 2)) ]; }

wait_until() {  # wait_until SECONDS DESCRIPTION PREDICATE: poll with a deadline
  local deadline=$(( $(date +%s) + $1 )) what=$2
  until "$3"; do
    [ "$(date +%s)" -lt "$deadline" ] || fail "$what did not happen within the deadline"
    sleep 1  # each poll is a fresh raftctl process: once a second is plenty
  done
}

# 1. With PreVote: the loner times out again and again, its term stays put.
raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --timeout 60 >/dev/null
isolate_a_follower
wait_until 30 "three election timeouts on $loner" timed_out_thrice
[ "$(field "$loner" term)" = "$term" ] || fail "with PreVote $loner raised its term"
raftctl heal >/dev/null
raftctl wait --caught-up --timeout 30 >/dev/null || fail "$loner did not rejoin"
[ "$(raftctl leader)" = "$leader" ] || fail "with PreVote the leader changed"
[ "$(field "$leader" term)" = "$term" ] || fail "with PreVote the term changed"
with_prevote="$loner timed out $(timeouts_of) times cut off; $leader kept leading at term $term"
raftctl destroy --yes >/dev/null

# 2. Without PreVote: every timeout raises the loner's term; back, it deposes the leader.
raftctl start --base-port 0 --election-timeout 1000-2000 --heartbeat 100 --no-prevote --timeout 60 >/dev/null
isolate_a_follower
wait_until 30 "$loner's term rising past $((term + 2))" loner_term_inflated
raftctl heal >/dev/null
wait_until 30 "a leader at a term above $((term + 2))" leader_above_inflated_term
deposed_by_loner() {  # the old leader adopted the loner's inflated term from it
  raftctl events --node "$leader" --json | python3 -c "
import json, sys
events = json.load(sys.stdin)['events']
sys.exit(0 if any(e['event'] == 'TermChanged' and e['src'] == '$loner'
                  and e['new_term'] > $term + 2 for e in events) else 1)"
}
deposed_by_loner || fail "$leader was never deposed by $loner's term"
echo "OK: with PreVote $with_prevote; without it $loner inflated its term and deposed $leader (now term $(cluster_term))"
