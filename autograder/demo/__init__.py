"""`alexnet-lab demo`: the project's story end to end on the embedded defaults (smoke profile).

The demo's scaffolding lives in this package, on the top floor, apart from the grader it drives:
`sample_class.py` (the one builder of sample submissions: the demo, the tests and the benchmarks
use it), `export.py` (manual grades through nbgrader's API, then the export) and `student_view.py`
(what a student sees of a run, to compare two runs). Grading imports none of it.

Two halves. `training_demo`: build the synthetic smoke data if missing, train AlexNet-mini on it,
and write what a student would see (sample grid, kernels before and after training, the
trajectory record). `sample_class.class_demo`: build the release, run it as two honest students
with their own ids (their own seeds, visibly different trajectories), write the rest of a small
class (a classmate's executed notebook handed in under another id, unrun, tampered, broken), grade
them with the local pool and print the grade table and where the report is; then one student is
graded completely through nbgrader's API and the class exported (the Canvas file, a final
feedback page).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import alexnet_core as ac
from alexnet_core.profiles import PROFILE_ENV, RECIPE_ENV, recipe_to_json
from alexnet_core.synthetic import ensure_synthetic
from autograder.config import select_profile
from autograder.course import CourseFolder
from autograder.demo.export import demo_export
from autograder.demo.sample_class import DEMO_PROFILE, class_demo
from grading_config import GradingConfig


def training_demo(out: Path, config: GradingConfig, epochs: int | None = None) -> dict:
    """Train on the smoke profile and write samples.png, kernels_untrained.png, kernels_trained.png
    and trajectory.json into `out`; return {name: path}. `epochs` defaults to the profile's."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    profile = select_profile(config, DEMO_PROFILE)
    epochs = profile.epochs if epochs is None else epochs
    # The library reads the profile from the environment, like a notebook kernel does.
    os.environ[PROFILE_ENV] = profile.name
    os.environ[RECIPE_ENV] = recipe_to_json(profile)
    print(f"smoke data: {ensure_synthetic(profile)}")

    device = ac.default_device()
    ac.set_seed(profile.seed)
    model = ac.load_untrained_alexnetmini(device)
    paths = {"samples": out / "samples.png", "kernels_untrained": out / "kernels_untrained.png",
             "kernels_trained": out / "kernels_trained.png", "trajectory": out / "trajectory.json"}
    train_loader, test_loader = ac.get_cifar10_dataloaders(device=device, save_to=paths["samples"])
    ac.render_kernels(model, 0).save(paths["kernels_untrained"])

    def on_epoch(epoch, acc, loss):
        label = "before training" if epoch == 0 else f"epoch {epoch}/{epochs}"
        print(f"  {label}: test accuracy {acc:.1f}%")

    print(f"training AlexNet-mini on {device.type} ({profile.train_images:,} synthetic images, "
          f"{epochs} epochs, lr {profile.lr})")
    model, trajectory = ac.train(model, train_loader, test_loader, device, epochs, profile.lr,
                                 profile=profile, on_epoch=on_epoch)
    ac.render_kernels(model, 0).save(paths["kernels_trained"])
    paths["trajectory"].write_text(json.dumps(trajectory, indent=1) + "\n")
    print(f"trained in {trajectory['seconds']:.1f} s")
    for name, path in paths.items():
        print(f"  {name:<18} {path}")
    return paths


def run_demo(out: Path, course: CourseFolder, config: GradingConfig) -> None:
    """Everything `alexnet-lab demo` shows, written under `out`."""
    out = Path(out)
    print(f"== 1/2 training AlexNet-mini (output: {out.resolve() / 'training'})")
    training_demo(out / "training", config)
    print(f"\n== 2/2 grading a sample class (output: {out.resolve()})")
    report = class_demo(out, course, config)
    print("\n== the TA's last step: a manual grade (nbgrader's API; a TA uses `alexnet-lab formgrader`), then "
          "`alexnet-lab export`")
    demo_export(Path(report).parent, config)
