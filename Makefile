# Sluice: the two commands of the README's quick start, and a few helpers.
#   make run    install what is missing, build, start the gateway on loopback (foreground)
#   make test   install what is missing, build (also with ASan/UBSan), run every test
JOBS ?= $(shell nproc)
MAKEFLAGS += --no-print-directory
CONFIG ?= etc/sluice.yaml

.PHONY: all deps build build-asan run test test-release test-asan fuzz bench clean

all: build

deps:
	bash scripts/deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON >/dev/null
	cmake --build build -j$(JOBS)

build-asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Asan -DSLUICE_WERROR=ON >/dev/null
	cmake --build build-asan -j$(JOBS)

# The example config's STARTTLS pair lives under its data_dir; made once, self-signed.
run: build
	sh scripts/selfsigned.sh /var/lib/sluice/tls mx.example.com
	build/bin/sluice start -c $(CONFIG)

# Unit and fuzz-replay tests in parallel, end-to-end tests one at a time.
test-release: build
	cd build && ctest --output-on-failure -j$(JOBS) -L 'unit|fuzz'
	cd build && ctest --output-on-failure -L e2e

test-asan: build-asan
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j$(JOBS) -L 'unit|fuzz'
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L e2e

test: test-release test-asan

# libFuzzer sessions (clang): make fuzz FUZZ_SECONDS=300
FUZZ_SECONDS ?= 60
fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DSLUICE_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS)
	for t in build-fuzz/tests/fuzz_*; do n=$$(basename $$t); n=$${n#fuzz_}; \
	  mkdir -p build-fuzz/corpus/$$n; \
	  $$t -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

# Every benchmark on a Release build (build-bench), outputs in bench/out/: bench/README.md
bench:
	bash scripts/deps.sh --bench
	bash bench/run_all.sh

clean:
	rm -rf build build-asan build-fuzz
