"""``arm-exp export``: a reward-model checkpoint as a Hugging Face folder.

``arm-exp export rm_ckpt=<checkpoint or train run dir>`` writes ``<run dir>/model/``: what
``AutoModelForSequenceClassification.from_pretrained(folder)`` loads with one logit (LoRA
merged, the head kept, the tokenizer with its pad token and padding side, ``arm_exp.json`` with
the input template, lineage and validation metrics, a model card), or with
``export.adapter=true`` a PEFT adapter folder. The format: :mod:`arm_exp.reward.export` and
:mod:`arm_exp.reward.hf`. ``rm_ckpt=<run dir>/model`` then scores with it in any stage, and
``vllm serve <run dir>/model --runner pooling`` serves it (``scorer=vllm_pooling``).

Metrics: ``export/params``, ``export/score_bias`` (the head's bias, ``arm_exp_score_bias`` in
``config.json``) and ``export/max_abs_diff``: the largest reward difference between the
checkpoint and the written folder on a few probe inputs (the folder is refused above 1e-3).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from arm_exp.config import require
from arm_exp.reward.export import export
from arm_exp.reward.scorer import resolve_checkpoint
from arm_exp.stages.base import Stage
from arm_exp.stages.record import StageRecord

FOLDER = "model"


def inputs(cfg: DictConfig) -> dict[str, Path]:
    """The checkpoint (keyed by its train run's key)."""
    require(cfg, "rm_ckpt")
    return {"rm_ckpt": resolve_checkpoint(cfg.rm_ckpt)}


def run(cfg: DictConfig) -> dict[str, float]:
    spec = STAGE.key_spec(cfg)
    stage = StageRecord(cfg, STAGE, spec)
    if stage.done:
        return stage.previous_metrics()
    metrics = export(spec.inputs["rm_ckpt"], stage.dir / FOLDER, adapter=bool(cfg.export.adapter))
    stage.record_code()
    return stage.finish(metrics)


def show(cfg: DictConfig, metrics: dict[str, float]) -> str:
    folder = Path(cfg.paths.output_dir) / FOLDER
    diff = metrics.get("export/max_abs_diff")
    check = "" if diff is None else f", max |reward difference| {diff:.1e}"
    return f"exported {metrics['export/params']:.0f} parameters to {folder}{check}"


STAGE = Stage(
    name="export",
    run=run,
    reads=("rm_ckpt", "export"),
    key=("export",),
    inputs=inputs,
    unkeyed={"rm_ckpt": "an input: keyed by its train run's key"},
    artifacts=(f"{FOLDER}/config.json",),
    show=show,
)

if __name__ == "__main__":
    STAGE.main()
