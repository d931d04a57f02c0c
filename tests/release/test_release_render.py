"""Rendering the Jinja master: both variants, strict undefined names, instructor-only content removed."""
import base64
import json
import re

import nbformat
import pytest
from notebooks import CONFIG, REPO

from alexnet_core.profiles import recipe_fields
from autograder.authoring.render import render_master, rubric_notes
from autograder.config import select_profile
from autograder.errors import RenderError

MASTER = REPO / "source" / "alexnet" / "alexnet.ipynb"
FULL, SMOKE = select_profile(CONFIG, "full"), select_profile(CONFIG, "smoke")
CODE_IDS = ["setup", "imports", "dog_photo", "pixels", "load_alexnet", "predict", "pretrained_kernels",
            "softmax_output", "prediction_heatmap", "load_mini", "architecture", "untrained_kernels",
            "cifar_samples", "train", "trained_kernels", "self_check"]
CHECK_IDS = ["check_trajectory", "check_evidence", "check_kernels"]
LABELS = list(CONFIG.points.questions)


def grade_ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]


@pytest.mark.parametrize("variant", CONFIG.course.variants)
def test_each_variant_renders_every_contract_cell_without_template_text(variant):
    nb = render_master(variant, FULL, master=MASTER, config=CONFIG)
    ids = grade_ids(nb)
    expected = CODE_IDS + CHECK_IDS + [f"answer_{q.lower()}" for q in LABELS] + [f"question_{q.lower()}" for q in LABELS]
    assert not [i for i in expected if i not in ids]
    for cell in nb.cells:
        assert "{{" not in cell.source and "{%" not in cell.source, cell.metadata.get("nbgrader")
    assert nb.metadata["alexnet_lab"] == {"assignment": "alexnet", "variant": variant, "profile": "full",
                                          "min_answer_chars": CONFIG.points.min_answer_chars,
                                          "submission_mb": CONFIG.limits.submission_mb,
                                          "per_student_seeds": CONFIG.identity.per_student_seeds,
                                          "recipe": recipe_fields(CONFIG.profiles["full"]),
                                          "questions": list(LABELS),
                                          "min_answer_chars_per_question": {"Q3a": 1}}
    nbformat.validate(nb)


def test_variants_share_cells_and_differ_in_setup():
    colab, local = render_master("colab", FULL, master=MASTER, config=CONFIG), render_master("local", FULL, master=MASTER, config=CONFIG)
    # Same grade ids in the same order: a submission of either variant is graded against one gradebook.
    assert grade_ids(colab) == grade_ids(local)
    setup = {v: next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "setup").source
             for v, nb in (("colab", colab), ("local", local))}
    assert "pip" in setup["colab"] and CONFIG.course.repository_url in setup["colab"]
    assert "pip install" not in setup["local"].replace("pip install -e .", "")


def test_profile_reaches_markdown_and_the_recipe_the_notebook_trains():
    full, smoke = render_master("local", FULL, master=MASTER, config=CONFIG), render_master("local", SMOKE, master=MASTER, config=CONFIG)
    code = lambda nb: {c.get("id"): c.source for c in nb.cells if c.cell_type == "code"}  # noqa: E731
    # Only the imports cell differs: it hands the release's recipe to the library, so the notebook
    # trains what its text says without any environment variable.
    assert [i for i in code(full) if code(full)[i] != code(smoke)[i]] == ["imports"]
    assert 'recipe=dict(name="smoke", synthetic=True, epochs=5' in code(smoke)["imports"]
    train_text = lambda nb: next(c.source for c in nb.cells if c.get("id") == "train_text")  # noqa: E731
    epochs = {name: CONFIG.profiles[name].epochs for name in ("full", "smoke")}
    assert f"{epochs['full']} epochs" in train_text(full) and f"{epochs['smoke']} epochs" in train_text(smoke)
    train = next(c.source for c in full.cells if c.get("id") == "train")
    assert "num_epochs=profile.epochs" in train and "lr=profile.lr" in train


def _master_with(tmp_path, cell_id, extra):
    master = MASTER
    nb = nbformat.read(str(master), as_version=4)
    next(c for c in nb.cells if c.get("id") == cell_id).source += extra
    folder = tmp_path / "alexnet"
    folder.mkdir()
    (folder / "figures").symlink_to(master.parent / "figures")
    nbformat.write(nb, str(folder / master.name))
    return folder / master.name


def test_undefined_variable_is_an_error_naming_variable_and_cell(tmp_path):
    master = _master_with(tmp_path, "train_text", "\nWe train for {{ epochz }} epochs.")
    with pytest.raises(RenderError) as err:
        render_master("colab", FULL, master=master, config=CONFIG)
    assert "'epochz'" in str(err.value) and "train_text" in str(err.value)


def test_undefined_attribute_is_an_error_naming_it(tmp_path):
    master = _master_with(tmp_path, "load_text", "\n{{ profile.epochz }}")
    with pytest.raises(RenderError) as err:
        render_master("local", FULL, master=master, config=CONFIG)
    assert "epochz" in str(err.value) and "load_text" in str(err.value)


def test_unknown_variant_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        render_master("kaggle", FULL, master=MASTER, config=CONFIG)
    assert "colab" in str(err.value) and "local" in str(err.value)


def test_rubric_notes_stay_in_the_master():
    notes = rubric_notes(MASTER)
    assert sorted(notes) == sorted(LABELS) and all(len(t) > 50 for t in notes.values())
    text = json.dumps(render_master("colab", FULL, master=MASTER, config=CONFIG))
    assert "rubric" not in text
    for note in notes.values():
        assert note[:60] not in text


def test_points_come_from_grading_config():
    nb = render_master("colab", FULL, master=MASTER, config=CONFIG)
    points = {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    p = CONFIG.points
    assert points == {**{f"answer_{q.lower()}": v for q, v in p.questions.items()},
                      "check_trajectory": p.trajectory, "check_evidence": p.evidence,
                      "check_kernels": p.kernel_plots}


def test_figures_are_embedded_so_the_notebook_works_offline():
    nb = render_master("colab", FULL, master=MASTER, config=CONFIG)
    embedded = {name: data for c in nb.cells for name, data in c.get("attachments", {}).items()}
    assert {"ilsvrc.png", "convolution.png", "layers.png", "alexnet_architecture.png"} <= set(embedded)
    for data in embedded.values():
        assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            # Links to the lab's references are plain links (nothing is fetched); pictures are embedded.
            assert "src=\"http" not in cell.source and not re.search(r"!\[[^\]]*\]\(http", cell.source)
