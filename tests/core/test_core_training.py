"""The smoke trajectory looks like a real one, and a run repeats exactly."""
import pytest
import torch

import alexnet_core as ac


def test_smoke_trajectory_has_the_shape_of_a_real_run(smoke_run, smoke_profile):
    _, _, t = smoke_run
    acc = t["accuracy"]
    assert len(acc) == smoke_profile.epochs + 1 == 6
    assert 5.0 <= acc[0] <= 15.0, f"before training should be chance: {acc}"
    assert sum(b > a for a, b in zip(acc, acc[1:])) >= 3, f"should rise in >= 3 epochs: {acc}"
    assert 45.0 <= acc[-1] <= 95.0, f"final accuracy out of range: {acc}"
    assert acc[1] < acc[-1] - 10, f"saturated after the first epoch: {acc}"
    assert {k: t[k] for k in ("profile", "synthetic", "device", "seed", "epochs", "lr")} == {
        "profile": "smoke", "synthetic": True, "device": "cpu", "seed": smoke_profile.seed,
        "epochs": smoke_profile.epochs, "lr": smoke_profile.lr}
    assert t["seconds"] > 0


def test_training_again_from_a_trained_model_repeats_the_trajectory(smoke_run, smoke_loaders, smoke_profile):
    _, trained, first = smoke_run
    # Pass the already trained model, as re-running the notebook cell does: it restarts fresh.
    # Two epochs are enough: the same seed must give the first run's first two epochs exactly.
    again = ac.load_untrained_alexnetmini("cpu")
    again.load_state_dict(trained.state_dict())
    torch.manual_seed(999)  # the global RNG state must not matter either
    _, second = ac.train(again, *smoke_loaders, device="cpu", num_epochs=2, profile=smoke_profile)
    assert second["accuracy"] == first["accuracy"][:3]
    assert ac.last_trajectory() == second


def test_trained_model_records_its_epochs(smoke_run, smoke_profile):
    untrained, trained, _ = smoke_run
    assert untrained.epochs_trained == 0
    assert trained.epochs_trained == smoke_profile.epochs


def test_train_model_prints_the_human_lines_on_stdout_only(smoke_loaders, capsys):
    model = ac.load_untrained_alexnetmini("cpu")
    ac.train_model(model, *smoke_loaders, device="cpu", num_epochs=1)
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("Test accuracy before training: ")
    assert lines[1].startswith("Epoch 1/1: test accuracy ")
    assert captured.err == ""
    assert ac.last_trajectory()["epochs"] == 1


def test_only_alexnet_mini_can_be_trained(smoke_loaders):
    with pytest.raises(TypeError, match="load_untrained_alexnetmini"):
        ac.train(torch.nn.Linear(3, 3), *smoke_loaders, device="cpu")
