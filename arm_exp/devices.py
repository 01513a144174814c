"""Where a model runs and in which dtype: the one place that resolves ``auto``.

Every model-bearing component (reward-model training and scoring, ``serve-rm``, the in-process
LLM backends) takes ``device`` and ``dtype`` strings from its config and resolves them here, so
a config means the same on a laptop and on a GPU node:

- ``device``: ``cpu``, ``cuda``, ``cuda:N`` (torch's names) or ``auto``. ``auto`` is this process's GPU where
  CUDA is available (``cuda:<LOCAL_RANK>`` in a multi-process job, as torchrun, Lightning and
  SLURM's srun set it; ``cuda:0`` otherwise: the first device the job was given), else ``cpu``.
- ``dtype``: a torch dtype name or ``auto``: bfloat16 on a CUDA device that supports it (A100,
  H100), float32 elsewhere (CPU; pre-Ampere GPUs, where float16 would need loss scaling).

torch is imported inside the functions: composing configs must not load it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DTYPES = ("float32", "bfloat16", "float16", "auto")


def resolve_device(device: str, key: str = "device") -> str:
    """``device`` with ``auto`` resolved; a CUDA device this job does not have is an error
    naming ``key``."""
    import torch

    value = str(device)
    if value == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        value = f"cuda:{int(os.environ.get('LOCAL_RANK', 0) or 0)}"
    kind, _, index = value.partition(":")
    if kind not in ("cpu", "cuda") or (index and not index.isdigit()):
        raise ValueError(f"{key}={device!r}: expected cpu, cuda, cuda:N or auto")
    if kind == "cpu":
        return value
    if not torch.cuda.is_available():
        raise ValueError(f"{key}={device!r}: no CUDA device here (use {key}=auto or cpu)")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise ValueError(
            f"{key}={value!r}: this job sees {count} CUDA device(s) "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})"
        )
    return value


def resolve_dtype(dtype: str, device: str, key: str = "dtype") -> torch.dtype:
    """The torch dtype for ``dtype`` on the (resolved) ``device``."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"{key}={dtype!r}: expected one of {DTYPES}")
    if dtype != "auto":
        return getattr(torch, dtype)
    on_cuda = str(device).startswith("cuda")
    return torch.bfloat16 if on_cuda and torch.cuda.is_bf16_supported() else torch.float32
