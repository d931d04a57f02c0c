"""Every plot is a PNG plus metadata the autograder can recognise; kernel picks are stable."""
import torch

import alexnet_core as ac
from alexnet_core.display import PLOT_MIME

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_kernel_plot_identifies_the_model_and_the_weights_shown(smoke_run, smoke_profile):
    untrained, trained, _ = smoke_run
    before = ac.render_kernels(untrained, 0)
    after = ac.render_kernels(trained, 0)
    again = ac.render_kernels(ac.load_untrained_alexnetmini("cpu"), 0)
    assert before.png.startswith(PNG_MAGIC)
    meta = before.metadata
    assert meta["kind"] == "kernels" and meta["model"] == "alexnet-mini" and meta["layer_index"] == 0
    assert len(meta["indices"]) == 24 and meta["indices"] == after.metadata["indices"]
    assert set(meta["kernel_stats"]) == {"mean", "std", "min", "max"}
    assert meta["epochs_trained"] == 0 and after.metadata["epochs_trained"] == smoke_profile.epochs
    assert meta["standin"] is False
    assert meta["fingerprint"] == again.metadata["fingerprint"]      # same seed, same weights
    assert meta["fingerprint"] != after.metadata["fingerprint"]      # training changed them
    bundle = before.bundle()
    assert set(bundle) == {"image/png", "text/plain", PLOT_MIME}


def test_kernel_plot_of_the_second_layer_and_a_bad_index(smoke_run):
    untrained, _, _ = smoke_run
    plot = ac.render_kernels(untrained, 1)
    assert plot.metadata["layer_index"] == 1 and max(plot.metadata["indices"]) < 64
    try:
        ac.render_kernels(untrained, 2)
    except ValueError as exc:
        assert "0 to 1" in str(exc)
    else:
        raise AssertionError("layer_index 2 should be refused")


def test_standin_alexnet_kernels_are_marked(capsys):
    model = ac.load_trained_alexnet("cpu")  # smoke profile, empty cache: the stand-in
    meta = ac.render_kernels(model, 0).metadata
    assert meta["model"] == "alexnet" and meta["standin"] is True and len(meta["indices"]) == 24


def test_prediction_plot_prints_top5_and_saves_the_heatmap(tmp_path, capsys):
    categories = ac.imagenet_categories()
    probs = torch.full((1000,), 0.5 / 995)
    probs[[258, 104, 1, 2, 3]] = torch.tensor([0.3, 0.1, 0.05, 0.03, 0.02])
    path = tmp_path / "prediction.png"
    ac.visualize_prediction(probs, categories, save_to=path)
    out = capsys.readouterr().out
    assert "1. Samoyed" in out and "30.0%" in out
    assert path.read_bytes().startswith(PNG_MAGIC)
    meta = ac.render_prediction(probs, categories).metadata
    assert meta["kind"] == "prediction"
    assert [label for label, _ in meta["top5"]] == ["Samoyed", "wallaby", "goldfish", "great white shark",
                                                    "tiger shark"]
    assert abs(meta["top5"][0][1] - 0.3) < 1e-6


def test_visualize_layer_weights_saves_a_png_outside_a_notebook(tmp_path, smoke_run):
    path = tmp_path / "k.png"
    ac.visualize_layer_weights(smoke_run[0], 0, save_to=path)
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_every_plot_record_carries_the_fingerprint_of_its_own_picture(smoke_run):
    import base64
    import hashlib

    from alexnet_core.contract import PICTURE_KEY, kernel_plot_evidence

    plot = ac.render_kernels(smoke_run[0], 0)
    assert plot.metadata[PICTURE_KEY] == hashlib.sha256(plot.png).hexdigest()
    # As a saved notebook holds it (PNG base64-encoded, as IPython sends bytes): the reader accepts it.
    bundle = plot.bundle()
    stored = {"output_type": "display_data", "metadata": {},
              "data": {**bundle, "image/png": base64.b64encode(bundle["image/png"]).decode()}}
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [stored]}]}
    shown, problems = kernel_plot_evidence(nb)
    assert list(shown) == ["untrained"] and problems == []
    # The same record beside another plot's picture is not evidence.
    other = ac.render_kernels(smoke_run[1], 0).png
    stored["data"]["image/png"] = base64.b64encode(other).decode()
    shown, problems = kernel_plot_evidence(nb)
    assert shown == {} and "does not match" in problems[0]
