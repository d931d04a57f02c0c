"""The grader's automatic checks of one submission: trajectory, evidence, kernel plots, answers.

Each check returns a `CheckResult` whose `reason` names every lost point and whose `details` carry
the figures the feedback page and the TA need. The records come out of a notebook through the
contract's readers (`alexnet_core.contract`), the same ones the student's own check uses, for the
submitted outputs (evidence) and for our re-execution alike. Points are the config's, passed in.
"""
from __future__ import annotations

import math

from alexnet_core.contract import (
    CHECK_CELLS,
    KERNEL_ROLES,
    first_number,
    is_answered,
    read_kernel_plots,
    trajectory_problem,
)
from autograder.submission.results import Answer, CheckResult
from grading_config import Points, Profile

# ---------------------------------------------------------------- checks

def _fmt(acc) -> str:
    return "[" + ", ".join(f"{a:.1f}" for a in acc) + "]"


def check_trajectory(traj: dict | None, profile: Profile, reference: dict, points: Points) -> CheckResult:
    """Shape and chance band, inside the envelope every epoch, final at or above the floor: a third each."""
    total, part = points.trajectory, points.trajectory / 3
    result = CheckResult("trajectory", CHECK_CELLS["trajectory"], 0.0, total)
    if not traj or not traj.get("accuracy"):
        result.reason = "no training record in the re-executed notebook: the train cell did not finish"
        return result
    acc = [float(a) for a in traj["accuracy"]]
    lower, upper = reference.get("lower") or [], reference.get("upper") or []
    result.details = {"accuracy": acc, "lower": lower, "upper": upper, "floor": profile.final_floor,
                      "chance_band": list(profile.chance_band), "epochs": traj.get("epochs"), "lr": traj.get("lr")}
    reasons, score = [], 0.0
    if len(acc) != profile.epochs + 1:
        result.reason = (f"the trajectory has {len(acc)} points; the {profile.name} profile trains "
                         f"{profile.epochs} epochs, so {profile.epochs + 1} are expected")
        return result
    lo, hi = chance_band(profile, reference)
    result.details["chance_band"] = [lo, hi]
    if lo <= acc[0] <= hi:
        score += part
    else:
        reasons.append(f"before training {acc[0]:.1f}% is outside the chance band {lo:g}-{hi:g}%")
    if len(lower) != len(acc) or len(upper) != len(acc):
        reasons.append(f"the reference envelope has {len(lower)} epochs, not {len(acc)}: rebuild it with "
                       f"`alexnet-lab reference --profile {profile.name}`")
    else:
        outside = [i for i, a in enumerate(acc) if not lower[i] <= a <= upper[i]]
        if outside:
            shown = ", ".join(f"epoch {i}: {acc[i]:.1f}% not in {lower[i]:.1f}-{upper[i]:.1f}" for i in outside[:3])
            reasons.append(f"outside the reference envelope at {len(outside)} epoch(s) ({shown})")
        else:
            score += part
    if acc[-1] >= profile.final_floor:
        score += part
    else:
        reasons.append(f"final accuracy {acc[-1]:.1f}% is below the floor of {profile.final_floor:g}%")
    result.score, result.reason = round(score, 6), "; ".join(reasons)
    return result


def chance_band(profile: Profile, reference: dict) -> tuple[float, float]:
    """The before-training band: measured over the reference's seeds where the envelope has one
    (`chance_band`), else the profile's fixed band."""
    band = reference.get("chance_band")
    if isinstance(band, (list, tuple)) and len(band) == 2 and all(isinstance(b, (int, float)) for b in band):
        return float(band[0]), float(band[1])
    return tuple(profile.chance_band)


def trajectory_gap(a: dict | None, b: dict | None) -> float:
    """Largest |difference| between two records' accuracies (infinite when they cannot be compared)."""
    x, y = (a or {}).get("accuracy") or [], (b or {}).get("accuracy") or []
    if not x or len(x) != len(y):
        return math.inf
    gaps = [abs(float(p) - float(q)) for p, q in zip(x, y)]
    return max(gaps) if all(math.isfinite(g) for g in gaps) else math.inf


def trajectories_agree(submitted: dict, rerun: dict, profile: Profile) -> tuple[bool, str]:
    """Whether the student's record matches ours; else a one-line description of the difference.
    The seed is compared too: a record of another seed is another student's (or the default) run."""
    a, b = submitted.get("accuracy") or [], rerun.get("accuracy") or []
    problems = []
    for key in ("seed", "epochs", "lr"):
        if submitted.get(key) != rerun.get(key):
            problems.append(f"{key} {submitted.get(key)} submitted vs {rerun.get(key)} re-run")
    if len(a) != len(b):
        problems.append(f"{len(a)} accuracies submitted vs {len(b)} re-run")
    else:
        gaps = [abs(float(x) - float(y)) for x, y in zip(a, b)]
        gap = max(gaps, default=0.0)
        # Written so that NaN disagrees: a comparison with NaN is always false.
        if not all(math.isfinite(g) and g <= profile.evidence_tolerance for g in gaps):
            problems.append(f"accuracies differ by up to {gap:.1f} points (tolerance {profile.evidence_tolerance:g})")
    return (not problems), "; ".join(problems)


def _submitted_trajectory(evidence: dict, profile: Profile) -> tuple[dict | None, str | None]:
    """The student's record and why it is malformed: as read from the file (`trajectory_problem` of
    the evidence), and judged again against this profile's epochs, wherever the evidence came from."""
    submitted, problem = evidence.get("trajectory"), evidence.get("trajectory_problem")
    if submitted and not problem:
        problem = trajectory_problem(submitted, profile.epochs)
    return (None, problem) if problem else (submitted, None)


def check_evidence(evidence: dict, rerun: dict | None, profile: Profile, points: Points) -> tuple[CheckResult, list[str]]:
    """Half for a submitted trajectory that agrees with the re-run, half for the kernel plots shown.
    Malformed evidence (a record that is not what the library emits) earns nothing and is flagged."""
    half = points.evidence / 2
    result = CheckResult("evidence", CHECK_CELLS["evidence"], 0.0, points.evidence)
    submitted, malformed = _submitted_trajectory(evidence, profile)
    plots = evidence.get("plots", {})
    shown = sorted(plots.get("kernels", {}))
    result.details = {"submitted": (submitted or {}).get("accuracy"), "rerun": (rerun or {}).get("accuracy"),
                      "kernel_plots_shown": shown}
    reasons, flags = [], []
    if malformed:
        reasons.append(f"the submitted training output is malformed evidence ({malformed})")
        flags.append(f"malformed evidence: the submitted training record: {malformed}")
    elif not submitted:
        reasons.append("the submitted notebook has no training output: run every cell, then save and submit")
    elif rerun:
        same, why = trajectories_agree(submitted, rerun, profile)
        if same:
            result.score += half
        else:
            reasons.append(f"the submitted training output does not match the re-run ({why})")
            flags.append(f"evidence mismatch: {why}; submitted {_fmt(submitted.get('accuracy') or [])}, "
                         f"re-run {_fmt(rerun.get('accuracy') or [])}")
    else:
        result.score += half  # nothing to compare with: the re-run's own failure is reported elsewhere
    missing = [role for role in KERNEL_ROLES if role not in shown]
    bad_plots = plots.get("problems") or []
    flags += [f"malformed evidence: {p}" for p in bad_plots[:3]]
    if missing:
        why = f" ({'; '.join(bad_plots[:3])})" if bad_plots else ""
        reasons.append(f"the submitted notebook does not show the {', '.join(missing)} kernel plot(s){why}")
    else:
        result.score += half
    result.reason = "; ".join(reasons)
    return result, flags


def check_kernels(executed_nb: dict, points: Points) -> CheckResult:
    """Half for the three kernel plots produced, half for trained kernels that differ from untrained."""
    half = points.kernel_plots / 2
    plots = read_kernel_plots(executed_nb)
    result = CheckResult("kernel_plots", CHECK_CELLS["kernel_plots"], 0.0, points.kernel_plots,
                         details={"plots": plots})
    reasons = []
    missing = [role for role in KERNEL_ROLES if role not in plots]
    if missing:
        reasons.append(f"the re-executed notebook did not produce the {', '.join(missing)} kernel plot(s)")
    else:
        result.score += half
    trained, untrained = plots.get("trained", {}), plots.get("untrained", {})
    if trained and untrained and trained.get("fingerprint") != untrained.get("fingerprint"):
        result.score += half
    elif trained and untrained:
        reasons.append("the trained kernels are identical to the untrained ones: training changed nothing")
    else:
        reasons.append("trained and untrained kernels could not be compared")
    result.reason = "; ".join(reasons)
    return result


# ---------------------------------------------------------------- answers

def grade_answer(label: str, grade_id: str, text: str, master_text: str, points: Points) -> Answer:
    """Answered when changed from the release and not empty (the contract's rule: shortness is a
    note for the report, `is_short`, never a reason to call an answer unanswered)."""
    answered = is_answered(text, master_text)
    answer = Answer(label=label, grade_id=grade_id, text=text, answered=answered,
                    max_score=float(points.questions[label]))
    if not answered:  # the rule leaves only one way: the placeholder (or nothing) is still there
        answer.note = "unanswered: the cell still holds the placeholder"
    return answer


def q3a_verdict(text: str, rerun: dict | None, tolerance: float) -> dict:
    """The Q3a number against the student's own before-training accuracy (our re-run of their seed):
    {"wrote", "own", "own_match"}."""
    wrote = first_number(text)
    own = float(rerun["accuracy"][0]) if rerun and rerun.get("accuracy") else None
    match = wrote is not None and own is not None and abs(wrote - own) <= tolerance + 1e-9
    return {"wrote": wrote, "own": own, "own_match": bool(match), "tolerance": tolerance}


def q3a_note(text: str, submitted: dict | None, rerun: dict | None) -> str:
    """The number the student wrote in Q3a beside their own (and our) before-training accuracy."""
    wrote = first_number(text)
    parts = [f"wrote {wrote:g}" if wrote is not None else "no number written"]
    if submitted and submitted.get("accuracy"):
        parts.append(f"own before-training accuracy {float(submitted['accuracy'][0]):.1f}%")
    else:
        parts.append("no own training output")
    if rerun and rerun.get("accuracy"):
        parts.append(f"re-run {float(rerun['accuracy'][0]):.1f}%")
    return "; ".join(parts)
