"""Saving and loading GHNs: fvcore's Checkpointer over the project's iopath PathManager.

A GHN checkpoint records, besides the weights, the schema version, the search space's name, its
op vocabulary and weight-family shapes, and the GHN config, so a checkpoint meant for another
space or another GHN shape is refused with one line instead of loading half its weights.
"""

import os
from typing import Any, Dict

import torch
from fvcore.common.checkpoint import Checkpointer

from ghnas.engine.distributed import is_main_process
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

GHN_SCHEMA_VERSION = 1


def ghn_checkpointer(ghn, save_dir: str, **checkpointables: Any) -> Checkpointer:
    """An fvcore Checkpointer for ``ghn`` writing under ``save_dir`` through our PathManager;
    under torchrun only rank 0 writes (every rank holds the same GHN)."""
    checkpointer = Checkpointer(ghn, save_dir, save_to_disk=is_main_process(), **checkpointables)
    checkpointer.path_manager = PathManager
    return checkpointer


# GHN.* keys that change what a trained GHN computes; a checkpoint is only used with its own.
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
        "ghn_architecture": {k: cfg.GHN[k] for k in ARCHITECTURE_KEYS},
    }


def read_checkpoint(path: str) -> Dict[str, Any]:
    """The dict saved at ``path``; a missing or unreadable file is a :class:`GhnasError`."""
    if not PathManager.exists(path):
        raise GhnasError(f"GHN checkpoint not found: {path}")
    with PathManager.open(path, "rb") as f:
        try:
            return torch.load(f, map_location="cpu")
        except Exception as e:  # a truncated or foreign file
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise GhnasError(f"cannot read GHN checkpoint {path}: {reason}") from None


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
    changed = [f"GHN.{k}: {theirs.get(k)!r} in the checkpoint, {v!r} in the config"
               for k, v in ours.items() if theirs.get(k) != v]  # fmt: skip
    if changed:
        raise GhnasError(f"GHN checkpoint {path} was trained differently: {'; '.join(changed)}")
    for key in set(expected) - {"schema_version", "space", "op_vocabulary", "weight_families",
                                "ghn_architecture"}:  # fmt: skip
        if data.get(key) != expected[key]:
            raise GhnasError(f"GHN checkpoint {path} was made with another {key}")


def check_ghn_checkpoint(path: str, cfg, space) -> Dict[str, Any]:
    """Read the checkpoint at ``path`` and raise :class:`GhnasError` if it does not fit."""
    data = read_checkpoint(path)
    check_identity(data, ghn_identity(cfg, space), path)
    return data


def load_ghn_weights(ghn, path: str, cfg, space) -> Dict[str, Any]:
    """Load a checked checkpoint into ``ghn``; every tensor must match in name and shape."""
    data = check_ghn_checkpoint(path, cfg, space)
    own = ghn.state_dict()
    theirs = data["model"]
    if set(own) != set(theirs) or any(own[k].shape != theirs[k].shape for k in own):
        raise GhnasError(
            f"GHN checkpoint {path} does not match the GHN built from the config "
            "(GHN.* keys differ from the ones it was trained with)"
        )
    ghn.load_state_dict(theirs)
    return data


def final_checkpoint_path(output_dir: str) -> str:
    """Where the GHN phase leaves its trained GHN."""
    return os.path.join(output_dir, "ghn", "model_final.pth")
