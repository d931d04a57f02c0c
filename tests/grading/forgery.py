"""A notebook that never ran, dressed up as a run: the forgery the evidence check must refuse.

The release as downloaded, with, in the three kernel cells, plot records beside small pictures
whose fingerprints they state (exactly the output `alexnet_core.plots` emits, but drawn by hand),
and in the train cell a training record copied from the committed reference's runs.
"""
import base64
import copy
import hashlib
import io

import nbformat
import notebooks
from PIL import Image

from alexnet_core.contract import PICTURE_KEY, PLOT_MIME, TRAJECTORY_MIME, picture_fingerprint

KERNEL_CELLS = {"pretrained_kernels": ("alexnet", None), "untrained_kernels": ("alexnet-mini", 0),
                "trained_kernels": ("alexnet-mini", 5)}


def small_png(shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (24, 9), (shade, 40, 200 - shade)).save(buf, format="PNG")
    return buf.getvalue()


def forged(release_nb, record: dict, fingerprints: dict | None = None):
    """`release_nb` with hand-made kernel plots and the training `record`. `fingerprints`: the
    kernels' fingerprints by cell (copied from someone's run); else made up."""
    nb = copy.deepcopy(release_nb)
    for n, (cell_id, (model, epochs)) in enumerate(KERNEL_CELLS.items()):
        png = small_png(60 * n)
        fingerprint = (fingerprints or {}).get(cell_id) or hashlib.sha256(cell_id.encode()).hexdigest()
        plot = {"kind": "kernels", "model": model, "layer_index": 0, "indices": list(range(24)),
                "fingerprint": fingerprint, "kernel_stats": {"mean": 0.0, "std": 0.1, "min": -0.3, "max": 0.3},
                "epochs_trained": epochs, "standin": False, PICTURE_KEY: picture_fingerprint(png)}
        notebooks.cell_by_id(nb, cell_id).outputs = [nbformat.from_dict({
            "output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(png).decode(), "text/plain": "<24 kernels>", PLOT_MIME: plot}})]
    notebooks.cell_by_id(nb, "train").outputs = [nbformat.from_dict({
        "output_type": "display_data", "metadata": {}, "data": {"text/plain": "training", TRAJECTORY_MIME: record}})]
    return nb


def reference_record(reference: dict, index: int) -> dict:
    """The committed reference's `index`-th run as the library's training record would carry it."""
    return {"profile": reference["profile"], "synthetic": reference["synthetic"], "device": reference["device"],
            "seed": reference["seeds"][index], "epochs": reference["epochs"], "lr": reference["lr"],
            "accuracy": list(reference["runs"][index]), "seconds": 12.5}


def shown_fingerprints(nb) -> dict:
    """The kernels' fingerprints an executed notebook shows, by cell."""
    return {cell_id: next(o["data"][PLOT_MIME]["fingerprint"] for o in notebooks.cell_by_id(nb, cell_id).outputs
                          if PLOT_MIME in o.get("data", {}))
            for cell_id in KERNEL_CELLS}
