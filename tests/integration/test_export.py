"""``arm-exp export`` for real: both backbones, loaded as the model card says, score as the
checkpoint does; an exported (or any single-logit) folder is a reward model everywhere.

The checkpoints are the session's ``tiny_rm_ckpt`` (MiniLM) and ``tiny_decoder_rm_ckpt``
(SmolLM2-135M with LoRA, its head's bias moved away from 0). Scores are compared on the triplets' own
trajectories, several lengths in one batch (so the folder's right padding is exercised).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import urllib.request

import pytest
import torch

from arm_exp.errors import ArtifactError
from arm_exp.reward.hf import SIDECAR
from arm_exp.reward.model import encode_pairs
from arm_exp.reward.render import Renderer
from arm_exp.reward.scorer import RewardScorer
from arm_exp.stages import export
from arm_exp.types import Triplet, to_dict
from tests.conftest import run_stage

TOL = 1e-4


@pytest.fixture(scope="module")
def pairs(triplets_game24):
    lines = (triplets_game24 / "triplets.jsonl").read_text().splitlines()[:6]
    trips = [Triplet.from_dict(json.loads(x)) for x in lines]
    trajs = [t for tr in trips for t in (tr.positive, tr.negative)]
    # Short ones beside the truncated ones: a batch of several lengths, so padding matters.
    short = {"intent": "24", "initial_observation": ""}
    trajs += [dataclasses.replace(t, **short, steps=t.steps[:1]) for t in trajs[:2]]
    trajs += [dataclasses.replace(t, **short, steps=[]) for t in trajs[:2]]
    return [t.intent for t in trajs], trajs


def _export(tmp_path, ckpt, *extra):
    m = run_stage(export, "export", [f"rm_ckpt={ckpt}", *extra], tmp_path / "export")
    return tmp_path / "export" / export.FOLDER, m


@pytest.fixture(scope="module")
def decoder_export(tmp_path_factory, tiny_decoder_rm_ckpt):
    return _export(tmp_path_factory.mktemp("decoder_export"), tiny_decoder_rm_ckpt)


def _documented_scores(folder, intents, trajs, **load_kw):
    """What the model card says: ids by ``encode_pairs`` with ``arm_exp.json``'s settings, the
    tokenizer's padding, the logit plus ``arm_exp_score_bias``."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    side = json.loads((folder / SIDECAR).read_text())
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1, **load_kw)
    renderer = Renderer(**side["renderer"])
    rendered = [renderer.render(i, t) for i, t in zip(intents, trajs, strict=True)]
    ids = encode_pairs(tok, side["kind"], side["max_length"], side["head_fraction"], rendered)
    assert len({len(x) for x in ids}) > 1  # padded rows in the batch
    batch = tok.pad({"input_ids": ids}, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (len(ids), 1)
    bias = getattr(model.config, "arm_exp_score_bias", 0.0)
    return (logits[:, 0] + bias).tolist(), model, tok


def test_minilm_exports_with_its_mean_pool_head_as_custom_code(tiny_rm_folder, tiny_rm_ckpt, pairs):
    folder = tiny_rm_folder
    m = json.loads((folder.parent / "metrics.json").read_text())
    intents, trajs = pairs
    reference = RewardScorer.from_checkpoint(tiny_rm_ckpt).score(intents, trajs)
    ours, model, tok = _documented_scores(folder, intents, trajs, trust_remote_code=True)
    assert type(model).__name__ == "MeanPoolBertForSequenceClassification"
    assert (folder / "hf_modeling.py").is_file()
    assert max(abs(a - b) for a, b in zip(ours, reference, strict=True)) < TOL
    assert tok.pad_token == "[PAD]" and tok.padding_side == "right"
    assert m["export/max_abs_diff"] < TOL
    # The folder as a reward model: same scores, same lineage, no remote code needed.
    folder_scorer = RewardScorer.from_checkpoint(folder)
    assert folder_scorer.score(intents, trajs) == pytest.approx(reference, abs=TOL)
    assert folder_scorer.lineage == RewardScorer.from_checkpoint(tiny_rm_ckpt).lineage != {}


def test_decoder_exports_as_a_stock_classifier_with_its_bias_in_the_config(
    decoder_export, tiny_decoder_rm_ckpt, pairs
):
    folder, m = decoder_export
    intents, trajs = pairs
    ckpt_scorer = RewardScorer.from_checkpoint(tiny_decoder_rm_ckpt)
    reference = ckpt_scorer.score(intents, trajs)
    ours, model, tok = _documented_scores(folder, intents, trajs)
    assert type(model).__name__ == "LlamaForSequenceClassification"
    assert max(abs(a - b) for a, b in zip(ours, reference, strict=True)) < TOL
    # The head's bias is trained (not 0) and recorded, the pad token is not eos.
    config = json.loads((folder / "config.json").read_text())
    assert config["arm_exp_score_bias"] == pytest.approx(m["export/score_bias"])
    assert m["export/score_bias"] == pytest.approx(0.75)
    assert config["pad_token_id"] == tok.pad_token_id != tok.eos_token_id
    assert tok.padding_side == "right"
    side = json.loads((folder / SIDECAR).read_text())
    assert side["lineage"] == ckpt_scorer.lineage and side["lineage"]["reward_model"]
    assert "rm/val/pair_acc" in side["validation"]
    card = (folder / "README.md").read_text()
    assert "arm_exp_score_bias" in card and side["lineage"]["train_key"] in card
    assert RewardScorer.from_checkpoint(folder).score(intents, trajs) == pytest.approx(
        reference, abs=TOL
    )


def test_decoder_exports_as_a_peft_adapter_with_the_head_in_modules_to_save(
    tmp_path, tiny_decoder_rm_ckpt, pairs
):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder, m = _export(tmp_path, tiny_decoder_rm_ckpt, "export.adapter=true")
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS" and "score" in adapter["modules_to_save"]
    tok = AutoTokenizer.from_pretrained(folder)
    base = AutoModelForSequenceClassification.from_pretrained(
        adapter["base_model_name_or_path"], num_labels=1, pad_token_id=tok.pad_token_id
    )
    model = PeftModel.from_pretrained(base, folder).eval()
    side = json.loads((folder / SIDECAR).read_text())
    intents, trajs = pairs
    rendered = [
        Renderer(**side["renderer"]).render(i, t) for i, t in zip(intents, trajs, strict=True)
    ]
    ids = encode_pairs(tok, "decoder", side["max_length"], side["head_fraction"], rendered)
    with torch.inference_mode():
        logits = model(**tok.pad({"input_ids": ids}, return_tensors="pt")).logits[:, 0]
    reference = RewardScorer.from_checkpoint(tiny_decoder_rm_ckpt).score(intents, trajs)
    assert (logits + side["score_bias"]).tolist() == pytest.approx(reference, abs=TOL)


def test_a_folder_that_is_not_a_single_logit_classifier_is_refused(tmp_path, tiny_rm_folder):
    folder = tiny_rm_folder
    two = tmp_path / "two_labels"
    shutil.copytree(folder, two)
    config = json.loads((two / "config.json").read_text())
    config["id2label"] = {"0": "bad", "1": "good"}
    config["label2id"] = {"bad": 0, "good": 1}
    (two / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"config.json: num_labels=2 .*single-logit"):
        RewardScorer.from_checkpoint(two)
    causal = tmp_path / "causal"
    causal.mkdir()
    config.update(architectures=["BertLMHeadModel"], id2label={"0": "x"}, label2id={"x": 0})
    del config["auto_map"]
    (causal / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtifactError, match=r"BertLMHeadModel.*not a \*ForSequenceClassification"):
        RewardScorer.from_checkpoint(causal)


def test_an_exported_folder_plans_serves_and_tags_like_its_checkpoint(
    tmp_path, tiny_rm_folder, tiny_rm_ckpt, pairs
):
    from arm_exp.stages import plan
    from arm_exp.stages.serve_rm import serve as serve_rm

    folder = tiny_rm_folder
    m = run_stage(
        plan,
        "plan",
        ["policy=random", "planner=best_of_n", "planner.n=3", "limit=2", f"rm_ckpt={folder}"],
        tmp_path / "plan",
    )
    assert m["plan/test/n_tasks"] == 2 and m["plan/test/rm_items"] > 0
    manifest = json.loads((tmp_path / "plan" / "manifest.json").read_text())
    lineage = RewardScorer.from_checkpoint(tiny_rm_ckpt).lineage
    assert f"reward_model:{lineage['reward_model']}" in manifest["tags"]
    assert manifest["inputs"]["rm_ckpt"]["key"] == lineage["train_key"]
    scorer = RewardScorer.from_checkpoint(folder)
    httpd = serve_rm(scorer, port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    intents, trajs = pairs
    body = {"intents": intents[:2], "trajectories": [to_dict(t) for t in trajs[:2]]}
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        req = urllib.request.Request(f"{url}/score", json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=60) as r:
            scores = json.loads(r.read())["scores"]
        with urllib.request.urlopen(f"{url}/info", timeout=60) as r:
            info = json.loads(r.read())
    finally:
        httpd.shutdown()
    reference = RewardScorer.from_checkpoint(tiny_rm_ckpt).score(intents[:2], trajs[:2])
    assert scores == pytest.approx(reference, abs=TOL)
    assert info["lineage"] == lineage and info["spec"]["path"] == str(folder.resolve())


def test_trl_takes_a_training_step_on_the_exported_decoder(
    tmp_path, decoder_export, triplets_game24
):
    """TRL's RewardTrainer continues training the exported folder (the backbone frozen to keep
    the step cheap: the score head moves, everything loads and runs as TRL expects)."""
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    folder, _ = decoder_export
    side = json.loads((folder / SIDECAR).read_text())
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("score.")
    before = model.score.weight.detach().clone()
    lines = (triplets_game24 / "triplets.jsonl").read_text().splitlines()[:4]
    trips = [Triplet.from_dict(json.loads(x)) for x in lines]
    renderer = Renderer(**side["renderer"])

    def ids(trajs):
        rendered = [renderer.render(t.intent, t) for t in trajs]
        return encode_pairs(tok, "decoder", side["max_length"], side["head_fraction"], rendered)

    data = Dataset.from_dict(
        {
            "chosen_ids": ids([t.positive for t in trips]),
            "rejected_ids": ids([t.negative for t in trips]),
        }
    )
    config = RewardConfig(
        output_dir=str(tmp_path / "trl"),
        per_device_train_batch_size=2,
        max_steps=1,
        learning_rate=1e-2,
        use_cpu=True,
        max_length=side["max_length"],
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        logging_steps=1,
    )
    trainer = RewardTrainer(model=model, args=config, train_dataset=data, processing_class=tok)
    out = trainer.train()
    assert trainer.state.global_step == 1 and out.training_loss > 0
    assert not torch.equal(model.score.weight.detach(), before)
