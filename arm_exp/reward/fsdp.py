"""FSDP for reward models (``trainer=fsdp``, and ``trainer=fsdp_sim`` on CPU processes).

FSDP flattens the parameters of each unit into one tensor, so a unit's parameters must share a
dtype. A decoder reward model does not: its base weights are bfloat16 on a GPU while LoRA's
adapters (peft keeps them in float32) and our head (float32) train in full precision. Wrapping
only the decoder layers puts bf16 base weights and fp32 adapters in one unit ("Must flatten
tensors with uniform dtype"). :class:`UniformUnits` adds a unit for each leaf module that trains
in float32 (LoRA's A and B, the head), as PEFT's own FSDP recipe does, so every unit holds one
dtype and the adapters keep their float32 master weights; FSDP's mixed precision still computes
in bf16. A float32 model that trains all its weights would get a unit per leaf: correct, but more
all-gathers than it needs; the configs train decoders with LoRA.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from lightning.pytorch.plugins.precision import FSDPPrecision
from lightning.pytorch.strategies import FSDPStrategy
from torch import nn


class UniformUnits:
    """The ``lambda_fn`` of torch's ``CustomPolicy``: a unit per module of ``layers`` and per
    leaf module whose own parameters all train in float32."""

    def __init__(self, layers: Sequence[type[nn.Module]]) -> None:
        self.layers = tuple(layers)

    def __call__(self, module: nn.Module) -> bool:
        if isinstance(module, self.layers):
            return True
        own = list(module.parameters(recurse=False))
        return (
            bool(own)
            and next(module.children(), None) is None
            and all(p.requires_grad and p.dtype == torch.float32 for p in own)
        )


class CpuFSDPPrecision(FSDPPrecision):
    """FSDP's mixed precision with the autocast Lightning opens on CUDA opened on the CPU: under
    ``bf16-mixed`` a float32 adapter's input meets bf16 weights, which autocast reconciles."""

    def forward_context(self) -> AbstractContextManager:
        if "mixed" in self.precision:
            half = torch.bfloat16 if self.precision == "bf16-mixed" else torch.float16
            return torch.autocast("cpu", dtype=half)
        return super().forward_context()


class CpuFSDPStrategy(FSDPStrategy):
    """Lightning's FSDP strategy on CPU processes (gloo), to run ``trainer=fsdp``'s code path
    without a GPU: Lightning passes FSDP the root device's CUDA index, which on CPU is None, and
    torch's FSDP then asks for an accelerator; this passes the CPU device instead, autocasts on
    the CPU where Lightning autocasts on CUDA, and gathers full state dicts without Lightning's
    offload to the CPU (on CPU processes torch's FSDP frees what that "offload" returns: a
    segmentation fault in ``state_dict()``)."""

    def setup(self, trainer: Any) -> None:
        plugin = self.precision_plugin
        assert isinstance(plugin, FSDPPrecision)  # Lightning gives an FSDP strategy no other
        self.precision_plugin = CpuFSDPPrecision(plugin.precision)  # type: ignore[arg-type]
        super().setup(trainer)

    def _setup_model(self, model: nn.Module) -> nn.Module:
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel(
            module=model,
            cpu_offload=self.cpu_offload,
            mixed_precision=self.mixed_precision_config,
            sharding_strategy=self.sharding_strategy,
            device_id=torch.device("cpu"),
            **self.kwargs,
        )

    def lightning_module_state_dict(self) -> dict[str, Any]:
        with _full_state_dicts_in_place():
            return super().lightning_module_state_dict()

    def optimizer_state(self, optimizer: Any) -> dict[str, Any]:
        with _full_state_dicts_in_place():
            return super().optimizer_state(optimizer)

    def load_checkpoint(self, checkpoint_path: Any, weights_only: bool | None = None) -> Any:
        with _full_state_dicts_in_place():
            return super().load_checkpoint(checkpoint_path, weights_only)


@contextmanager
def _full_state_dicts_in_place() -> Iterator[None]:
    """Lightning's full state-dict context (``_get_full_state_dict_context``, in the three
    modules that call it) without its ``offload_to_cpu``, for as long as the block runs."""
    import lightning.fabric.strategies.fsdp as fabric_fsdp
    import lightning.fabric.strategies.model_parallel as fabric_model_parallel
    import lightning.pytorch.strategies.fsdp as pytorch_fsdp
    from torch.distributed.fsdp import FullyShardedDataParallel, StateDictType
    from torch.distributed.fsdp.api import FullOptimStateDictConfig, FullStateDictConfig

    def in_place(module: nn.Module, world_size: int, rank0_only: bool = True) -> Any:
        return FullyShardedDataParallel.state_dict_type(
            module,
            StateDictType.FULL_STATE_DICT,
            FullStateDictConfig(offload_to_cpu=False, rank0_only=rank0_only),
            FullOptimStateDictConfig(offload_to_cpu=False, rank0_only=rank0_only),
        )

    modules = (fabric_fsdp, fabric_model_parallel, pytorch_fsdp)
    saved = [m._get_full_state_dict_context for m in modules]  # type: ignore[attr-defined]
    for m in modules:
        m._get_full_state_dict_context = in_place  # type: ignore[attr-defined]
    try:
        yield
    finally:
        for m, original in zip(modules, saved, strict=True):
            m._get_full_state_dict_context = original  # type: ignore[attr-defined]
