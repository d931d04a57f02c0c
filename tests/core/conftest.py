"""Shared, expensive things for the alexnet_core tests: one smoke training run per session."""
import pytest
import scheduling

import alexnet_core as ac
from alexnet_core.profiles import active_profile


@pytest.fixture(scope="session")
def smoke_profile():
    return active_profile("smoke")


@pytest.fixture(scope="session")
def smoke_loaders(smoke_profile):
    return ac.get_cifar10_dataloaders(device="cpu", profile=smoke_profile)


@pytest.fixture(scope="session")
@scheduling.one_worker  # a training run: built once, for the files on one worker
def smoke_run(smoke_profile, smoke_loaders):
    """(untrained model, trained model, trajectory) of one smoke training run on the CPU."""
    untrained = ac.load_untrained_alexnetmini("cpu")
    model = ac.load_untrained_alexnetmini("cpu")
    model, trajectory = ac.train(model, *smoke_loaders, device="cpu", profile=smoke_profile)
    return untrained, model, trajectory
