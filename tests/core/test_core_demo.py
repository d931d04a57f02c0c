"""The training half of `alexnet-lab demo` leaves the files it promises."""
import json

from autograder.demo import training_demo


def test_training_demo_writes_plots_and_a_trajectory(tmp_path, capsys, config):
    paths = training_demo(tmp_path, config, epochs=1)  # the full-length run is tested in test_core_training
    for name in ("samples", "kernels_untrained", "kernels_trained"):
        assert paths[name].read_bytes().startswith(b"\x89PNG")
    trajectory = json.loads(paths["trajectory"].read_text())
    assert trajectory["profile"] == "smoke" and trajectory["synthetic"] is True
    assert len(trajectory["accuracy"]) == 2
    out = capsys.readouterr().out
    assert str(paths["trajectory"]) in out and "epoch 1/1" in out
