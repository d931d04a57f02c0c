"""alexnet_core: the library the AlexNet lab notebook calls (model, data, training, plots, assets).

The names match the lab's calls, so the notebook reads like the lab. Importable with torch,
torchvision and matplotlib alone; nothing here knows about grading.
"""
from .cifar import get_cifar10_dataloaders
from .errors import AssetError
from .imagenet import imagenet_categories, load_example_image, preprocess_image
from .models import (
    AlexNetMini,
    load_trained_alexnet,
    load_untrained_alexnetmini,
    print_model_architecture,
)
from .plots import Plot, render_kernels, render_prediction, render_samples, visualize_layer_weights, visualize_prediction
from .runtime import active_profile, default_device, set_seed
from .training import last_trajectory, train, train_model

__all__ = [
    "AlexNetMini", "AssetError", "Plot", "active_profile", "default_device", "get_cifar10_dataloaders",
    "imagenet_categories", "last_trajectory", "load_example_image", "load_trained_alexnet",
    "load_untrained_alexnetmini", "preprocess_image", "print_model_architecture", "render_kernels",
    "render_prediction", "render_samples", "set_seed", "train", "train_model",
    "visualize_layer_weights", "visualize_prediction",
]
