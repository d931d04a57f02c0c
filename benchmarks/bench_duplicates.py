"""Near-duplicate pass benchmark: 300 students with 40 KB answers, against 30 students in the same run.

Every student answers one question with about 40 KB of random words (from a few hundred words, so
unrelated answers still share many words); a few pairs are planted copies, lightly edited (one
word in twenty-five replaced) or identical. The pass (`autograder.reports.duplicates.near_duplicates`,
what `report.html` runs after every result) is timed from a fresh index at 30 students (the
baseline) and at 300, and once more at 300 with the index already built (a report rewrite). The
planted pairs must be exactly what it finds, or the benchmark fails.

    .venv/bin/python benchmarks/bench_duplicates.py [--students 300] [--kb 40] [--baseline 30]
"""
from __future__ import annotations

import argparse
import random
import sys
import time

from autograder.reports import duplicates
from autograder.submission.results import Answer, SubmissionResult

THRESHOLD = 0.9  # grading_config's default near_duplicate_ratio


def vocabulary(rng: random.Random, size: int = 400) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(size)]


def answer_of(rng: random.Random, words: list[str], kb: int) -> str:
    out, size = [], 0
    while size < kb * 1024:
        word = rng.choice(words)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def edited(rng: random.Random, text: str, every: int = 25) -> str:
    words = text.split(" ")
    for i in range(rng.randrange(every), len(words), every):
        words[i] = "changed"
    return " ".join(words)


def make_class(students: int, kb: int, seed: int) -> tuple[list[SubmissionResult], set[tuple[str, str]]]:
    """`students` results, each answering Q1 with about `kb` KB; pairs planted among them."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    texts = {f"s{i:03d}": answer_of(rng, words, kb) for i in range(students)}
    ids = sorted(texts)
    planted = set()
    for k in range(max(1, students // 60)):  # 5 pairs per 300 students, at least one
        a, b, c = rng.sample(ids, 3)
        if a in {x for p in planted for x in p} or b in {x for p in planted for x in p}:
            continue
        texts[b] = edited(rng, texts[a]) if k % 2 == 0 else texts[a]
        planted.add(tuple(sorted((a, b))))
    results = [SubmissionResult(sid, f"{sid}.ipynb", answers=[Answer("Q1", "answer_q1", text, True, 2)])
               for sid, text in texts.items()]
    return results, planted


def timed_pass(results: list[SubmissionResult], fresh: bool = True) -> tuple[float, set[tuple[str, str]]]:
    if fresh:
        duplicates._indexes.clear()
        duplicates.normalise.cache_clear()
    started = time.perf_counter()
    pairs = duplicates.near_duplicates(results, THRESHOLD)
    return time.perf_counter() - started, {(p.a, p.b) for p in pairs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--kb", type=int, default=40)
    parser.add_argument("--baseline", type=int, default=30, help="students in the baseline pass (same answer size)")
    args = parser.parse_args(argv)

    ok = True
    timings = {}
    for n in (args.baseline, args.students):
        results, planted = make_class(n, args.kb, seed=n)
        seconds, found = timed_pass(results)
        timings[n] = seconds
        print(f"{n:4d} students x {args.kb} KB: {seconds:6.2f} s, {len(found)} pairs found, {len(planted)} planted")
        if found != planted:
            ok = False
            print(f"  MISMATCH: missed {sorted(planted - found)}, extra {sorted(found - planted)}")
    rewrite, _ = timed_pass(results, fresh=False)
    print(f"{args.students:4d} students, report rewritten with the index built: {rewrite * 1000:.1f} ms")
    ratio = timings[args.students] / max(timings[args.baseline], 1e-9)
    print(f"ratio {args.students} / {args.baseline} students: {ratio:.1f}x for {args.students / args.baseline:.0f}x "
          f"the students (linear would be {args.students / args.baseline:.0f}x; every pair of signatures is "
          "compared, a vectorised O(students^2) part that stays small)")
    print("planted pairs: all found, nothing else" if ok else "planted pairs: NOT as planted")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
