"""The in-process ``vllm_engine`` backend on CPU, run inside ``.venv-vllm`` (subprocesses).

vLLM pins its own transformers, so it cannot be imported in the main venv: the probe script and
the explore stage run with ``.venv-vllm/bin/python`` and the results are checked here.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import ROOT
from tests.integration.conftest import requires_vllm_venv, run_in_vllm_venv

pytestmark = [pytest.mark.vllm, requires_vllm_venv]


def test_engine_generate_n_seed_stop_tokens(tmp_path, smollm2):
    res = run_in_vllm_venv(
        ["tests/integration/vllm_engine_probe.py", str(ROOT), str(tmp_path / "probe")]
    )
    line = next((x for x in res.stdout.splitlines() if x.startswith("PROBE ")), None)
    assert res.returncode == 0 and line, res.stdout[-3000:] + res.stderr[-3000:]
    out = json.loads(line[len("PROBE ") :])
    assert [len(t) for t in out["texts"]] == [3, 3]
    assert out["texts"] == out["same_seed"] and out["texts"] != out["other_seed"]
    tok = smollm2.tokenizer
    assert out["prompt_tokens"][0] == len(
        tok(
            smollm2.render([{"role": "user", "content": "Name a fruit."}]), add_special_tokens=False
        )["input_ids"]
    )
    for counts, reasons in zip(out["completion_tokens"], out["finish_reasons"], strict=True):
        assert all(
            (k == 12) == (r == "length") and 1 <= k <= 12
            for k, r in zip(counts, reasons, strict=True)
        )
    c = out["counters"]
    assert c["llm_calls"] == 6 and c["llm_samples"] == 3 * 2 * 3 + 1 + 1 + 2
    # Same float32 weights, same greedy tokens as transformers.
    assert (
        out["greedy"]
        == smollm2.generate(
            [[{"role": "user", "content": "Name a fruit."}]], temperature=0, max_tokens=8
        )[0].texts[0]
    )
    assert out["stop_text"] and "\n" not in out["stop_text"] and "." not in out["stop_text"]
    assert out["stop_reason"] == "stop"
    assert len(out["logprobs"]) == 2 and all(x < 0 for x in out["logprobs"])


def test_explore_with_the_engine_in_vllm_venv(tmp_path):
    run_dir = tmp_path / "explore"
    res = run_in_vllm_venv(
        [
            "-m",
            "arm_exp.cli",
            "explore",
            "explorer=llm",
            "llm=smollm2_vllm_cpu_engine",
            "split=test",
            "task_ids=[900,901]",
            "explore.num_per_task=2",
            "benchmark.max_steps=4",
            "explore.invalid_action_retries=1",
            "benchmark.agent.max_tokens=48",
            f"paths.root_dir={ROOT}",
            f"hydra.run.dir={run_dir}",
        ]
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    ids = [json.loads(x)["id"] for x in (run_dir / "trajectories.jsonl").read_text().splitlines()]
    assert ids == ["900#0", "900#1", "901#0", "901#1"]
    m = json.loads((run_dir / "metrics.json").read_text())
    # One batched engine.generate per tick across all active episodes.
    assert m["explore/test/llm_calls"] == m["explore/test/policy_calls"] >= 1
    assert m["explore/test/completion_tokens"] > 0
