"""arm_exp.devices: ``auto`` devices and dtypes, resolved the same way for every model.

CUDA is simulated (``torch.cuda.is_available``, ``device_count``, ``is_bf16_supported``) so the
GPU answers are checked on a CPU box: 1, 2 and 8 devices, with and without a LOCAL_RANK.
"""

from __future__ import annotations

import pytest
import torch

from arm_exp.devices import resolve_device, resolve_dtype


@pytest.fixture
def gpus(monkeypatch):
    def have(count: int, bf16: bool = True) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return have


def test_cpu_box(gpus):
    gpus(0)
    assert resolve_device("auto") == "cpu" == resolve_device("cpu")
    assert resolve_device("cpu:0") == "cpu:0"
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype("bfloat16", "cpu") == torch.bfloat16  # an explicit dtype is kept
    with pytest.raises(ValueError, match=r"scorer.device='cuda': no CUDA device here"):
        resolve_device("cuda", "scorer.device")


@pytest.mark.parametrize("count", [1, 2, 8])
def test_auto_is_this_process_gpu(gpus, monkeypatch, count):
    gpus(count)
    assert resolve_device("auto") == "cuda:0"
    assert resolve_dtype("auto", resolve_device("auto")) == torch.bfloat16
    # One process per GPU (torchrun, Lightning's DDP, srun): each its own.
    for rank in range(count):
        monkeypatch.setenv("LOCAL_RANK", str(rank))
        assert resolve_device("auto") == f"cuda:{rank}"
    monkeypatch.setenv("LOCAL_RANK", str(count))
    with pytest.raises(ValueError, match=rf"sees {count} CUDA device"):
        resolve_device("auto", "scorer.device")
    assert resolve_device(f"cuda:{count - 1}") == f"cuda:{count - 1}"
    with pytest.raises(ValueError, match=rf"scorer.device='cuda:{count}'"):
        resolve_device(f"cuda:{count}", "scorer.device")


def test_pre_ampere_gpus_get_float32_not_float16(gpus):
    gpus(2, bf16=False)
    assert resolve_dtype("auto", "cuda:1") == torch.float32


def test_bad_names_name_the_key(gpus):
    gpus(0)
    with pytest.raises(ValueError, match=r"llm.device='gpu': expected cpu, cuda, cuda:N or auto"):
        resolve_device("gpu", "llm.device")
    with pytest.raises(ValueError, match=r"reward_model.dtype='fp8'"):
        resolve_dtype("fp8", "cpu", "reward_model.dtype")
