"""GHN_REGISTRY and its builder."""

from fvcore.common.registry import Registry

from ghnas.ghn.graph_hypernetwork import GraphHyperNetwork
from ghnas.propagation import build_propagation
from ghnas.utils.registry import lookup

GHN_REGISTRY = Registry("GHN")
GHN_REGISTRY.__doc__ = """
Registry for graph hypernetwork variants. An entry is a function named after the variant (the
value of ``GHN.NAME``) called as ``entry(cfg, space)`` with the search space whose graphs it will
read; it returns a :class:`GraphHyperNetwork`.
"""


def ghn_kwargs(cfg, space) -> dict:
    """Constructor arguments of a GraphHyperNetwork from the GHN section of ``cfg``."""
    return dict(
        vocabulary=space.op_vocabulary,
        families=space.weight_families,
        num_modules=space.num_modules,
        node_feature_sizes=space.node_feature_sizes,
        propagation=build_propagation(cfg),
        num_passes=cfg.GHN.NUM_PASSES,
        hidden_size=cfg.GHN.HIDDEN_SIZE,
        message_hidden_size=cfg.GHN.MESSAGE_HIDDEN_SIZE,
        hypernet_hidden_size=cfg.GHN.HYPERNET_HIDDEN_SIZE,
        separate_backward_message=cfg.GHN.SEPARATE_BACKWARD_MESSAGE,
        stacked=cfg.GHN.STACKED,
        share_parameters=cfg.GHN.SHARE_PARAMETERS,
        pass_embeddings=cfg.GHN.PASS_EMBEDDINGS,
        fan_in_scaling=cfg.GHN.FAN_IN_SCALING,
        layer_norm=cfg.GHN.LAYER_NORM,
    )


@GHN_REGISTRY.register()
def ghn(cfg, space) -> GraphHyperNetwork:
    """The paper's GHN: one hypernet output branch per parameter family."""
    return GraphHyperNetwork(**ghn_kwargs(cfg, space))


@GHN_REGISTRY.register()
def ghn_shared_branch(cfg, space) -> GraphHyperNetwork:
    """Ablation: a single hypernet output branch serves every family (sliced per family)."""
    return GraphHyperNetwork(**ghn_kwargs(cfg, space), shared_branch=True)


def build_ghn(cfg, space) -> GraphHyperNetwork:
    """Build the variant named by ``cfg.GHN.NAME`` for ``space``, on ``cfg.MODEL.DEVICE``."""
    model = lookup(GHN_REGISTRY, cfg.GHN.NAME, "GHN.NAME")(cfg, space)
    assert isinstance(model, GraphHyperNetwork), f"{cfg.GHN.NAME} returned {type(model)}"
    return model.to(cfg.MODEL.DEVICE)
