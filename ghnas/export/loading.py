"""``load(bundle)``: the exported network as an ``nn.Module``, rebuilt from the bundle alone."""

import json
import os

import torch
from torch import nn

from ghnas.config import get_cfg
from ghnas.data.fingerprint import file_sha256
from ghnas.data.metadata import DatasetMetadata
from ghnas.search_spaces import build_search_space
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager


def load(path: str) -> nn.Module:
    """The bundle's network with its weights, in eval mode.

    The space and width come from the bundle's ``config.yaml`` and ``arch.json``; the weight
    file must match the sha256 the manifest recorded (a damaged bundle is refused). A space
    registered by a project must be imported (registered) before loading.
    """

    def join(name: str) -> str:
        return os.path.join(path, name)

    for name in ("arch.json", "config.yaml", "weights.pth", "manifest.json"):
        if not PathManager.exists(join(name)):
            raise GhnasError(f"export bundle {path}: {name} is missing")
    with PathManager.open(join("manifest.json")) as f:
        manifest = json.load(f)
    recorded = manifest.get("files", {}).get("weights.pth")
    if recorded != file_sha256(join("weights.pth")):
        raise GhnasError(f"export bundle {path}: weights.pth does not match its manifest sha256")
    with PathManager.open(join("arch.json")) as f:
        description = json.load(f)
    cfg = get_cfg(join("config.yaml"))
    fields = {k: tuple(v) if isinstance(v, list) else v
              for k, v in description["dataset_meta"].items()}  # fmt: skip
    space = build_search_space(cfg, DatasetMetadata(**fields))
    network = space.build_network(space.architecture_from_dict(description["arch"]))
    with PathManager.open(join("weights.pth"), "rb") as f:
        network.load_state_dict(torch.load(f, map_location="cpu"))
    return network.eval()
