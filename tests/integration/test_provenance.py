"""Nothing skews a comparison silently: a stage refuses an input made on another benchmark, a
reuse is valid only for the same code, a checkpoint carries its lineage wherever it is copied, and
the readers of finished runs (report, notebooks, trackers) keep every run and say what they skip.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from arm_exp.artifacts import load_manifest
from arm_exp.errors import ConfigError
from arm_exp.stages import get, plan, train
from tests.conftest import ROOT, run_stage, wandb_run_of

TINY_TRAIN = ["trainer.max_steps=1", "reward_model.max_length=32", "train.data.batch_size=4",
              "trainer.enable_progress_bar=false"]  # fmt: skip


def test_train_refuses_triplets_of_another_benchmark(triplets_game24, tmp_path):
    # Game of 24 triplets rendered with WebShop's renderer would train a meaningless model.
    out = tmp_path / "train"
    with pytest.raises(ConfigError, match="made on benchmark 'game24' but benchmark=webshop"):
        run_stage(train, "train", ["benchmark=webshop", f"input_dir={triplets_game24}",
                                   *TINY_TRAIN], out)  # fmt: skip
    assert not (out / "manifest.json").exists(), "refused before the run dir is claimed"


def test_plan_refuses_a_reward_model_of_another_benchmark_in_one_line(tiny_rm_ckpt, tmp_path):
    # A copy outside its train run (no manifest beside it): the checkpoint itself says where it
    # comes from.
    copy = shutil.copy(tiny_rm_ckpt, tmp_path / "x.ckpt")
    out = tmp_path / "plan"
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.stages.plan", "benchmark=webshop", "policy=random",
         "planner=best_of_n", "benchmark.planning.best_of_n=2", "limit=1",
         f"rm_ckpt={copy}", f"hydra.run.dir={out}", f"paths.root_dir={ROOT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]  # a ConfigError (arm_exp/errors.py)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("arm-exp plan: error: rm_ckpt=")
    assert "made on benchmark 'game24' but benchmark=webshop" in lines[0]
    assert "benchmark=game24" in lines[0]  # the fix, spelled out
    assert not out.exists(), "a refused run leaves no run dir behind"


def _wandb_blob(run_dir) -> bytes:
    run = wandb_run_of(run_dir)
    return b"".join(p.read_bytes() for p in run.rglob("*") if p.is_file())


def test_plan_tags_name_the_reward_model_and_only_a_used_backbone(tiny_rm_ckpt, tmp_path,
                                                                  monkeypatch):  # fmt: skip
    """Tags are what a backbone comparison groups by: a plan run scored by a reward model
    carries its reward model and loss; a random policy loads no LLM, so no backbone."""
    pytest.importorskip("wandb")
    from arm_exp.artifacts import load_manifest
    from arm_exp.stages import plan

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    out = tmp_path / "plan"
    run_stage(plan, "plan", ["policy=random", "planner=best_of_n", "benchmark.planning.best_of_n=2",
                             "limit=1", "scorer=rm", f"rm_ckpt={tiny_rm_ckpt}", "logger=wandb"],
              out)  # fmt: skip
    tags = load_manifest(out)["tags"]
    for tag in ("plan", "benchmark:game24", "policy:random", "planner:best_of_n", "scorer:rm",
                "reward_model:minilm", "loss:bradley_terry"):  # fmt: skip
        assert tag in tags, tags
    assert not [t for t in tags if t.startswith("backbone:")], tags
    blob = _wandb_blob(out)
    assert b"reward_model:minilm" in blob and b"loss:bradley_terry" in blob
    assert b"backbone:" not in blob


def test_a_copied_checkpoint_keeps_its_lineage_for_plan_and_serve_rm(tiny_rm_ckpt, tmp_path):
    """Renamed and moved away from its train run, a checkpoint still tags the plan run (reward
    model, loss), keys it like the original, and serve-rm's /info shows where it comes from."""
    from arm_exp.reward.scorer import RewardScorer
    from arm_exp.stages.serve_rm import serve

    train_run = load_manifest(tiny_rm_ckpt.parents[1])
    copy = Path(shutil.copy(tiny_rm_ckpt, tmp_path / "renamed.ckpt"))
    args = ["policy=random", "planner=best_of_n", "benchmark.planning.best_of_n=2", "limit=1",
            "scorer=rm"]  # fmt: skip
    run_stage(plan, "plan", [*args, f"rm_ckpt={copy}"], tmp_path / "plan_copy")
    run_stage(plan, "plan", [*args, f"rm_ckpt={tiny_rm_ckpt}"], tmp_path / "plan_orig")
    copied, orig = load_manifest(tmp_path / "plan_copy"), load_manifest(tmp_path / "plan_orig")
    assert copied["counts"]["reward_model"] == "minilm"
    assert copied["counts"]["loss"] == "bradley_terry"
    assert "reward_model:minilm" in copied["tags"] and "loss:bradley_terry" in copied["tags"]
    assert (
        copied["inputs"]["rm_ckpt"]["key"] == train_run["key"] == orig["inputs"]["rm_ckpt"]["key"]
    )
    assert copied["key"] == orig["key"], "the same weights plan the same: one cache entry"

    httpd = serve(RewardScorer.from_checkpoint(copy), port=0)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/info"
        with urllib.request.urlopen(url, timeout=60) as r:
            lineage = json.loads(r.read())["lineage"]
    finally:
        httpd.shutdown()
    triplets = load_manifest(Path(train_run["inputs"]["triplets"]["path"]).parent)
    assert lineage["benchmark"] == "game24" and lineage["split"] == "train"
    assert lineage["triplets_key"] == triplets["key"]
    assert lineage["train_key"] == train_run["key"]
    assert (lineage["reward_model"], lineage["loss"]) == ("minilm", "bradley_terry")
    assert lineage["git_sha"] == train_run["git_sha"]
    assert len(lineage["code_version"]) == 16


PLAN_ORACLE = ["policy=random", "planner=best_of_n", "scorer=oracle", "limit=2",
               "benchmark.planning.best_of_n=2"]  # fmt: skip
EDITED = "arm_exp/planning/best_of_n.py"


def _as_if_edited(run_dir: Path, name: str = EDITED, complete: bool | None = None) -> None:
    """Make ``run_dir``'s record of source file ``name`` differ from the file, as an edit made
    after the run would (the repository itself is shared by the test workers: never edited)."""
    path = run_dir / "manifest.json"
    m = json.loads(path.read_text())
    assert name in m["code"], sorted(m["code"])
    m["code"][name] = "0" * 16
    if complete is not None:
        m["complete"] = complete
    path.write_text(json.dumps(m))


def test_a_run_is_reused_only_by_the_same_code(tmp_path, caplog):
    out = tmp_path / "plan"
    run_stage(plan, "plan", PLAN_ORACLE, out)
    first = load_manifest(out)
    # The modules this run loaded and the conf files it composed, by content hash.
    for name in (EDITED, "arm_exp/stages/plan.py", "conf/plan.yaml", "conf/planner/best_of_n.yaml",
                 "conf/scorer/oracle.yaml"):  # fmt: skip
        assert len(first["code"][name]) == 16, name
    run_stage(plan, "plan", PLAN_ORACLE, out)
    assert load_manifest(out)["finished"] == first["finished"], "same code: reused"

    _as_if_edited(out)
    with caplog.at_level(logging.WARNING):
        run_stage(plan, "plan", PLAN_ORACLE, out)
    again = load_manifest(out)
    assert again["complete"] and again["code"][EDITED] == first["code"][EDITED]
    assert again["started"] >= first["finished"], "recomputed"
    assert f"changed since ({EDITED})" in caplog.text

    _as_if_edited(out)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        run_stage(plan, "plan", [*PLAN_ORACLE, "reuse_across_code_change=true"], out)
    assert load_manifest(out)["finished"] == again["finished"], "explicit opt-in: reused"
    assert "reuse_across_code_change=true" in caplog.text and EDITED in caplog.text


def test_a_run_cut_short_is_not_resumed_by_other_code(tmp_path):
    """Records made by the old code are not mixed with the new code's: a code change starts the
    stage's JSONL afresh; the same code resumes it."""
    out = tmp_path / "plan"
    run_stage(plan, "plan", PLAN_ORACLE, out)
    episodes = out / "episodes.jsonl"

    def cut_short(edit: bool) -> None:
        # an interrupted run: its manifest incomplete, one episode marked as the old run's
        lines = episodes.read_text().splitlines()
        old = json.loads(lines[0])
        old["wall_s"] = 12345.0
        episodes.write_text(json.dumps(old) + "\n")
        if edit:
            _as_if_edited(out, complete=False)
        else:
            m = load_manifest(out)
            (out / "manifest.json").write_text(json.dumps({**m, "complete": False}))

    cut_short(edit=False)
    run_stage(plan, "plan", PLAN_ORACLE, out)
    assert "12345.0" in episodes.read_text(), "the same code resumes the records there"
    cut_short(edit=True)
    run_stage(plan, "plan", PLAN_ORACLE, out)
    assert "12345.0" not in episodes.read_text(), "other code: the records start afresh"
    assert len(episodes.read_text().splitlines()) == 2


def test_an_edit_reruns_exactly_the_pipeline_stages_that_loaded_the_module(tmp_path):
    """A pipeline run again after an edit to planning/best_of_n.py: it runs plan again (and what
    reads plan's output), and reuses explore, synthesize and train, which never load it; each
    stage's record says what it loaded, the pipeline's what its stages loaded."""
    cache, out = tmp_path / "cache", tmp_path / "pipeline"
    args = [sys.executable, "-m", "arm_exp.stages.pipeline", "benchmark=game24",
            "explorer=random", "synthesis=rule", "policy=random", "planner=best_of_n",
            "scorer=rm", "limit=2", "explore.num_per_task=2", "trainer.max_steps=1",
            "reward_model.max_length=32", "train.data.batch_size=4",
            "trainer.enable_progress_bar=false", "benchmark.planning.best_of_n=2",
            f"pipeline.cache_dir={cache}", f"hydra.run.dir={out}", f"paths.root_dir={ROOT}"]  # fmt: skip

    def pipeline() -> dict[str, bool]:
        proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
        return {e["stage"]: e["reused"] for e in load_manifest(out)["counts"]["stages"]}

    assert not any(pipeline().values())
    loaded = {}
    for path in cache.glob("*/*/manifest.json"):
        m = json.loads(path.read_text())
        loaded[m["stage"]] = EDITED in m["code"]
        if loaded[m["stage"]]:
            _as_if_edited(path.parent)
    assert loaded["plan"] and not (loaded["explore"] or loaded["synthesize"] or loaded["train"])
    assert "arm_exp/synthesis/rule.py" in load_manifest(out)["code"], "its stages' code too"
    _as_if_edited(out)
    reused = pipeline()
    assert reused == {stage: not edited for stage, edited in loaded.items()}


def test_data_made_by_other_code_is_another_input(triplets_game24, tmp_path, make_cfg):
    """Train's key includes the code version of the run that made its triplets: triplets that a
    code change made again are not served a reward model trained on the old ones."""
    copy = tmp_path / "triplets"
    shutil.copytree(triplets_game24, copy)
    cfg = make_cfg("train", [f"input_dir={copy}", *TINY_TRAIN], tmp_path / "train")
    before = get("train").key_spec(cfg).key(cfg)
    _as_if_edited(copy, "arm_exp/synthesis/rule.py")
    assert get("train").key_spec(cfg).key(cfg) != before


def test_a_failed_pipeline_keeps_its_log(tmp_path):
    out = tmp_path / "pipeline"
    proc = subprocess.run(
        [sys.executable, "-m", "arm_exp.stages.pipeline", "policy=random", "planner=sampling",
         "pipeline.plan.limit=0", f"pipeline.cache_dir={tmp_path / 'cache'}",
         f"hydra.run.dir={out}", f"paths.root_dir={ROOT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]  # the plan stage refused limit=0: exit 2
    text = (out / "pipeline.log").read_text()
    assert "[pipeline] plan: running" in text
    assert "error: pipeline: stage plan failed" in text and "(command: " in text


def test_a_stage_takes_its_benchmark_from_its_input_unless_one_is_given(tmp_path, make_cfg):
    """`arm-exp synthesize input_dir=<a WebShop exploration>` runs on WebShop; with
    `benchmark=game24` the mismatch is refused as before."""
    from arm_exp.config import choice
    from arm_exp.stages import explore, synthesize
    from arm_exp.stages.lifecycle import benchmark_of_input

    explored = tmp_path / "explore"
    run_stage(explore, "explore", ["benchmark=webshop", "split=train", "limit=1",
                                   "explore.num_per_task=1"], explored)  # fmt: skip
    cfg = make_cfg("synthesize", [f"input_dir={explored}", "synthesis=rule"], tmp_path / "s")
    assert cfg.benchmark.name == "game24"
    cfg = benchmark_of_input(cfg, "synthesize")
    assert cfg.benchmark.name == "webshop" and choice("benchmark") == "webshop"
    assert str(cfg.hydra.runtime.output_dir) == str(tmp_path / "s"), "the same run dir"
    adopted = get("synthesize").key_spec(cfg).key(cfg)
    webshop = make_cfg(
        "synthesize", [f"input_dir={explored}", "synthesis=rule", "benchmark=webshop"]
    )
    assert adopted == get("synthesize").key_spec(webshop).key(webshop), "as if benchmark=webshop"

    given = make_cfg("synthesize", [f"input_dir={explored}", "benchmark=game24"], tmp_path / "g")
    assert benchmark_of_input(given, "synthesize") is given
    with pytest.raises(ConfigError, match="webshop_mini.*benchmark=game24"):
        synthesize.run(given)
