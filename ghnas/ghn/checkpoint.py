"""Saving and loading GHNs: fvcore's Checkpointer over the project's iopath PathManager.

A GHN checkpoint records, besides the weights, the schema version, the search space's name, its
op vocabulary and weight-family shapes, and the GHN config, so a checkpoint meant for another
space or another GHN shape is refused with one line instead of loading half its weights.
"""

import os
from typing import Any, Dict

import torch
from fvcore.common.checkpoint import Checkpointer

from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

GHN_SCHEMA_VERSION = 1


def ghn_checkpointer(ghn, save_dir: str, **checkpointables: Any) -> Checkpointer:
    """An fvcore Checkpointer for ``ghn`` writing under ``save_dir`` through our PathManager."""
    checkpointer = Checkpointer(ghn, save_dir, save_to_disk=True, **checkpointables)
    checkpointer.path_manager = PathManager
    return checkpointer


def ghn_identity(cfg, space) -> Dict[str, Any]:
    """What a GHN checkpoint must match: stored in it, compared when loading."""
    return {
        "schema_version": GHN_SCHEMA_VERSION,
        "space": space.name,
        "op_vocabulary": list(space.op_vocabulary),
        "weight_families": {k: list(f.shape) for k, f in space.weight_families.items()},
        "ghn_config": cfg.GHN.dump(),
    }


def check_ghn_checkpoint(path: str, cfg, space) -> Dict[str, Any]:
    """Read the checkpoint at ``path`` and raise :class:`GhnasError` if it does not fit."""
    if not PathManager.exists(path):
        raise GhnasError(f"GHN checkpoint not found: {path}")
    with PathManager.open(path, "rb") as f:
        try:
            data = torch.load(f, map_location="cpu")
        except Exception as e:  # a truncated or foreign file
            raise GhnasError(f"cannot read GHN checkpoint {path}: {type(e).__name__}") from None
    expected = ghn_identity(cfg, space)
    if data.get("schema_version") != GHN_SCHEMA_VERSION:
        raise GhnasError(
            f"GHN checkpoint {path} has schema version {data.get('schema_version')}, "
            f"expected {GHN_SCHEMA_VERSION}"
        )
    if data.get("space") != expected["space"]:
        raise GhnasError(
            f"GHN checkpoint {path} was trained on search space '{data.get('space')}', but "
            f"SEARCH_SPACE.NAME is '{expected['space']}'"
        )
    for key in ("op_vocabulary", "weight_families"):
        if data.get(key) != expected[key]:
            raise GhnasError(
                f"GHN checkpoint {path} has a different {key} than space '{space.name}' builds "
                "(another INIT_CHANNELS, dataset or space version?)"
            )
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
