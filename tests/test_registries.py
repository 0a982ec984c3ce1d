"""Every registered search space × GHN variant × propagation scheme builds, runs and learns.

The cases are read from the registries themselves, so a newly registered entry is tested without
touching this file. Only the public contract is used: ``build_search_space`` / ``build_ghn`` from
a config, ``space.sample``, ``space.build_network``, ``space.input_shape`` and ``ghn.generate``.
"""

import itertools

import numpy as np
import pytest
import torch
from torch.func import functional_call

from ghnas.config import get_cfg
from ghnas.data import build_dataset
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import GHN_REGISTRY, build_ghn
from ghnas.propagation import PROPAGATION_REGISTRY, build_propagation
from ghnas.search import RandomSearch
from ghnas.search_spaces import SEARCH_SPACE_REGISTRY, SearchSpace, build_search_space
from ghnas.selection import SELECTION_REGISTRY, build_criterion
from ghnas.trainers import TRAINER_REGISTRY, build_trainer
from ghnas.utils.errors import GhnasError
from ghnas.utils.registry import lookup

META = DatasetMetadata(num_classes=3, channels=3, image_size=8, mean=(0.5,) * 3, std=(0.2,) * 3)
REGISTRIES = {
    "SEARCH_SPACE.NAME": SEARCH_SPACE_REGISTRY,
    "GHN.NAME": GHN_REGISTRY,
    "GHN.PROPAGATION": PROPAGATION_REGISTRY,
}


def names(registry):
    return sorted(name for name, _ in registry)


COMBINATIONS = list(
    itertools.product(
        names(SEARCH_SPACE_REGISTRY), names(GHN_REGISTRY), names(PROPAGATION_REGISTRY)
    )
)


def tiny_cfg(space_name, ghn_name, propagation_name):
    cfg = get_cfg()
    cfg.SEARCH_SPACE.NAME = space_name
    cfg.SEARCH_SPACE.NUM_NODES = 3
    cfg.SEARCH_SPACE.NUM_BLOCKS = 3
    cfg.MODEL.INIT_CHANNELS = 4
    cfg.GHN.NAME = ghn_name
    cfg.GHN.PROPAGATION = propagation_name
    cfg.GHN.NUM_PASSES = 1
    cfg.GHN.HIDDEN_SIZE = 8
    cfg.GHN.MESSAGE_HIDDEN_SIZE = 8
    cfg.GHN.HYPERNET_HIDDEN_SIZE = 8
    cfg.ANYTIME.BLOCK_NODES = [3, 2, 2]
    cfg.ANYTIME.NUM_EXITS = 2
    return cfg


def test_registries_hold_the_documented_entries():
    """The entries the config documents are registered (and so parametrise the test below)."""
    assert {"classification", "anytime"} <= set(names(SEARCH_SPACE_REGISTRY))
    assert {"ghn", "ghn_shared_branch"} <= set(names(GHN_REGISTRY))
    assert {"forward_backward", "synchronous"} <= set(names(PROPAGATION_REGISTRY))
    assert len(COMBINATIONS) >= 4


@pytest.mark.parametrize("space_name,ghn_name,propagation_name", COMBINATIONS)
def test_every_combination_runs_forward_and_backward(space_name, ghn_name, propagation_name):
    cfg = tiny_cfg(space_name, ghn_name, propagation_name)
    space = build_search_space(cfg, META)
    assert isinstance(space, SearchSpace)
    assert space.name == space_name
    torch.manual_seed(0)
    ghn = build_ghn(cfg, space)
    assert type(ghn.propagation) is type(build_propagation(cfg))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(2)]
    generated = ghn.generate(space, archs)
    loss = 0.0
    for arch, params in zip(archs, generated):
        # The architecture survives its dict form, and the graph asks for the network's weights.
        assert space.architecture_from_dict(arch.to_dict()) == arch
        assert space.generated_parameter_shapes(arch) == {k: v.shape for k, v in params.items()}
        net = space.build_network(arch)
        assert list(params) == net.generated_parameter_names()
        x = torch.randn(2, *space.input_shape)
        out = functional_call(net, params, (x,), strict=False)
        for logits in out if isinstance(out, list) else [out]:  # early exits give a list
            assert logits.shape == (2, META.num_classes)
            assert torch.isfinite(logits).all()
            loss = loss + logits.square().mean()
    loss.backward()
    grads = [p.grad for p in ghn.parameters() if p.grad is not None]
    assert grads, "no GHN parameter received a gradient"
    assert all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("key", REGISTRIES)
def test_unknown_names_list_the_registered_ones(key):
    registry = REGISTRIES[key]
    cfg = tiny_cfg(*(names(r)[0] for r in REGISTRIES.values()))
    section, field = key.split(".")
    cfg[section][field] = "no_such_entry"
    with pytest.raises(GhnasError) as info:
        if key == "SEARCH_SPACE.NAME":
            build_search_space(cfg, META)
        elif key == "GHN.NAME":
            build_ghn(cfg, build_search_space(cfg, META))
        else:
            build_propagation(cfg)
    message = str(info.value)
    assert key in message and "no_such_entry" in message
    for name in names(registry):
        assert name in message, f"{name!r} missing from: {message}"
    assert "\n" not in message


def test_lookup_returns_the_registered_object():
    for key, registry in REGISTRIES.items():
        for name, obj in registry:
            assert lookup(registry, name, key) is obj
        with pytest.raises(GhnasError, match="registered: " + ", ".join(names(registry))):
            lookup(registry, "missing", key)


# The search space whose networks each criterion reads (a new criterion must be added here).
CRITERION_SPACES = {
    "accuracy": "classification",
    "expected_accuracy": "classification",
    "anytime_auc": "anytime",
}
CRITERION_SPACES_INVERSE = {"classification": "accuracy", "anytime": "anytime_auc"}


def test_every_criterion_has_a_space_to_run_on():
    assert set(names(SELECTION_REGISTRY)) <= set(CRITERION_SPACES)


@pytest.mark.parametrize("criterion", names(SELECTION_REGISTRY))
def test_every_criterion_scores_generated_weights(criterion):
    """Each selection criterion gives a finite score for a network with generated weights."""
    cfg = tiny_cfg(CRITERION_SPACES[criterion], "ghn", "forward_backward")
    cfg.SEARCH.CRITERION = criterion
    space = build_search_space(cfg, META)
    arch = space.sample(np.random.default_rng(0))
    with torch.no_grad():
        params = build_ghn(cfg, space).generate(space, [arch])[0]
    batches = [(torch.randn(6, *space.input_shape), torch.randint(0, 3, (6,)))]
    result = build_criterion(cfg).evaluate(space.build_network(arch), params, batches)
    assert np.isfinite(result["score"])


# How each trainer is reached: its config key, its space, and the phases that must run first.
TRAINER_SETUPS = {
    "ghn": ("GHN.TRAINER", "classification", []),
    "anytime_final": ("FINAL.TRAINER", "anytime", ["ghn", "search"]),
    "classification": ("FINAL.TRAINER", "classification", ["ghn", "search"]),
    "imagenet": ("FINAL.TRAINER", "classification", ["ghn", "search"]),
}


def test_every_trainer_has_a_setup():
    assert set(names(TRAINER_REGISTRY)) <= set(TRAINER_SETUPS)


@pytest.mark.parametrize("trainer", names(TRAINER_REGISTRY))
def test_every_trainer_trains(trainer, tmp_path):
    """Each trainer builds (after the phases it reads) and trains to a finite model."""
    key, space_name, before = TRAINER_SETUPS[trainer]
    cfg = tiny_cfg(space_name, "ghn", "forward_backward")
    cfg.merge_from_list([key, trainer])
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.DATASETS.NAME = "digits"
    cfg.DATASETS.VAL_SIZE = 100
    cfg.INPUT.SIZE = 8
    cfg.SOLVER.IMS_PER_BATCH = 8
    cfg.GHN.TRAIN_NUM_NODES = 2
    cfg.SOLVER.MAX_ITER = 2
    cfg.SEARCH.CRITERION = CRITERION_SPACES_INVERSE[space_name]
    cfg.SEARCH.NUM_ARCHS = 2
    cfg.SEARCH.EVAL_IMAGES = 16
    cfg.FINAL.EPOCHS = 1
    cfg.ANYTIME.FLOP_BUDGET = 2e5  # keeps the fitted final width small
    cfg.FINAL.IMS_PER_BATCH = 32
    splits = build_dataset(cfg)
    if "ghn" in before:
        build_trainer(cfg, splits, "GHN.TRAINER").train(resume=False)
    if "search" in before:
        RandomSearch.from_config(cfg, splits).run(resume=False)
    model = build_trainer(cfg, splits, key).train(resume=False)
    assert all(torch.isfinite(p).all() for p in model.parameters())
