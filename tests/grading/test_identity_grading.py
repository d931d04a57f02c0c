"""Every student runs their own experiment, and the grader checks it is theirs.

Two students run the committed release with their own ids (real kernels, the smoke data); a third
hands in the first one's executed notebook under his own name. The class is graded by the real
coordinator (nbgrader, the sandbox where there is one) and the checks are read as a TA reads them.
"""
import dataclasses
import os

import nbformat
import notebooks
import pytest
from notebooks import CONFIG

from alexnet_core.contract import TRAJECTORY_MIME, read_kernel_plots
from alexnet_core.identity import derive_seed
from autograder.batch.coordinator import grade
from autograder.batch.record import load_done
from autograder.config import select_profile
from autograder.demo.sample_class import ANSWERS, answer, before_training, execute_release, with_own_q3a

AUTOMATIC = CONFIG.points.trajectory + CONFIG.points.evidence + CONFIG.points.kernel_plots
Q3A = CONFIG.points.questions["Q3a"]


def _printed(nb, cell_id: str) -> str:
    return "".join(o.get("text", "") for o in notebooks.cell_by_id(nb, cell_id).outputs)


def _record(nb) -> dict:
    return next(o["data"][TRAJECTORY_MIME] for o in notebooks.cell_by_id(nb, "train").outputs
                if TRAJECTORY_MIME in o.get("data", {}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory, smoke):
    """ada and ben each run the release with their own id typed in, as students do; dora runs it
    on JupyterHub and leaves the id cell empty (her login name is the id)."""
    work = tmp_path_factory.mktemp("identity-runs")
    found = {sid: execute_release(notebooks.release_path(), work / sid, smoke, student_id=sid) for sid in ("ada", "ben")}
    os.environ["JUPYTERHUB_USER"] = "dora"
    try:
        found["dora"] = execute_release(notebooks.release_path(), work / "dora", smoke)
    finally:
        del os.environ["JUPYTERHUB_USER"]
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory, runs, course, config):
    folder = tmp_path_factory.mktemp("identity-class")
    ada = answer(runs["ada"], with_own_q3a(ANSWERS, runs["ada"]))
    ben = answer(runs["ben"], with_own_q3a({k: f"In my own words: {v}" for k, v in ANSWERS.items()}, runs["ben"]))
    # cal submits ada's executed notebook (her id still typed in it) with his own wording.
    cal = answer(ada, {k: v.replace("the", "a", 1) for k, v in with_own_q3a(ANSWERS, runs["ada"]).items()})
    dora = answer(runs["dora"], with_own_q3a({k: f"On the hub: {v}" for k, v in ANSWERS.items()}, runs["dora"]))
    for sid, nb in {"ada": ada, "ben": ben, "cal": cal, "dora": dora}.items():
        nbformat.write(nb, str(folder / f"{sid}.ipynb"))
    out = tmp_path_factory.mktemp("identity-graded") / "out"
    grade([folder], out, course, config, profile=select_profile(config, "smoke"), runners=2)
    return load_done(out), out


def test_two_ids_give_two_different_trajectories(runs):
    ada, ben = _record(runs["ada"]), _record(runs["ben"])
    salt = CONFIG.identity.salt
    assert (ada["seed"], ben["seed"]) == (derive_seed(salt, "ada"), derive_seed(salt, "ben"))
    assert ada["accuracy"] != ben["accuracy"]
    assert f"Student id ada: your seed is {ada['seed']}" in _printed(runs["ada"], "imports")
    # The kernels shown before training are other kernels too.
    shown = {sid: [o["data"]["application/vnd.alexnet-lab.plot+json"]["fingerprint"]
                   for o in notebooks.cell_by_id(nb, "untrained_kernels").outputs if "data" in o]
             for sid, nb in runs.items()}
    assert shown["ada"] != shown["ben"]


def test_on_jupyterhub_an_empty_id_cell_runs_the_login_name_s_experiment(runs):
    record = _record(runs["dora"])
    assert record["seed"] == derive_seed(CONFIG.identity.salt, "dora")
    assert "Student id dora: your seed is" in _printed(runs["dora"], "imports")


def test_the_same_id_gives_the_same_trajectory_twice(graded, runs):
    results, _ = graded
    for sid in ("ada", "ben", "dora"):
        r = results[sid]
        assert r.trajectory_rerun["seed"] == _record(runs[sid])["seed"]
        assert r.trajectory_rerun["accuracy"] == _record(runs[sid])["accuracy"], sid


def test_honest_students_get_every_automatic_point_and_their_own_q3a_point(graded):
    results, _ = graded
    for sid in ("ada", "ben", "dora"):
        r = results[sid]
        assert r.flags == [], (sid, r.flags)
        assert r.total == AUTOMATIC + Q3A, (sid, [(c.name, c.reason) for c in r.checks])
        q3a = next(a for a in r.answers if a.label == "Q3a")
        assert q3a.auto_score == Q3A and "matches the own run" in q3a.note
        assert r.identity["q3a"]["own_match"] and r.identity.get("matches") is None


def test_the_q3a_point_reaches_the_gradebook_and_grades_csv(graded):
    # The export reads the gradebook: the grader's Q3a point must be there, not waiting for a TA.
    import csv

    from nbgrader.api import Gradebook

    from alexnet_core.contract import answer_cell

    _, out = graded
    with (out / "grades.csv").open(newline="") as fh:
        rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    with Gradebook(f"sqlite:///{out / 'nbgrader' / 'gradebook.db'}") as gb:
        for sid in ("ada", "ben"):
            assert float(rows[sid]["Q3a"]) == Q3A
            grade = gb.find_grade(answer_cell("Q3a"), CONFIG.course.assignment, CONFIG.course.assignment, sid)
            assert grade.score == Q3A and not grade.needs_manual_grade


def test_a_copied_notebook_is_flagged_with_the_classmate_named(graded):
    results, out = graded
    cal = results["cal"]
    assert cal.identity["matches"] == "ada"
    assert cal.flags[0].startswith("outputs match student ada's run")
    assert any("typed student id 'ada' differs from the submitter's id 'cal'" in f for f in cal.flags)
    evidence = next(c for c in cal.checks if c.name == "evidence")
    assert evidence.score < evidence.max_score
    # The grader ran cal's own experiment, not ada's: the id cell was replaced, not run as typed.
    assert cal.trajectory_rerun["seed"] == derive_seed(CONFIG.identity.salt, "cal")
    executed = nbformat.read(str(out / "cal" / "executed.ipynb"), as_version=4)
    assert notebooks.cell_by_id(executed, "student_id").source.startswith("STUDENT_ID = 'cal'")
    assert f"Seed {cal.trajectory_rerun['seed']}: set by the grader" in _printed(executed, "imports")
    report = out.joinpath("report.html").read_text()
    assert "Whose run is it? (1 to look at)" in report and "4 different seeds" in report and "student ada&#39;s run" in report


def test_a_q3a_number_of_someone_elses_run_is_flagged_and_earns_nothing(graded, runs):
    results, _ = graded
    cal = results["cal"]
    q3a = next(a for a in cal.answers if a.label == "Q3a")
    assert q3a.auto_score is None
    assert cal.identity["q3a_matches"] == ["ada"]
    wrote = before_training(runs["ada"])
    assert any(f.startswith(f"Q3a number matches student ada's before-training accuracy, not this student's own: "
                            f"wrote {wrote:g}") for f in cal.flags), cal.flags


def test_a_notebook_that_never_ran_earns_no_evidence_point_and_is_named(graded, release_nb, course, smoke, tmp_path):
    """The forgery: the release as downloaded, kernel-plot records beside small pictures whose
    fingerprints they state, and the default seed's run copied from the committed reference, handed
    in under ada's id; judged against the real re-run of ada's seed, as `grade` would judge it."""
    from forgery import forged, reference_record

    from autograder.authoring.reference import load_reference
    from autograder.batch.crosscheck import cross_check, default_run
    from autograder.submission.evidence import extract_evidence
    from autograder.submission.results import SubmissionResult
    from autograder.submission.scoring import check_evidence

    results, out = graded
    reference = load_reference(course, smoke)
    nb = forged(release_nb, reference_record(reference, 0))
    executed = nbformat.read(str(out / "ada" / "executed.ipynb"), as_version=4)
    rerun = results["ada"].trajectory_rerun
    assert rerun["seed"] != smoke.seed
    check, flags = check_evidence(extract_evidence(nb, smoke.epochs), rerun, dataclasses.replace(smoke, seed=rerun["seed"]),
                                  CONFIG.points, read_kernel_plots(executed))
    assert check.score == 0, check.reason
    assert f"seed {smoke.seed} submitted vs {rerun['seed']} re-run" in check.reason
    assert f"not those of seed {rerun['seed']}" in check.reason
    assert sum(f.startswith("evidence mismatch") for f in flags) == 2
    # After the batch, the coordinator's cross-check names whose run the record is: the default seed's.
    fay = SubmissionResult("fay", "fay.ipynb", trajectory_submitted=extract_evidence(nb)["trajectory"],
                           trajectory_rerun=rerun, flags=flags, checks=[check], identity={"seed": rerun["seed"]})
    cross_check({"fay": fay, "ben": results["ben"]}, default_run(reference, smoke), smoke, CONFIG.identity)
    assert fay.identity["matches"] == "default seed" and fay.flags[0].startswith(f"ran with the default seed {smoke.seed}")
