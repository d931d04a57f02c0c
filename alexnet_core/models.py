"""The two networks of the lab: torchvision's ImageNet AlexNet and the small AlexNet-mini.

Every model this module hands out carries three plain attributes the plots report:
`lab_name` ("alexnet" | "alexnet-mini"), `standin` (untrained weights standing in for missing
ImageNet weights) and `epochs_trained` (None for the ImageNet weights, which were not trained here).
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.models import alexnet

from . import assets
from .display import note_standin
from .runtime import active_profile, as_device

MINI_PARAMETERS = 546_634


class AlexNetMini(nn.Module):
    """The lab's AlexNet-mini for 32 x 32 CIFAR-10 images: two conv layers, two linear layers."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(64 * 8 * 8, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def _tag(model: nn.Module, lab_name: str, standin: bool, epochs_trained) -> nn.Module:
    model.lab_name = lab_name
    model.standin = standin
    model.epochs_trained = epochs_trained
    return model


def fresh_mini_state(seed: int) -> dict:
    """Initial AlexNet-mini weights for `seed`, without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AlexNetMini().state_dict()


def load_untrained_alexnetmini(device=None, seed: int | None = None) -> AlexNetMini:
    """A freshly initialised AlexNet-mini (seeded by the profile unless `seed` is given)."""
    seed = active_profile().seed if seed is None else seed
    model = AlexNetMini()
    model.load_state_dict(fresh_mini_state(seed))
    return _tag(model.to(as_device(device)), "alexnet-mini", False, 0)


def load_trained_alexnet(device=None) -> nn.Module:
    """torchvision's AlexNet with the ImageNet weights from the asset cache, in eval mode.

    In a profile that allows stand-ins, missing weights give an untrained AlexNet and a notice
    on stdout (never stderr: nbgrader would score the cell 0).
    """
    profile = active_profile()
    path = assets.weights_path()
    if path.exists() or not profile.allow_standins:
        state = assets.load_weights()  # raises AssetError when missing or corrupt
        model = alexnet(weights=None)
        model.load_state_dict(state)
        _tag(model, "alexnet", False, None)
    else:
        print(
            f"NOTICE: the ImageNet weights are not in {path.parent}; using an UNTRAINED AlexNet "
            f"as a stand-in (profile {profile.name!r}). Its predictions are meaningless. "
            "Run `alexnet-lab assets fetch` to get the real weights."
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(profile.seed)
            model = alexnet(weights=None)
        _tag(model, "alexnet", True, 0)
        note_standin("untrained AlexNet")
    return model.to(as_device(device)).eval()


def conv_layers(model: nn.Module) -> list[nn.Conv2d]:
    """The model's convolution layers in forward order (what `layer_index` counts)."""
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def describe_layer(layer: nn.Module) -> str:
    """The lab's plain-words name of a layer, or '??' for the kinds the lab does not cover."""
    if isinstance(layer, nn.Conv2d):
        k = layer.kernel_size
        return (f"Convolution layer: {layer.out_channels} kernels of {k[0]} x {k[1]} pixels, "
                f"each looking at {layer.in_channels} input channels")
    if isinstance(layer, nn.Linear):
        return f"Linear layer: {layer.in_features:,} inputs -> {layer.out_features:,} outputs"
    return "??"


def print_model_architecture(model: nn.Module) -> None:
    """Print the layers in order, naming convolutions and linear layers and '??' for the rest."""
    name = getattr(model, "lab_name", type(model).__name__)
    count = sum(p.numel() for p in model.parameters())
    print(f"{name} ({count:,} learned numbers)")
    layers = [m for m in model.modules() if not list(m.children())]
    for i, layer in enumerate(layers, 1):
        print(f"  {i:>2}. {describe_layer(layer)}")
