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
ifeq ($(SANITIZE),1)
BUILD_DIR := build-sanitize
CMAKE_FLAGS += -DCA_SANITIZE=ON
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
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test: unit, sim (and later integration, chaos), bounded for CI.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 1500

test-unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit -j $(JOBS)

test-sim: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L sim -j $(JOBS)

# A long randomized simulator run: make sim SEEDS=100000
sim: build
	$(BUILD_DIR)/tests/sim/raft_sim --nodes=3 --seeds=$(SEEDS)
	$(BUILD_DIR)/tests/sim/raft_sim --nodes=5 --seeds=$(SEEDS)

run: build
	@tools/run-local.sh $(BUILD_DIR)

bench: build
	tools/run-benchmarks.sh $(BUILD_DIR)

# changeagent vs etcd side by side (issue 11): installs etcd-server if
# missing, at most ~15 minutes. Extra flags: make bench-compare BENCH_ARGS=--seconds=3
.PHONY: bench-compare
bench-compare: build
	tools/bench-compare.sh $(BUILD_DIR) $(BENCH_ARGS)

format:
	git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD_DIR) build-sanitize
