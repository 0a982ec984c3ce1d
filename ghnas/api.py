"""A small Python API for users who bring their own candidates.

Usage::

    from ghnas.api import load_ghn
    trained = load_ghn("output/quick_classification/ghn/model_final.pth", device="cpu")
    archs = trained.sample(20, seed=1)                     # or your own architectures
    scores = trained.score(archs, trained.batches("val"))  # what the search does
    network = trained.network_with_generated_weights(archs[0], calibrate_bn=trained.batches())

The run's ``config.yaml`` (next to the ``ghn/`` folder) says how to rebuild the space and the
GHN; the checkpoint carries the dataset metadata the networks need.
"""

import os
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ghnas.config import CfgNode, get_cfg
from ghnas.data import build_dataset, evaluation_batches
from ghnas.data.metadata import DatasetMetadata
from ghnas.ghn import GraphHyperNetwork, build_ghn
from ghnas.ghn.checkpoint import load_ghn_weights
from ghnas.layers.batch_statistics import instantiate_for_generated_weights
from ghnas.search.scoring import ArchitectureScorer, generate_weights
from ghnas.search_spaces import SearchSpace, build_search_space
from ghnas.selection import build_criterion
from ghnas.utils.errors import GhnasError
from ghnas.utils.fvcore_nn import update_bn_stats


@dataclass
class TrainedGHN:
    """A trained GHN with the search space and config it belongs to."""

    ghn: GraphHyperNetwork
    space: SearchSpace
    cfg: CfgNode

    def sample(self, n: int, seed: int = 0) -> List[Any]:
        """``n`` seeded random architectures of the space (repeats possible)."""
        rng = np.random.default_rng(seed)
        return [self.space.sample(rng) for _ in range(n)]

    def batches(self, split: str = "val") -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """The run's fixed scoring images of ``split`` ("val" as the search scores, or "test"):
        SEARCH.EVAL_IMAGES of them in batches of SEARCH.EVAL_BATCH_SIZE, on the GHN's device."""
        splits = build_dataset(self.cfg)
        dataset = {"val": splits.val, "test": splits.test}.get(split)
        if dataset is None:
            raise GhnasError(
                f"batches: split must be 'val' or 'test' (one the dataset has), got {split!r}"
            )
        search = self.cfg.SEARCH
        return evaluation_batches(
            dataset=dataset, meta=splits.meta, num_images=min(search.EVAL_IMAGES, len(dataset)),
            batch_size=search.EVAL_BATCH_SIZE, seed=self.cfg.SEED, device=self.cfg.MODEL.DEVICE,
        )  # fmt: skip

    def generate(self, archs: Sequence[Any]) -> List[dict]:
        """Generated parameters (name -> tensor) of each architecture."""
        return generate_weights(self.ghn, self.space, archs)

    def network_with_generated_weights(
        self, arch: Any, calibrate_bn: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None
    ) -> nn.Module:
        """``space.build_network(arch)`` holding the GHN's weights (BN affine at 1 and 0).

        The GHN predicts weights for batch-statistics BN. With ``calibrate_bn`` (batches such as
        :meth:`batches` returns) the BN running statistics are recomputed on those images with
        fvcore's precise BN, so ``network.eval()`` gives what the search measured; without it
        they are the initial ones, and the network must run in train mode inside
        ``ghnas.layers.batch_statistics.batch_statistics(network)``.
        """
        device = next(self.ghn.parameters()).device
        network = instantiate_for_generated_weights(self.space, arch, device)
        network.load_state_dict(self.generate([arch])[0], strict=False)
        if calibrate_bn is not None:
            images = [x.to(device) for x, _ in calibrate_bn]
            if not images:
                raise GhnasError("network_with_generated_weights: calibrate_bn holds no batch")
            network.train()
            with torch.no_grad():
                update_bn_stats(network, images, num_iters=len(images))
        return network

    def score(
        self,
        archs: Sequence[Any],
        batches: Optional[Sequence[Tuple[torch.Tensor, torch.Tensor]]] = None,
    ) -> List[float]:
        """Scores of ``archs`` by the config's criterion on ``batches`` (by default the run's
        validation batches, :meth:`batches`), as the search does."""
        batches = self.batches("val") if batches is None else batches
        scorer = ArchitectureScorer(
            ghn=self.ghn,
            space=self.space,
            criterion=build_criterion(self.cfg),
            batches=list(batches),
            arch_batch=self.cfg.SEARCH.ARCH_BATCH,
            fused=self.cfg.MODEL.FUSED_NETWORKS,
        )
        return scorer.score(list(archs))


def load_ghn(
    checkpoint: str, config_file: Optional[str] = None, device: Optional[str] = None
) -> TrainedGHN:
    """Load a GHN saved by the "ghn" phase; ``config_file`` defaults to the run's config.yaml.

    ``device`` (``"cpu"``, ``"cuda"``) is where the GHN and its networks run; by default the
    run's MODEL.DEVICE where that exists here, else the CPU (a GPU run opened on a laptop).
    """
    if config_file is None:
        config_file = os.path.join(os.path.dirname(os.path.dirname(checkpoint)), "config.yaml")
    cfg = get_cfg(config_file)
    if device is None:
        device = cfg.MODEL.DEVICE if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise GhnasError(f"load_ghn: device '{device}' asked for, but no CUDA device is available")
    cfg.MODEL.DEVICE = str(device)
    meta = DatasetMetadata(**_metadata_fields(checkpoint))
    space = build_search_space(cfg, meta)
    ghn = build_ghn(cfg, space)
    load_ghn_weights(ghn, checkpoint, cfg, space)
    return TrainedGHN(ghn=ghn.eval(), space=space, cfg=cfg)


def _metadata_fields(checkpoint: str) -> dict:
    """The dataset metadata stored by the GHN trainer (space and shape checks come later)."""
    if not os.path.isfile(checkpoint):
        raise GhnasError(f"GHN checkpoint not found: {checkpoint}")
    fields = torch.load(checkpoint, map_location="cpu").get("dataset_meta")
    if fields is None:
        raise GhnasError(f"GHN checkpoint {checkpoint} holds no dataset metadata")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
