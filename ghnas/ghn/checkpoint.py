"""Saving and loading GHNs: fvcore's Checkpointer over the project's iopath PathManager.

A GHN checkpoint records, besides the weights, the schema version, the search space's name, its
op vocabulary and weight-family shapes, and the GHN config, so a checkpoint meant for another
space or another GHN shape is refused with one line instead of loading half its weights.
"""

import logging
import os
from typing import Any, Dict

import torch

from ghnas.data.fingerprint import dataset_fingerprint
from ghnas.engine.distributed import is_main_process
from ghnas.utils.checkpoint import AtomicCheckpointer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

logger = logging.getLogger("ghnas")

GHN_SCHEMA_VERSION = 1


def ghn_checkpointer(ghn, save_dir: str, **checkpointables: Any) -> AtomicCheckpointer:
    """An fvcore Checkpointer for ``ghn`` writing under ``save_dir``, every file atomically;
    under torchrun only rank 0 writes (every rank holds the same GHN)."""
    return AtomicCheckpointer(ghn, save_dir, save_to_disk=is_main_process(), **checkpointables)


# GHN.* keys that change what a trained GHN computes; a checkpoint is only used with its own.
# GHN-2's stabilisers and the value that means off; recorded in the identity only when on.
STABILISER_OFF = {"FAN_IN_SCALING": False, "LAYER_NORM": False, "EMA_DECAY": 0.0}
STABILISER_KEYS = tuple(STABILISER_OFF)
ARCHITECTURE_KEYS = (
    "NAME",
    "PROPAGATION",
    "NUM_PASSES",
    "HIDDEN_SIZE",
    "MESSAGE_HIDDEN_SIZE",
    "HYPERNET_HIDDEN_SIZE",
    "SEPARATE_BACKWARD_MESSAGE",
    "STACKED",
    "SHARE_PARAMETERS",
    "PASS_EMBEDDINGS",
)


def ghn_identity(cfg, space) -> Dict[str, Any]:
    """What a GHN checkpoint must match: stored in it, compared when loading."""
    return {
        "schema_version": GHN_SCHEMA_VERSION,
        "space": space.name,
        "op_vocabulary": list(space.op_vocabulary),
        "weight_families": {k: list(f.shape) for k, f in space.weight_families.items()},
        "ghn_architecture": {k: cfg.GHN[k] for k in ARCHITECTURE_KEYS}
        # A stabiliser counts only when on, so checkpoints from before it existed still match.
        | {k: cfg.GHN[k] for k in STABILISER_KEYS if cfg.GHN[k] != STABILISER_OFF[k]},
    }


def read_checkpoint(path: str, key: str = "") -> Dict[str, Any]:
    """The dict saved at ``path``; a missing, unreadable or non-file path is a
    :class:`GhnasError` (naming the config ``key`` it came from, when given)."""
    where = f"{key}: " if key else ""
    if not PathManager.exists(path):
        raise GhnasError(f"{where}GHN checkpoint not found: {path}")
    if PathManager.isdir(path):
        raise GhnasError(f"{where}{path} is a folder; name a GHN checkpoint file (.pth) in it")
    with PathManager.open(path, "rb") as f:
        try:
            return torch.load(f, map_location="cpu")
        except Exception as e:  # a truncated or foreign file
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GhnasError(f"{where}cannot read GHN checkpoint {path}: {reason}") from None


def check_identity(data: Dict[str, Any], expected: Dict[str, Any], path: str) -> None:
    """Raise :class:`GhnasError` naming the first way ``data`` differs from ``expected``."""
    if data.get("schema_version") != expected["schema_version"]:
        raise GhnasError(
            f"GHN checkpoint {path} has schema version {data.get('schema_version')}, "
            f"expected {expected['schema_version']}"
        )
    if data.get("space") != expected["space"]:
        raise GhnasError(
            f"GHN checkpoint {path} was trained on search space '{data.get('space')}', but "
            f"SEARCH_SPACE.NAME is '{expected['space']}'"
        )
    for key in ("op_vocabulary", "weight_families"):
        if data.get(key) != expected[key]:
            raise GhnasError(
                f"GHN checkpoint {path} has a different {key} than space '{expected['space']}' "
                "builds (another MODEL.INIT_CHANNELS, dataset or space version?)"
            )
    theirs, ours = data.get("ghn_architecture", {}), expected["ghn_architecture"]
    # A stabiliser is recorded only when on: absent on either side means off (its default).
    keys = list(ours) + [k for k in STABILISER_KEYS if k in theirs and k not in ours]
    off = STABILISER_OFF
    changed = [f"GHN.{k}: {theirs.get(k, off.get(k))!r} in the checkpoint, "
               f"{ours.get(k, off.get(k))!r} in the config"
               for k in keys if theirs.get(k, off.get(k)) != ours.get(k, off.get(k))]  # fmt: skip
    if changed:
        raise GhnasError(f"GHN checkpoint {path} was trained differently: {'; '.join(changed)}")
    rest = set(expected) - {"schema_version", "space", "op_vocabulary", "weight_families",
                            "ghn_architecture"}  # fmt: skip
    # The entries a user sets first (SEED before the statistics SEED's split implies).
    for key in [k for k in IDENTITY_LABELS if k in rest] + sorted(rest - set(IDENTITY_LABELS)):
        if key not in data:
            raise GhnasError(
                f"GHN checkpoint {path} was written by an older ghnas that did not record its "
                f"{IDENTITY_LABELS.get(key, key)}, so it cannot be resumed; score with it "
                "(SEARCH.GHN_CHECKPOINT) or start again with --overwrite"
            )
        if data.get(key) != expected[key]:
            raise GhnasError(
                f"GHN checkpoint {path} was made with another {IDENTITY_LABELS.get(key, key)}: "
                f"{_difference(data.get(key), expected[key])}"
            )


# What a differing identity entry means in config terms, for the one-line refusal.
IDENTITY_LABELS = {
    "seed": "SEED",
    "split": "dataset split (DATASETS.*, INPUT.*, DATASETS.SPLIT_SEED or SEED)",
    "dataset_meta": "dataset (its statistics differ)",
    "ghn_config": "GHN.* config",
    "solver": "SOLVER.* recipe",
}


def _difference(theirs: Any, ours: Any) -> str:
    """``"KEY: theirs in the checkpoint, ours here"`` for the first differing entry."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        for key in sorted(set(theirs) | set(ours), key=str):
            if theirs.get(key) != ours.get(key):
                return f"{key}: {_difference(theirs.get(key), ours.get(key))}"
    return f"{_short(theirs)} in the checkpoint, {_short(ours)} here"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# What decides which images are validation (augmentation settings do not).
CARVING_KEYS = ("name", "sha256", "files", "val_size", "test_size", "split_seed")


def _carving(fingerprint: Dict[str, Any]) -> Dict[str, Any]:
    return {k: fingerprint.get(k) for k in CARVING_KEYS} | {
        "image_size": fingerprint.get("input", {}).get("SIZE")
    }


def check_split(data: Dict[str, Any], cfg, path: str) -> None:
    """Refuse to score with a GHN trained on another split: its validation images could be
    images the GHN trained on. A checkpoint from before splits were recorded only warns."""
    ours = _carving(dataset_fingerprint(cfg))
    theirs = data.get("split")
    theirs = _carving(theirs) if isinstance(theirs, dict) else theirs
    if theirs is None:
        logger.warning(f"GHN checkpoint {path} does not record its dataset split; make sure it "
                       "was trained on the same one")  # fmt: skip
    elif theirs != ours:
        raise GhnasError(
            f"GHN checkpoint {path} was trained on another dataset split, so this run's "
            f"validation images may be ones it trained on ({_difference(theirs, ours)}); use "
            "the same DATASETS.*, INPUT.* and DATASETS.SPLIT_SEED (or SEED)"
        )


def check_ghn_checkpoint(path: str, cfg, space) -> Dict[str, Any]:
    """Read the checkpoint at ``path`` and raise :class:`GhnasError` if it does not fit."""
    data = read_checkpoint(path)
    check_identity(data, ghn_identity(cfg, space), path)
    return data


def load_ghn_weights(ghn, path: str, cfg, space, check_data_split: bool = True) -> Dict[str, Any]:
    """Load a checked checkpoint into ``ghn``; every tensor must match in name and shape, and
    (``check_data_split``) the config's dataset split must be the one it was trained on."""
    data = check_ghn_checkpoint(path, cfg, space)
    if check_data_split:
        check_split(data, cfg, path)
    own = ghn.state_dict()
    theirs = scoring_weights(data, cfg, path)
    if set(own) != set(theirs) or any(own[k].shape != theirs[k].shape for k in own):
        raise GhnasError(
            f"GHN checkpoint {path} does not match the GHN built from the config "
            "(GHN.* keys differ from the ones it was trained with)"
        )
    ghn.load_state_dict(theirs)
    return data


def scoring_weights(data: Dict[str, Any], cfg, path: str) -> Dict[str, Any]:
    """The GHN weights a checkpoint scores with: its parameters' moving average where
    GHN.EMA_DECAY kept one, the trained parameters otherwise."""
    if cfg.GHN.EMA_DECAY <= 0:
        return data["model"]
    if "ema" not in data:
        raise GhnasError(f"GHN checkpoint {path} holds no moving average (GHN.EMA_DECAY)")
    prefix = "module."
    return {k[len(prefix) :]: v for k, v in data["ema"].items() if k.startswith(prefix)}


def final_checkpoint_path(output_dir: str) -> str:
    """Where the GHN phase leaves its trained GHN."""
    return os.path.join(output_dir, "ghn", "model_final.pth")
