"""The ImageNet side of the lab: class names, the example photo and its preprocessing."""
from __future__ import annotations

from pathlib import Path

import matplotlib.cbook
import torch
from PIL import Image
from torchvision.models import AlexNet_Weights
from torchvision.transforms import v2

from . import assets
from .display import note_standin
from .runtime import active_profile, as_device

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_categories() -> list[str]:
    """The 1,000 ImageNet class names, from torchvision's weight metadata (no download)."""
    return list(AlexNet_Weights.IMAGENET1K_V1.meta["categories"])


def load_example_image() -> Image.Image:
    """The dog photo from the asset cache, or (profiles allowing stand-ins) a photo matplotlib ships."""
    path = assets.dog_path()
    if path.exists() or not active_profile().allow_standins:
        assets.verify_dog(path)  # raises AssetError when missing or corrupt
        return Image.open(path).convert("RGB")
    standin = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    print(f"NOTICE: the dog photo is not in {path.parent}; showing a STAND-IN photo instead "
          f"(matplotlib's sample {standin.name}). Run `alexnet-lab assets fetch` to get the dog.")
    note_standin("substitute photo")
    return Image.open(standin).convert("RGB")


def preprocess_image(image: Image.Image, device=None) -> torch.Tensor:
    """Resize (short side 256), centre-crop 224, ImageNet-normalise, add a batch dimension."""
    transform = v2.Compose([
        v2.ToImage(),
        v2.Resize(256, antialias=True),
        v2.CenterCrop(224),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])
    return transform(image.convert("RGB")).unsqueeze(0).to(as_device(device))


_AN_EXCEPTIONS = ("uni", "use", "usu", "eu", "ewe", "one", "once")
_SILENT_H = ("hour", "honest", "honou", "heir")


def with_article(noun: str) -> str:
    """'a samoyed', 'an admiral', 'an hourglass', 'a unicycle': the article a noun is read with."""
    word = str(noun).strip()
    low = word.lower()
    vowel = bool(low) and low[0] in "aeiou" and not low.startswith(_AN_EXCEPTIONS)
    return f"{'an' if vowel or low.startswith(_SILENT_H) else 'a'} {word}"
