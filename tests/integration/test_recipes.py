"""docs/architecture.md's recipe for a planner, followed to the letter: one module and one YAML,
nothing else edited, and the planner runs through `plan` and `report`."""

from __future__ import annotations

import csv
import filecmp
import os
import shutil
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

# The recipe's two files. The module could be `arm_exp/planning/two_samples.py` and the YAML
# `conf/planner/two_samples.yaml`; here they go to a tmp package and a copy of `conf/`
# (ARM_EXP_CONF), so the test edits nothing in the repo.
MODULE = '''
"""Two samples, the scorer keeps the better one: a toy planner for the recipe test."""

from arm_exp.planning.base import Meter, argmax, candidate, make_episode, require_scorer
from arm_exp.rollout import EpisodeJob, derive_seed, run_cursors, start_cursor


class TwoSamplesPlanner:
    name = "two_samples"
    uses_scorer = True      # `plan` loads the scorer; `pipeline` trains a reward model for it
    iid_candidates = True   # `report` draws success vs N for it

    def __init__(self, temperature=0.7, max_steps=100, seed=0):
        self.temperature, self.max_steps, self.seed = temperature, max_steps, seed

    def plan(self, task_id, env, policy, scorer):
        scorer = require_scorer(self.name, scorer)
        with Meter(env, policy, scorer) as meter:
            trajs = []
            for k in range(2):
                job = EpisodeJob(f"{task_id}/{k}", task_id,
                                 derive_seed(self.seed, self.name, task_id, k))
                cursor = start_cursor(env, job)
                run_cursors(env, policy, [cursor], self.temperature, 0, self.max_steps)
                trajs.append(cursor.trajectory)
            values = scorer.score([t.intent for t in trajs], trajs)
            best = argmax(values)
            return make_episode(self.name, task_id, trajs[best], values[best],
                                [candidate(t, v) for t, v in zip(trajs, values)], meter)
'''

YAML = """
# Two samples, the scorer keeps the better one (the recipe test's toy planner).
_target_: toy_planners.TwoSamplesPlanner
temperature: ${benchmark.planning.sampling_temperature}
max_steps: ${benchmark.max_steps}
seed: ${seed}
"""


def _tree(root):
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_a_planner_is_one_module_and_one_yaml(tmp_path):
    pkg, conf = tmp_path / "pkg", tmp_path / "conf"
    pkg.mkdir()
    shutil.copytree(ROOT / "conf", conf)
    (pkg / "toy_planners.py").write_text(textwrap.dedent(MODULE))
    (conf / "planner" / "two_samples.yaml").write_text(YAML)
    # Truly only those two files: the config tree is the repo's plus one YAML, byte for byte.
    assert _tree(conf) - _tree(ROOT / "conf") == {"planner/two_samples.yaml"}
    assert all(
        filecmp.cmp(ROOT / "conf" / f, conf / f, shallow=False) for f in _tree(ROOT / "conf")
    )
    env = {**os.environ, "ARM_EXP_CONF": str(conf),
           "PYTHONPATH": os.pathsep.join([str(pkg), str(ROOT)])}  # fmt: skip

    def stage(*args):
        proc = subprocess.run([sys.executable, "-m", *args, f"paths.root_dir={ROOT}"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    plan_dir, report_dir = tmp_path / "plan", tmp_path / "report"
    stage("arm_exp.stages.plan", "planner=two_samples", "scorer=oracle", "policy=random",
          "limit=3", f"hydra.run.dir={plan_dir}")  # fmt: skip
    stage("arm_exp.stages.report", f"input_dir={plan_dir}", f"hydra.run.dir={report_dir}")
    with open(report_dir / "report.csv", newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["planner"] == "two_samples" and row["scorer"] == "oracle"
    assert row["n_tasks"] == "3"
    assert float(row["oracle_success"]) >= float(row["success_rate"])  # the pick is one of two
    assert (report_dir / "success_vs_n.png").stat().st_size > 1000  # from `iid_candidates`
