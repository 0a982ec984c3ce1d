"""fvcore's Checkpointer with saves that a kill cannot leave half-written, and a resume that
survives a damaged checkpoint."""

import glob
import logging
import os
from typing import Any, Optional

import torch
from fvcore.common.checkpoint import Checkpointer

from ghnas.utils.file_io import PathManager, write_atomically

logger = logging.getLogger("ghnas")

TAG = "last_checkpoint"


def readable_checkpoint(path: str) -> bool:
    """Whether ``path`` is a file ``torch.load`` reads (memory-mapped: cheap for large files)."""
    if not os.path.isfile(path):
        return False
    try:
        torch.load(path, map_location="cpu", mmap=True, weights_only=False)
    except Exception:  # truncated, empty or foreign: not a checkpoint to resume from
        return False
    return True


class AtomicCheckpointer(Checkpointer):
    """A :class:`Checkpointer` (on the project's PathManager) whose files are always whole.

    fvcore writes ``<name>.pth`` and the ``last_checkpoint`` tag in place, so a kill mid-write
    leaves a truncated file that every later resume trips over. Here both go through
    :func:`~ghnas.utils.file_io.write_atomically` (temporary file, fsync, rename), and the tag
    is written only after its checkpoint, so it always names a complete file. Should the tagged
    file still be unreadable (or the tag empty), :meth:`get_checkpoint_file` falls back to the
    newest readable checkpoint in the folder and says so. Local paths only.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.path_manager = PathManager

    def save(self, name: str, **kwargs: Any) -> None:
        """Save the model, the checkpointables and ``kwargs`` as ``<name>.pth``, then tag it."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        write_atomically(
            os.path.join(self.save_dir, basename), None, write=lambda f: torch.save(data, f)
        )
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        """Point ``last_checkpoint`` at ``last_filename_basename``, atomically."""
        write_atomically(os.path.join(self.save_dir, TAG), last_filename_basename)

    def get_checkpoint_file(self) -> str:
        """The tagged checkpoint; if it is unreadable, the newest readable one in the folder."""
        tag = os.path.join(self.save_dir, TAG)
        try:
            with open(tag) as f:
                name = f.read().strip()
        except OSError:
            name = ""
        tagged = os.path.join(self.save_dir, name) if name else None
        if tagged and readable_checkpoint(tagged):
            return tagged
        fallback = self.newest_readable()
        if fallback is None:
            return tagged or ""
        logger.warning(
            f"{tag} names {name or 'nothing'}, which cannot be read; resuming from the newest "
            f"readable checkpoint, {os.path.basename(fallback)}"
        )
        return fallback

    def newest_readable(self) -> Optional[str]:
        """The most recently written readable ``*.pth`` in the folder, or None."""
        files = glob.glob(os.path.join(glob.escape(self.save_dir), "*.pth"))
        for path in sorted(files, key=os.path.getmtime, reverse=True):
            if readable_checkpoint(path):
                return path
        return None
