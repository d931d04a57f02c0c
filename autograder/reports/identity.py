"""The class report's section on whose experiment each submission is (per-student seeds).

For each graded submission: the submitter's id and seed, the id typed in the notebook, and what
the grader found: the outputs are the student's own run, or a classmate's (named), or the fixed
default seed's; the Q3a number is their own (and earned its point), or a classmate's (named).
Rendered from the recorded results only, like the rest of the report.
"""
from __future__ import annotations

from autograder.submission.results import FAILED, SubmissionResult

ID_FLAG_STARTS = ("typed student id", "no student id typed")
"""sanitise.py's flags for an id cell that does not name the submitter: the row is a suspect."""


def rows(results: list[SubmissionResult]) -> list[dict]:
    """One row per graded submission: id, typed id, seed, the run its outputs carry, its Q3a verdict."""
    table = []
    for r in sorted(results, key=lambda r: r.student_id):
        if r.status == FAILED:
            continue
        info = r.identity if isinstance(r.identity, dict) else {}  # a graded.json of an older version
        submitted = r.trajectory_submitted or {}
        if info.get("matches"):
            run = f"student {info['matches']}'s run" if info["matches"] != "default seed" else "the default seed's run"
        elif not submitted:
            run = "no outputs submitted"
        elif any(f.startswith("evidence mismatch") for f in r.flags):
            run = "nobody's re-run (edited, or another device beyond the tolerance)"
        else:
            run = "own run"
        q3a = info.get("q3a") if isinstance(info.get("q3a"), dict) else {}
        if not isinstance(q3a.get("wrote"), (int, float)) or not isinstance(q3a.get("own"), (int, float, type(None))):
            q3a = {}
        if info.get("q3a_matches"):
            q3a_text = f"{q3a.get('wrote'):g}: student {', '.join(info['q3a_matches'])}'s, not own"
        elif q3a.get("own_match"):
            q3a_text = f"{q3a.get('wrote'):g}: own"
        elif q3a.get("wrote") is not None:
            own = q3a.get("own")
            q3a_text = f"{q3a['wrote']:g}: not own ({'?' if own is None else f'{own:.1f}'})"
        else:
            q3a_text = "no number"
        table.append({"student_id": r.student_id, "typed": info.get("typed"), "seed": info.get("seed"),
                      "record_seed": submitted.get("seed"), "run": run, "q3a": q3a_text,
                      "suspect": run not in ("own run", "no outputs submitted") or bool(info.get("q3a_matches"))
                      or any(f.startswith(ID_FLAG_STARTS) for f in r.flags)})
    return table


def section(results: list[SubmissionResult], env) -> str:
    """The section's HTML (empty when no result carries identity information)."""
    if not any(isinstance(r.identity, dict) and r.identity for r in results):
        return ""
    table = rows(results)
    return env.get_template("identity.html.j2").render(
        rows=table, suspects=[row for row in table if row["suspect"]],
        seeds=len({row["seed"] for row in table if row["seed"] is not None}))
