# The two commands a new user types: `make run` and `make test`.
# Everything else is here for developers and CI.

BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
SEEDS ?= 100000
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DCA_WERROR=ON
endif
# make test SANITIZE=1: the unit and simulator tests built with ASan+UBSan
# (GCC) in build-sanitize/ (only their executables: the target
# unit_sim_tests), then run there (docs/SECURITY.md "Sanitizers").
TEST_LABELS ?=
BUILD_TARGETS ?=
ifeq ($(SANITIZE),1)
BUILD_DIR := build-sanitize
CMAKE_FLAGS += -DCA_SANITIZE=ON
TEST_LABELS := -L 'unit|sim'
BUILD_TARGETS := --target unit_sim_tests
endif

.PHONY: all deps configure build test test-unit test-sim sim run bench format clean

all: build

deps:
	@tools/install-deps.sh

$(BUILD_DIR)/build.ninja:
	@$(MAKE) --no-print-directory deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) $(BUILD_TARGETS)

# Every test: unit, sim, integration, chaos, bounded for CI, and (when
# clang-14 is installed) fuzz_smoke: a few seconds per fuzz target
# (tests/fuzz/smoke.cmake).
FUZZ_DIR ?= build-fuzz
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_SECONDS ?= 300
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 1500 $(TEST_LABELS)

# Longer fuzzing: make fuzz FUZZ_SECONDS=3600 (per target).
.PHONY: fuzz test-fuzz
fuzz: deps
	JOBS=$(JOBS) tools/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

test-fuzz: deps
	JOBS=$(JOBS) tools/fuzz.sh $(FUZZ_DIR) $(FUZZ_SMOKE_SECONDS)

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)

test-sim: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L sim -j $(JOBS)

# A long randomized simulator run: make sim SEEDS=100000
sim: build
	$(BUILD_DIR)/tests/sim/raft_sim --nodes=3 --seeds=$(SEEDS)
	$(BUILD_DIR)/tests/sim/raft_sim --nodes=5 --seeds=$(SEEDS)

# make run TLS=1: HTTPS with client certificates and peer mTLS (docs/SECURITY.md).
run: build
	@TLS=$(TLS) tools/run-local.sh $(BUILD_DIR)

# Three PostgreSQL instances under pgha, on `make run`'s cluster (start it first).
.PHONY: pgha-demo
pgha-demo: build
	@tools/pgha-demo.sh $(BUILD_DIR)

bench: build
	tools/run-benchmarks.sh $(BUILD_DIR) $(BENCH_ARGS)

# changeagent vs etcd side by side (issue 11): installs etcd-server if
# missing, at most ~15 minutes. Extra flags: make bench-compare BENCH_ARGS=--seconds=3
.PHONY: bench-compare
bench-compare: build
	tools/bench-compare.sh $(BUILD_DIR) $(BENCH_ARGS)

# pgha vs Patroni + etcd failover/switchover (issue 9): installs patroni and
# etcd-server if missing; ~15 minutes. make bench-pgha BENCH_ARGS=--rounds=7
.PHONY: bench-pgha
bench-pgha: build
	tools/install-deps.sh --bench
	$(BUILD_DIR)/bench/pgha_failover $(BENCH_ARGS)

# A node joining a 1M-change log by the chunked snapshot stream (issue 5):
# stream MB/s, changes/s, leader writes during the transfer. ~3 minutes.
# make bench-catchup BENCH_ARGS=--changes=200000
.PHONY: bench-catchup
bench-catchup: build
	$(BUILD_DIR)/bench/catchup_bench $(BENCH_ARGS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-sanitize $(FUZZ_DIR)

# Long randomized chaos schedules (issue 6): back-to-back 60 s runs with
# random seeds, all faults, until DURATION (s/m/h) is used up; odd runs
# with power loss, even ones with the disk faults (they exclude each
# other). Needs root (namespaces, nft, loop mount). See docs/RELIABILITY.md.
DURATION ?= 10m
.PHONY: chaos
chaos: configure
	cmake --build $(BUILD_DIR) --target chaos chaos-check -j $(JOBS)
	@secs=$$(( $$(echo "$(DURATION)" | sed -e 's/h$$/*3600/' -e 's/m$$/*60/' -e 's/s$$//') )); \
	end=$$(( $$(date +%s) + secs )); fail=0; runs=0; \
	while [ $$(date +%s) -lt $$end ]; do \
	  seed=$$(shuf -i 1-999999 -n 1); runs=$$((runs+1)); \
	  disk=$$( [ $$((runs % 2)) -eq 1 ] && echo --power-loss || echo --disk-faults ); \
	  $(BUILD_DIR)/tests/chaos/chaos --seed=$$seed --duration=60 $$disk \
	    --out=/tmp/chaos-long/$$seed > /tmp/chaos-long-$$seed.txt 2>&1; rc=$$?; \
	  grep -E '^(faults injected|  [a-z0-9-]+ x|ops:|violations)' /tmp/chaos-long-$$seed.txt | sed "s/^/seed $$seed: /"; \
	  if [ $$rc -ne 0 ]; then fail=1; cat /tmp/chaos-long-$$seed.txt; else rm -rf /tmp/chaos-long/$$seed; fi; \
	done; echo "chaos: $$runs runs, $$( [ $$fail -eq 0 ] && echo 'no violations' || echo FAILURES)"; exit $$fail
