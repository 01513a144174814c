"""Hugging Face sequence-classification folders as reward models.

The folder ``arm-exp export`` writes (:mod:`arm_exp.reward.export`) is what
``AutoModelForSequenceClassification.from_pretrained(folder)`` loads, with one logit
(``num_labels=1``), plus ``arm_exp.json``: how a trajectory becomes the model's input (the
renderer, the token layout, ``max_length``, the head's cap), the validation scores
(calibration), the lineage and the validation metrics. :class:`HFRewardModel` reads such a
folder, or any folder holding a single-logit ``*ForSequenceClassification`` model (a reward
model trained elsewhere), so ``RewardScorer.from_checkpoint``, every planner, ``serve-rm`` and
plan's tags take ``rm_ckpt=<folder>``.

Where a stock class cannot hold our head:

- decoder (SmolLM2, Llama, Qwen: ``*ForSequenceClassification``, stock): its ``score`` layer has
  no bias, ours has a trained one. The bias is ``arm_exp_score_bias`` in ``config.json``:
  reward = logit + bias. Our loader and the ``vllm_pooling`` scorer add it; ranking candidates
  (Best-of-N, MCTS's backed-up values) needs no bias, a threshold does. The tokenizer's pad token
  differs from its eos token (which ends every input: the stock class pools the rightmost
  non-pad token) and pads on the right, so positions count from 0 as in our left-padded forward
  with its position ids;
- encoder (MiniLM): ``BertForSequenceClassification`` pools with a ``tanh`` layer ours never
  trained; the folder ships :mod:`arm_exp.reward.hf_modeling` as custom code (``auto_map``,
  ``trust_remote_code=True`` outside arm-exp; our loader imports the same class without it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from arm_exp.devices import resolve_device, resolve_dtype
from arm_exp.errors import ArtifactError
from arm_exp.reward.model import encode_pairs

SIDECAR = "arm_exp.json"  # arm-exp's description of an exported folder
BIAS_KEY = "arm_exp_score_bias"  # config.json: the decoder head's bias, added to the logit
POOLING_KEY = "arm_exp_pooling"  # config.json: the encoder's pooling (custom code)
CUSTOM_CODE = "hf_modeling"  # the module an encoder folder ships (auto_map)
DEFAULT_MAX_LENGTH = 4096  # a foreign folder's input length (ARMAP's decoders read 4096)
DEFAULT_HEAD_FRACTION = 0.25


def is_hf_folder(path: str | Path) -> bool:
    """Whether ``path`` is a Hugging Face model folder (a dir with ``config.json``)."""
    p = Path(path)
    return p.is_dir() and (p / "config.json").is_file()


def read_sidecar(folder: str | Path) -> dict[str, Any]:
    """``arm_exp.json`` of an exported folder; empty for a folder made elsewhere."""
    p = Path(folder) / SIDECAR
    if not p.is_file():
        return {}
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as e:
        raise ArtifactError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{p}: expected a JSON object")
    return data


def single_logit_config(folder: str | Path) -> Any:
    """The folder's transformers config, or an ArtifactError when it is not a single-logit
    sequence classifier (a causal LM, a 2-label classifier, ...)."""
    from transformers import AutoConfig

    cfg_file = Path(folder) / "config.json"
    try:
        config = AutoConfig.from_pretrained(str(folder))
    except Exception as e:  # noqa: BLE001 - transformers raises many kinds for a bad config
        raise ArtifactError(f"{cfg_file}: not a readable model config ({e})") from None
    archs = list(getattr(config, "architectures", None) or [])
    auto = (getattr(config, "auto_map", None) or {}).get("AutoModelForSequenceClassification")
    if not auto and not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ArtifactError(
            f"{cfg_file}: architectures={archs} is not a *ForSequenceClassification model; a "
            "reward model folder holds a single-logit classifier (`arm-exp export` writes one)"
        )
    if config.num_labels != 1:
        raise ArtifactError(
            f"{cfg_file}: num_labels={config.num_labels} (id2label={config.id2label}); a reward "
            "model is a single-logit classifier (num_labels=1): its logit is the reward"
        )
    if config.pad_token_id is None and not auto:
        raise ArtifactError(
            f"{cfg_file}: no pad_token_id; the classifier pools the last non-pad token, so a "
            "batch needs one (set pad_token_id to a token that is not eos)"
        )
    return config


@dataclass
class FolderSpec:
    """What a folder reward model is (``RewardScorer.info``'s ``spec``)."""

    path: str
    kind: str  # encoder ([CLS] head [SEP] tail [SEP]) or decoder ([bos] head \n tail eos)
    max_length: int
    head_fraction: float
    score_bias: float

    def config(self) -> dict[str, Any]:
        return asdict(self)


class HFRewardModel(nn.Module):
    """A single-logit sequence classifier as a reward model: the interface
    :class:`~arm_exp.reward.scorer.RewardScorer` uses (``encode``, ``collate``, ``forward``).

    Inputs follow the folder's ``arm_exp.json`` (an export's); a foreign folder gets our layout
    with its own special tokens (encoder if its tokenizer has CLS and SEP tokens, else decoder),
    at most ``min(4096, its positions)`` tokens, a quarter of them for the task.

    Args:
        path: the folder.
        device: where it runs (``auto``: this process's GPU, else cpu); bf16 on a GPU that has
            it, else float32.
        weights: load the classifier (False: the tokenizer and template only, for a scorer
            whose forward passes run elsewhere, a vLLM server).
    """

    meta: dict[str, Any]
    spec: FolderSpec

    def __init__(self, path: str | Path, device: str = "cpu", weights: bool = True) -> None:
        super().__init__()
        from transformers import AutoTokenizer

        folder = Path(path)
        config = single_logit_config(folder)
        side = read_sidecar(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(folder))
        if weights:
            device = resolve_device(device, "scorer.device")
            self.classifier = _load_classifier(
                folder, config, resolve_dtype("auto", device, "scorer.device")
            )
        tok = self.tokenizer
        encoder = tok.cls_token_id is not None and tok.sep_token_id is not None
        positions = int(getattr(config, "max_position_embeddings", DEFAULT_MAX_LENGTH))
        self.spec = FolderSpec(
            path=str(folder.resolve()),
            kind=str(side.get("kind") or ("encoder" if encoder else "decoder")),
            max_length=int(side.get("max_length") or min(DEFAULT_MAX_LENGTH, positions)),
            head_fraction=float(side.get("head_fraction") or DEFAULT_HEAD_FRACTION),
            score_bias=float(getattr(config, BIAS_KEY, 0.0) or 0.0),
        )
        self.pad_id = int(config.pad_token_id if config.pad_token_id is not None else 0)
        # What RewardScorer.from_checkpoint reads from a checkpoint's `arm_exp` entry.
        self.meta = {
            "renderer": side.get("renderer") or {},
            "calibration": side.get("calibration") or {},
            "lineage": side.get("lineage") or {},
        }
        self.eval()

    def encode(self, pairs: list[tuple[str, str]]) -> list[list[int]]:
        s = self.spec
        return encode_pairs(self.tokenizer, s.kind, s.max_length, s.head_fraction, pairs)

    def collate(self, seqs: list[list[int]]) -> dict[str, torch.Tensor]:
        """Right padding: positions count from 0 and the classifier finds the last real token."""
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits[:, 0].float() + self.spec.score_bias


def _load_classifier(folder: Path, config: Any, dtype: torch.dtype) -> nn.Module:
    """The folder's classifier: our encoder class (imported, not the folder's copy) or the
    stock class its config names."""
    from transformers import AutoModelForSequenceClassification

    if getattr(config, POOLING_KEY, None) is not None:
        from arm_exp.reward.hf_modeling import MeanPoolBertForSequenceClassification

        return MeanPoolBertForSequenceClassification.from_pretrained(str(folder), dtype=dtype)
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(folder), dtype=dtype)
    except Exception as e:  # noqa: BLE001 - e.g. a folder that needs remote code
        raise ArtifactError(f"{folder}: cannot load the classifier ({e})") from None
