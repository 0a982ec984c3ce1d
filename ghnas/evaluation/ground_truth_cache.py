"""Where the correlation benchmark keeps finished ground-truth runs, and what keys them.

A finished run is ``<key>.json`` in the cache folder; a run in progress checkpoints into the
folder ``<key>/``. The key digests everything that decides the run, the built network's layout
included (:func:`network_layout`), so a network the code now builds differently is trained
again instead of reusing a stale result.
"""

import hashlib
import json
import os
from typing import Any, Dict, Optional

import torch

from ghnas.engine.output_dir import check_writable_folder
from ghnas.utils.file_io import PathManager, write_atomically


def network_layout(space, arch) -> str:
    """Short SHA-256 of the names and shapes of the network's state (built on meta): a network
    the code now builds differently (another BN layout, say) never reuses a cached result."""
    with torch.device("meta"):
        state = space.build_network(arch).state_dict()
    text = json.dumps([(name, list(t.shape)) for name, t in state.items()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class GroundTruthCache:
    """Finished runs as ``<key>.json``; a run in progress checkpoints into ``<key>/``."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def check(self) -> None:
        """Raise :class:`GhnasError` unless the folder can be created or written (writes
        nothing that stays)."""
        check_writable_folder(self.directory, "CORRELATION.CACHE_DIR")

    @staticmethod
    def key(identity: Dict[str, Any]) -> str:
        """A short digest of everything that decides a ground-truth run."""
        text = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def load(self, key: str) -> Optional[Dict[str, Any]]:
        """The finished record of ``key``, or None."""
        path = os.path.join(self.directory, f"{key}.json")
        if not PathManager.exists(path):
            return None
        with PathManager.open(path) as f:
            return json.load(f)

    def save(self, key: str, record: Dict[str, Any]) -> None:
        """Write the record atomically, then drop the run's checkpoints."""
        path = os.path.join(self.directory, f"{key}.json")
        write_atomically(path, json.dumps(record, indent=1, sort_keys=True))
        run_dir = self.run_dir(key)
        if PathManager.exists(run_dir):
            for name in PathManager.ls(run_dir):
                PathManager.rm(os.path.join(run_dir, name))
            os.rmdir(run_dir)

    def run_dir(self, key: str) -> str:
        """Where the run of ``key`` checkpoints while it trains."""
        return os.path.join(self.directory, key)
