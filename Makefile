# faultline: `make demo` shows the main job working; `make check` runs every test.
BUILD      ?= build
CHECK_BUILD ?= build-check

.PHONY: all bootstrap build demo check bench fuzz clean lint tsan scan-build

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@[ -f $(BUILD)/build.ninja ] || meson setup $(BUILD) --buildtype=release >/dev/null
	@ninja -C $(BUILD) >/dev/null

demo: build
	@scripts/demo $(BUILD)/faultline

check: bootstrap
	@scripts/check $(CHECK_BUILD)

bench: build
	@scripts/bench $(BUILD)

clean:
	rm -rf $(BUILD) $(CHECK_BUILD) build-fuzz build-tsan build-tidy build-scan

fuzz: bootstrap
	@scripts/fuzz 60

# Static gates: clang-format, shellcheck, clang-tidy; then the complexity report.
lint: bootstrap
	@scripts/lint

# ThreadSanitizer build (build-tsan/) and the threaded parts under it.
tsan: bootstrap
	@scripts/tsan

# The clang static analyzer over a full build, on demand (slow); the HTML
# report lands in build-scan/report/ and any bug fails the target.
scan-build: bootstrap
	@rm -rf build-scan
	@scan-build meson setup build-scan >/dev/null
	@scan-build --status-bugs -o build-scan/report ninja -C build-scan
