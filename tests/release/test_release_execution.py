"""The release executes end to end on CPU in the smoke profile and shows what the lab promises."""
from notebooks import CONFIG
import notebooks

PLOT = "application/vnd.alexnet-lab.plot+json"
TRAJECTORY = "application/vnd.alexnet-lab.trajectory+json"


def plots(nb, grade_id):
    return [o["data"][PLOT] for o in notebooks.cell_by_id(nb, grade_id).outputs
            if PLOT in o.get("data", {}) and "image/png" in o["data"]]


def test_no_cell_errors_or_writes_to_stderr(executed_nb):
    for cell in executed_nb.cells:
        for out in cell.get("outputs", []):
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            assert out.output_type != "error", gid
            assert not (out.output_type == "stream" and out.name == "stderr"), (gid, out.text)


def test_dog_prediction_with_top5_and_heatmap(executed_nb):
    assert "AlexNet: 'This is an image of a" in "".join(
        o.get("text", "") for o in notebooks.cell_by_id(executed_nb, "predict").outputs)
    (heatmap,) = plots(executed_nb, "prediction_heatmap")
    assert heatmap["kind"] == "prediction" and len(heatmap["top5"]) == 5


def test_sample_grid_is_shown(executed_nb):
    (samples,) = plots(executed_nb, "cifar_samples")
    assert samples["kind"] == "samples"


def test_three_kernel_plots_and_training_changed_the_kernels(executed_nb):
    (pre,), (untrained,), (trained,) = (plots(executed_nb, g) for g in
                                        ("pretrained_kernels", "untrained_kernels", "trained_kernels"))
    assert pre["model"] == "alexnet" and untrained["model"] == trained["model"] == "alexnet-mini"
    assert untrained["epochs_trained"] == 0 and trained["epochs_trained"] > 0
    assert untrained["fingerprint"] != trained["fingerprint"]


def test_train_cell_emits_the_trajectory_record(executed_nb):
    records = [o["data"][TRAJECTORY] for o in notebooks.cell_by_id(executed_nb, "train").outputs
               if TRAJECTORY in o.get("data", {})]
    assert len(records) == 1
    record = records[0]
    smoke = CONFIG.profiles["smoke"]
    assert record["profile"] == "smoke" and record["epochs"] == smoke.epochs and record["lr"] == smoke.lr
    assert len(record["accuracy"]) == record["epochs"] + 1


def test_hidden_tests_pass_on_a_correct_run(tmp_path_factory):
    hidden = notebooks.executed_hidden_tests(tmp_path_factory)
    assert sorted(hidden) == ["check_evidence", "check_kernels", "check_trajectory"]
    for grade_id, cell in hidden.items():
        bad = [o for o in cell.outputs if o.output_type == "error" or o.get("name") == "stderr"]
        assert not bad, (grade_id, bad)


def test_self_check_cell_under_a_grader_prints_one_line(executed_nb):
    outputs = notebooks.cell_by_id(executed_nb, "self_check").outputs
    assert [o.name for o in outputs] == ["stdout"] and "alexnet-lab check" in outputs[0].text


def test_hidden_tests_fail_on_a_wrong_run():
    """The same hidden code, run against an untrained model and a cut-off record, must fail."""
    import types

    import pytest
    import torch

    import alexnet_core

    hidden = notebooks.hidden_tests()
    smoke = CONFIG.profiles["smoke"]
    untrained = alexnet_core.load_untrained_alexnetmini("cpu")
    space = {"alexnet_core": alexnet_core, "torch": torch, "device": torch.device("cpu"),
             "model": untrained, "profile": smoke}
    with pytest.raises(AssertionError, match="did not change"):
        exec(hidden["check_kernels"], dict(space))
    cut_off = {"accuracy": [10.0, 30.0], "epochs": smoke.epochs, "profile": "smoke", "seed": smoke.seed,
               "lr": smoke.lr}
    # Only the record lookup is replaced: an interrupted training run leaves a record this short.
    space["alexnet_core"] = types.SimpleNamespace(last_trajectory=lambda: cut_off)
    with pytest.raises(AssertionError):
        exec(hidden["check_trajectory"], dict(space))
    cut_off.update(accuracy=[10.0] * (smoke.epochs + 1), lr=smoke.lr * 2)
    with pytest.raises(AssertionError):
        exec(hidden["check_evidence"], dict(space))
