# The two commands: `make demo` and `make test`. Every target bootstraps what it needs:
# uv (installed with pip into .tools/ when it is not on PATH), then `uv sync --locked`.
SHELL := /bin/bash
PYTHON ?= python3
export UV_PYTHON_DOWNLOADS := never
# Python writes and reuses bytecode caches (its default). A machine-wide
# PYTHONDONTWRITEBYTECODE=1 makes every interpreter the suite starts (servers, examples,
# the demo, fresh venvs) compile LiveKit, Pipecat and LangChain from source again: ~5 s
# of CPU each, minutes over `make test`.
unexport PYTHONDONTWRITEBYTECODE
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
RUN := $(UV) run --locked --no-sync

.PHONY: demo test test-compat bench bench-ab lint format venv clean

# uv into .tools/ with the Python's own pip when it has one (a venv with its own pip
# takes ~5 s more to make), else into a venv of its own.
.tools/bin/uv:
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --target .tools/uv "uv==0.13.9" \
		2>/dev/null && mkdir -p .tools/bin && ln -sf ../uv/bin/uv .tools/bin/uv \
	|| { rm -rf .tools && $(PYTHON) -m venv .tools \
		&& .tools/bin/pip install --quiet --disable-pip-version-check "uv==0.13.9"; }

venv: $(UV)
	$(UV) sync --locked --all-packages --quiet

demo: venv
	$(RUN) python examples/demo.py

# mypy runs beside pytest, niced (its cold start is ~15 s of one core): the workers use
# about 1.6 of the 2 cores, so mypy fits in what they leave instead of slowing the
# real-time tests (un-niced it added ~55 s to the run). pytest-xdist runs five
# workers on two cores: most tests spend most of their time waiting on real-time audio,
# timers and sockets, so more workers than cores fill that wait (warm here: 172 s with
# four, 154-159 s with five or six; after the 2026-12-07 CPU cuts 140-150 s with five,
# 146-158 s with six, which idle less but spend more CPU; six pay a sixth collection on a
# clean clone, and three per core starve the in-process servers). One test at a time is handed to
# whichever worker is free (--maxschedchunk 1), in a shuffled order, so the tests that
# sleep on purpose run beside the computing ones instead of all at the end, with the
# tests marked `slow` spread through its first half: never all at once, never one alone
# at the end (tests/conftest.py).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print(round(2.5 * (os.cpu_count() or 1)))')
test: venv
	$(RUN) ruff check .
	nice -n 19 $(RUN) mypy & $(RUN) pytest -q -n $(TEST_WORKERS) --maxschedchunk 1; tests=$$?; \
	wait $$! && exit $$tests

# Both ends of every declared dependency range (websockets, httpx, livekit-agents,
# pipecat-ai, langchain-core, ...): throwaway virtualenvs under .compat/, resolved with uv's
# --resolution lowest-direct and highest, each running the core, adapter, conformance and
# reliability suites (scripts/compat.py).
test-compat: venv
	UV=$(UV) $(RUN) python scripts/compat.py

# The live suite (tests/live/) against the real service; never part of `make test`.
# Needs SMALLEST_API_KEY (every test skips, with the reason, without it); SMALLEST_BASE_URL
# points it elsewhere. pytest-socket's --force-enable-socket lifts, for this run only, the
# loopback-only guard that pyproject.toml's addopts put on every test.
.PHONY: test-live
test-live: venv
	$(RUN) pytest -m live tests/live --force-enable-socket -rsP

# Ours vs the official LiveKit and Pipecat integrations on local servers (~12-13 min):
# bench/report/{report.md,report.json,*.png} and the README's comparison block; then the
# core's own cost (incl. the end rule per server dialect), what websockets' frame parser costs
# per audio second, and the local server's figures.
bench: venv
	$(RUN) python bench/report.py
	$(RUN) python bench/core.py
	$(RUN) python bench/ws_parser.py
	$(RUN) python bench/server.py

# The core's transport before (85355a4, websockets 15) and after the rewrite, on one server:
# warm TTFA through LiveKit and Pipecat and client CPU per audio second, rounds alternated
# (bench/transport_ab.py; ~4 min; a throwaway git worktree of the baseline, removed after).
bench-ab: venv
	UV=$(UV) $(RUN) python bench/transport_ab.py

lint: venv
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

format: venv
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

clean:
	rm -rf .venv .tools .compat out
