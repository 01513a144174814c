"""The GPU memory plan (arm_exp/memory_plan.py) on the paper's shapes.

The parameter counts are checked against transformers itself (each shape built on the meta
device: no memory, exact counts), the LoRA counts against peft, and every paper cell of
``experiment=armap`` against one 80 GB H100 per job.
"""

from __future__ import annotations

import pytest
import torch

from arm_exp.config import compose
from arm_exp.errors import ConfigError
from arm_exp.memory_plan import SHAPES, check, plan_job, scorer_need
from arm_exp.stages import pipeline

H100_GIB = 79.2  # what torch reports for an H100 80GB (81559 MiB)
PAPER_LLMS = ["llama3_8b_server", "mistral_7b_server"]
PAPER_BENCHMARKS = ["game24", "webshop", "scienceworld_seen", "scienceworld_unseen", "alfworld"]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_parameter_counts_are_those_transformers_builds(name):
    from transformers import AutoModel, AutoModelForCausalLM

    shape = SHAPES[name]
    with torch.device("meta"):
        base = AutoModel.from_config(shape.hf_config())
        lm = AutoModelForCausalLM.from_config(shape.hf_config())
    assert shape.params(lm_head=False) == sum(p.numel() for p in base.parameters())
    assert shape.params(lm_head=True) == sum(p.numel() for p in lm.parameters())


def test_lora_counts_are_those_peft_adds():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModel

    shape = SHAPES["princeton-nlp/Sheared-LLaMA-2.7B"]
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    with torch.device("meta"):
        model = get_peft_model(
            AutoModel.from_config(shape.hf_config()), LoraConfig(r=64, target_modules=targets)
        )
    added = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    assert shape.lora_params(64, targets) == added


def _stages(*overrides: str):
    cfg = compose("pipeline", list(overrides), set_hydra_config=False)
    return pipeline.stage_configs(cfg, list(overrides))


@pytest.mark.parametrize("benchmark", PAPER_BENCHMARKS)
@pytest.mark.parametrize("llm", PAPER_LLMS)
def test_every_paper_cell_fits_one_h100(benchmark, llm):
    needs = plan_job(_stages("experiment=armap", f"benchmark={benchmark}", f"llm={llm}"), H100_GIB)
    assert {n.stage for n in needs} >= {"explore", "synthesize", "train", "plan"}
    lines = check(needs, H100_GIB)
    assert all("fits" in line for line in lines)
    plan = next(n for n in needs if n.stage == "plan")
    assert plan.parts["RM weights"] > 4.5  # Sheared-LLaMA-2.7B in bf16 scores on the GPU


def test_a_cell_that_cannot_fit_is_refused_naming_the_knob(monkeypatch):
    """Today's mistake: the RM beside vLLM at 0.9 with batches of 32 x 4096 tokens."""
    over = ["experiment=armap", "benchmark=webshop", "scorer.max_batch_tokens=null"]
    with pytest.raises(ValueError, match=r"plan needs .* GiB \(lower .*scorer.max_batch_tokens"):
        check(plan_job(_stages(*over), H100_GIB), H100_GIB)
    # A GPU job of the pipeline refuses it before any stage runs (the GPU is simulated).
    monkeypatch.setattr("arm_exp.memory_plan.gpu_memory_gib", lambda: H100_GIB)
    cfg = compose("pipeline", over, set_hydra_config=False)
    with pytest.raises(ConfigError, match=r"GPU memory plan: plan needs"):
        pipeline.memory_plan(cfg, over)
    monkeypatch.setattr("arm_exp.memory_plan.gpu_memory_gib", lambda: None)
    pipeline.memory_plan(cfg, over)  # no GPU here: nothing to plan


def test_training_without_gradient_checkpointing_is_flagged():
    stages = _stages(
        "experiment=armap", "benchmark=webshop", "reward_model.gradient_checkpointing=false"
    )
    with pytest.raises(ValueError, match=r"train needs .*gradient_checkpointing"):
        check(plan_job(stages, H100_GIB), H100_GIB)


def test_the_token_budget_bounds_scoring_activations():
    spec = {"backbone": "princeton-nlp/Sheared-LLaMA-2.7B", "dtype": "bfloat16", "max_length": 4096}
    small = scorer_need(spec, 32, 16384)
    big = scorer_need(spec, 32, None)
    assert big["RM activations"] == pytest.approx(8 * small["RM activations"])
    assert small["RM weights"] == big["RM weights"] == pytest.approx(2 * 2.65e9 / 2**30, rel=0.02)


def test_cpu_defaults_plan_nothing():
    assert plan_job(_stages("experiment=demo_game24"), H100_GIB) == []


def test_the_explorer_pair_shares_the_gpu():
    """explorer=llm_pair (the 70B and the 8B explorer at once) fits one GPU only with the shares
    experiment=armap gives them (extra_args: the last --gpu-memory-utilization counts)."""
    needs = plan_job(_stages("experiment=armap", "benchmark=webshop"), H100_GIB)
    explore = next(n for n in needs if n.stage == "explore")
    assert set(explore.parts) == {"vLLM share (explorer_llm)", "vLLM share (explorer2_llm)"}
    assert explore.parts["vLLM share (explorer_llm)"] == pytest.approx(0.6 * H100_GIB)
    check(needs, H100_GIB)
    at_their_defaults = _stages(
        "experiment=armap",
        "benchmark=webshop",
        "explorer_llm.managed.extra_args=[]",
        "explorer2_llm.managed.extra_args=[]",
    )
    with pytest.raises(ValueError, match=r"explore needs 138\.\d of 79\.2 GiB"):
        check(plan_job(at_their_defaults, H100_GIB), H100_GIB)
