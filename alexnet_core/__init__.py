"""alexnet_core: the library the AlexNet lab notebook calls (model, data, training, plots, assets).

The student's floor of the project: it needs torch, torchvision, matplotlib, numpy, pillow and
IPython, and it imports nothing of the grader. The names match the lab's calls, so the notebook
reads like the lab. The notebook contract (`contract`), the recipes (`profiles`) and the student's
pre-submit check (`selfcheck`) are standard library only.

Names are loaded on first use (PEP 562): `import alexnet_core.contract` from the grader's runner
or the student's check must not pay for importing torch (1.3 s, measured), while the notebook's
`alexnet_core.train_model(...)` reads as before.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "get_cifar10_dataloaders": "cifar",
    "AssetError": "errors",
    "imagenet_categories": "imagenet", "load_example_image": "imagenet", "preprocess_image": "imagenet",
    "with_article": "imagenet",
    "AlexNetMini": "models", "load_trained_alexnet": "models", "load_untrained_alexnetmini": "models",
    "print_model_architecture": "models",
    "Plot": "plots", "render_kernels": "plots", "render_prediction": "plots", "render_samples": "plots",
    "visualize_layer_weights": "plots", "visualize_prediction": "plots",
    "Recipe": "profiles", "active_profile": "profiles", "use_student_id": "profiles",
    "derive_seed": "identity",
    "default_device": "runtime", "set_seed": "runtime",
    "last_trajectory": "training", "train": "training", "train_model": "training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'alexnet_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
