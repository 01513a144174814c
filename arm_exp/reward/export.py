"""A reward-model checkpoint as a Hugging Face folder (``arm-exp export``).

:func:`export` writes what ``AutoModelForSequenceClassification.from_pretrained(folder)`` loads
with ``num_labels=1`` (the layout and the head's two special cases: :mod:`arm_exp.reward.hf`):

- the weights in float32, LoRA merged into the base by :meth:`RewardModel.merge_lora`, the one
  merge the scorer uses too; the head as the classifier's ``score`` layer;
- the tokenizer with an explicit pad token (not eos, which ends every input) and its padding
  side (right);
- ``arm_exp.json``: the renderer and token layout (how a trajectory becomes input ids, so that
  others can reproduce them), the validation scores, the checkpoint's lineage and the train
  run's validation metrics; ``README.md``: a model card saying the same for people.

``adapter=True`` keeps LoRA apart instead: a PEFT adapter folder (``adapter_config.json``,
task ``SEQ_CLS``, the head saved whole as ``modules_to_save``) over the unmodified backbone
named in ``base_model_name_or_path``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from arm_exp.artifacts import atomic_write_json, atomic_write_text, read_json
from arm_exp.errors import ArtifactError
from arm_exp.reward.hf import (
    BIAS_KEY,
    CUSTOM_CODE,
    POOLING_KEY,
    SIDECAR,
    HFRewardModel,
    is_hf_folder,
)
from arm_exp.reward.model import RewardModel
from arm_exp.reward.scorer import load_checkpoint, resolve_checkpoint

FORMAT_VERSION = 1
# Inputs the export scores with the checkpoint and with the written folder (different lengths,
# so that padding is exercised): the folder must give the same rewards.
PROBES = [
    ("User: put the cup in the sink", "Agent: go to sink\nUser: Did it work?"),
    ("User: 4 7 8 8", "Agent: 7 - 4 = 3\nObservation: 3 8 8\nAgent: 8 * 3 = 24\nUser: Done?"),
    ("User: buy a red shirt under 20 dollars\n" + "shirts " * 30, "Agent: search[red shirt]"),
]
TOLERANCE = 1e-3  # |reward difference| above which the folder is refused (float32: ~1e-6)


def export(ckpt: str | Path, out: str | Path, adapter: bool = False) -> dict[str, float]:
    """Write ``ckpt`` (an ``arm-exp train`` checkpoint or run dir) as a folder at ``out``
    (:func:`write_folder`)."""
    ckpt_path = resolve_checkpoint(ckpt)
    if is_hf_folder(ckpt_path):
        raise ArtifactError(f"rm_ckpt={ckpt}: already a Hugging Face folder, nothing to export")
    model, meta = load_checkpoint(ckpt_path, "cpu", dtype="float32")
    if adapter and not model.spec.lora:
        raise ArtifactError(f"export.adapter=true: {ckpt_path} has no LoRA adapters to keep apart")
    return write_folder(model, meta, out, adapter, ckpt_path)


def write_folder(
    model: RewardModel,
    meta: dict[str, Any],
    out: str | Path,
    adapter: bool = False,
    ckpt_path: Path | None = None,
) -> dict[str, float]:
    """Write a float32 reward model (LoRA not merged yet) and its checkpoint entry ``meta``
    (renderer, calibration, lineage) as a folder at ``out``, replaced atomically (a reader
    never sees half a folder). Returns ``export/params``, ``export/score_bias`` and, for a
    merged folder, ``export/max_abs_diff``: the largest reward difference between the model
    and the folder on a few probe inputs."""
    model.eval()
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    bias = float(model.head.bias.detach().float().item())
    tokenizer = model.tokenizer
    if model.spec.kind == "decoder":
        tokenizer = _decoder_tokenizer(model)
    tokenizer.padding_side = "right"
    if adapter:
        params = _write_adapter(model, tokenizer, tmp)
    else:
        params = _write_merged(model, tokenizer, tmp)
    tokenizer.save_pretrained(str(tmp))
    metrics = {"export/params": float(params), "export/score_bias": bias}
    side = _sidecar(model, meta, ckpt_path, adapter, bias, tokenizer)
    atomic_write_json(tmp / SIDECAR, side)
    atomic_write_text(tmp / "README.md", model_card(side))
    if not adapter:
        metrics["export/max_abs_diff"] = _verify(model, tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return metrics


def _decoder_tokenizer(model: RewardModel) -> Any:
    """The decoder's tokenizer with a pad token that is not eos: every input ends with eos and
    the stock classifier pools the rightmost token that is not the pad token."""
    tok = model.tokenizer
    if tok.pad_token_id is not None and tok.pad_token_id != tok.eos_token_id:
        return tok
    specials = {tok.eos_token_id, tok.bos_token_id}
    vocab = tok.get_vocab()
    for name in ("<|endoftext|>", "<pad>", "<|finetune_right_pad_id|>", tok.unk_token):
        if name and name in vocab and vocab[name] not in specials:
            tok.pad_token = name
            return tok
    raise ArtifactError(
        f"{model.spec.path()}: the tokenizer has no special token to pad with besides eos "
        f"({tok.eos_token!r}); the exported classifier needs one"
    )


def _classifier_config(model: RewardModel, pad_id: int) -> Any:
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model.spec.path())
    config.num_labels = 1
    config.pad_token_id = pad_id
    config.architectures = None
    return config


def _write_merged(model: RewardModel, tokenizer: Any, folder: Path) -> int:
    """Merged weights + head as a sequence classifier; returns its parameter count."""
    from transformers import AutoModelForSequenceClassification

    model.merge_lora()
    config = _classifier_config(model, int(tokenizer.pad_token_id))
    if model.spec.kind == "decoder":
        setattr(config, BIAS_KEY, float(model.head.bias.item()))
        classifier = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
        base = getattr(classifier, classifier.base_model_prefix)
        base.load_state_dict(model.backbone.state_dict())
        classifier.score.weight.data.copy_(model.head.weight.data)
    else:
        from arm_exp.reward import hf_modeling

        setattr(config, POOLING_KEY, model.spec.pooling)
        cls = hf_modeling.MeanPoolBertForSequenceClassification
        config.auto_map = {"AutoModelForSequenceClassification": f"{CUSTOM_CODE}.{cls.__name__}"}
        classifier = cls(config)
        classifier.bert.load_state_dict(model.backbone.state_dict())
        classifier.score.load_state_dict(model.head.state_dict())
        shutil.copy(hf_modeling.__file__, folder / f"{CUSTOM_CODE}.py")
    classifier.config.architectures = [type(classifier).__name__]
    classifier.save_pretrained(str(folder))
    return sum(p.numel() for p in classifier.parameters())


def _write_adapter(model: RewardModel, tokenizer: Any, folder: Path) -> int:
    """LoRA kept as a PEFT adapter (task SEQ_CLS, ``score`` in ``modules_to_save``) over the
    backbone's own folder; returns the adapter's parameter count."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    lora = model.spec.lora
    assert lora is not None  # checked by export()
    config = _classifier_config(model, int(tokenizer.pad_token_id))
    base = AutoModelForSequenceClassification.from_pretrained(
        model.spec.path(), config=config, dtype=torch.float32
    )
    peft_model = get_peft_model(
        base,
        LoraConfig(
            task_type="SEQ_CLS",
            r=lora["r"],
            lora_alpha=lora["alpha"],
            lora_dropout=lora["dropout"],
            target_modules=lora["targets"],
            modules_to_save=["score"],
        ),
    )
    ours = {k: v for k, v in model.backbone.state_dict().items() if "lora_" in k}
    prefix = f"base_model.model.{base.base_model_prefix}."
    theirs = {prefix + k[len("base_model.model.") :]: v for k, v in ours.items()}
    missing = [k for k in theirs if k not in peft_model.state_dict()]
    if missing:
        raise ArtifactError(f"PEFT export: no parameter {missing[0]} in the adapter model")
    peft_model.load_state_dict(theirs, strict=False)
    classifier: Any = peft_model.base_model.model
    score = classifier.score.modules_to_save["default"]
    score.weight.data.copy_(model.head.weight.data)
    peft_model.save_pretrained(str(folder))
    return sum(v.numel() for v in theirs.values()) + score.weight.numel()


def _sidecar(
    model: RewardModel,
    meta: dict[str, Any],
    ckpt_path: Path | None,
    adapter: bool,
    bias: float,
    tokenizer: Any,
) -> dict[str, Any]:
    spec = model.spec
    layout = (
        "[CLS] head [SEP] tail [SEP]"
        if spec.kind == "encoder"
        else ("bos " if getattr(tokenizer, "add_bos_token", False) else "") + "head \\n tail eos"
    )
    return {
        "format_version": FORMAT_VERSION,
        "kind": spec.kind,
        "pooling": spec.pooling,
        "adapter": adapter,
        "base_model": spec.backbone or spec.package,
        "renderer": meta["renderer"],
        "layout": layout,
        "max_length": spec.max_length,
        "head_fraction": spec.head_fraction,
        "head_cap": max(1, int(spec.max_length * spec.head_fraction)),
        "pad_token": tokenizer.pad_token,
        "padding_side": "right",
        "score_bias": bias,
        "calibration": meta.get("calibration") or {},
        "lineage": meta.get("lineage") or {},
        "validation": validation_metrics(ckpt_path) if ckpt_path else {},
        "checkpoint": str(ckpt_path.resolve()) if ckpt_path else None,
    }


def validation_metrics(ckpt_path: Path) -> dict[str, float]:
    """The ``rm/val/*`` metrics of the train run that wrote the checkpoint (its run dir's
    ``metrics.json``, found up to two levels above it); empty for a checkpoint moved elsewhere."""
    for d in list(ckpt_path.parents)[:3]:
        if (d / "metrics.json").is_file():
            data = read_json(d / "metrics.json")
            return {k: float(v) for k, v in data.items() if k.startswith("rm/val/")}
    return {}


def _verify(model: RewardModel, folder: Path) -> float:
    """The largest reward difference between the (merged, float32) checkpoint model and the
    folder, as our loader reads it, on :data:`PROBES`; refuses a folder off by more than
    :data:`TOLERANCE`."""
    loaded = HFRewardModel(folder, "cpu")
    with torch.inference_mode():
        ours = model(**model.collate(model.encode(PROBES))).tolist()
        theirs = loaded(**loaded.collate(loaded.encode(PROBES))).tolist()
    diff = max(abs(a - b) for a, b in zip(ours, theirs, strict=True))
    if diff > TOLERANCE:
        raise ArtifactError(
            f"{folder}: the exported model's rewards differ from the checkpoint's by {diff:.2e} "
            f"(> {TOLERANCE}) on the probe inputs"
        )
    return diff


def model_card(side: dict[str, Any]) -> str:
    """README.md of the folder: what it is, how to load it, its inputs, lineage and metrics."""
    lineage = side["lineage"]
    decoder = side["kind"] == "decoder"
    remote = "" if decoder else ", trust_remote_code=True"
    if side["adapter"]:
        load = (
            "from peft import PeftModel\n"
            "from transformers import AutoModelForSequenceClassification\n"
            f'base = AutoModelForSequenceClassification.from_pretrained("{side["base_model"]}",'
            " num_labels=1)\n"
            'model = PeftModel.from_pretrained(base, "<this folder>")'
        )
    else:
        load = (
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer\n"
            f'model = AutoModelForSequenceClassification.from_pretrained("<this folder>",'
            f" num_labels=1{remote})\n"
            'tokenizer = AutoTokenizer.from_pretrained("<this folder>")'
        )
    bias = (
        f"reward = logit + {side['score_bias']:.6g} (`{BIAS_KEY}` in config.json: the trained "
        "head's bias, which the stock `score` layer lacks; ranking needs no bias, thresholds do)"
        if decoder
        else "reward = logit (the head and its mean pooling ship as custom code, hf_modeling.py)"
    )
    rows = "\n".join(f"| {k} | {v} |" for k, v in lineage.items()) or "| (none) | |"
    vals = "\n".join(f"| {k} | {v:.4f} |" for k, v in side["validation"].items()) or "| (none) | |"
    return f"""---
library_name: {"peft" if side["adapter"] else "transformers"}
tags: [reward-model, arm-exp, armap]
pipeline_tag: text-classification
---

# Reward model exported by arm-exp

{"A decoder" if decoder else "An encoder"} reward model (ARMAP: automatic reward modeling and planning), trained by
`arm-exp train` and written by `arm-exp export`. It reads a task and an agent's trajectory and
returns one logit: higher means more likely to accomplish the task.

```python
{load}
```

{bias}.

## Inputs

Text (from `arm_exp.json`'s `renderer`): the head is `User: <intent>` and the first observation;
the tail the agent's turns (`Agent: ...`, `Observation: ...`) and a closing question. Token ids:
`{side["layout"]}`, at most {side["max_length"]} tokens; the head is cut to its first
{side["head_cap"]} tokens and the tail keeps its end. Pad token `{side["pad_token"]}`, padding
on the {side["padding_side"]}. `arm_exp.reward.model.encode_pairs` builds these ids; a
tokenizer's own pair encoding does not (its truncation keeps the tail's start).

## Lineage

| key | value |
|---|---|
{rows}

## Validation

| metric | value |
|---|---|
{vals}

{json.dumps({"validation_scores": {k: len(v) for k, v in side["calibration"].items()}})}
"""
