"""The export bundle: a searched architecture as files a user can ship without ghnas.

``OUTPUT_DIR/export/<hash>/`` holds fixed names:

- ``arch.json``: the block, its space and settings, the width, the dataset metadata (classes,
  input size, the mean/std inputs must be normalised with);
- ``config.yaml``: the config that rebuilds the network (``ghnas.export.load``);
- ``weights.pth``: the state dict; ``model.pt2``: the ``torch.export`` program (the deployable:
  ``torch.export.load(path).module()(x)`` needs torch only); ``model.onnx`` (self-contained, any
  batch size) when the ``[onnx]`` extra is installed;
- ``flops.md``: fvcore's ``flop_count_table`` and the budget check;
- ``block.png`` (the space's drawing) and ``manifest.json``: sha256 of every file, where the
  weights came from, FLOPs and budget.

Weights come from the final training of that architecture when it exists; otherwise the user
chooses ``ghn`` (generated, then BN statistics recomputed as population statistics over training
images with fvcore's ``update_bn_stats``, since generated weights were predicted for batch
statistics) or ``random``.
An export over ``EXPORT.FLOP_BUDGET`` is refused.
"""

import dataclasses
import importlib.util
import json
import logging
import os
import shutil
import time
from typing import Any, Dict, Optional

import torch

from ghnas.data import evaluation_batches
from ghnas.data.fingerprint import file_sha256
from ghnas.ghn import build_ghn
from ghnas.ghn.checkpoint import final_checkpoint_path, load_ghn_weights
from ghnas.search.scoring import generate_weights
from ghnas.search_spaces import build_search_space
from ghnas.search_spaces.width_fitting import fit_width_to_budget
from ghnas.trainers.searched import space_at_width
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager
from ghnas.utils.fvcore_nn import FlopCountAnalysis, flop_count_table, update_bn_stats

logger = logging.getLogger("ghnas")

WEIGHT_SOURCES = ("final", "ghn", "random")
BUNDLE_FILES = ("arch.json", "config.yaml", "weights.pth", "model.pt2", "flops.md")


def check_export_config(cfg) -> None:
    """EXPORT.* values that would make an export meaningless, each a one-line error."""
    e = cfg.EXPORT
    if not e.FLOP_BUDGET >= 0:
        raise GhnasError(
            f"EXPORT.FLOP_BUDGET must be >= 0 FLOPs (0: no budget), got {e.FLOP_BUDGET}"
        )
    if e.MIN_CHANNELS < 1:
        raise GhnasError(f"EXPORT.MIN_CHANNELS must be >= 1, got {e.MIN_CHANNELS}")
    if e.BN_IMAGES < 1:
        raise GhnasError(
            f"EXPORT.BN_IMAGES must be >= 1 (training images the BN statistics of generated "
            f"weights are computed on), got {e.BN_IMAGES}"
        )
    if e.WEIGHTS and e.WEIGHTS not in WEIGHT_SOURCES:
        raise GhnasError(f"EXPORT.WEIGHTS: '{e.WEIGHTS}' is not one of {', '.join(WEIGHT_SOURCES)}")


class BundleExporter:
    """Writes export bundles for architectures of the config's search space."""

    def __init__(self, cfg, splits, *, overwrite: bool = False, resume: bool = False) -> None:
        """``overwrite`` replaces an existing bundle of the same architecture; ``resume`` keeps
        it (a resumed run does not export twice); neither refuses it."""
        check_export_config(cfg)
        self.cfg, self.splits = cfg, splits
        self.overwrite, self.resume = overwrite, resume
        self.budget = float(cfg.EXPORT.FLOP_BUDGET)
        self.space_at = space_at_width(cfg, splits.meta)

    def check(self, arch_dict: Dict[str, Any], weights: Optional[str]):
        """The architecture, the weights and their final checkpoint (or None), after every
        check that needs no network: a refusal here writes nothing."""
        if weights is not None and weights not in WEIGHT_SOURCES:
            raise GhnasError(f"--weights: '{weights}' is not one of {', '.join(WEIGHT_SOURCES)}")
        arch = build_search_space(self.cfg, self.splits.meta).architecture_from_dict(arch_dict)
        weights, final = self.resolve_weights(arch, weights)
        directory = self.bundle_dir(arch)
        if PathManager.exists(directory) and not self.overwrite and not self.resume:
            raise GhnasError(
                f"export: {directory} already holds a bundle of {arch.canonical_hash[:12]}; "
                "pass --overwrite to replace it"
            )
        return arch, weights, final

    def export(self, arch_dict: Dict[str, Any], *, weights: Optional[str], source: str) -> str:
        """Write the bundle of ``arch_dict``; returns its directory."""
        arch, weights, final = self.check(arch_dict, weights)
        short, directory = arch.canonical_hash[:12], self.bundle_dir(arch)
        if PathManager.exists(directory) and not self.overwrite:  # resuming: it is done
            logger.info(f"export: {directory} holds the bundle of {short} already")
            return directory
        width = int(final["channels"]) if weights == "final" else self.fitted_width(arch)
        space = self.space_at(width)
        network = self.network(space, arch, weights, final)
        flops = FlopCountAnalysis(network, torch.zeros(1, *space.input_shape))
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        total = int(flops.total())
        if self.budget > 0 and total > self.budget:
            raise GhnasError(
                f"export refused: {short} at F={width} needs {total / 1e6:.4g}M FLOPs, over "
                f"EXPORT.FLOP_BUDGET={self.budget / 1e6:.4g}M"
            )
        # Written aside and renamed into place: a bundle is whole or absent, never mixed.
        partial = f"{directory}.partial"
        shutil.rmtree(partial, ignore_errors=True)  # what a killed export left
        PathManager.mkdirs(partial)
        self.write(partial, space, arch, network, flops, weights=weights, source=source)
        for name in os.listdir(partial):  # durable before it takes the bundle's name
            with open(os.path.join(partial, name), "rb") as f:
                os.fsync(f.fileno())
        shutil.rmtree(directory, ignore_errors=True)  # --overwrite
        os.replace(partial, directory)
        logger.info(
            f"export: {short} at F={width}, {total / 1e6:.4g}M FLOPs, {weights} weights -> "
            f"{directory}"
        )
        return directory

    # -- width and weights -----------------------------------------------------------------------

    def resolve_weights(self, arch, weights: Optional[str]):
        """``(weights, final checkpoint or None)``: ``final`` by default, where it exists."""
        short = arch.canonical_hash[:12]
        final = self.final_checkpoint(arch)
        if weights is None:
            if final is None:
                raise GhnasError(
                    f"export: no final-training checkpoint of {short} "
                    f"({self.final_path()}); choose --weights ghn or --weights random"
                )
            weights = "final"
        if weights == "final" and final is None:
            raise GhnasError(f"--weights final: {self.final_path()} holds no training of {short}")
        return weights, final

    def bundle_dir(self, arch) -> str:
        """``OUTPUT_DIR/export/<hash>``."""
        return os.path.join(self.cfg.OUTPUT_DIR, "export", arch.canonical_hash)

    def final_path(self) -> str:
        """Where the final trainer leaves its weights."""
        return os.path.join(self.cfg.OUTPUT_DIR, "final", "model_final.pth")

    def final_checkpoint(self, arch) -> Optional[Dict[str, Any]]:
        """The final training's checkpoint when it trained ``arch``."""
        path = self.final_path()
        if not PathManager.exists(path):
            return None
        with PathManager.open(path, "rb") as f:
            data = torch.load(f, map_location="cpu")
        return data if data.get("hash") == arch.canonical_hash else None

    def fitted_width(self, arch) -> int:
        """The largest width under the budget (EXPORT.FLOP_BUDGET), else MODEL.INIT_CHANNELS."""
        if self.budget <= 0:
            return self.cfg.MODEL.INIT_CHANNELS
        width, _ = fit_width_to_budget(
            self.space_at, arch, self.budget, minimum=self.cfg.EXPORT.MIN_CHANNELS,
            what=f"block {arch.canonical_hash[:12]}",
        )  # fmt: skip
        return width

    def network(self, space, arch, weights: str, final) -> torch.nn.Module:
        """The network at ``space``'s width holding the chosen weights, in eval mode."""
        torch.manual_seed(self.cfg.SEED)
        network = space.build_network(arch)
        if weights == "final":
            result = network.load_state_dict(final["model"], strict=False)
            if result.missing_keys:
                raise GhnasError(
                    f"export: {self.final_path()} lacks {len(result.missing_keys)} parameters of "
                    f"the network (first: {result.missing_keys[0]})"
                )
            if result.unexpected_keys:  # training-only parts such as an auxiliary head
                logger.info(f"export: left out {len(result.unexpected_keys)} training-only tensors")
        elif weights == "ghn":
            self.load_generated(network, space, arch)
        return network.eval()

    def load_generated(self, network, space, arch) -> None:
        """GHN weights, then BN running statistics recomputed on training images."""
        cfg = self.cfg
        ghn_space = build_search_space(cfg, self.splits.meta)
        ghn = build_ghn(cfg, ghn_space)
        path = cfg.SEARCH.GHN_CHECKPOINT or final_checkpoint_path(cfg.OUTPUT_DIR)
        load_ghn_weights(ghn, path, cfg, ghn_space)
        network.load_state_dict(generate_weights(ghn, space, [arch])[0], strict=False)
        batches = evaluation_batches(
            dataset=self.splits.train, meta=self.splits.meta,
            num_images=cfg.EXPORT.BN_IMAGES, batch_size=cfg.SOLVER.IMS_PER_BATCH,
            seed=cfg.SEED, device="cpu",
        )  # fmt: skip
        network.train()
        update_bn_stats(network, [x for x, _ in batches], num_iters=len(batches))

    # -- files -----------------------------------------------------------------------------------

    def write(self, directory, space, arch, network, flops, *, weights: str, source: str) -> None:
        """Every bundle file, then the manifest over them."""

        def join(name: str) -> str:
            return os.path.join(directory, name)

        meta = dataclasses.asdict(self.splits.meta)
        description = {
            "space": space.name,
            "space_settings": space.describe(),
            "hash": arch.canonical_hash,
            "arch": arch.to_dict(),
            "channels": space.describe().get("init_channels", self.cfg.MODEL.INIT_CHANNELS),
            "input_shape": list(space.input_shape),
            "dataset_meta": meta,
            "preprocessing": "pixels scaled to [0, 1], then (x - mean) / std per channel",
        }
        with PathManager.open(join("arch.json"), "w") as f:
            json.dump(description, f, indent=2)
        cfg = self.cfg.clone()
        cfg.defrost()
        cfg.MODEL.INIT_CHANNELS = description["channels"]
        cfg.MODEL.DEVICE = "cpu"
        with PathManager.open(join("config.yaml"), "w") as f:
            f.write(cfg.dump())
        with PathManager.open(join("weights.pth"), "wb") as f:
            torch.save(network.state_dict(), f)
        # Traced at batch 2 with a dynamic batch dimension, so the program takes any batch size.
        example = torch.zeros(2, *space.input_shape)
        batch = ({0: torch.export.Dim.DYNAMIC},)
        program = torch.export.export(network, (example,), dynamic_shapes=batch)
        torch.export.save(program, join("model.pt2"))
        files = list(BUNDLE_FILES)
        onnx = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript"))  # [onnx] extra
        if self.cfg.EXPORT.ONNX and not onnx:
            logger.info('export: model.onnx skipped (pip install -e ".[onnx]" to write it)')
        if self.cfg.EXPORT.ONNX and onnx:
            try:  # one self-contained file (weights inside), any batch size, like model.pt2
                torch.onnx.export(network, (example,), join("model.onnx"), dynamic_shapes=batch,
                                  external_data=False, input_names=["images"],
                                  output_names=["logits"])  # fmt: skip
                files.append("model.onnx")
            except Exception as e:  # the optional format must not sink the deployable one
                logger.warning(f"export: model.onnx skipped ({type(e).__name__}: {e})")
        budget = (f"{self.budget / 1e6:.4g}M: within budget" if self.budget > 0
                  else "none (EXPORT.FLOP_BUDGET is 0)")  # fmt: skip
        with PathManager.open(join("flops.md"), "w") as f:
            f.write(
                f"# FLOPs of {arch.canonical_hash[:12]} at F={description['channels']}\n\n"
                f"fvcore, eval mode, one {'x'.join(map(str, space.input_shape))} input, one "
                f"multiply-add = one FLOP.\n\n- total: {int(flops.total()):,}\n"
                f"- budget: {budget}\n\n{flop_count_table(flops, max_depth=2)}\n"
            )
        files += [os.path.basename(p) for p in space.draw(arch, directory)]
        manifest = {
            "hash": arch.canonical_hash,
            "space": space.name,
            "weights": weights,
            "architecture_from": source,
            "flops": int(flops.total()),
            "flop_budget": self.budget or None,
            "torch": torch.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": {name: file_sha256(join(name)) for name in files},
        }
        with PathManager.open(join("manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
