# Each target creates .venv with the project installed, then does its job,
# so a fresh machine with only Python 3.11 needs nothing else.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: bootstrap test conform bench fuzz lint regen golden-promote clean embed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

bootstrap: $(STAMP)
	$(BIN)/python bootstrap.py all

# pytest (spread over the cores by pytest-xdist, a test file to a worker, so a file's expensive fixtures
# are built once), then two lanes side by side, one a core: the shared conformance programs through the
# installed `ilusm` command and our spec suite through `ilusm test`, the runner users get; and the
# fixed-point checks (stage3 runs stage2 first, then the self-hosted VM) and lib/ checked to be in
# `ilusm fmt`'s layout. Either lane failing fails the target. (`make conform` also runs our spec
# suite through the shared conformance tool, one `ilusm run` process a program: five minutes more.)
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile
	$(BIN)/python ../shared/tools/conform.py --timeout 30 --cmd "$(CURDIR)/$(BIN)/ilusm run" \
		../shared/conformance/core && $(BIN)/ilusm test tests/spec & first=$$!; \
	$(BIN)/python bootstrap.py stage3 && $(BIN)/ilusm fmt --check lib/; \
	lane=$$?; wait $$first && exit $$lane

conform: $(STAMP)
	$(BIN)/python ../shared/tools/conform.py --timeout 30 --cmd "$(CURDIR)/$(BIN)/ilusm run" \
		../shared/conformance/core tests/spec

bench: $(STAMP)
	$(BIN)/python bench/run.py --svg docs/bench.svg
	$(BIN)/python bench/floor.py
	$(BIN)/python bench/jit.py

# Long fuzzing and soak runs, outside the normal test time budget (the last: the whole spec suite
# at JIT threshold 1 on the self-hosted VM, three minutes).
fuzz: $(STAMP)
	ILUSM_FUZZ_EXAMPLES=50000 $(BIN)/python -m pytest -q tests/test_ilbc.py tests/test_image_fuzz.py -k fuzz
	ILUSM_FUZZ_EXAMPLES=5000 $(BIN)/python -m pytest -q tests/test_differential.py tests/test_verify_kinds.py
	ILUSM_FULL=1 $(BIN)/python -m pytest -q tests/test_fast.py -k fallback_emission
	ILUSM_SOAK=1 $(BIN)/python -m pytest -q tests/test_jit.py -k memory_stays_bounded
	ILUSM_FULL=1 $(BIN)/python -m pytest -q tests/test_jit.py -k "spec_suite_at_threshold_1 and vm"

# build/libilusm.so (ilusm inside a C program: include/ilusm.h, docs/embedding.md) and its example.
embed: $(STAMP)
	$(BIN)/python tools/build_embed.py --example

lint: $(STAMP)
	$(BIN)/ruff check stage0 tests tools bootstrap.py bench
	$(BIN)/mypy

# Rewrite every generated file from its Python source of truth (each has a staleness test).
regen: $(STAMP)
	$(BIN)/python tools/gen_opcodes.py
	$(BIN)/python tools/gen_kernel.py
	$(BIN)/python tools/gen_nodes.py
	$(BIN)/python tools/gen_editors.py

golden-promote: $(STAMP)
	$(BIN)/python tests/golden.py --promote

clean:
	rm -rf build $(VENV)
