"""Random-number-generator state as an fvcore checkpointable, so resumed runs replay exactly."""

import random
from typing import Any, Dict, Optional

import numpy as np
import torch


class RNGState:
    """The python, numpy and torch global generators plus named extra ones.

    ``generators`` maps a name to a ``numpy.random.Generator`` or to any object with
    ``state_dict``/``load_state_dict`` (e.g. a batch stream). Everything is stored as tensors and
    plain Python values so that ``torch.load(weights_only=True)`` accepts the checkpoint.
    """

    def __init__(self, generators: Optional[Dict[str, Any]] = None) -> None:
        self.generators = dict(generators or {})

    def state_dict(self) -> Dict[str, Any]:
        """Snapshot of every generator."""
        legacy = np.random.get_state()
        state = {
            "python": random.getstate(),
            "numpy": [legacy[0], torch.from_numpy(legacy[1].astype(np.int64)), *legacy[2:]],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        for name, gen in self.generators.items():
            if isinstance(gen, np.random.Generator):
                state[name] = gen.bit_generator.state
            else:
                state[name] = gen.state_dict()
        return state

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restore a snapshot made by :meth:`state_dict`."""
        random.setstate(_tuples(state["python"]))
        name, key, *rest = state["numpy"]
        np.random.set_state((name, key.numpy().astype(np.uint32), *rest))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        for name, gen in self.generators.items():
            if isinstance(gen, np.random.Generator):
                gen.bit_generator.state = state[name]
            else:
                gen.load_state_dict(state[name])


def _tuples(value):
    """``random.setstate`` wants tuples where serialisation may have produced lists."""
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value
