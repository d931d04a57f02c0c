"""Evidence only a run of this student's seed could produce: the untrained kernels shown are the
grader's re-run's exactly (they depend on the seed alone), drawn the size the lab draws them.

The honest run and its re-run are the session's shared ones (tests/grading/conftest.py); the
forgeries are built from the release as downloaded and judged against that real re-run.
"""
import json

import nbformat
import pytest
import torch
from forgery import forged, reference_record, shown_fingerprints
from notebooks import CONFIG

from alexnet_core.contract import read_kernel_plots, read_trajectory
from alexnet_core.models import load_untrained_alexnetmini
from alexnet_core.plots import render_kernels
from autograder.authoring.reference import load_reference
from autograder.course import NbgraderRoot
from autograder.submission.sanitise import prepare
from autograder.submission.scoring import check_evidence

POINTS = CONFIG.points


def _untrained(seed: int, device: str) -> str:
    return render_kernels(load_untrained_alexnetmini(device, seed=seed), 0, seed=seed).metadata["fingerprint"]


@pytest.mark.parametrize("threads", [1, 2])
def test_the_untrained_kernels_depend_on_the_seed_alone(student_run, graded, smoke, threads):
    """The student's kernel, the grader's sandboxed re-run and this process (another thread count,
    and the GPU where there is one) draw the same untrained kernels for one seed, other ones for another."""
    results, _ = graded
    rerun = read_kernel_plots(json.loads(results["complete"].executed_notebook))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        here = {device: _untrained(smoke.seed, device) for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])}
        other = _untrained(smoke.seed + 1, "cpu")
    finally:
        torch.set_num_threads(before)
    submitted = shown_fingerprints(student_run)["untrained_kernels"]
    assert set(here.values()) == {submitted} == {rerun["untrained"]["fingerprint"]}
    assert other != submitted


def _judge(nb, tmp_path, graded, course_root, course, config, smoke):
    """The forged notebook prepared as `grade` prepares it (its evidence read before the outputs
    are cleared), judged against the real re-run of the same seed."""
    path = tmp_path / "forged.ipynb"
    nbformat.write(nb, str(path))
    prepared = prepare("forged", path, NbgraderRoot(course_root, config.course), course.master, smoke, config)
    executed = json.loads(graded[0]["complete"].executed_notebook)
    return check_evidence(prepared.evidence, read_trajectory(executed), smoke, POINTS, read_kernel_plots(executed))


def test_small_pictures_with_made_up_kernels_earn_no_kernel_point(tmp_path, release_nb, graded, course_root,
                                                                  course, config, smoke):
    """A notebook that never ran, with plot records beside small pictures whose fingerprints they
    state and the default seed's reference run: the re-run's seed here is that default seed, so its
    copied record does agree (the class's per-student seeds are what stops it:
    test_identity_grading), but the kernels shown are nobody's and earn nothing."""
    record = reference_record(load_reference(course, smoke), 0)
    assert record["seed"] == smoke.seed
    result, flags = _judge(forged(release_nb, record), tmp_path, graded, course_root, course, config, smoke)
    assert result.score == POINTS.evidence / 2, result.reason
    assert "untrained AlexNet-mini kernels shown are not those of seed" in result.reason
    assert any(f.startswith("evidence mismatch: the untrained AlexNet-mini kernels shown") for f in flags)


def test_the_real_kernels_fingerprints_beside_small_pictures_earn_no_kernel_point(
        tmp_path, student_run, release_nb, graded, course_root, course, config, smoke):
    """The fingerprints copied from a real run of this seed, still beside hand-made pictures: the
    pictures are not the size the lab draws, so they are not its plots."""
    record = reference_record(load_reference(course, smoke), 0)
    nb = forged(release_nb, record, fingerprints=shown_fingerprints(student_run))
    result, flags = _judge(nb, tmp_path, graded, course_root, course, config, smoke)
    assert result.score == POINTS.evidence / 2, result.reason
    assert "untrained AlexNet-mini kernels picture is 24 x 9 pixels; the lab draws it" in result.reason
    assert "not those of seed" not in result.reason
    assert sum(f.startswith("malformed evidence: the") and "24 x 9 pixels" in f for f in flags) == 3


def test_the_honest_run_s_pictures_are_the_re_run_s_size(student_run, graded):
    results, _ = graded
    mine = read_kernel_plots(student_run)
    ours = read_kernel_plots(json.loads(results["complete"].executed_notebook))
    assert {role: p["png_size"] for role, p in mine.items()} == {role: p["png_size"] for role, p in ours.items()}
    assert all(p["png_size"][0] > 300 and p["png_size"][1] > 100 for p in ours.values())
