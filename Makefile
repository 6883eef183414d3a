# Every target is self-sufficient on a fresh machine: it creates .venv and
# installs the project first when needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SEEDS  ?= 300
SEED   ?=

.PHONY: install test lint sim demo sim-demo bench bench-compare chaos soak clean check-outside

# An editable install leaves the project's own modules uncompiled; with
# PYTHONDONTWRITEBYTECODE set (as it may be on CI) every node and every raftctl
# would compile them again at start (about 50 ms a command): compile them once.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q raftctl node
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Three workers on two cores, a test file each at a time: most files wait on
# clocks (elections, chaos durations), and two workers left a quarter of the
# CPU idle (367 s of CPU in 245 s of wall; three: 225 s of wall).
test: lint
	$(BIN)/python -m pytest -q -n 3 --dist loadfile --no-loadscope-reorder

# make sim SEEDS=1000        run seeds 1..1000 of the swarm simulation
# make sim SEED=42           replay one seed and print its fault options
sim: $(STAMP)
	$(BIN)/python -m raftctl.sim.swarm $(if $(SEED),--seed $(SEED),--seeds $(SEEDS)) \
		$(if $(PROTOCOL),--protocol $(PROTOCOL))

demo: $(STAMP)
	$(BIN)/raftctl tour raft

# The same story told by the deterministic simulator, from the core's events.
sim-demo: $(STAMP)
	$(BIN)/python -m raftctl.demo.simulated

# make chaos WORKLOAD=bank DURATION=60 SEED=7   one chaos run with every fault kind
WORKLOAD ?= register
DURATION ?= 60
chaos: $(STAMP)
	$(BIN)/raftctl chaos --workload $(WORKLOAD) --duration $(DURATION) $(if $(SEED),--seed $(SEED),)

# make soak: what make test samples, at length: the swarm on 5,000 seeds (about
# 800 a minute on 2 cores), the Paxos core's swarm on 2,000 (about 400 a minute),
# the transactions swarm on 500 (about 50 a minute), a 60-second chaos run of
# each workload with every fault kind, a 60-second bank run on three shards of
# three nodes, and a 60-second comparison of Raft and Paxos. Not part of CI.
SOAK_SEEDS ?= 5000
SOAK_PAXOS_SEEDS ?= 2000
SOAK_TXN_SEEDS ?= 500
SOAK_FIRST ?= 1
SOAK_DURATION ?= 60
soak: $(STAMP)
	$(BIN)/python -m raftctl.sim.swarm --seeds $(SOAK_SEEDS) --first $(SOAK_FIRST)
	$(BIN)/python -m raftctl.sim.swarm --protocol paxos --seeds $(SOAK_PAXOS_SEEDS)
	$(BIN)/python -m raftctl.sim.txn_swarm --seeds $(SOAK_TXN_SEEDS)
	for workload in register bank set; do \
		$(BIN)/raftctl chaos --workload $$workload --duration $(SOAK_DURATION) || exit 1; \
	done
	$(BIN)/raftctl chaos --shards 3 --nodes 3 --workload bank --duration $(SOAK_DURATION)
	$(BIN)/raftctl chaos --compare raft,paxos --duration $(SOAK_DURATION)

bench: $(STAMP)
	$(BIN)/python -m raftctl.bench.simulated
	$(BIN)/python -m raftctl.bench.storage
	$(BIN)/python -m raftctl.bench.live

# make bench-compare: raftctl beside etcd in one run (raftctl/bench/compare.py);
# etcd and etcdctl come from Debian's packages when missing and this is root.
# PySyncObj is a third column, from its own venv (.venv-pysyncobj, made and
# filled from the package registry when missing; without it, two columns).
# BENCH_ROUNDS=3 BENCH_DURATION=3 (seconds per workload) BENCH_KEYS=100000;
# BENCH_SATURATE=60: then 60 s at 256 writes in flight each, counting elections.
BENCH_ROUNDS ?= 3
BENCH_DURATION ?= 3
BENCH_KEYS ?= 100000
BENCH_SATURATE ?= 60
PYSYNCOBJ_VENV := .venv-pysyncobj
PYSYNCOBJ_VERSION ?= 0.3.17
bench-compare: $(STAMP)
	@command -v etcd >/dev/null && command -v etcdctl >/dev/null || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null && (apt-get update -qq >/dev/null 2>&1; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server etcd-client >/dev/null); } || \
		{ echo "bench-compare needs etcd: apt-get install etcd-server etcd-client" >&2; exit 2; }
	@test -x $(PYSYNCOBJ_VENV)/bin/python && $(PYSYNCOBJ_VENV)/bin/python -c "import pysyncobj" \
		2>/dev/null || { $(PYTHON) -m venv $(PYSYNCOBJ_VENV) && \
		$(PYSYNCOBJ_VENV)/bin/python -m pip install --quiet pysyncobj==$(PYSYNCOBJ_VERSION); } || \
		echo "PySyncObj could not be installed: comparing with etcd alone" >&2
	$(BIN)/python -m raftctl.bench.compare --rounds $(BENCH_ROUNDS) \
		--duration $(BENCH_DURATION) --keys $(BENCH_KEYS) --saturate $(BENCH_SATURATE) \
		$$($(PYSYNCOBJ_VENV)/bin/python -c "import pysyncobj" 2>/dev/null && \
			echo --pysyncobj $(PYSYNCOBJ_VENV)/bin/python)

clean:
	rm -rf $(VENV) $(PYSYNCOBJ_VENV) build *.egg-info .pytest_cache .ruff_cache

# make check-outside RUN=chaos-runs/<run>   Porcupine (outside/, Go) judges the
# run's register history too; exits 1 if its verdict differs from ours.
# Go comes from Debian's packages when missing and this is root.
check-outside: $(STAMP)
	@test -n "$(RUN)" || (echo "usage: make check-outside RUN=chaos-runs/<run>" >&2; exit 2)
	@command -v go >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null; } || \
		{ echo "check-outside needs Go: apt-get install golang-go" >&2; exit 2; }
	$(BIN)/python -m raftctl.chaos.outside $(RUN)
