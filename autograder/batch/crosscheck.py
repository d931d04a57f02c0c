"""After a batch: whose run do a submission's outputs carry? (the coordinator's last step)

A runner sees one submission; only the coordinator has the whole class. A submitted training
record that does not match the re-run of the student's own seed is compared with every other
student's re-run (all at hand: this batch's and those already graded) and with the fixed default
seed's run (the reference's). The seed in the record names the run exactly; when the record's seed was
edited, the accuracies name it alone (the closest run, within the profile's evidence tolerance,
closer than the student's own re-run).
The same for Q3a: a number that is not the student's own before-training accuracy but is a
classmate's is flagged with the classmate named.
"""
from __future__ import annotations

import math

from autograder.submission.results import FAILED, SubmissionResult
from autograder.submission.scoring import trajectories_agree, trajectory_gap
from grading_config import Identity, Profile

DEFAULT = "default seed"
OURS = ("outputs match", "ran with the default seed", "Q3a number matches")
"""How the flags this module adds begin (a second pass replaces them)."""


def _evidence_mismatch(result: SubmissionResult, profile: Profile) -> bool:
    """The submitted record disagrees with the re-run of the student's own seed: scoring's own test,
    asked of the records themselves (its flag may have been cut by `results.bounded`)."""
    submitted, rerun = result.trajectory_submitted, result.trajectory_rerun
    return bool(submitted and rerun and not trajectories_agree(submitted, rerun, profile)[0])


def default_run(reference: dict, profile: Profile) -> dict | None:
    """The fixed default seed's run, from the reference (which always trains that seed)."""
    for seed, run in zip(reference.get("seeds") or [], reference.get("runs") or []):
        if seed == profile.seed:
            return {"seed": seed, "accuracy": run}
    return None


def whose_run(result: SubmissionResult, others: dict[str, dict], default_run: dict | None,
              profile: Profile) -> str | None:
    """The classmate id (or DEFAULT) whose run the submitted record is, or None."""
    submitted = result.trajectory_submitted or {}
    seed = submitted.get("seed")
    own_gap = trajectory_gap(submitted, result.trajectory_rerun)
    candidates = dict(others)
    if default_run:
        candidates[DEFAULT] = default_run
    # The record's seed names the run exactly (31 bits of a hash: no two ids share one by chance),
    # on any device: a Colab GPU run and our CPU re-run of one seed can differ by more than the
    # accuracy tolerance (8.5 points measured on the smoke profile, H100 against CPU).
    for who, run in candidates.items():
        if seed is not None and run.get("seed") == seed and seed != (result.trajectory_rerun or {}).get("seed"):
            return who
    # A record whose seed was edited: the run it is closest to, if closer than the student's own.
    near = sorted((trajectory_gap(submitted, run), who) for who, run in candidates.items())
    unique = len(near) < 2 or near[1][0] > near[0][0]  # a tie names nobody
    if near and unique and near[0][0] <= profile.evidence_tolerance and near[0][0] < own_gap:
        return near[0][1]
    return None


def q3a_matches(result: SubmissionResult, others: dict[str, dict], identity: Identity,
                carried: str | None = None) -> list[str]:
    """Classmates whose before-training accuracy the Q3a number is, when it is not the student's own.

    Before-training accuracies of different seeds lie close together (a spread of about 1.5 points
    on the smoke data), so a number often matches several classmates by chance. Named are: the
    classmate whose run the outputs carry (`carried`) when the number is theirs; else classmates
    whose number it is, only when written with decimals ("13.5"): a whole "10 %" is the textbook
    chance value, not a copied reading."""
    info = result.identity if isinstance(result.identity, dict) else {}
    verdict = info.get("q3a") if isinstance(info.get("q3a"), dict) else {}
    wrote = verdict.get("wrote")
    if not isinstance(wrote, (int, float)) or isinstance(wrote, bool) or verdict.get("own_match"):
        return []
    if not math.isfinite(wrote):  # '1' followed by 400 zeros is inf: no classmate's accuracy, and no round()
        return []
    near = sorted(who for who, run in others.items()
                  if run.get("accuracy") and abs(float(run["accuracy"][0]) - wrote) <= identity.q3a_tolerance + 1e-9)
    if carried in near:
        return [carried]
    return near if wrote != round(wrote) else []


def cross_check(results: dict[str, SubmissionResult], default_run: dict | None, profile: Profile,
                identity: Identity) -> list[SubmissionResult]:
    """Add the flags naming whose run a submission carries; return the results that changed."""
    runs = {sid: r.trajectory_rerun for sid, r in results.items()
            if r.status != FAILED and r.trajectory_rerun and r.trajectory_rerun.get("accuracy")}
    changed = []
    for sid, result in sorted(results.items()):
        if result.status == FAILED:
            continue
        others = {who: run for who, run in runs.items() if who != sid}
        info = dict(result.identity) if isinstance(result.identity, dict) else {}
        before = (info.get("matches"), info.get("q3a_matches"))
        rest = [f for f in result.flags if not f.startswith(OURS)]
        flags = []  # first in the list: what the TA must see before anything else
        info["matches"] = whose_run(result, others, default_run, profile) if _evidence_mismatch(result, profile) else None
        if info["matches"] == DEFAULT:
            flags.append(f"ran with the default seed {profile.seed}, not the student's own seed "
                         f"{info.get('seed')}: the outputs are the fixed-seed run (was the id left empty?)")
        elif info["matches"]:
            flags.append(f"outputs match student {info['matches']}'s run (seed "
                         f"{(result.trajectory_submitted or {}).get('seed')}), not this student's own")
        q3a = q3a_matches(result, others, identity, carried=info["matches"])
        info["q3a_matches"] = q3a or None
        if q3a:
            wrote = info["q3a"]["wrote"]
            own = info["q3a"].get("own")
            flags.append(f"Q3a number matches student {', '.join(q3a[:3])}'s before-training accuracy, not this "
                         f"student's own: wrote {wrote:g}, own {'?' if own is None else f'{own:.1f}'}%")
        flags += rest
        if (info.get("matches"), info.get("q3a_matches")) != before or flags != result.flags:
            result.identity, result.flags = info, flags
            changed.append(result)
    return changed
