# reckon: month-end rating of cloud AI API usage.
#   make demo   build and close the bundled sample month (data/sample -> out/2026-10)
#   make test   every test (what .ci/run runs)

SHELL := /bin/bash
# Builds are slow (polars): keep one target directory outside the clone so
# repeat runs and fresh clones on the same machine reuse it.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/reckon-target
CARGO ?= cargo
PERIOD ?= 2026-10
OUT ?= out/$(PERIOD)
RECKON = $(CARGO_TARGET_DIR)/debug/reckon

.PHONY: demo test test-deps build check fmt clean notebooks

build:
	$(CARGO) build --locked

# The sample month, reconciled against the sample vendor statements (Tencent
# bill details with Chinese headers, Alibaba billing details): the planted
# differences are reported, so the demo does not fail on them (--fail-on none).
demo: build
	$(RECKON) run --period $(PERIOD) --input data/sample --out $(OUT) --catalog data/catalog \
	  --statement data/sample/statements --fail-on none
	@echo
	@echo "Explore it: make notebooks (executes notebooks/month_review.ipynb into $(OUT)/notebooks)"

# The tests render report.html in headless Chromium and validate the FOCUS
# export with the FinOps Foundation's focus-validator: both are installed here
# when missing (Debian's chromium; a pinned validator in .venv-focus).
test: test-deps
	RECKON_FOCUS_VALIDATOR=$$(ci/focus-validator.sh) $(CARGO) test --locked --no-fail-fast

test-deps:
	@command -v chromium >/dev/null 2>&1 || { echo "installing chromium (Debian package) for the report test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

fmt:
	$(CARGO) fmt

clean:
	rm -rf out

-include mk/notebooks.mk

# Benchmarks (not part of make test): reckon vs the DuckDB baseline.
.PHONY: bench
bench:
	bench/run.sh
