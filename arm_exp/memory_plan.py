"""GPU memory plan: what each stage of a pipeline job will hold on its GPU, before it starts.

A paper cell runs explore/synthesize (a vLLM server of the explorer), train (the reward model)
and plan (a vLLM server of the policy beside the reward model scoring on the same GPU) one
after the other in one job, on the GPU(s) the launcher gave it. Finding out at plan time, after
hours of exploration and training, that the scorer does not fit beside vLLM wastes the job; so
``pipeline`` estimates each stage from the composed configs and prints the plan, and refuses to
start a job a stage of which cannot fit (naming the knob), where a GPU is present
(``python -m arm_exp.memory_plan`` prints it anywhere, for every paper cell).

The estimates, in GiB (2**30 bytes), per GPU:

- a vLLM server claims ``--gpu-memory-utilization`` x the GPU's memory (weights + KV cache),
  whatever it needs; its weights (bf16: 2 bytes a parameter; AWQ int4: half a byte for the
  linear layers, with their group-128 scales, and bf16 embeddings) must leave at least
  ``MIN_KV_GIB`` of KV cache inside that share, split by ``--tensor-parallel-size``;
- a reward model's weights: its parameters (no LM head: ``AutoModel``) x the dtype's bytes;
  LoRA adapters and the head in float32 during training, with their gradient and AdamW's two
  moments (16 bytes a trainable parameter);
- training activations for a batch of ``train.data.batch_size`` examples of 1 + K sequences
  (K = the negatives per example the loss takes) of ``reward_model.max_length`` tokens (the
  worst case: every sequence truncated to it), in bf16: per token and layer about
  ``10 h + 4 i`` values (attention inputs and output, the SwiGLU's gate, up, activation and
  product; SDPA keeps attention linear in the length). With gradient checkpointing only each
  layer's input (``h`` values) is kept, plus one layer's activations while it is recomputed;
- scoring activations for ``scorer.max_batch_tokens`` padded tokens (else ``batch_size`` x
  ``max_length``): ``4 h + 2 i`` values a token (no graph is kept under inference mode);
- ``CONTEXT_GIB`` per process for the CUDA context and the allocator's slack.

Measured peaks (``benchmarks/gpu_check.sh`` prints them beside this plan) are the check on
these numbers; no GPU has run this project yet, so they are first estimates (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

GIB = 2**30
CONTEXT_GIB = 1.0  # CUDA context + allocator slack, per process on a GPU
MIN_KV_GIB = 2.0  # a vLLM server with less KV cache than this serves too few sequences
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "auto": 2}


@dataclass(frozen=True)
class Shape:
    """The shape of a real model (what memory and speed depend on)."""

    name: str
    model_type: str  # llama | qwen2 | mistral | phi3
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    def hf_config(self, tiny: bool = False) -> Any:
        """A transformers config of this shape (``tiny``: 2 layers of width 64, same vocabulary),
        for models with random weights (benchmarks/gpu_check.py) and parameter counts."""
        from transformers import AutoConfig

        hidden, inter, layers, heads, kv = (
            (64, 128, 2, 4, 2)
            if tiny
            else (self.hidden, self.intermediate, self.layers, self.heads, self.kv_heads)
        )
        return AutoConfig.for_model(
            self.model_type,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=hidden // heads,
            vocab_size=self.vocab,
            tie_word_embeddings=self.tied,
            max_position_embeddings=8192,
        )

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linear_params(self) -> int:
        """Parameters of the decoder layers' linear maps (what LoRA and AWQ act on)."""
        h, i, d = self.hidden, self.intermediate, self.head_dim
        attn = h * self.heads * d * 2 + h * self.kv_heads * d * 2  # q, o + k, v
        return self.layers * (attn + 3 * h * i)

    def params(self, lm_head: bool) -> int:
        """All parameters: embeddings, layers (norms and biases included), and the LM head if
        asked and not tied to the embeddings."""
        embed = self.vocab * self.hidden
        norms = (2 * self.layers + 1) * self.hidden
        if self.model_type == "qwen2":  # q, k and v have a bias
            norms += self.layers * (self.heads + 2 * self.kv_heads) * self.head_dim
        head = embed if lm_head and not self.tied else 0
        return embed + self.linear_params() + norms + head

    def lora_params(self, r: int, targets: Sequence[str]) -> int:
        """LoRA's A and B (``r x in`` + ``out x r``) on the named projections of every layer."""
        h, i = self.hidden, self.intermediate
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        sizes = {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "down_proj": (i, h),
        }
        return self.layers * sum(r * sum(sizes[t]) for t in targets if t in sizes)


# The backbones our configs name (HF ids), by their published configs.
SHAPES = {
    s.name: s
    for s in (
        Shape("princeton-nlp/Sheared-LLaMA-2.7B", "llama", 2560, 6912, 32, 20, 20, 32000, False),
        Shape("Qwen/Qwen2.5-0.5B-Instruct", "qwen2", 896, 4864, 24, 14, 2, 151936, True),
        Shape("Qwen/Qwen2.5-1.5B-Instruct", "qwen2", 1536, 8960, 28, 12, 2, 151936, True),
        Shape("meta-llama/Llama-3.2-1B-Instruct", "llama", 2048, 8192, 16, 32, 8, 128256, True),
        Shape("meta-llama/Llama-3.2-3B-Instruct", "llama", 3072, 8192, 28, 24, 8, 128256, True),
        Shape("meta-llama/Llama-3.1-8B-Instruct", "llama", 4096, 14336, 32, 32, 8, 128256, False),
        Shape(
            "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
            "llama",
            8192,
            28672,
            80,
            64,
            8,
            128256,
            False,
        ),
        Shape(
            "mistralai/Mistral-7B-Instruct-v0.3", "mistral", 4096, 14336, 32, 32, 8, 32768, False
        ),
        Shape("microsoft/Phi-3.5-mini-instruct", "phi3", 3072, 8192, 32, 32, 32, 32064, False),
    )
}


@dataclass
class Need:
    """One stage's estimate on one GPU: the parts (name -> GiB) and the knobs that shrink it."""

    stage: str
    parts: dict[str, float]
    knobs: str
    notes: str = ""

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def line(self, gpu_gib: float) -> str:
        parts = " + ".join(f"{k} {v:.1f}" for k, v in self.parts.items())
        verdict = "fits" if self.total <= gpu_gib else "DOES NOT FIT"
        note = f"; {self.notes}" if self.notes else ""
        return f"{self.stage}: {self.total:.1f} of {gpu_gib:.1f} GiB ({parts}) {verdict}{note}"


def _arg(args: Sequence[str], flag: str, default: str | None = None) -> str | None:
    """The value of ``flag`` in an argv (its last occurrence counts, as argparse reads it)."""
    found = [i for i, a in enumerate(args[:-1]) if a == flag]
    return str(args[found[-1] + 1]) if found else default


def server_need(stage: str, llm: Any, gpu_gib: float) -> Need | None:
    """A managed vLLM server's share of each of its GPUs, or None for an LLM that is not one
    (a server elsewhere, an in-process CPU model). Its weights must leave ``MIN_KV_GIB`` of KV
    cache inside the share, or the need is reported as the weights + that minimum."""
    managed = llm.get("managed") if hasattr(llm, "get") else None
    if not managed or "command" not in managed:
        return None
    args = [str(a) for a in [*managed["command"], *(managed.get("extra_args") or [])]]
    if "--gpu-memory-utilization" not in args and "vllm" not in " ".join(args):
        return None
    share = float(_arg(args, "--gpu-memory-utilization", "0.9") or 0.9)
    tp = int(_arg(args, "--tensor-parallel-size", "1") or 1)
    shape = SHAPES.get(str(llm.get("model")))
    claim = share * gpu_gib
    notes = f"--gpu-memory-utilization {share}, tensor parallel {tp}"
    if shape is None:
        return Need(stage, {"vLLM share": claim}, "the server's --gpu-memory-utilization", notes)
    awq = (_arg(args, "--quantization") or "").startswith("awq")
    if awq:  # int4 linear layers (+ a 16-bit scale and zero per 128 weights), bf16 embeddings
        weights = shape.linear_params() * (0.5 + 4 / 128) + 2 * (
            shape.params(True) - shape.linear_params()
        )
    else:
        weights = 2 * shape.params(lm_head=True)
    weights_gib = weights / GIB / tp
    kv = claim - weights_gib - CONTEXT_GIB
    notes += f", weights {weights_gib:.1f} GiB per GPU, KV cache {kv:.1f} GiB"
    parts = {"vLLM share": claim}
    if kv < MIN_KV_GIB:
        parts = {"vLLM weights": weights_gib, "min KV cache": MIN_KV_GIB, "context": CONTEXT_GIB}
    return Need(
        stage, parts, "--gpu-memory-utilization / --tensor-parallel-size / llm.managed.count", notes
    )


def reward_model_shape(spec: Any) -> Shape | None:
    return SHAPES.get(str(spec.get("backbone")))


def train_need(spec: Any, batch_size: int, sequences_per_example: int) -> Need | None:
    """Training a decoder reward model on one GPU (DDP: per GPU; FSDP shards the weights)."""
    shape = reward_model_shape(spec)
    if shape is None:
        return None
    width = DTYPE_BYTES.get(str(spec.get("dtype")), 2)
    lora = spec.get("lora")
    trainable = shape.hidden + 1  # the head
    if lora:
        trainable += shape.lora_params(int(lora["r"]), list(lora["targets"]))
        weights = shape.params(False) * width
    else:
        trainable += shape.params(False)
        weights = 0
    tokens = batch_size * sequences_per_example * int(spec.get("max_length"))
    per_layer = tokens * (10 * shape.hidden + 4 * shape.intermediate) * 2
    if spec.get("gradient_checkpointing"):
        acts = tokens * shape.hidden * 2 * shape.layers + per_layer
    else:
        acts = per_layer * shape.layers
    return Need(
        "train",
        {
            "weights": weights / GIB,
            "trainable + grads + AdamW": 16 * trainable / GIB,
            "activations": acts / GIB,
            "context": CONTEXT_GIB,
        },
        "train.data.batch_size / reward_model.max_length / reward_model.gradient_checkpointing",
        f"{tokens} tokens a step ({batch_size} x {sequences_per_example} x {spec.get('max_length')})",
    )


def scorer_need(spec: Any, batch_size: int, max_batch_tokens: int | None) -> dict[str, float]:
    """The reward model scoring on a GPU: weights (LoRA merged or in the base dtype) and one
    forward pass of activations."""
    shape = reward_model_shape(spec)
    if shape is None:
        return {}
    width = DTYPE_BYTES.get(str(spec.get("dtype")), 2)
    lora = spec.get("lora")
    params = shape.params(False) + (
        shape.lora_params(int(lora["r"]), list(lora["targets"])) if lora else 0
    )
    tokens = max_batch_tokens or batch_size * int(spec.get("max_length"))
    acts = tokens * (4 * shape.hidden + 2 * shape.intermediate) * width
    return {
        "RM weights": params * width / GIB,
        "RM activations": acts / GIB,
        "RM context": CONTEXT_GIB,
    }


def plan_job(stages: dict[str, Any], gpu_gib: float) -> list[Need]:
    """The estimate of each GPU stage, from the stages' composed configs (``{stage: cfg}``)."""
    needs: list[Need] = []
    for stage in ("goals", "explore", "synthesize"):
        cfg = stages.get(stage)
        if cfg is None:
            continue
        roles = {"synthesize": ["synthesizer_llm"], "goals": ["synthesizer_llm"]}.get(
            stage, ["explorer_llm"]
        )
        if stage == "explore" and "Alternating" in str(cfg.explorer.get("_target_", "")):
            roles.append("explorer2_llm")  # explorer=llm_pair: both servers run at once
        found = [(r, server_need(stage, cfg.get(r) or cfg.get("llm"), gpu_gib)) for r in roles]
        servers = [(r, s) for r, s in found if s is not None]
        if servers:
            parts: dict[str, float] = {}
            for role, s in servers:
                tag = f" ({role})" if len(servers) > 1 else ""
                parts.update({k + tag: v for k, v in s.parts.items()})
            notes = "; ".join(
                f"{r}: {s.notes}" if len(servers) > 1 else s.notes for r, s in servers
            )
            needs.append(Need(stage, parts, servers[0][1].knobs, notes))
    train = stages.get("train")
    if train is not None and _on_gpu(train.trainer.get("accelerator")):
        negatives = train.train.data.get("negatives_per_example") or (
            4 if "listwise" in str(train.loss.get("_target_", "")).lower() else 1
        )
        need = train_need(train.reward_model, int(train.train.data.batch_size), 1 + int(negatives))
        if need is not None:
            needs.append(need)
    for i, cfg in enumerate(stages.get("plan") or []):
        name = "plan" if len(stages["plan"]) == 1 else f"plan[{i}]"
        server = server_need(name, cfg.llm, gpu_gib) if cfg.get("policy") else None
        parts = dict(server.parts) if server else {}
        notes = server.notes if server else ""
        scorer = cfg.get("scorer") or {}
        if "from_checkpoint" in str(scorer.get("_target_", "")) and _on_gpu(scorer.get("device")):
            rm = stages.get("train")
            if rm is not None:
                parts.update(
                    scorer_need(
                        rm.reward_model, int(scorer["batch_size"]), scorer.get("max_batch_tokens")
                    )
                )
        if parts:
            knobs = "the policy server's --gpu-memory-utilization / scorer.max_batch_tokens / scorer.device"
            needs.append(Need(name, parts, knobs, notes))
    return needs


def _on_gpu(device: Any) -> bool:
    return str(device) in ("auto", "gpu", "cuda") or str(device).startswith("cuda")


def check(needs: Sequence[Need], gpu_gib: float) -> list[str]:
    """One line per stage; raises ``ValueError`` naming the knobs of every stage that cannot fit."""
    lines = [n.line(gpu_gib) for n in needs]
    over = [n for n in needs if n.total > gpu_gib]
    if over:
        raise ValueError(
            "GPU memory plan: "
            + "; ".join(
                f"{n.stage} needs {n.total:.1f} of {gpu_gib:.1f} GiB (lower {n.knobs})"
                for n in over
            )
        )
    return lines


def gpu_memory_gib() -> float | None:
    """The first visible GPU's memory, or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_properties(0).total_memory / GIB


def main(argv: list[str] | None = None) -> None:
    """Print the plan of every paper cell (or of the given overrides) for a GPU of ``--gpu-gib``."""
    from arm_exp.config import compose
    from arm_exp.stages.pipeline import stage_configs

    parser = argparse.ArgumentParser(prog="python -m arm_exp.memory_plan", description=__doc__)
    parser.add_argument(
        "--gpu-gib", type=float, default=79.2, help="memory of one GPU (H100 80GB: 79.2)"
    )
    parser.add_argument(
        "overrides", nargs="*", help="pipeline overrides, e.g. experiment=armap benchmark=webshop"
    )
    args = parser.parse_args(argv)
    cfg = compose("pipeline", args.overrides, set_hydra_config=False)
    needs = plan_job(stage_configs(cfg, args.overrides), args.gpu_gib)
    for line in [n.line(args.gpu_gib) for n in needs]:
        print(line)
    if any(n.total > args.gpu_gib for n in needs):
        raise SystemExit(2)


if __name__ == "__main__":
    main()
