"""The honest false-reject rate: how often a correct run of a student's own seed alarms.

Trains held-out seeds drawn as student seeds are (`derive_seed(course salt, id)` over made-up ids
`student-00000`, ...; never the envelope's own seeds), judges each re-run with the grader's own
trajectory check against an envelope, and reports:

- points lost to seed variance (0 by construction: the trajectory check keeps them),
- runner alarms k of n, with the exact 95 % upper limit of that rate (0 of n: about 3/n),
- the modelled upper bound on the rate (the conservative tail model of `coverage.py`), fitted on
  the envelope's seeds (stored in the envelope) and again on these held-out seeds,
- the model checked against what the held-out seeds show: per epoch and side, the rate the
  envelope's tail model predicts past its seeds' 1 % and 0.1 % quantiles, and the share of
  held-out seeds seen there,
- with `--old-envelope`, how many of these honest seeds lost points under that envelope's rule
  (a third of the trajectory points per failed part),
- with `--envelope-log` (the envelope's own runs) and `--margins`, the same for the envelope
  rebuilt with each margin: how the profile's `envelope_margin` was chosen (the smallest whose
  modelled bound on the held-out seeds meets the target).

A benchmark, not a test (thousands of seeds train for hours on a CPU). Runs are logged one JSON
line per seed (`--log`, the format `alexnet-lab reference --log` writes), so a measurement resumes:

    nice -n 10 .venv/bin/python benchmarks/bench_false_reject.py --heldout 1000 --log heldout.jsonl \\
        --old-envelope old-smoke.json --json benchmarks/results/false-reject-smoke-DATE.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from alexnet_core.identity import derive_seed
from autograder.authoring import coverage
from autograder.authoring.reference import (
    envelope,
    honest_alarm_rate,
    load_reference,
    read_log,
    reference_seeds,
    train_runs,
)
from autograder.config import load_config, select_profile
from autograder.course import CourseFolder
from autograder.submission.scoring import check_trajectory

REPO = Path(__file__).resolve().parents[1]


def heldout_seeds(salt: str, count: int) -> list[tuple[str, int]]:
    """(id, seed) for made-up student ids, seeded exactly as the grader seeds a student."""
    return [(f"student-{i:05d}", derive_seed(salt, f"student-{i:05d}")) for i in range(count)]


def old_rule_loss(acc: list[float], profile, old: dict) -> int:
    """Parts of three a run lost under the old rule (chance band, envelope every epoch, floor)."""
    band = old.get("chance_band") or list(profile.chance_band)
    lost = int(not band[0] <= acc[0] <= band[1])
    lost += int(any(not lo <= a <= hi for a, lo, hi in zip(acc, old["lower"], old["upper"])))
    return lost + int(acc[-1] < profile.final_floor)


def calibration(envelope: dict, runs: list[list[float]]) -> list[dict]:
    """Per epoch and side: the envelope's tail model against the held-out seeds, at its seeds' 1 % and
    0.1 % quantiles (the model's predicted upper bound, the held-out share seen past that point)."""
    rows = []
    columns = list(zip(*runs))
    for e, tails in enumerate(envelope.get("tails") or []):
        for side, q in (("lower", "0.01"), ("lower", "0.001"), ("upper", "0.99"), ("upper", "0.999")):
            tail = coverage.Tail(**tails[side])
            at = envelope["quantiles"][q][e]
            seen, seen_hi = coverage.empirical_rate(list(columns[e]), at, side)
            rows.append({"epoch": e, "side": side, "at": at, "quantile": float(q), "modelled": round(tail.rate(at), 5),
                         "seen": seen, "n": len(runs), "seen_rate_95": round(seen_hi, 5)})
    return rows


def margin_row(built: list[list[float]], runs: list[list[float]], margin: float, profile, points) -> dict:
    """The envelope of the runs `built` with `margin` (the chance band's margin at most the profile's),
    judged on the held-out `runs`: alarms seen and the modelled bounds."""
    env = envelope(built, margin, min(margin, profile.chance_margin))
    alarms = sum("runner_alarm" in check_trajectory({"epochs": profile.epochs, "lr": profile.lr, "accuracy": acc},
                                                   profile, env, points).details for acc in runs)
    return {"margin": margin, "final_lower": env["lower"][-1], "alarms": alarms,
            "modelled_on_envelope_seeds": honest_alarm_rate(built, env, profile.final_floor)["modelled"],
            "modelled_on_heldout_seeds": honest_alarm_rate(runs, env, profile.final_floor)["modelled"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--heldout", type=int, default=1000, help="held-out student seeds (default 1000)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes of one torch thread each")
    parser.add_argument("--log", type=Path, help="the held-out runs' log: read first, appended to")
    parser.add_argument("--envelope", type=Path, help="envelope JSON (default: the course's committed one)")
    parser.add_argument("--old-envelope", type=Path, help="an older envelope to count the points its rule took")
    parser.add_argument("--envelope-log", type=Path, help="the envelope's runs (`reference --log`), for --margins")
    parser.add_argument("--margins", default="", help="comma-separated envelope margins to rebuild and judge with")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args(argv)

    config = load_config().config
    profile = select_profile(config, args.profile)
    envelope = (json.loads(args.envelope.read_text()) if args.envelope
                else load_reference(CourseFolder.locate(REPO, config.course), profile))
    ids = heldout_seeds(config.identity.salt, args.heldout)
    seeds = [seed for _, seed in ids]
    if set(seeds) & set(envelope.get("seeds") or []):
        sys.exit("held-out seeds overlap the envelope's: choose other ids")
    trained = train_runs(profile, seeds, jobs=args.jobs, log=args.log, progress=lambda line: print(line, flush=True))
    runs = [trained[s] for s in seeds]

    alarms, lost = [], 0.0
    for (sid, seed), acc in zip(ids, runs):
        record = {"seed": seed, "epochs": profile.epochs, "lr": profile.lr, "accuracy": acc}
        check = check_trajectory(record, profile, envelope, config.points)
        lost += check.max_score - check.score
        if "runner_alarm" in check.details:
            alarms.append({"id": sid, "seed": seed, "accuracy": acc, "problems": check.details["runner_alarm"]["problems"]})
    n, k = len(runs), len(alarms)
    result = {
        "profile": profile.name, "heldout": n, "envelope_seeds": envelope.get("seed_count", len(envelope.get("seeds") or [])),
        "points_lost": lost, "alarms": k, "alarm_rate_95": coverage.binomial_upper(k, n), "alarmed": alarms,
        "modelled_on_envelope_seeds": (envelope.get("honest_alarm") or {}).get("modelled"),
        "modelled_on_heldout_seeds": honest_alarm_rate(runs, envelope, profile.final_floor)["modelled"],
        "calibration": calibration(envelope, runs),
    }
    if args.old_envelope:
        old = json.loads(args.old_envelope.read_text())
        losers = [(sid, acc) for (sid, _), acc in zip(ids, runs) if old_rule_loss(acc, profile, old)]
        result["old_envelope"] = {"seeds": len(old.get("seeds") or []), "lost_points": len(losers),
                                  "examples": [{"id": sid, "accuracy": acc} for sid, acc in losers[:20]]}
    if args.envelope_log and args.margins:
        logged = read_log(args.envelope_log, profile)
        built = [logged[s] for s in reference_seeds(profile, result["envelope_seeds"])]
        result["margins"] = [margin_row(built, runs, float(m), profile, config.points) for m in args.margins.split(",")]
    print(f"{profile.name}: {n} held-out seeds against an envelope of {result['envelope_seeds']} seeds")
    print(f"points lost to seed variance: {lost:g}")
    print(f"runner alarms: {k} of {n} (95 % upper limit {result['alarm_rate_95']:.2g})")
    print(f"modelled upper bound: {result['modelled_on_envelope_seeds']} (envelope's seeds), "
          f"{result['modelled_on_heldout_seeds']:.2g} (held-out seeds)")
    if args.old_envelope:
        print(f"under {args.old_envelope.name}'s rule: {result['old_envelope']['lost_points']} of {n} lost points")
    for row in result["calibration"]:
        print(f"  epoch {row['epoch']} {row['side']:5} past {row['at']:5.1f} (q {row['quantile']:g}): modelled "
              f"<= {row['modelled']:.4f}, seen {row['seen']}/{row['n']}")
    for row in result.get("margins", []):
        print(f"  margin {row['margin']:g}: final bound {row['final_lower']:g} %, alarms {row['alarms']}/{n}, modelled "
              f"<= {row['modelled_on_heldout_seeds']:.2g} (held-out seeds), {row['modelled_on_envelope_seeds']:.2g} "
              "(envelope's seeds)")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
