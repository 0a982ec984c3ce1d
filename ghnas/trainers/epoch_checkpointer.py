"""Checkpoints of a final run trained epoch by epoch, refusing to resume another run's."""

import logging
import os
from typing import Any, Dict

import torch

from ghnas.utils.checkpoint import AtomicCheckpointer
from ghnas.utils.errors import GhnasError
from ghnas.utils.file_io import PathManager

logger = logging.getLogger("ghnas")


def describe_identity(identity: Dict[str, Any]) -> str:
    """``"1a2b3c4d5e6f at C=16"`` (plus any other entries) for messages."""
    parts = [str(identity.get("hash"))[:12], f"at C={identity.get('channels')}"]
    parts += [f"{k}={v}" for k, v in identity.items() if k not in ("hash", "channels")]
    return " ".join(parts)


class EpochCheckpointer:
    """An fvcore :class:`Checkpointer` saving ``model_last.pth`` (atomically) after every epoch.

    ``identity`` (e.g. the architecture hash and width) is stored in every checkpoint; resuming
    from a checkpoint of another identity is a :class:`GhnasError` (its weights would not fit).
    ``checkpointables`` are saved beside the model (optimizer, random generators); with
    ``save_to_disk`` False (ranks other than 0) nothing is written.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        directory: str,
        *,
        identity: Dict[str, Any],
        save_to_disk: bool = True,
        **checkpointables: Any,
    ) -> None:
        self.identity = dict(identity)
        self.directory = directory
        if save_to_disk:
            PathManager.mkdirs(directory)
        self.checkpointer = AtomicCheckpointer(
            model, directory, save_to_disk=save_to_disk, **checkpointables
        )

    def start_epoch(self, resume: bool, phase: str = "final") -> int:
        """The first epoch to train: after the last checkpoint when resuming, else 0.

        A fresh run (``resume`` False) forgets an older run's checkpoint, so that a later
        ``--resume`` never continues it.
        """
        marker = os.path.join(self.directory, "last_checkpoint")
        if resume and self.checkpointer.has_checkpoint():
            path = self.checkpointer.get_checkpoint_file()
            with PathManager.open(path, "rb") as f:
                saved = torch.load(f, map_location="cpu")
            found = {k: saved.get(k) for k in self.identity}
            if found != self.identity:
                raise GhnasError(
                    f"{phase}: {path} trains {describe_identity(found)}, but this run trains "
                    f"{describe_identity(self.identity)}; use another OUTPUT_DIR or --overwrite"
                )
            start = self.checkpointer.resume_or_load(path, resume=True).get("epoch", -1) + 1
            logger.info(f"{phase}: resuming at epoch {start}")
            return start
        if not resume and self.checkpointer.save_to_disk and PathManager.exists(marker):
            PathManager.rm(marker)
        return 0

    def save(self, epoch: int, **extra: Any) -> None:
        """Save ``model_last.pth`` after ``epoch`` (0-based) with the identity and ``extra``."""
        self.checkpointer.save("model_last", epoch=epoch, **self.identity, **extra)
