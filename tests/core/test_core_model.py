"""AlexNet-mini is exactly the lab's network, and the architecture listing reads like the lab's."""
import torch

import alexnet_core as ac
from alexnet_core.models import MINI_PARAMETERS, conv_layers


def test_mini_has_the_labs_parameter_count_and_shapes():
    model = ac.load_untrained_alexnetmini("cpu")
    assert sum(p.numel() for p in model.parameters()) == MINI_PARAMETERS == 546_634
    convs = conv_layers(model)
    assert [tuple(c.weight.shape) for c in convs] == [(32, 3, 5, 5), (64, 32, 3, 3)]
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4096, 128), (128, 10)]
    assert model(torch.zeros(7, 3, 32, 32)).shape == (7, 10)


def test_untrained_mini_is_seeded_by_the_profile_not_the_global_rng():
    a = ac.load_untrained_alexnetmini("cpu")
    torch.manual_seed(12345)  # the global state must not matter
    b = ac.load_untrained_alexnetmini("cpu")
    c = ac.load_untrained_alexnetmini("cpu", seed=7)
    assert torch.equal(a.features[0].weight, b.features[0].weight)
    assert not torch.equal(a.features[0].weight, c.features[0].weight)


def test_architecture_listing_names_conv_and_linear_layers_and_hides_the_rest(capsys):
    ac.print_model_architecture(ac.load_untrained_alexnetmini("cpu"))
    out = capsys.readouterr().out
    assert "546,634" in out
    assert out.count("Convolution layer") == 2
    assert out.count("Linear layer") == 2
    assert out.count("??") == 7  # 3 ReLU, 2 max-pool, 2 dropout
    assert "ReLU" not in out and "Dropout" not in out
