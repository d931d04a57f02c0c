"""Draw the lab's explanatory figures (PNG, beside this script) with matplotlib.

The lab used to link pictures on other websites; these replace them so the notebook works offline.
Run by hand after editing (`.venv/bin/python source/alexnet/figures/make_figures.py`) and commit
the PNGs: the release embeds the committed files, so a rebuild never depends on matplotlib's
version.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

HERE = Path(__file__).resolve().parent
DPI = 80

# Winning top-5 error (%) in the ImageNet challenge (ILSVRC), from the published results.
ILSVRC = [
    (2010, "NEC-UIUC", 28.2, False),
    (2011, "XRCE", 25.8, False),
    (2012, "AlexNet", 16.4, True),
    (2013, "ZFNet", 11.7, True),
    (2014, "GoogLeNet", 6.7, True),
    (2015, "ResNet", 3.6, True),
]


def _save(fig, name: str) -> None:
    # Fixed metadata keeps the PNG bytes identical between runs.
    fig.savefig(HERE / name, dpi=DPI, metadata={"Software": None})
    plt.close(fig)


def ilsvrc() -> None:
    fig, ax = plt.subplots(figsize=(7, 3.4))
    colours = ["#1f77b4" if learned else "#aaaaaa" for *_, learned in ILSVRC]
    bars = ax.bar([f"{y}\n{n}" for y, n, _, _ in ILSVRC], [e for _, _, e, _ in ILSVRC], color=colours)
    for bar, (_, _, err, _) in zip(bars, ILSVRC):
        ax.text(bar.get_x() + bar.get_width() / 2, err + 0.6, f"{err:g}%", ha="center", fontsize=9)
    ax.set_ylabel("top-5 error (%)")
    ax.set_title("Winners of the ImageNet challenge (grey: hand-crafted features, blue: learned)", fontsize=10)
    ax.set_ylim(0, 32)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    _save(fig, "ilsvrc.png")


def _grid(ax, values, x0, y0, cmap, highlight=None, label=None):
    rows, cols = values.shape
    ax.imshow(values, cmap=cmap, extent=(x0, x0 + cols, y0, y0 + rows), vmin=0, vmax=values.max() * 1.4 or 1)
    for r in range(rows):
        for c in range(cols):
            ax.text(x0 + c + 0.5, y0 + rows - r - 0.5, f"{values[r, c]:g}", ha="center", va="center", fontsize=8)
    for k in range(rows + 1):
        ax.plot([x0, x0 + cols], [y0 + k, y0 + k], color="black", lw=0.6)
    for k in range(cols + 1):
        ax.plot([x0 + k, x0 + k], [y0, y0 + rows], color="black", lw=0.6)
    if highlight:
        r, c, size = highlight
        ax.add_patch(Rectangle((x0 + c, y0 + rows - r - size), size, size, fill=False, lw=2.5, color="#1f3fbf"))
    if label:
        ax.text(x0 + cols / 2, y0 - 0.7, label, ha="center", va="top", fontsize=10)


def convolution() -> None:
    image = np.array([
        [0, 0, 1, 1, 0, 0],
        [0, 1, 1, 1, 1, 0],
        [1, 1, 0, 0, 1, 1],
        [1, 1, 0, 0, 1, 1],
        [0, 1, 1, 1, 1, 0],
        [0, 0, 1, 1, 0, 0],
    ], dtype=float)
    kernel = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)
    out = np.array([[(image[r:r + 3, c:c + 3] * kernel).sum() for c in range(4)] for r in range(4)])
    fig, ax = plt.subplots(figsize=(8, 3.2))
    _grid(ax, image, 0, 0, "Reds", highlight=(1, 1, 3), label="input image (pixels)")
    _grid(ax, kernel, 8, 1.5, "Blues", label="kernel (a pattern)")
    _grid(ax, out, 13.5, 1, "Purples", highlight=(1, 1, 1), label="output (how well it matches)")
    for start, end in [((6.2, 3), (7.8, 3)), ((11.2, 3), (13.3, 3))]:
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=15, color="black"))
    ax.text(12.25, 3.3, "multiply,\nadd up", ha="center", va="bottom", fontsize=8)
    ax.set_xlim(-0.5, 18)
    ax.set_ylim(-1.6, 6.3)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.tight_layout()
    _save(fig, "convolution.png")


def _box(ax, x, y, w, h, text, colour):
    ax.add_patch(Rectangle((x, y), w, h, facecolor=colour, edgecolor="black", lw=1))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9, wrap=True)


def _arrow(ax, x0, x1, y):
    ax.add_patch(FancyArrowPatch((x0, y), (x1, y), arrowstyle="-|>", mutation_scale=12, color="black"))


def layers() -> None:
    fig, ax = plt.subplots(figsize=(8, 2.4))
    stages = [("image", "#f4d6d6"), ("layer 1\nedges,\ncolour blobs", "#d6e0f4"),
              ("layer 2\ncorners,\ntextures", "#c2d2f0"), ("layer 3\nparts: ears,\nwheels", "#aec4ec"),
              ("...\nwhole\nobjects", "#9ab6e8")]
    for i, (text, colour) in enumerate(stages):
        _box(ax, i * 3.2, 0, 2.4, 2, text, colour)
        if i:
            _arrow(ax, i * 3.2 - 0.8, i * 3.2, 1)
    ax.text(8, -0.45, "each layer's kernels look for patterns in the previous layer's output", ha="center", fontsize=9)
    ax.set_xlim(-0.2, 15.5)
    ax.set_ylim(-0.8, 2.2)
    ax.axis("off")
    fig.tight_layout()
    _save(fig, "layers.png")


def architecture() -> None:
    fig, ax = plt.subplots(figsize=(9, 2.6))
    blocks = [("image\n224x224x3", "#f4d6d6", 1.5)]
    blocks += [(f"conv {i}", "#c2d2f0", 1.0) for i in range(1, 6)]
    blocks += [(f"fully\nconn. {i}", "#f0e0b0", 1.1) for i in range(1, 4)]
    blocks += [("softmax\n1,000\nprobabilities", "#d0ecd0", 1.6)]
    x = 0.0
    for i, (text, colour, width) in enumerate(blocks):
        if i:
            _arrow(ax, x - 0.35, x, 1)
        _box(ax, x, 0, width, 2, text, colour)
        x += width + 0.35
    ax.text(1.85 + 5 * 1.35 / 2, -0.35, "kernels: learned patterns", ha="center", fontsize=9)
    ax.text(x - 1.6 - 3 * 1.45 / 2 - 0.35, -0.35, "learned ways to combine them", ha="center", fontsize=9)
    ax.set_xlim(-0.2, x)
    ax.set_ylim(-0.7, 2.2)
    ax.axis("off")
    fig.tight_layout()
    _save(fig, "alexnet_architecture.png")


if __name__ == "__main__":
    for draw in (ilsvrc, convolution, layers, architecture):
        draw()
    print("figures written to", HERE)
