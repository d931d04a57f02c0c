"""The gradebook in its SQLite file against the same gradebook on PostgreSQL (issue 18, part 4).

A course whose TAs grade on several servers keeps the gradebook in PostgreSQL (`--db URL`). What
that costs, on the same planted written-answer class (benchmarks/written_class.py) and the same
code, once per database:

- `record_s_per_result`: the coordinator's recording of each result (the real `Recorder`: the
  student's files, nbgrader's rows, graded.json; the class tables as grade rewrites them);
- `apply_100_s`: one TA action of the grading store, an item applied to 100 answers (one transaction);
- `export_s`: `alexnet-lab export --allow-pending`'s work (read the gradebook, write final/).

PostgreSQL is a real server started here as the tests start it (tests/postgres.py: initdb +
pg_ctl in a temporary folder, on loopback; fsync off, as in the tests: the figure is the
client's and the protocol's cost, not a disk's). Median of `--rounds` runs of the store action.

    .venv/bin/python benchmarks/bench_gradebook_db.py [--students 300] [--rounds 5] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from autograder.config import for_master, load_config, with_gradebook_url  # noqa: E402
from autograder.export.final import export  # noqa: E402
from autograder.manual.rubric import read_rubrics  # noqa: E402
from autograder.manual.store import ManualGrading  # noqa: E402
from benchmarks.written_class import graded_out, planted_class  # noqa: E402

QUESTION = "Q1"


def measure(url: str, students: int, rounds: int, scratch: Path) -> dict:
    config = load_config().config
    if url:
        config = with_gradebook_url(config, url, "--db", "--db")
    master = REPO / "source" / "alexnet" / "alexnet.ipynb"
    planted = planted_class(students, seed=11)
    started = time.perf_counter()
    folder = graded_out(scratch / "out", config, planted, master=master)
    record = (time.perf_counter() - started) / students
    bound = for_master(config, master)
    rubrics = read_rubrics(master, bound.points.questions)
    store = ManualGrading(folder.nbgrader.gradebook_url, bound.course.course_id, bound.course.assignment,
                          bound.course.notebook, rubrics, {q: f"answer_{q.lower()}" for q in rubrics})
    item = rubrics[QUESTION].items[0].id
    chosen = sorted(planted.students)[:100]
    times = []
    try:
        for n in range(rounds):
            seen = {s: a.version for s, a in store.answers(QUESTION, chosen).items()}
            t = time.perf_counter()
            done = store.apply(QUESTION, item, chosen, n % 2 == 0, seen, "bench")
            times.append(time.perf_counter() - t)
            assert len(done.changed) == len(chosen) and not done.conflicts, done.conflicts[:3]
    finally:
        store.close()
    started = time.perf_counter()
    export(folder.root, bound, allow_pending=True)
    return {"record_s_per_result": round(record, 4), "apply_100_s": round(statistics.median(times), 4),
            "export_s": round(time.perf_counter() - started, 2)}


def main() -> int:
    import postgres

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = {"date": date.today().isoformat(), "students": args.students, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="bench-gradebook-") as tmp:
        figures["sqlite"] = measure("", args.students, args.rounds, Path(tmp) / "sqlite")
        with postgres.running_postgres() as pg:
            figures["postgresql"] = measure(pg.create_database("bench"), args.students, args.rounds,
                                            Path(tmp) / "postgresql")
    for kind in ("sqlite", "postgresql"):
        print(f"{kind:>10}: " + ", ".join(f"{k} {v}" for k, v in figures[kind].items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
