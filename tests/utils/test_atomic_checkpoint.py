"""A save cut short leaves the previous checkpoint whole and tagged."""

import pytest
import torch
from torch import nn

from ghnas.utils import checkpoint as checkpoint_module
from ghnas.utils.checkpoint import AtomicCheckpointer


class Killed(Exception):
    pass


def test_an_interrupted_save_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    model = nn.Linear(3, 2)
    saver = AtomicCheckpointer(model, str(tmp_path))
    saver.save("model_last", epoch=0)
    first = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)

    def dies_halfway(data, f):
        f.write(b"half a checkpoint")
        raise Killed

    monkeypatch.setattr(checkpoint_module.torch, "save", dies_halfway)
    with pytest.raises(Killed):
        saver.save("model_last", epoch=1)
    monkeypatch.undo()
    reloaded = AtomicCheckpointer(nn.Linear(3, 2), str(tmp_path))
    assert reloaded.get_checkpoint_file() == str(tmp_path / "model_last.pth")
    extra = reloaded.resume_or_load(reloaded.get_checkpoint_file(), resume=True)
    assert extra["epoch"] == 0
    for name, tensor in reloaded.model.state_dict().items():
        assert torch.equal(tensor, first[name]), name
