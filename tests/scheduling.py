"""How `make test` spreads the suite over its workers (pytest-xdist, `--dist loadfile`).

The suite is CPU-bound on a 2-core machine, so two rules decide its wall time:

1. **A costly session fixture is built once, not once per worker.** Under xdist a session fixture
   belongs to a worker: a graded class that files on both workers use is graded twice. A session
   fixture marked `@scheduling.one_worker` ties every file that uses it (directly or through other
   fixtures) into one unit, which one worker runs.
2. **The longest units start first.** xdist's own order puts the files with the most tests first,
   which left the one-test scenario files (the course matrix, the GPU kit's dry run: about a minute
   each) for last, with the other worker idle meanwhile. Units are ordered by their cost in
   `tests/durations.json` (per file, in seconds, from an earlier run; `make durations` rewrites it).
   A file missing from it is taken as costly, so it starts early rather than ending the run.

The workers collect the tests, not the controller that schedules them, so the workers write the
unit of each file to a file the controller names (`pytest_configure_node`), and the controller's
scheduler reads it when it splits the collection into units. Without xdist nothing here changes
which tests run; only their order across files.
"""
from __future__ import annotations

import inspect
import json
import os
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

DURATIONS = Path(__file__).with_name("durations.json")
UNITS_KEY = "alexnet_lab_units"  # in each worker's workerinput: where to write the units
MARK = "_alexnet_lab_one_worker"


def one_worker(fixture_function):
    """Put under `@pytest.fixture(scope="session")`: the files using this fixture share one worker."""
    setattr(fixture_function, MARK, True)
    return fixture_function


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _shared_fixtures(item) -> set[str]:
    """The marked session fixtures this test uses, directly or through other fixtures."""
    info = getattr(item, "_fixtureinfo", None)
    found = set()
    for name in getattr(item, "fixturenames", ()):
        chain = info.name2fixturedefs.get(name, ()) if info else ()
        fixturedef = chain[-1] if chain else None  # the one this test gets (a module's own overrides a conftest's)
        if fixturedef and fixturedef.scope == "session" and getattr(inspect.unwrap(fixturedef.func), MARK, False):
            found.add(f"{fixturedef.baseid or '.'}::{name}")
    return found


def units_of(items) -> dict[str, str]:
    """{file: unit}: a file's unit is the file itself, or the first of the files it shares a marked
    fixture with (union-find over files and fixtures)."""
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    files = []
    for item in items:
        file = _file_of(item.nodeid)
        if file not in parent:
            files.append(file)
        root(file)
        for fixture in _shared_fixtures(item):
            a, b = root(file), root("fixture:" + fixture)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members = defaultdict(list)
    for file in files:
        members[root(file)].append(file)
    # A unit is named after its first file in collection order (the root may be a fixture's node).
    return {file: group[0] for group in members.values() for file in group}


def known_costs() -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads(DURATIONS.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    units = units_of(items)
    costs = known_costs()
    unknown = max(costs.values(), default=0.0)  # a new file starts early: it may be a long one
    unit_cost: dict[str, float] = defaultdict(float)
    for file, unit in units.items():
        unit_cost[unit] += costs.get(file, unknown)
    # Stable: a unit's files, and each file's tests, keep their collection order.
    items.sort(key=lambda item: (-unit_cost[units[_file_of(item.nodeid)]], units[_file_of(item.nodeid)]))
    target = getattr(config, "workerinput", {}).get(UNITS_KEY)
    if target:  # every worker collects the same tests; each writes the same map, whole or not at all
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".units-")
        with os.fdopen(fd, "w") as handle:
            json.dump(units, handle)
        os.replace(temporary, target)


# --- The controller's side (only with pytest-xdist) ---------------------------------------------

def pytest_addoption(parser):
    parser.addoption("--store-durations", action="store_true",
                     help=f"write each test file's total seconds to {DURATIONS.name} (the order `make test` runs files in)")


_seconds: dict[str, float] = defaultdict(float)  # the controller's sum of each file's reported durations


def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        config._alexnet_lab_units_dir = tempfile.TemporaryDirectory(prefix="alexnet-lab-test-units-")


def pytest_unconfigure(config):
    folder = getattr(config, "_alexnet_lab_units_dir", None)
    if folder is not None:
        folder.cleanup()


def _units_file(config) -> str:
    return os.path.join(config._alexnet_lab_units_dir.name, "units.json")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput[UNITS_KEY] = _units_file(node.config)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None  # another --dist: xdist's own scheduler
    from xdist.scheduler import LoadFileScheduling

    class UnitScheduling(LoadFileScheduling):
        """loadfile, with the files of one unit as one work unit, in the order the workers collected."""

        def __init__(self, config, log=None):
            super().__init__(config, log)
            self._units: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self._units is None:
                try:
                    self._units = json.loads(Path(_units_file(config)).read_text())
                except (OSError, ValueError):
                    self._units = {}  # no map: plain loadfile
            file = super()._split_scope(nodeid)
            return self._units.get(file, file)

    # The collection's order is the cost order above; xdist would re-sort units by test count.
    config.option.loadscopereorder = False
    return UnitScheduling(config, log)


def pytest_runtest_logreport(report):
    _seconds[_file_of(report.nodeid)] += report.duration  # setup, call and teardown


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workerinput") or not config.getoption("--store-durations"):
        return
    table = {file: round(s, 1) for file, s in sorted(_seconds.items())}
    DURATIONS.write_text(json.dumps(table, indent=1) + "\n")
