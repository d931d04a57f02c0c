"""The lab's pictures as the lab draws them: kernels scaled per layer, five labels on the heatmap,
and "an" before a vowel."""
import io

import numpy as np
import torch
from PIL import Image

import alexnet_core as ac
from alexnet_core.plots import KERNELS_SHOWN, render_kernels, render_prediction


def _runs(mask: np.ndarray, shortest: int) -> list[tuple[int, int]]:
    """(first, last) index of each run of True at least `shortest` long."""
    runs, start = [], None
    for i, v in enumerate([*mask, False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            if i - start >= shortest:
                runs.append((start, i - 1))
            start = None
    return runs


def _tiles(plot) -> list[np.ndarray]:
    """The kernel tiles of a rendered kernel plot, read back from its PNG (3 x 8, row by row):
    blocks of non-white pixels between the white gaps (the title's short text rows are skipped)."""
    img = np.asarray(Image.open(io.BytesIO(plot.png)).convert("RGB"), dtype=np.float32)
    content = (img < 250).any(axis=2)
    rows = _runs(content.mean(axis=1) > 0.5, shortest=20)
    tiles = []
    for top, bottom in rows:
        band = content[top:bottom + 1]
        for left, right in _runs(band.mean(axis=0) > 0.5, shortest=20):
            tiles.append(img[top + 2:bottom - 1, left + 2:right - 1])
    return tiles


def test_kernels_are_scaled_per_layer_so_a_weak_kernel_looks_weak():
    model = ac.load_untrained_alexnetmini("cpu", seed=42)
    plot = render_kernels(model, 0, seed=42)
    shown = plot.metadata["indices"]
    with torch.no_grad():
        weight = model.features[0].weight
        weight.mul_(0.05)                      # every kernel faint...
        weight[shown[0]].mul_(20.0)            # ...but the first one shown, which keeps its contrast
    plot = render_kernels(model, 0, seed=42)
    tiles = _tiles(plot)
    assert len(tiles) == KERNELS_SHOWN
    strong, faint = tiles[0].std(), np.median([t.std() for t in tiles[1:]])
    # Scaled per kernel, every tile would stretch to full contrast; per layer, faint ones stay flat.
    assert strong > 5 * faint, (strong, faint)
    scaling = plot.metadata["scaling"]
    w = model.features[0].weight.detach()
    assert scaling["per"] == "layer"
    assert abs(scaling["min"] - float(w.min())) < 1e-5 and abs(scaling["max"] - float(w.max())) < 1e-5


def test_trained_kernels_show_more_contrast_than_untrained_ones_on_the_same_scale(smoke_run):
    # The Q4a rubric's "more contrast" must be visible: training spreads the first layer's weights.
    untrained, trained, _ = smoke_run
    before, after = render_kernels(untrained, 0).metadata, render_kernels(trained, 0).metadata
    assert after["kernel_stats"]["std"] > before["kernel_stats"]["std"]
    assert after["scaling"]["max"] - after["scaling"]["min"] > before["scaling"]["max"] - before["scaling"]["min"]


def test_the_heatmap_labels_the_top_five_classes():
    probs = torch.full((1000,), 0.5 / 995)
    names = [f"class {i}" for i in range(1000)]
    for rank, i in enumerate((7, 123, 456, 789, 999)):
        probs[i] = 0.1 - 0.01 * rank
    plot = render_prediction(probs, names)
    assert plot.metadata["labelled"] == ["class 7", "class 123", "class 456", "class 789", "class 999"]
    assert [label for label, _ in plot.metadata["top5"]] == plot.metadata["labelled"]


def test_an_before_a_vowel():
    assert ac.with_article("admiral") == "an admiral"
    assert ac.with_article("Samoyed") == "a Samoyed"
    assert ac.with_article("hourglass") == "an hourglass"
    assert ac.with_article("unicycle") == "a unicycle"
    assert ac.with_article("Egyptian cat") == "an Egyptian cat"
