# faultline: `make demo` shows the main job working; `make check` runs every test.
BUILD      ?= build
CHECK_BUILD ?= build-check

.PHONY: all bootstrap build demo check bench fuzz clean

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
	rm -rf $(BUILD) $(CHECK_BUILD) build-fuzz

fuzz: bootstrap
	@scripts/fuzz 60
