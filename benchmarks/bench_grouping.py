"""Answer groups on the planted class: how well `suggest_groups` finds what was planted, and how fast.

For each question of a planted class (benchmarks/written_class.py) of 300 and 3,000 students:

- groups suggested against the distinct answers planted (common answers, own answers, blank);
- mixed groups: groups holding two answers that deserve different points (goal 0: a TA grading
  such a group at once would give someone the wrong points);
- in place: the share of answers in their planted group (the suggested group that holds most of
  their planted group, and whose members are mostly of it);
- seconds per question (the whole of `suggest_groups`, from the answers as written).

Then a hostile class (`--stress`, 10,000 students): every answer distinct (random words of the
lab's subject), three of them 1 MB, a few in other scripts and in markup: seconds and the
process's peak memory (past `groups.MAX_CLUSTERED` distinct answers, the rest are attached).

Writes benchmarks/results/grouping-<date>.json.

    .venv/bin/python benchmarks/bench_grouping.py [--sizes 300 3000] [--seed 1]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder.config import load_config  # noqa: E402
from autograder.manual.groups import suggest_groups  # noqa: E402
from benchmarks.written_class import PlantedClass, planted_class  # noqa: E402


def score(planted: PlantedClass, question: str, groups) -> dict:
    """The figures above for one question's groups."""
    truth = planted.answers[question]
    mixed = [g for g in groups if len({truth[s].points for s in g.students}) > 1]
    home: dict[str, tuple[int, int]] = {}  # planted group -> (its members in the group, group index)
    majority = []
    for i, g in enumerate(groups):
        counts = Counter(truth[s].group for s in g.students)
        majority.append(counts.most_common(1)[0][0])
        for label, count in counts.items():
            if count > home.get(label, (0, -1))[0]:
                home[label] = (count, i)
    in_place = sum(1 for i, g in enumerate(groups) for s in g.students
                   if home[truth[s].group][1] == i and majority[i] == truth[s].group)
    return {
        "answers": len(truth),
        "planted_groups": len(planted.groups(question)),
        "groups": len(groups),
        "groups_by_kind": dict(Counter(g.kind for g in groups)),
        "mixed_groups": len(mixed),
        "mixed_examples": [sorted({f"{truth[s].points:g}: {truth[s].text[:60]}" for s in g.students})[:4]
                           for g in mixed[:3]],
        "in_place_share": round(in_place / len(truth), 4),
    }


def run(size: int, seed: int, near_ratio: float, threshold: float) -> dict:
    planted = planted_class(size, seed)
    per_question = {}
    for question in planted.questions:
        texts = planted.texts(question)
        started = time.perf_counter()
        groups = suggest_groups(texts, near_ratio=near_ratio, similar_threshold=threshold)
        seconds = time.perf_counter() - started
        per_question[question] = {**score(planted, question, groups), "seconds": round(seconds, 3)}
    figures = list(per_question.values())
    return {
        "students": size,
        "seed": seed,
        "groups": sum(f["groups"] for f in figures),
        "planted_groups": sum(f["planted_groups"] for f in figures),
        "mixed_groups": sum(f["mixed_groups"] for f in figures),
        "in_place_share": round(sum(f["in_place_share"] * f["answers"] for f in figures)
                                / sum(f["answers"] for f in figures), 4),
        "seconds_per_question_mean": round(sum(f["seconds"] for f in figures) / len(figures), 3),
        "seconds_per_question_max": max(f["seconds"] for f in figures),
        "questions": per_question,
    }


STRESS_WORDS = ("kernel", "edge", "colour", "blob", "data", "training", "epoch", "accuracy", "pattern",
                "texture", "filter", "layer", "image", "class", "random", "noise", "guess", "chance",
                "network", "learn", "weight", "gradient", "loss", "shape", "fur", "ear", "wheel", "sky",
                "grass", "pixel", "feature", "detector", "scale", "small", "large", "fast", "slow", "rise",
                "flat", "stripe", "corner")
OTHER_SCRIPTS = ("卷积核学习到了颜色和边缘。", "النواة تتعلم الحواف والألوان.", "🐶🦘🐶", "<script>alert(1)</script>",
                 "\x1b[2J **bold** [x](javascript:alert(1))")


def stress(students: int, near_ratio: float, threshold: float) -> dict:
    rng = random.Random(0)
    texts = {f"s{i:05d}": " ".join(rng.choice(STRESS_WORDS) for _ in range(rng.randint(8, 30))) for i in range(students)}
    for i in range(3):
        texts[f"s{i:05d}"] = ("The kernels respond to colour blobs and edges. " * 22_000)[:1_000_000] + str(i)
    for i, text in enumerate(OTHER_SCRIPTS):
        texts[f"s{3 + i:05d}"] = text
    started = time.perf_counter()
    groups = suggest_groups(texts, near_ratio=near_ratio, similar_threshold=threshold)
    return {"students": students, "distinct_answers": len(set(texts.values())), "groups": len(groups),
            "seconds": round(time.perf_counter() - started, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=None, help="similar_threshold (default: the config's)")
    parser.add_argument("--stress", type=int, default=10_000, help="students of the hostile class (0: none)")
    parser.add_argument("--no-write", action="store_true", help="print only (trying thresholds)")
    args = parser.parse_args(argv)
    config = load_config().config
    near = config.runners.near_duplicate_ratio
    threshold = args.threshold if args.threshold is not None else config.manual.similar_threshold
    runs = []
    for size in args.sizes:
        result = run(size, args.seed, near, threshold)
        runs.append(result)
        print(f"{size} students: {result['groups']} groups for {result['planted_groups']} planted answers, "
              f"{result['mixed_groups']} mixed, {result['in_place_share']:.1%} in their planted group, "
              f"{result['seconds_per_question_mean']:.2f} s per question (max {result['seconds_per_question_max']:.2f})")
        for q, f in result["questions"].items():
            print(f"  {q:<4} {f['groups']:>4} groups / {f['planted_groups']:>4} planted, mixed {f['mixed_groups']}, "
                  f"in place {f['in_place_share']:.1%}, {f['seconds']:.2f} s  {f['groups_by_kind']}")
            for example in f["mixed_examples"]:
                print(f"       mixed: {example}")
    hostile = stress(args.stress, near, threshold) if args.stress else None
    if hostile:
        print(f"hostile class of {hostile['students']}: {hostile['distinct_answers']} distinct answers (three of "
              f"1 MB) in {hostile['groups']} groups, {hostile['seconds']:.1f} s, peak memory "
              f"{hostile['peak_memory_mb']} MB (the whole process)")
    ok = all(r["mixed_groups"] == 0 for r in runs)
    if not args.no_write:
        target = REPO / "benchmarks" / "results" / f"grouping-{date.today().isoformat()}.json"
        target.write_text(json.dumps({"near_ratio": near, "similar_threshold": threshold, "runs": runs,
                                      "hostile": hostile}, indent=1, ensure_ascii=False))
        print(f"written: {target}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
