"""Zero-cost estimators against values worked out by hand on tiny networks."""

import copy
import math

import pytest
import torch
from torch import nn

from ghnas.evaluation.zero_cost import (
    JACOB_COV_K,
    ZERO_COST_REGISTRY,
    rankable,
    zero_cost_scores,
)
from ghnas.utils.errors import GhnasError


def linear(weight, out_features=None):
    weight = torch.tensor(weight, dtype=torch.float32)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def score(name, network, images, labels=None):
    labels = torch.zeros(len(images), dtype=torch.long) if labels is None else labels
    return ZERO_COST_REGISTRY.get(name)(network, images, labels)


def test_naswot_is_the_log_determinant_of_the_agreement_kernel():
    # Identity first layer: the ReLU codes are x > 0, i.e. (1,0), (1,1), (0,0). Entry (i,j) of K
    # counts the units where codes i and j agree: K = [[2,1,1],[1,2,0],[1,0,2]], det 8-2-2 = 4.
    network = nn.Sequential(linear([[1, 0], [0, 1]]), nn.ReLU(), linear([[1, 1]]))
    images = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    assert score("naswot", network, images) == pytest.approx(math.log(4))


def test_naswot_sums_the_kernels_of_every_relu():
    # The second ReLU reads relu(x): the same codes, so K doubles and det(2K) = 8 * 4.
    eye = [[1, 0], [0, 1]]
    network = nn.Sequential(linear(eye), nn.ReLU(), linear(eye), nn.ReLU(), linear([[1, 1]]))
    images = torch.tensor([[1.0, -1.0], [1.0, 1.0], [-1.0, -1.0]])
    assert score("naswot", network, images) == pytest.approx(math.log(32))


def test_grad_norm_sums_the_norms_of_each_layer():
    torch.manual_seed(1)
    network = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    images, labels = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    loss = torch.nn.functional.cross_entropy(network(images), labels)
    weights = [network[0].weight, network[2].weight]
    grads = torch.autograd.grad(loss, weights)
    per_layer = sum(float(g.norm()) for g in grads)
    assert score("grad_norm", copy.deepcopy(network), images, labels) == pytest.approx(per_layer)
    assert per_layer != pytest.approx(float(torch.cat([g.flatten() for g in grads]).norm()))


def test_naswot_needs_relu_modules():
    with pytest.raises(GhnasError, match="nn.ReLU"):
        score("naswot", linear([[1, 0]]), torch.ones(2, 2))


def loss_gradient_by_hand():
    # logits W x: sample 0 -> (1, 0), label 0; sample 1 -> (2, -1), label 1. softmax - onehot:
    # (-b, b) with b = 1/(e+1), and (a, -a) with a = e³/(e³+1); the mean over 2 samples puts
    # them in columns 0 and 1 (x is the identity), halved.
    b, a = 1 / (math.e + 1), math.e**3 / (math.e**3 + 1)
    return [[-b / 2, a / 2], [b / 2, -a / 2]]


def test_grad_norm_and_snip_by_hand():
    network = linear([[1, 2], [0, -1]])
    images, labels = torch.eye(2), torch.tensor([0, 1])
    g = loss_gradient_by_hand()
    frobenius = math.sqrt(sum(v * v for row in g for v in row))
    assert score("grad_norm", network, images, labels) == pytest.approx(frobenius, rel=1e-6)
    snip = abs(1 * g[0][0]) + abs(2 * g[0][1]) + abs(0 * g[1][0]) + abs(-1 * g[1][1])
    assert score("snip", copy.deepcopy(network), images, labels) == pytest.approx(snip, rel=1e-6)


def test_synflow_by_hand_with_bn_neutralised():
    # |W1| = [[1,2],[3,4]], |W2| = [[1,1],[2,0],[1,1]]; all-ones input: hidden (3, 7), output
    # (10, 6, 10), R = 26. R is linear in each bias-free layer, so Σ θ ∂R/∂θ is R per layer: 2R.
    # The BN between them (affine -2, 0.5 here) passes its input through, scaled by 1/√(1+eps).
    bn = nn.BatchNorm1d(2)
    with torch.no_grad():
        bn.weight.fill_(-2.0)
        bn.bias.fill_(0.5)
        bn.running_mean.fill_(3.0)
    network = nn.Sequential(
        linear([[1, -2], [-3, 4]]), bn, nn.ReLU(), linear([[1, -1], [2, 0], [-1, 1]])
    )
    expected = math.log(2 * 26 / math.sqrt(1 + bn.eps))
    assert score("synflow", network, torch.randn(5, 2)) == pytest.approx(expected, rel=1e-9)


def test_synflow_of_a_network_that_passes_nothing_is_minus_infinity():
    network = nn.Sequential(linear([[0, 0]]), nn.ReLU(), linear([[1]]))
    assert score("synflow", network, torch.ones(2, 2)) == -math.inf


def test_jacob_cov_by_hand():
    # Jacobian of the output w.r.t. x_n is W2·diag(x_n > 0)·W1 = (1,2), (1,0), (0,2): rows
    # correlated +1/-1, C = v vᵀ with v = (1,-1,1), eigenvalues 3, 0, 0.
    network = nn.Sequential(linear([[1, 0], [0, 1]]), nn.ReLU(), linear([[1, 2]]))
    images = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    k = JACOB_COV_K
    expected = -(math.log(3 + k) + 1 / (3 + k) + 2 * (math.log(k) + 1 / k))
    assert score("jacob_cov", network, images) == pytest.approx(expected, rel=1e-9)


def test_jacob_cov_of_a_network_that_ignores_its_input_is_nan():
    network = nn.Sequential(linear([[0, 0], [0, 0]]), nn.ReLU(), linear([[1, 2]]))
    assert math.isnan(score("jacob_cov", network, torch.randn(3, 2)))


def test_undefined_scores_rank_last_and_infinity_first():
    assert rankable([math.nan, 1.0, -math.inf, math.inf, 3.0]) == [0.0, 1.0, 0.0, 4.0, 3.0]


def test_scores_leave_the_network_untouched_and_unknown_names_are_refused():
    network = nn.Sequential(linear([[1, -2], [-3, 4]]), nn.ReLU(), linear([[1, -1], [2, 0]]))
    before = copy.deepcopy(network.state_dict())
    names = ["naswot", "synflow", "snip", "grad_norm", "jacob_cov"]
    scores, seconds = zero_cost_scores(
        network, torch.randn(4, 2), torch.tensor([0, 1, 0, 1]), names
    )
    assert list(scores) == names and set(seconds) == set(names)
    assert all(torch.equal(before[k], v) for k, v in network.state_dict().items())
    assert all(p.grad is None for p in network.parameters())
    with pytest.raises(GhnasError, match="unknown zero-cost estimator 'nasbot'.*naswot"):
        zero_cost_scores(network, torch.randn(4, 2), torch.zeros(4, dtype=torch.long), ["nasbot"])
