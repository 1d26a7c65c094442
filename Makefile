# Tributary: the two commands that matter are `make run` and `make test`.
# Every target installs what it needs first (scripts/install-deps.sh is idempotent).
SHELL := /bin/bash
JOBS ?= $(shell nproc)

.PHONY: deps build run test debug lint bench deb fuzz soak clean format

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)
	@echo "built: build/release/bin/tributaryd"

run: build
	@echo "starting tributaryd on built-in defaults (Ctrl-C stops it)"
	@./build/release/bin/tributaryd

debug: deps
	@cmake --preset debug-asan >/dev/null
	@cmake --build --preset debug-asan -j $(JOBS)

test: debug
	@ctest --test-dir build/debug-asan --output-on-failure -j $(JOBS)

lint: debug
	@./scripts/lint.sh

bench: deps
	@bash bench/run.sh

# The Debian package from the release build (packaging/CPack.cmake).
deb: build
	@rm -f build/release/packages/*.deb
	@cpack --config build/release/CPackConfig.cmake -B build/release/packages >/dev/null
	@echo "built: $$(ls build/release/packages/*.deb)"

fuzz: deps
	@bash tests/fuzz/run_all.sh $${FUZZ_SECONDS:-300}

# make soak DURATION=1h (or 10m, 600s): long mixed load, results in bench/RESULTS.md.
DURATION ?= 1h
soak: deps
	@bash scripts/soak.sh $(DURATION)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
