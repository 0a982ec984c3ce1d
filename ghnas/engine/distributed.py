"""Many processes through ``torch.distributed``, in the spirit of Detectron2's ``comm``.

The package never launches processes itself: ``torchrun --nproc_per_node N tools/train_net.py
...`` starts them and sets ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`init_from_torchrun_env` reads them. Without them (a plain ``python``
run) every helper here answers as the only process of a world of one, so code written with
them needs no second path for one process.

Sharding is **strided**: :func:`shard` gives rank ``r`` the items ``r, r + N, r + 2N, ...``.
A loop that gathers after each of its own items then sees, at round ``j``, the items
``jN .. jN + N - 1`` in rank order, i.e. consecutive items of the original list, which is how
the search appends its results in candidate order as they come.
"""

import datetime
import os
from typing import Any, Callable, Iterable, List, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ghnas.utils.errors import GhnasError

T = TypeVar("T")

__all__ = [
    "all_gather_object",
    "all_reduce_mean",
    "average_gradients",
    "broadcast_module",
    "broadcast_object",
    "data_parallel",
    "get_rank",
    "get_world_size",
    "init_from_torchrun_env",
    "is_main_process",
    "on_main_process",
    "shard",
    "shutdown",
    "synchronize",
]

# Long enough for rank 0 to write a checkpoint or a report while the others wait at a barrier.
TIMEOUT = datetime.timedelta(minutes=30)


def init_from_torchrun_env(device: str) -> int:
    """Join the process group torchrun describes in the environment; returns the world size.

    With ``WORLD_SIZE`` unset or 1 nothing happens. Otherwise the backend is NCCL for a
    ``cuda`` device (each rank on ``cuda:LOCAL_RANK``) and gloo for ``cpu``. CPU ranks run on
    one thread each: N processes of many threads on the same cores run tens of times slower.
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise GhnasError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not an integer") from None
    if world <= 1:
        return 1
    if dist.is_initialized():
        return dist.get_world_size()
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise GhnasError(
            f"WORLD_SIZE is {world} but {', '.join(missing)} is not set; start the run with "
            "torchrun --nproc_per_node N"
        )
    cuda = device.startswith("cuda")
    if cuda:
        if ":" in device:
            raise GhnasError(
                f"MODEL.DEVICE '{device}' names one GPU, but {world} processes run; use 'cuda' "
                "(each process uses cuda:LOCAL_RANK)"
            )
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if local_rank >= torch.cuda.device_count():
            raise GhnasError(
                f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPUs are visible; "
                "use --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local_rank)  # "cuda" now means this rank's GPU everywhere
    else:
        torch.set_num_threads(1)
    dist.init_process_group(
        backend="nccl" if cuda else "gloo", init_method="env://", timeout=TIMEOUT
    )
    return dist.get_world_size()


def shutdown() -> None:
    """Leave the process group, if one was joined (torch warns at exit otherwise)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    if not dist.is_available() or not dist.is_initialized():
        return 1
    return dist.get_world_size()


def get_rank() -> int:
    """This process's rank (0 without a process group)."""
    if not dist.is_available() or not dist.is_initialized():
        return 0
    return dist.get_rank()


def is_main_process() -> bool:
    """Whether this is rank 0, the one process that writes files and logs to ``log.txt``."""
    return get_rank() == 0


def synchronize() -> None:
    """A barrier across all processes (nothing with one)."""
    if get_world_size() > 1:
        dist.barrier()


def all_gather_object(obj: T) -> List[T]:
    """Every rank's ``obj`` (any picklable value), in rank order, on every rank."""
    world = get_world_size()
    if world == 1:
        return [obj]
    gathered: List[Any] = [None] * world
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: T, src: int = 0) -> T:
    """Rank ``src``'s ``obj`` on every rank (the other ranks' ``obj`` is ignored)."""
    if get_world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def on_main_process(fn: Callable[[], T]) -> T:
    """Run ``fn`` on rank 0 only and return its result on every rank.

    A :class:`GhnasError` raised by ``fn`` is raised on every rank, so that bad input found by
    rank 0 (a results file of another search, say) ends every process with the same line
    instead of leaving the others waiting at the next collective.
    """
    result: Any = None
    if is_main_process():
        try:
            result = ("ok", fn())
        except GhnasError as e:
            result = ("error", str(e))
    if get_world_size() > 1:
        result = broadcast_object(result)
    if result[0] == "error":
        raise GhnasError(result[1])
    return result[1]


def shard(items: Sequence[T]) -> List[T]:
    """This rank's items: ``items[rank::world_size]`` (strided, see the module docstring)."""
    return list(items[get_rank() :: get_world_size()])


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """The mean of ``tensor`` over ranks (a new tensor; ``tensor`` itself with one rank)."""
    world = get_world_size()
    if world == 1:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total)
    return total / world


def broadcast_module(module: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers into every rank's ``module`` (as DDP does at
    construction), so that the ranks start identical whatever their random state was."""
    if get_world_size() == 1:
        return
    with torch.no_grad():
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=src)


def data_parallel(network: torch.nn.Module) -> torch.nn.Module:
    """``network`` wrapped in ``DistributedDataParallel`` under torchrun (it also broadcasts rank
    0's initial weights), ``network`` itself with one process. On CUDA the wrapper runs on this
    rank's GPU, the one ``init_from_torchrun_env`` made current."""
    if get_world_size() == 1:
        return network
    device = next(network.parameters()).device
    ids = None
    if device.type == "cuda":
        ids = [device.index if device.index is not None else torch.cuda.current_device()]
    return DistributedDataParallel(network, device_ids=ids)


def average_gradients(parameters: Iterable[torch.nn.Parameter]) -> None:
    """Replace every gradient by its mean over ranks, with one all-reduce of a flat buffer.

    A parameter without a gradient on some ranks counts as zero there (those ranks did not use
    it). One that no rank used keeps no gradient, so the optimizer skips it exactly as it would
    in one process (Adam would otherwise still move it along its momentum).
    """
    world = get_world_size()
    params = [p for p in parameters if p.requires_grad]
    if world == 1 or not params:
        return
    device = params[0].device
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    used = torch.tensor([float(p.grad is not None) for p in params], device=device)
    flat = torch.cat([g.reshape(-1).float() for g in grads] + [used])
    dist.all_reduce(flat)
    flat /= world
    users = flat[-len(params) :].tolist()  # one device-to-host copy for all the flags
    offset = 0
    for p, share in zip(params, users):
        mean = flat[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        if share == 0:
            p.grad = None
        elif p.grad is None:
            p.grad = mean.to(p.dtype, copy=True)
        else:
            p.grad.copy_(mean)
