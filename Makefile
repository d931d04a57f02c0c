# Two commands for a new user: `make demo` and `make test`. Both build the virtual environment
# on first use; nothing is installed by hand.
VENV   ?= .venv
PY     := $(VENV)/bin/python
# nbgrader runs `alembic` as a subprocess: the venv's bin/ must be on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Keep matplotlib off any display and its cache inside the project.
export MPLBACKEND := Agg

.PHONY: demo test durations lint venv sandbox browser postgres bench clean

venv: $(VENV)/.installed

# uv installs (it unpacks torch's 4.6 GB of CUDA wheels in parallel: 54 s here against pip's 2 min 15 s);
# tools/install_venv.py hands it pip's configured indexes and falls back to pip if uv fails.
$(VENV)/.installed: pyproject.toml tools/install_venv.py
	test -x $(PY) || python3 -m venv $(VENV)
	python3 tools/install_venv.py $(VENV) grader,ray,dev
	touch $@

# bubblewrap is the grading sandbox. Install it where we can (root with apt); grading still runs
# without it and says so once.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null) \
	      || echo "note: could not install bubblewrap; grading will run without a sandbox"; \
	  else echo "note: bubblewrap not installed (apt-get install bubblewrap); grading will run without a sandbox"; fi; }

# Debian's Chromium is the browser the formgrader test drives with Playwright (Playwright's own
# browser download is not reachable here). Installed like bubblewrap; without it that test skips.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "note: could not install chromium; the browser test will be skipped"; \
	  else echo "note: chromium not installed (apt-get install chromium); the browser test will be skipped"; fi; }

# PostgreSQL, for a course whose gradebook is a server database (gradebook.url / --db): its tests
# start a server of their own with initdb and pg_ctl, which Debian keeps off PATH in
# /usr/lib/postgresql/N/bin (looked for there first). Installed like bubblewrap; without it they skip.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
	      || echo "note: could not install postgresql; the PostgreSQL gradebook tests will be skipped"; \
	  else echo "note: PostgreSQL not installed (apt-get install postgresql); its gradebook tests will be skipped"; fi; }

demo: venv sandbox
	$(VENV)/bin/alexnet-lab demo

lint: venv
	$(VENV)/bin/ruff check .

# One worker per core (pytest-xdist). A file's tests stay on one worker (--dist loadfile), so its
# module fixtures are built once; tests/scheduling.py keeps the files sharing a costly session
# fixture on one worker and starts the longest first (the order in tests/durations.json).
test: venv sandbox browser postgres lint
	$(PY) -m pytest -q -n auto --dist loadfile

# Rewrite tests/durations.json from a full run (after adding or growing a slow test file).
durations: venv sandbox browser postgres
	$(PY) -m pytest -q -n auto --dist loadfile --store-durations

bench: venv sandbox
	$(PY) benchmarks/bench_training.py
	$(PY) benchmarks/bench_grading.py

clean:
	rm -rf $(VENV) .pytest_cache demo-output
