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
    KERNEL_PLOTS,
    KERNEL_ROLES,
    first_number,
    is_answered,
    read_kernel_plots,
    trajectory_problem,
)
from autograder.submission.results import MAX_FLAG_CHARS, Answer, CheckResult
from grading_config import Points, Profile

# ---------------------------------------------------------------- checks

def _fmt(acc) -> str:
    return "[" + ", ".join(f"{a:.1f}" for a in acc) + "]"


RUNNER_ALARM = "runner alarm"
"""How a runner alarm's flag begins: grades.csv's flags, report.html and the batch's summary find it
by this name. An alarm says the grader's re-run does not look like the course's recipe (wrong lr,
epochs or data, other numerics); an honest seed raises one at a modelled rate of at most 1 in
10,000 (`reference.HONEST_ALARM_TARGET`), so it is the runner to check, not the student."""
RUNNER_ALARM_ADVICE = "check the runner's recipe (lr, epochs) and data, then `alexnet-lab grade --regrade`"


def check_trajectory(traj: dict | None, profile: Profile, reference: dict, points: Points,
                     submitted: dict | None = None) -> CheckResult:
    """All the points for a re-run that trained the recipe to the end (a record with its epochs).

    Whether that re-run looks like the reference (chance band before training, inside the envelope
    every epoch, final at or above the floor, the recipe's lr and epochs) judges the runner, not the
    student, whose training cells are locked and whose seed's variance is not theirs to answer for:
    a re-run that does not keeps its points and carries `details["runner_alarm"]` (both
    trajectories, the epochs and the bounds), which `trajectory_flags` turns into the TA's flag."""
    result = CheckResult("trajectory", CHECK_CELLS["trajectory"], 0.0, points.trajectory)
    if not traj or not traj.get("accuracy"):
        result.reason = "no training record in the re-executed notebook: the train cell did not finish"
        return result
    acc = [float(a) for a in traj["accuracy"]]
    lower, upper = reference.get("lower") or [], reference.get("upper") or []
    lo, hi = chance_band(profile, reference)
    result.details = {"accuracy": acc, "lower": lower, "upper": upper, "floor": profile.final_floor,
                      "chance_band": [lo, hi], "epochs": traj.get("epochs"), "lr": traj.get("lr")}
    problems, outside = runner_problems(traj, acc, profile, reference, (lo, hi))
    if problems:  # the bounds it was judged by are the details' own (lower, upper, chance_band, floor)
        result.details["runner_alarm"] = {
            "problems": problems, "epochs": outside, "rerun": acc, "median_run": reference.get("median_run"),
            "submitted": (submitted or {}).get("accuracy"), "seeds": reference.get("seed_count")}
    if len(acc) != profile.epochs + 1:
        result.reason = (f"the trajectory has {len(acc)} points; the {profile.name} profile trains "
                         f"{profile.epochs} epochs, so {profile.epochs + 1} are expected")
        return result
    result.score = points.trajectory
    return result


def runner_problems(traj: dict, acc: list[float], profile: Profile, reference: dict,
                    band: tuple[float, float]) -> tuple[list[str], list[int]]:
    """What about a re-run says the runner did not train the course's recipe: one line each, and the
    epochs outside the envelope. Empty for a re-run that looks like the reference's seeds. `band`:
    the chance band (`chance_band`)."""
    problems = []
    for key in ("epochs", "lr"):
        if traj.get(key) is not None and traj.get(key) != getattr(profile, key):
            problems.append(f"trained with {key} {traj.get(key)}, the {profile.name} profile's is {getattr(profile, key)}")
    if len(acc) != profile.epochs + 1:
        return problems, []
    lo, hi = band
    if not lo <= acc[0] <= hi:  # written so that NaN fails: a comparison with NaN is always false
        problems.append(f"before training {acc[0]:.1f}% is outside the chance band {lo:g}-{hi:g}%")
    lower, upper = reference.get("lower") or [], reference.get("upper") or []
    outside = []
    if len(lower) != len(acc) or len(upper) != len(acc):
        problems.append(f"the reference envelope has {len(lower)} epochs, not {len(acc)}: rebuild it with "
                        f"`alexnet-lab reference --profile {profile.name}`")
    else:
        outside = [i for i, a in enumerate(acc) if not lower[i] <= a <= upper[i]]
        if outside:
            shown = ", ".join(f"epoch {i}: {acc[i]:.1f}% not in {lower[i]:.1f}-{upper[i]:.1f}" for i in outside[:3])
            problems.append(f"outside the reference envelope at {len(outside)} epoch(s) ({shown})")
    if not acc[-1] >= profile.final_floor:
        problems.append(f"final accuracy {acc[-1]:.1f}% is below the floor of {profile.final_floor:g}%")
    return problems, outside


def trajectory_flags(check: CheckResult) -> list[str]:
    """The runner alarm's flag for the TA, when the trajectory check raised one: what was off, the
    re-run beside the reference's median run, and what to do. (The submitted run, the bounds and
    every problem are in the check's details, which feedback.html and report.html show.)"""
    alarm = check.details.get("runner_alarm")
    if not alarm:
        return []
    median, first = alarm.get("median_run"), alarm["problems"][0]
    more = f" (+{len(alarm['problems']) - 1} more)" if len(alarm["problems"]) > 1 else ""
    tail = (f"{more}; re-run {_fmt(alarm['rerun'])}" + (f", reference median {_fmt(median)}" if median else "")
            + f"; {RUNNER_ALARM_ADVICE}")
    room = MAX_FLAG_CHARS - len(RUNNER_ALARM) - len(" (points kept): ") - len(tail)
    first = first if len(first) <= room else first[:max(0, room - 1)] + "…"  # the advice is never cut
    return [f"{RUNNER_ALARM} (points kept): {first}{tail}"]


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


PICTURE_SIZE_TOLERANCE = 0.1
"""How far (a fraction of each side) a submitted kernel picture's size may be from the re-run's:
the picture is cropped to its drawing (`bbox_inches="tight"`), so another machine's fonts move its
edges by a few pixels; a stand-in picture (a few pixels, or another figure) is far off."""
SEED_BOUND_ROLES = ("untrained", "pretrained")
"""The kernel plots whose weights depend on the seed alone (the fresh AlexNet-mini, initialised on
the CPU whatever the device, `models.fresh_mini_state`) or on nothing at all (the ImageNet
weights): the student's picture of them must show exactly the re-run's kernels. Trained kernels
differ between devices and are not compared."""


def _short(fingerprint) -> str:
    return str(fingerprint)[:12] if fingerprint else "none"


def kernel_plots_not_this_run(shown: dict, rerun_plots: dict, profile: Profile) -> tuple[str | None, list[str]]:
    """Why the kernel plots shown are not this student's run (one line, and the TA's flags), or
    (None, []) when they are: the untrained (and, both being the same weights, pretrained) kernels
    shown are the re-run's exactly, and each picture measures what the lab draws. Only a run of this
    seed produces the untrained kernels; a record typed beside a small picture does not."""
    if not (rerun_plots or {}).get("untrained"):
        return "the re-run drew no untrained kernels, so the ones shown cannot be confirmed", []
    reasons, flags = [], []
    for role in SEED_BOUND_ROLES:
        mine, ours = shown.get(role) or {}, rerun_plots.get(role) or {}
        if not ours or (role == "pretrained" and bool(mine.get("standin")) != bool(ours.get("standin"))):
            continue  # the ImageNet weights on one side, a stand-in on the other: nothing to compare
        if mine.get("fingerprint") != ours.get("fingerprint"):
            reasons.append(f"the {KERNEL_PLOTS[role]} shown are not those of seed {profile.seed}")
            flags.append(f"evidence mismatch: the {KERNEL_PLOTS[role]} shown (fingerprint "
                         f"{_short(mine.get('fingerprint'))}) are not the re-run's of seed {profile.seed} "
                         f"({_short(ours.get('fingerprint'))}): another seed's run, or no run")
    for role in KERNEL_ROLES:
        mine, ours = (shown.get(role) or {}).get("png_size"), (rerun_plots.get(role) or {}).get("png_size")
        if not ours:
            continue
        if not mine or any(abs(a - b) > PICTURE_SIZE_TOLERANCE * b for a, b in zip(mine, ours)):
            size = f"{mine[0]} x {mine[1]} pixels" if mine else "of no readable size"
            reasons.append(f"the {KERNEL_PLOTS[role]} picture is {size}; the lab draws it {ours[0]} x {ours[1]}")
            flags.append(f"malformed evidence: the {KERNEL_PLOTS[role]} picture is {size}, "
                         f"not the {ours[0]} x {ours[1]} the lab draws")
    return ("; ".join(reasons) or None), flags


def check_evidence(evidence: dict, rerun: dict | None, profile: Profile, points: Points,
                   rerun_plots: dict | None) -> tuple[CheckResult, list[str]]:
    """Half for a submitted trajectory that agrees with the re-run, half for the kernel plots shown
    when they are this seed's run (`kernel_plots_not_this_run`, against `rerun_plots`, the re-run's
    `read_kernel_plots`). Malformed evidence (a record that is not what the library emits) earns
    nothing and is flagged."""
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
        not_ours, plot_flags = kernel_plots_not_this_run(plots.get("kernels", {}), rerun_plots or {}, profile)
        if not_ours:
            reasons.append(not_ours)
            flags += plot_flags
        else:
            result.score += half
    result.reason = "; ".join(reasons)
    return result, flags


def check_kernels(executed_nb: dict, points: Points, plots: dict | None = None) -> CheckResult:
    """Half for the three kernel plots produced, half for trained kernels that differ from untrained.
    `plots`: the notebook's `read_kernel_plots`, where the caller has read them already."""
    half = points.kernel_plots / 2
    plots = read_kernel_plots(executed_nb) if plots is None else plots
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
