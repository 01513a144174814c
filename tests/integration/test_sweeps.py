"""Multirun sweeps for real: launchers, failing jobs, resume, W&B offline, notebooks, Optuna.

Fast: a joblib sweep on Game of 24 (random policy, 2 puzzles) with a job that fails, its re-launch
(finished jobs skipped), `report` over the sweep dir; W&B offline run contents; both notebooks
executed against a small sweep; the plugin hint; a pipeline sweep whose shared stages run first.
Slow: submitit_local, kill-and-resume, Optuna, a 16-job pipeline array idle with Hydra's basic
sweeper and not with ours, and the CPU smoke run of every Game of 24 experiment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arm_exp.artifacts import is_complete, load_manifest
from tests.conftest import ROOT, run_stage, wandb_records, wandb_run_of
from tests.integration.interrupt import start, stop_after_jobs, wait_stopped

PLAN = ["benchmark=game24", "policy=random", "limit=2", "benchmark.planning.best_of_n=4"]


def arm_exp(*args: str, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """``arm-exp <args>`` in a subprocess from the repo root (as a user would run it)."""
    return subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", *args, f"paths.root_dir={ROOT}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "ARM_EXP_JOBS": "2", **(env or {})},
    )


def plan_runs(sweep: Path) -> dict[str, dict]:
    return {
        d.name: load_manifest(d) for d in sorted(sweep.iterdir()) if (d / "manifest.json").exists()
    }


def test_joblib_sweep_survives_a_failing_job_and_resumes(tmp_path):
    sweep = tmp_path / "sweep"
    # best_of_n with scorer=none is refused: that job fails, the other three must not be lost.
    t0 = time.perf_counter()
    first = arm_exp(
        "plan", "-m", "planner=sampling,best_of_n", "scorer=oracle,none", *PLAN,
        "launcher=joblib", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    first_s = time.perf_counter() - t0
    assert first.returncode != 0, first.stdout[-2000:]
    assert "needs a scorer" in first.stderr
    runs = plan_runs(sweep)
    done = sorted(name for name, m in runs.items() if m["complete"])
    assert len(done) == 3, (runs.keys(), first.stderr[-3000:])
    # Dirs are named by the job's overrides.
    assert all("planner=" in n and "scorer=" in n for n in done)
    assert not any("planner=best_of_n" in n and "scorer=none" in n for n in done)
    keys = {n: runs[n]["key"] for n in done}
    finished = {n: runs[n]["finished"] for n in done}

    # Re-launched (another order, the broken job dropped): every finished job is skipped.
    t0 = time.perf_counter()
    again = arm_exp(
        "plan", "-m", "scorer=none,oracle", "planner=sampling", *PLAN,
        "launcher=joblib", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    again_s = time.perf_counter() - t0
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("nothing to do") + again.stdout.count("nothing to do") == 2
    runs = plan_runs(sweep)
    for n in done:  # untouched: still complete, same key, same finish time
        assert runs[n]["complete"] and runs[n]["key"] == keys[n]
        assert runs[n]["finished"] == finished[n]
    print(f"joblib sweep: 4 jobs {first_s:.1f} s; re-launch of 2 finished jobs {again_s:.1f} s")

    report = arm_exp("report", f"input_dir={sweep}", f"hydra.run.dir={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr[-3000:]
    rows = (tmp_path / "report" / "report.csv").read_text().strip().splitlines()
    # sampling uses no scorer: its scorer=none and scorer=oracle jobs are one configuration
    assert len(rows) == 1 + 2


def test_a_sweeps_stdout_labels_each_jobs_metric_block(tmp_path):
    out = arm_exp("plan", "-m", "planner=sampling,greedy", "scorer=none", *PLAN,
                  f"hydra.sweep.dir={tmp_path / 'sweep'}")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    blocks = out.stdout.split("== plan job ")[1:]
    assert len(blocks) == 2
    for num, (block, planner) in enumerate(zip(blocks, ("sampling", "greedy"), strict=True)):
        label = block.splitlines()[0]  # the job's number and overrides
        assert label.startswith(f"#{num} ") and f"planner={planner}" in label, label
        assert "plan/test/success_rate" in block  # the job's own metrics, under its label
        [where] = [line for line in block.splitlines() if line.startswith("-> ")]
        assert f"planner={planner}," in where  # its own run dir


def test_missing_plugin_gives_the_install_hint(monkeypatch):
    from arm_exp import sweeps
    from arm_exp.config import CONF_DIR

    sweeps.check_plugins(["launcher=basic", "planner=mcts"], CONF_DIR)  # nothing to check
    monkeypatch.setattr(sweeps, "_importable", lambda module: False)
    for override, extra in [
        ("launcher=joblib", "[sweeps]"),
        ("launcher=submitit_slurm", "[sweeps]"),
        ("hparams_search=optuna", "[sweeps]"),
        ("launcher=ray", "[ray]"),
    ]:
        with pytest.raises(sweeps.PluginMissing, match=re_escape(f"pip install -e '.{extra}'")):
            sweeps.check_plugins([override], CONF_DIR)


def re_escape(text: str) -> str:
    import re

    return re.escape(text)


def test_job_dir_names_are_safe_and_bounded(tmp_path):
    from arm_exp.sweeps import MAX_JOB_DIR, job_dir

    assert job_dir("planner=mcts,scorer=rm", 3) == "planner=mcts,scorer=rm"
    assert job_dir("", 3) == "job3"
    assert "/" not in job_dir("experiment=base/game24,x='a b'", 0)
    long = job_dir(",".join(f"k{i}=v{i}" for i in range(100)), 0)
    assert len(long) == MAX_JOB_DIR
    assert long != job_dir(",".join(f"k{i}=v{i}" for i in range(101)), 0)
    # The ablation: the swept key sorts last; the sweep's multirun.yaml says it is swept.
    fixed = ("benchmark=game24,explorer=random,limit=10,planner=best_of_n,policy=random,scorer=rm,"
             "synthesis=rule,trainer.max_steps=5")  # fmt: skip
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    task: [benchmark=game24, 'train.data.train_fraction=0.5,1.0']\n"
    )
    names = {v: job_dir(f"{fixed},train.data.train_fraction={v}", 0, tmp_path) for v in (0.5, 1.0)}
    for value, name in names.items():
        assert len(name) == MAX_JOB_DIR and name.startswith(f"t.d.train_fraction={value},")
        assert name == job_dir(f"{fixed},train.data.train_fraction={value}", 7, tmp_path)
    assert names[0.5] != names[1.0]


def test_a_long_sweep_keeps_its_swept_key_in_each_job_dir(tmp_path):
    sweep = tmp_path / "sweep"
    out = arm_exp("plan", "-m", "planner=sampling,greedy", "scorer=none", *PLAN, "limit=1",
                  "benchmark.planning.mcts_rollouts=2", "benchmark.max_steps=8",
                  "benchmark.num_envs=2", "plan.concurrency=1", f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    names = sorted(d.name for d in sweep.iterdir() if (d / "manifest.json").exists())
    assert [n.split(",")[0] for n in names] == ["planner=greedy", "planner=sampling"], names
    assert all(len(n) <= 120 and ",b.p.best_of_n=4," in n for n in names), names
    again = arm_exp("plan", "-m", "planner=sampling,greedy", "scorer=none", *PLAN, "limit=1",
                    "benchmark.planning.mcts_rollouts=2", "benchmark.max_steps=8",
                    "benchmark.num_envs=2", "plan.concurrency=1", f"hydra.sweep.dir={sweep}")  # fmt: skip
    assert again.returncode == 0 and (again.stderr + again.stdout).count("nothing to do") == 2


def test_outputs_resolve_against_the_project_root_from_any_directory(tmp_path, monkeypatch):
    from arm_exp.config import compose

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARM_EXP_ROOT", raising=False)
    cfg = compose("plan", [], None)
    assert cfg.paths.root_dir == str(ROOT) and cfg.paths.log_dir == f"{ROOT}/outputs"
    assert str(cfg.hydra.run.dir).startswith(f"{ROOT}/outputs/plan/runs/")
    monkeypatch.setenv("ARM_EXP_ROOT", str(tmp_path / "elsewhere"))
    assert compose("plan", [], None).paths.log_dir == f"{tmp_path}/elsewhere/outputs"


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory) -> Path:
    """Plan runs on 3 puzzles with the random policy: sampling, Best-of-N (oracle), greedy."""
    from arm_exp.stages import plan

    sweep = tmp_path_factory.mktemp("small_sweep")
    for planner, scorer in [("sampling", "none"), ("best_of_n", "oracle"), ("greedy", "none")]:
        run_stage(
            plan,
            "plan",
            [*PLAN, "limit=3", f"planner={planner}", f"scorer={scorer}"],
            sweep / f"planner={planner},scorer={scorer}",
        )
    return sweep


SECRET_ENV = "sk-armexp-env-0123456789"
SECRET_CFG = "sk-armexp-cfg-0123456789"


def _wandb_run(run_dir: Path) -> Path:
    assert not (run_dir / "wandb").exists(), "W&B keeps its files outside the run dir"
    return wandb_run_of(run_dir)


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_wandb_offline_run_holds_tags_table_plots_and_no_secret(small_sweep, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    from arm_exp.stages import plan, report

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("VLLM_API_KEY", SECRET_ENV)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))

    plan_dir = tmp_path / "plan"
    run_stage(
        plan,
        "plan",
        [*PLAN, "planner=best_of_n", "scorer=oracle", "logger=wandb", f"+llm.api_key={SECRET_CFG}",
         "+wandb_group=sweep-test"],
        plan_dir,
    )  # fmt: skip
    run = _wandb_run(plan_dir)
    blob = _all_bytes(run)
    for tag in (b"plan", b"benchmark:game24", b"planner:best_of_n", b"scorer:oracle",
                b"policy:random", b"sweep-test"):  # fmt: skip
        assert tag in blob, tag
    # Offline, the resolved config lives in the run's .wandb log (files/config.yaml is written
    # by `wandb sync`): the planner's settings are there, the secret-looking key redacted. (Read
    # as records: a long one may straddle the log's 32 KiB blocks, so its bytes are not whole.)
    config = {u.key: json.loads(u.value_json) for r in wandb_records(run)
              if r.WhichOneof("record_type") == "config" for u in r.config.update}  # fmt: skip
    assert config["config"]["planner"]["_target_"] == "arm_exp.planning.best_of_n.BestOfNPlanner"
    assert config["config"]["llm"]["api_key"] == config["llm.api_key"] == "<redacted>"
    summary_metric = b"plan/test/success_rate"
    assert summary_metric in blob
    assert b"backbone:" not in blob, "a random policy loads no LLM: no backbone tag"
    # A readable config and summary among the run's files (the manifest), before any sync.
    saved = json.loads((run / "files" / "arm_exp_manifest.json").read_text())
    assert saved["config"]["planner"]["_target_"] == "arm_exp.planning.best_of_n.BestOfNPlanner"
    assert "plan/test/success_rate" in saved["metrics"] and "planner:best_of_n" in saved["tags"]

    # What the report logs (W&B's Run.log, where Lightning's logger sends every row): no
    # `trainer/global_step`, the step Lightning adds when given one (the report has no trainer).
    # The run's file still names it once, in the x axis Lightning defines when it starts a run.
    from wandb.sdk import wandb_run

    logged: list[dict] = []
    real_log = wandb_run.Run.log

    def spy(self, data, *args, **kwargs):
        logged.append(dict(data))
        return real_log(self, data, *args, **kwargs)

    monkeypatch.setattr(wandb_run.Run, "log", spy)
    report_dir = tmp_path / "report"
    run_stage(report, "report", [f"input_dir={small_sweep}", "logger=wandb"], report_dir)
    run = _wandb_run(report_dir)
    tables = {p.name.split("_")[0]: json.loads(p.read_text())
              for p in (run / "files" / "media" / "table").rglob("*.table.json")}  # fmt: skip
    assert sorted(tables) == ["pivot", "table"], tables.keys()  # report/table, report/pivot
    table = tables["table"]
    assert table["columns"][:5] == ["benchmark", "split", "policy", "planner", "scorer"]
    assert sorted(r[3] for r in table["data"]) == ["best_of_n", "greedy", "sampling"]
    assert tables["pivot"]["columns"][:2] == ["backbone/policy", "planner"]
    assert len(tables["pivot"]["data"]) == 3
    images = list((run / "files" / "media" / "images").rglob("*.png"))
    assert images, "the report's plots"
    assert logged and not any("trainer/global_step" in row for row in logged), logged
    assert {"report/table", "report/pivot", "report/plots"} <= {k for row in logged for k in row}

    for folder in (_wandb_run(plan_dir), _wandb_run(report_dir)):
        blob = _all_bytes(folder)
        assert SECRET_ENV.encode() not in blob and SECRET_CFG.encode() not in blob


def run_notebook(notebook: str, sweep: Path, monkeypatch) -> tuple[str, int]:
    """Execute ``notebooks/<notebook>`` on ``sweep`` (from its own folder, as Jupyter would);
    its cells' text output and how many images (figures) they hold."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = ROOT / "notebooks" / notebook
    nb = nbformat.read(path, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "strip outputs"
    monkeypatch.setenv("ARM_EXP_SWEEP_DIR", str(sweep))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    return "\n".join(o.get("text", "") for o in outputs), images


def test_compare_backbones_notebook_runs_on_a_sweep(small_sweep, monkeypatch):
    text, images = run_notebook("compare_backbones.ipynb", small_sweep, monkeypatch)
    assert "3 plan runs" in text and images == 1
    assert "best_of_n" in text and "greedy" in text
    assert "| backbone/policy |" in text and "| random |" in text


def _as_older_manifest(run_dir: Path, rm_ckpt: str, key: str | None = None) -> None:
    """Rewrite a plan run's manifest as plan wrote it before paths were stored resolved: the
    checkpoint path as typed, no reward_model/loss counts."""
    path = run_dir / "manifest.json"
    m = json.loads(path.read_text())
    m["config"]["rm_ckpt"] = m["counts"]["rm_ckpt"] = m["inputs"]["rm_ckpt"]["path"] = rm_ckpt
    if key is not None:
        m["inputs"]["rm_ckpt"]["key"] = key
    for k in ("reward_model", "loss"):
        m["counts"].pop(k)
    path.write_text(json.dumps(m))


def test_ablations_notebook_keeps_runs_with_relative_checkpoint_paths(
    small_sweep, tiny_rm_ckpt, tmp_path, monkeypatch
):
    """A checkpoint path typed relative to the repository (where `plan` ran) is not relative to
    notebooks/: the run must still land in the reward-model tables; a run whose checkpoint is
    gone is named with the reason, not dropped in silence."""
    from arm_exp.stages import plan, report

    sweep = tmp_path / "sweep"
    shutil.copytree(small_sweep, sweep)
    monkeypatch.chdir(ROOT)
    rel = os.path.relpath(tiny_rm_ckpt, ROOT)
    for name in ("rm", "rm_gone"):
        run_stage(plan, "plan", [*PLAN, "limit=2", "planner=best_of_n", "scorer=rm",
                                 f"rm_ckpt={rel}"], sweep / name)  # fmt: skip
    _as_older_manifest(sweep / "rm", rel)
    _as_older_manifest(sweep / "rm_gone", "outputs/train/runs/deleted/checkpoints/best.ckpt",
                       key="0123456789abcdef")  # fmt: skip
    monkeypatch.chdir(tmp_path)  # the notebook and report run elsewhere than plan did
    text, images = run_notebook("ablations.ipynb", sweep, monkeypatch)
    assert "5 plan runs" in text and images == 1
    # the run whose checkpoint is found: its reward model, loss and lineage
    assert "| game24 | test | random | best_of_n | rm (minilm, bradley_terry) |" in text, text
    gone = [line for line in text.splitlines() if "left out" in line]
    assert len(gone) == 1 and str(sweep / "rm_gone") in gone[0], text
    assert "outputs/train/runs/deleted/checkpoints/best.ckpt" in gone[0]
    assert "is not found" in gone[0]
    # report keeps the older run's reward model and loss too (from its train run).
    run_stage(report, "report", [f"input_dir={sweep}"], tmp_path / "report")
    rows = report.read_report(tmp_path / "report")
    rm_rows = [r for r in rows if r["scorer"] == "rm"]
    assert {(r["reward_model"], r["loss"]) for r in rm_rows} >= {("minilm", "bradley_terry")}


@pytest.mark.slow
def test_submitit_local_sweep_then_report(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    t0 = time.perf_counter()
    out = arm_exp(
        "plan", "-m", "planner=sampling,best_of_n", "scorer=oracle", *PLAN,
        "launcher=submitit_local", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    print(f"submitit_local sweep of 2 jobs: {time.perf_counter() - t0:.1f} s")
    runs = plan_runs(sweep)
    assert sum(m["complete"] for m in runs.values()) == 2
    assert (sweep / ".submitit").is_dir()
    report = arm_exp("report", f"input_dir={sweep}", f"hydra.run.dir={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr[-3000:]


@pytest.mark.slow
def test_killed_sweep_resumes_only_the_rest(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["plan", "-m", "planner=sampling,best_of_n,greedy", "scorer=oracle",
            "benchmark=game24", "policy=random", "limit=40", "launcher=basic",
            f"hydra.sweep.dir={sweep}", f"paths.root_dir={ROOT}"]  # fmt: skip
    # The sweep stops itself once its first job ended and is killed there.
    proc = start(["arm_exp.cli", *args, *stop_after_jobs(1)], start_new_session=True)
    wait_stopped(proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {d.name: load_manifest(d)["finished"] for d in sweep.glob("*") if is_complete(d)}
    assert len(done) == 1
    out = arm_exp(*args[:-1])
    assert out.returncode == 0, out.stderr[-3000:]
    runs = plan_runs(sweep)
    assert all(m["complete"] for m in runs.values()) and len(runs) == 3
    for name, finished in done.items():
        assert runs[name]["finished"] == finished  # not recomputed
    assert (out.stderr + out.stdout).count("nothing to do") == len(done)


@pytest.mark.slow
def test_optuna_search_over_the_reward_model(tmp_path, triplets_game24):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    sweep = tmp_path / "sweep"
    out = arm_exp(
        "train", "-m", "hparams_search=optuna", f"input_dir={triplets_game24}",
        "hydra.sweeper.n_trials=3", "hydra.sweeper.sampler.n_startup_trials=3",
        "trainer.max_steps=2", "reward_model.max_length=32", "train.data.batch_size=4",
        "trainer.enable_progress_bar=false", f"hydra.sweep.dir={sweep}",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = (sweep / "optimization_results.yaml").read_text()
    assert "best_value" in result and "train.optimizer.lr" in result
    trials = [d for d in sweep.iterdir() if (d / "manifest.json").exists()]
    assert len(trials) == 3 and all(is_complete(d) for d in trials)


# A small CPU experiment: the demo's settings on 3 puzzles, one plan per job (no pipeline.plans).
TINY = [
    "experiment=demo_game24", "pipeline.plans=[]", "limit=3", "explore.num_per_task=2",
    "trainer.max_steps=2", "reward_model.max_length=32", "train.data.batch_size=4",
    "trainer.enable_progress_bar=false", "benchmark.planning.best_of_n=2",
    "benchmark.planning.mcts_rollouts=2",
]  # fmt: skip


def pipeline_jobs(sweep: Path) -> dict[str, dict]:
    """The manifests of a pipeline sweep's jobs, by dir name (without its upstream jobs)."""
    return {d.name: load_manifest(d) for d in sweep.iterdir() if (d / "manifest.json").exists()}


def stage_runs(sweep: Path) -> dict[str, list[dict]]:
    """Every stage run the sweep's pipeline jobs used, its upstream jobs' too, by stage."""
    runs: dict[str, list[dict]] = {}
    for path in sorted(sweep.rglob("manifest.json")):
        m = load_manifest(path.parent)
        for entry in m["counts"]["stages"] if m.get("stage") == "pipeline" else []:
            runs.setdefault(entry["stage"], []).append(entry)
    return runs


def test_pipeline_sweep_runs_each_shared_stage_once(tmp_path, monkeypatch):
    """4 pipeline jobs at once (joblib) on one cache: explore, synthesize and train run once,
    before the jobs, in one upstream job of the sweeper (the oracle jobs need no reward model),
    so no job waits for a stage lock; then the reward-model jobs reuse them, one plan per job."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    out = arm_exp(
        "pipeline", "-m", *TINY, "planner=best_of_n,mcts", "scorer=rm,oracle", "launcher=joblib",
        f"hydra.sweep.dir={sweep}", f"pipeline.cache_dir={cache}",
        env={"ARM_EXP_JOBS": "4"}, timeout=1200,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "shared stages, wave 1 of 1: 1 job(s) (up to train)" in out.stdout + out.stderr
    jobs = pipeline_jobs(sweep)
    assert len(jobs) == 4 and all(m["complete"] for m in jobs.values())
    [upstream] = [load_manifest(p.parent) for p in sweep.glob("upstream/*/manifest.json")]
    assert [(e["stage"], e["reused"]) for e in upstream["counts"]["stages"]] == [
        ("explore", False), ("synthesize", False), ("train", False)
    ]  # fmt: skip
    rm_jobs = [n for n, m in jobs.items() if "from_checkpoint" in str(m["config"]["scorer"])]
    assert len(rm_jobs) == 2
    for name, m in jobs.items():
        stages = [e["stage"] for e in m["counts"]["stages"]]
        expect = ["explore", "synthesize", "train"] if name in rm_jobs else []
        assert stages == [*expect, "plan", "report"], (name, stages)
        assert m["metrics"]["pipeline/lock_wait_s"] == 0.0, name
    runs = stage_runs(sweep)
    for stage in ("explore", "synthesize", "train"):
        assert len(runs[stage]) == 3, stage  # the upstream job and both reward-model jobs ...
        assert len({e["dir"] for e in runs[stage]}) == 1, stage  # ... the same run ...
        assert sum(not e["reused"] for e in runs[stage]) == 1, stage  # ... computed once
        assert len(list((cache / stage).glob("*/manifest.json"))) == 1
    assert len({e["dir"] for e in runs["plan"]}) == 4
    assert not any(e["reused"] for e in runs["plan"])
    # The sweep's report finds each job's plan run through the job's pipeline manifest.
    report = arm_exp("report", f"input_dir={sweep}", f"hydra.run.dir={tmp_path / 'report'}")
    assert report.returncode == 0, report.stderr[-3000:]
    rows = (tmp_path / "report" / "report.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4
    pivot = (tmp_path / "report" / "report_pivot.md").read_text()
    assert pivot.count("\n") == 2 + 4 and "game24/test" in pivot
    # The ablations notebook reads the pipeline sweep dir too: the report's rows, and a figure.
    text, images = run_notebook("ablations.ipynb", sweep, monkeypatch)
    assert "4 plan runs" in text and images == 1
    assert text.count("| game24 | test | random |") == 4, text


# 16 jobs that all plan with a reward model: two losses (explore and synthesize shared, a train
# run each), two planners, two sizes of each planner's search.
ARRAY16 = [
    "scorer=rm", "loss=bradley_terry,hinge", "planner=best_of_n,mcts",
    "benchmark.planning.best_of_n=2,3", "benchmark.planning.mcts_rollouts=2,3",
]  # fmt: skip


def _table(job: Path) -> list[list[str]]:
    """A pipeline job's report table without its timing column (wall_s)."""
    import csv

    rows = list(csv.reader((job / "report.csv").read_text().splitlines()))
    keep = [i for i, name in enumerate(rows[0]) if name != "wall_s"]
    return [[row[i] for i in keep] for row in rows]


@pytest.mark.slow
def test_a_16_job_array_holds_no_job_idle_on_a_shared_stage(tmp_path):
    """A 16-job array (joblib, 16 at once, as submitit_slurm's array_parallelism: 16) of
    pipeline jobs sharing explore and synthesize, and a train run per loss: Hydra's basic
    sweeper launches all 16 and each waits on the stage locks while one job runs the shared
    stages (on a cluster: a GPU held idle); the arm_exp_waves sweeper runs the shared stages
    first (one job to synthesize, then one per loss to train), after which no job waits on any
    stage. Every job's report table is the same either way. Prints each job's idle time."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    jobs: dict[str, dict[str, dict]] = {}
    walls = {}
    for sweeper in ("basic", "arm_exp_waves"):
        sweep = tmp_path / sweeper
        t0 = time.perf_counter()
        out = arm_exp(
            "pipeline", "-m", *TINY, *ARRAY16, "launcher=joblib", f"hydra/sweeper={sweeper}",
            f"hydra.sweep.dir={sweep}", f"pipeline.cache_dir={tmp_path / f'{sweeper}_cache'}",
            env={"ARM_EXP_JOBS": "16"}, timeout=3600,
        )  # fmt: skip
        walls[sweeper] = time.perf_counter() - t0
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        jobs[sweeper] = pipeline_jobs(sweep)
        assert len(jobs[sweeper]) == 16 and all(m["complete"] for m in jobs[sweeper].values())
    waves = tmp_path / "arm_exp_waves"
    upstream = sorted(p.parent.name for p in waves.glob("upstream/*/manifest.json"))
    assert [n.split("-")[0] for n in upstream] == ["synthesize", "train", "train"], upstream
    idle = {s: {n: m["metrics"]["pipeline/lock_wait_s"] for n, m in js.items()}
            for s, js in jobs.items()}  # fmt: skip
    print(f"\n{'job':<60} idle s (basic)  idle s (waves)")
    for name in sorted(idle["basic"]):
        print(f"{name[:60]:<60} {idle['basic'][name]:14.1f} {idle['arm_exp_waves'][name]:15.1f}")
    for sweeper, wall in walls.items():
        print(f"{sweeper}: {wall:.0f} s wall, {sum(idle[sweeper].values()):.0f} job-s idle")
    assert sum(idle["basic"].values()) > 0.0  # the problem: jobs queued on the shared stages
    assert all(wait == 0.0 for wait in idle["arm_exp_waves"].values()), idle["arm_exp_waves"]
    for path in waves.glob("upstream/*/manifest.json"):
        assert load_manifest(path.parent)["metrics"]["pipeline/lock_wait_s"] == 0.0
    # the same stage runs (keys) and the same report tables, with or without waves
    for name, m in jobs["basic"].items():
        other = jobs["arm_exp_waves"][name]
        keys = [[(e["stage"], e["key"]) for e in j["counts"]["stages"]] for j in (m, other)]
        assert keys[0] == keys[1], name
        assert _table(tmp_path / "basic" / name) == _table(waves / name), name


@pytest.mark.slow
@pytest.mark.ray
def test_ray_pipeline_sweep_runs_each_shared_stage_once(tmp_path):
    """2 pipeline jobs on a local Ray instance (launcher=ray, started by the sweep: no
    RAY_ADDRESS) with per-job resources cut to a CPU box (the config asks 4 CPUs + 1 GPU): both
    plan with the reward model, so explore, synthesize and train run once on the shared cache
    (the sweeper's upstream job computes each first, both jobs reuse it), one plan per job."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    sweep, cache = tmp_path / "sweep", tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "arm_exp.cli", "pipeline", "-m", *TINY, "planner=best_of_n,mcts",
         "scorer=rm", "launcher=ray", "hydra.launcher.ray.remote.num_cpus=1",
         "hydra.launcher.ray.remote.num_gpus=0", "+hydra.launcher.ray.init.num_cpus=2",
         "+hydra.launcher.ray.init.num_gpus=0", "+hydra.launcher.ray.init.include_dashboard=false",
         f"hydra.sweep.dir={sweep}", f"pipeline.cache_dir={cache}", f"paths.root_dir={ROOT}"],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env,
    )  # fmt: skip
    print(f"ray sweep of 2 pipeline jobs: {time.perf_counter() - t0:.1f} s")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    jobs = pipeline_jobs(sweep)
    assert len(jobs) == 2 and all(m["complete"] for m in jobs.values())
    for name, m in jobs.items():
        stages = [e["stage"] for e in m["counts"]["stages"]]
        assert stages == ["explore", "synthesize", "train", "plan", "report"], (name, stages)
        assert m["metrics"]["pipeline/lock_wait_s"] == 0.0, name
    runs = stage_runs(sweep)  # the sweeper's upstream job ran them first, on Ray too
    for stage in ("explore", "synthesize", "train"):
        assert len({e["dir"] for e in runs[stage]}) == 1, stage  # the same run ...
        assert sum(not e["reused"] for e in runs[stage]) == 1, stage  # ... computed once
        assert len(list((cache / stage).glob("*/manifest.json"))) == 1
    assert len({e["dir"] for e in runs["plan"]}) == 2
    assert not any(e["reused"] for e in runs["plan"])
    assert "Ray Launcher is launching 1 jobs" in out.stdout + out.stderr  # the upstream job
    assert "Ray Launcher is launching 2 jobs" in out.stdout + out.stderr


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_killed_lock_holder_is_taken_over_and_the_stage_resumes(tmp_path):
    """Job A explores (holding explore's lock) and is killed (SIGKILL, no cleanup) while job B
    waits for that lock: B takes it over, resumes A's exploration in place, and the stage's JSONL
    ends with every record exactly once."""
    import threading

    cache = tmp_path / "cache"
    tasks, per_task = 500, 16  # seconds of exploring: job A is stopped long before its end
    args = [
        "-m", "arm_exp.stages.pipeline", "experiment=demo_game24", "pipeline.plans=[]",
        f"pipeline.explore.limit={tasks}", f"explore.num_per_task={per_task}",
        "planner=best_of_n", "scorer=rm", f"pipeline.cache_dir={cache}", f"paths.root_dir={ROOT}",
    ]  # fmt: skip
    a = start([*args[1:], f"hydra.run.dir={tmp_path / 'a'}"], start_new_session=True)
    b: subprocess.Popen | None = None
    lines: list[str] = []

    def wait_for(condition, what: str, timeout: float = 600) -> None:
        deadline = time.time() + timeout
        while not condition():
            assert time.time() < deadline, f"timed out waiting for {what}"
            assert b is not None or a.poll() is None, f"job A ended before {what}"
            time.sleep(0.05)

    def records() -> list[Path]:
        return [p for p in cache.glob("explore/*/trajectories.jsonl") if _lines(p)]

    try:
        wait_for(records, "job A's first trajectories")
        # Freeze job A and its explore stage mid-way: B's start-up time cannot let A finish.
        os.killpg(a.pid, signal.SIGSTOP)
        path = records()[0]
        assert not is_complete(path.parent)
        b = subprocess.Popen(
            [sys.executable, *args, f"hydra.run.dir={tmp_path / 'b'}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        reader = threading.Thread(target=lambda: lines.extend(iter(b.stdout.readline, "")))
        reader.start()
        wait_for(lambda: any("explore: waiting for" in line for line in lines), "job B to wait")
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        written = len(_lines(path))
        wait_for(lambda: is_complete(path.parent), "job B to finish the exploration")
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    ids = [json.loads(line)["id"] for line in _lines(path)]
    assert len(ids) == len(set(ids)) == tasks * per_task
    assert 1 <= written < len(ids)  # A had written part of it; B resumed, not restarted
    manifest = load_manifest(path.parent)
    # B kept every complete line A wrote (a line torn by the stop is cut and redone)
    assert written - 1 <= manifest["counts"]["resumed"] <= written, "".join(lines)[-3000:]


@pytest.mark.slow
def test_armap_experiment_cpu_smoke(tmp_path):
    """The paper experiment's every planner on the CPU (`debug=cpu_smoke llm=smollm2_cpu`, 2
    puzzles): one sweep on one cache, the report printed once per job."""
    out = arm_exp(
        "pipeline", "-m", "experiment=armap", "debug=cpu_smoke", "llm=smollm2_cpu",
        "planner=sampling,greedy,best_of_n,reflexion,mcts", f"hydra.sweep.dir={tmp_path / 's'}",
        f"pipeline.cache_dir={tmp_path / 'cache'}", timeout=3600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.count("success % [95% CI]") == 5, out.stdout[-3000:]
