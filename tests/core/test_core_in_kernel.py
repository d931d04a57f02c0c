"""In a real Jupyter kernel: plots and the trajectory reach the saved outputs, nothing goes to stderr."""
import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from alexnet_core.display import PLOT_MIME, TRAJECTORY_MIME

CELLS = [
    "import torch, torch.nn.functional as F\nimport alexnet_core as ac\nac.set_seed(42)\n"
    "device = ac.default_device()\ncategories = ac.imagenet_categories()",
    "image = ac.load_example_image()\nmodel = ac.load_trained_alexnet(device)\n"
    "with torch.no_grad():\n    probs = F.softmax(model(ac.preprocess_image(image, device)), dim=-1).squeeze()",
    "ac.visualize_layer_weights(model, layer_index=0)",
    "ac.visualize_prediction(probs, categories)",
    "model = ac.load_untrained_alexnetmini(device)\nac.visualize_layer_weights(model, 0)",
    "train_loader, test_loader = ac.get_cifar10_dataloaders(visualize_samples=True)",
    "model = ac.train_model(model, train_loader, test_loader, device, num_epochs=1, lr=ac.active_profile().lr)",
]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    saved_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + saved_path  # the venv's kernel
    try:
        NotebookClient(nb, timeout=180, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path_factory.mktemp("nb"))}}).execute()
    finally:
        os.environ["PATH"] = saved_path
    return nb


def _outputs(nb, cell):
    return nb.cells[cell].outputs


def test_nothing_is_written_to_stderr(executed):
    for cell in executed.cells:
        for out in cell.outputs:
            assert out.output_type != "error", out.get("evalue")
            assert not (out.output_type == "stream" and out.name == "stderr"), out.text


def test_each_plot_is_one_output_with_png_and_metadata(executed):
    kinds = []
    for cell in executed.cells:
        for out in cell.outputs:
            if out.output_type == "display_data" and PLOT_MIME in out.data:
                assert set(out.data) == {"image/png", "text/plain", PLOT_MIME}
                kinds.append(out.data[PLOT_MIME]["kind"])
    assert kinds == ["kernels", "prediction", "kernels", "samples"]


def test_standins_are_announced_in_the_output(executed):
    text = "".join(o.text for o in _outputs(executed, 1) if o.output_type == "stream")
    assert "STAND-IN photo" in text and "UNTRAINED AlexNet as a stand-in" in text
    pred = next(o for o in _outputs(executed, 3) if o.output_type == "display_data")
    assert pred.data[PLOT_MIME]["standin"] is True


def test_training_cell_shows_progress_lines_and_the_trajectory_record(executed):
    outs = _outputs(executed, 6)
    progress = [o for o in outs if o.output_type == "display_data" and set(o.data) == {"text/plain"}]
    assert progress and progress[0].data["text/plain"].startswith("Training finished: 1 epoch in")
    stdout = "".join(o.text for o in outs if o.output_type == "stream")
    assert "Test accuracy before training" in stdout and "Epoch 1/1" in stdout
    record = [o.data[TRAJECTORY_MIME] for o in outs if o.output_type == "display_data" and TRAJECTORY_MIME in o.data]
    assert len(record) == 1
    assert set(record[0]) == {"profile", "synthetic", "device", "seed", "epochs", "lr", "accuracy", "seconds"}
    assert record[0]["profile"] == "smoke" and record[0]["synthetic"] is True and len(record[0]["accuracy"]) == 2
