"""fvcore's Checkpointer with saves that an interrupt cannot leave half-written."""

import os
from typing import Any

import torch
from fvcore.common.checkpoint import Checkpointer

from ghnas.utils.file_io import PathManager


class AtomicCheckpointer(Checkpointer):
    """A :class:`Checkpointer` (on the project's PathManager) that saves through a temporary file.

    fvcore writes ``<name>.pth`` in place; a run that keeps overwriting one name (a checkpoint per
    epoch) would lose every epoch if killed mid-write. Here the data goes to ``<name>.pth.tmp``,
    is renamed over ``<name>.pth`` (atomic on one file system), and only then tagged, so
    ``last_checkpoint`` always names a complete file. Local paths only (``os.replace``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path_manager = PathManager

    def save(self, name: str, **kwargs: Any) -> None:
        """Save the model, the checkpointables and ``kwargs`` as ``<name>.pth``."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        with self.path_manager.open(path + ".tmp", "wb") as f:
            torch.save(data, f)
        os.replace(path + ".tmp", path)
        self.tag_last_checkpoint(basename)
