"""The coordinator's time per recorded result, for classes of 30, 300 and 3,000 (issue 19).

`grade`'s coordinator records each result as it arrives: the student's files, the gradebook rows,
graded.json, and the class tables (grades.csv, report.html with the near-duplicate pass over every
answer). Rewriting the tables after every result made its work per result grow with the class.
This records synthetic results (no kernels: the coordinator's own work is what is measured) into a
fresh OUT through the real `Recorder` and the real gradebook, and reports seconds per result:

- `bounded`: the tables rewritten as grade does now (every few seconds and at the end);
- `every`: rewritten after every result, as before (the baseline), for the smaller classes only
  (3,000 would take hours; its figure is extrapolated from the measured growth and marked so).

The figure that matters is the ratio per result of the largest class to the smallest, within one
run: flat is 1x.

    .venv/bin/python benchmarks/bench_recorder.py [--sizes 30 300 3000] [--every-up-to 300]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.authoring.release import register  # noqa: E402
from autograder.batch.record import Recorder  # noqa: E402
from autograder.config import for_master, load_config, select_profile  # noqa: E402
from autograder.course import CourseFolder, OutputFolder  # noqa: E402
from autograder.submission.results import Answer, CheckResult, SubmissionResult  # noqa: E402

WORDS = ["kernel", "relu", "overfit", "imagenet", "gpu", "dropout", "accuracy", "epoch", "chance", "edges", "colour", "texture", "layer", "filter", "stride", "pooling", "gradient", "weights", "random", "trained", "pattern", "image", "class", "network", "deep"]


def synthetic_result(rng: random.Random, student_id: str, config) -> SubmissionResult:
    """A graded submission as the runner returns it: every check earned, every question answered."""
    points = config.points
    checks = [CheckResult(name, f"check_{'kernels' if name == 'kernel_plots' else name}", value, value)
              for name, value in points.checks().items()]
    answers = []
    for label, value in points.questions.items():
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(15, 60)))
        answers.append(Answer(label, f"answer_{label.lower()}", text, True, float(value)))
    accuracy = [10.0 + 4 * i + rng.random() for i in range(11)]
    return SubmissionResult(student_id=student_id, source=f"/nonexistent/{student_id}.ipynb", checks=checks,
                            answers=answers, trajectory_rerun={"accuracy": accuracy}, seconds=30.0)


def record_class(size: int, tables_every_s: float | None, seed: int = 0) -> dict:
    course = CourseFolder.locate(REPO, load_config(None, REPO).config.course)
    config = for_master(load_config(None, REPO).config, course.master)
    rng = random.Random(seed)
    results = [synthetic_result(rng, f"s{i:05d}", config) for i in range(size)]
    with tempfile.TemporaryDirectory(prefix="alexnet-lab-bench-recorder-") as tmp:
        out = OutputFolder(Path(tmp) / "out", config.course)
        register(out.nbgrader.root, course.master, config, select_profile(config, "smoke"))
        kwargs = {} if tables_every_s is None else {"tables_every_s": tables_every_s}
        recorder = Recorder(out, config, course.master, **kwargs)
        started = time.perf_counter()
        for result in results:
            recorder.record(replace(result))
        recorder.flush()
        seconds = time.perf_counter() - started
        rows = out.grades_csv.read_text(encoding="utf-8").count("\n") - 1
        assert rows == size, f"grades.csv has {rows} rows for {size} results"
    return {"students": size, "seconds": round(seconds, 2), "per_result_ms": round(1000 * seconds / size, 1),
            "tables_written": recorder.tables_written}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 300, 3000])
    parser.add_argument("--every-up-to", type=int, default=300,
                        help="largest class also measured with a rewrite after every result (the baseline)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                        f"recorder-{date.today().isoformat()}.json")
    args = parser.parse_args()
    rows = {"bounded": [], "every": []}
    for size in args.sizes:
        rows["bounded"].append(record_class(size, None))
        print("bounded", rows["bounded"][-1], flush=True)
        if size <= args.every_up_to:
            rows["every"].append(record_class(size, 0.0))
            print("every  ", rows["every"][-1], flush=True)
    small, large = rows["bounded"][0], rows["bounded"][-1]
    summary = {"bounded_growth": round(large["per_result_ms"] / small["per_result_ms"], 2),
               "students": [small["students"], large["students"]]}
    if len(rows["every"]) >= 2:
        a, b = rows["every"][0], rows["every"][-1]
        summary["every_growth"] = round(b["per_result_ms"] / a["per_result_ms"], 2)
        summary["every_students"] = [a["students"], b["students"]]
    print(json.dumps(summary))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=1) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
