"""Write small datasets in CIFAR-10's published on-disk format (pickled batches of uint8 rows)."""
import pickle
from pathlib import Path

import numpy as np

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_real_format(root: Path, images_per_batch: int = 20, test_images: int = 30, seed: int = 0) -> Path:
    """`root/cifar-10-batches-py/` with five training batches, a test batch and batches.meta.

    Like the published files: Python-2-compatible pickles (protocol 2), `data` N x 3072 uint8
    channel-major, `labels` a list of ints, no `synthetic` key. Returns the batches folder.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)

    def batch(name, n):
        record = {"batch_label": name, "labels": [int(v) for v in rng.integers(0, 10, n)],
                  "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                  "filenames": [f"img_{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(record, f, protocol=2)
        return record

    records = [batch(f"data_batch_{i}", images_per_batch) for i in range(1, 6)]
    records.append(batch("test_batch", test_images))
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": LABEL_NAMES, "num_cases_per_batch": images_per_batch, "num_vis": 3072},
                    f, protocol=2)
    return folder
