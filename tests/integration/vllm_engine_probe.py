"""Run inside .venv-vllm: exercise the in-process ``vllm_engine`` backend, print JSON results.

``python tests/integration/vllm_engine_probe.py ROOT`` (test_vllm_engine.py runs it). The
engine spawns worker processes, hence the main guard.
"""

from __future__ import annotations

import json
import sys

CHAT = [{"role": "user", "content": "Name a fruit."}]
STORY = [{"role": "user", "content": "Tell me a story about a cat."}]


def main(root: str, run_dir: str) -> None:
    from hydra.utils import instantiate

    from arm_exp.config import compose

    cfg = compose("explore", [f"paths.root_dir={root}", "llm=smollm2_vllm_cpu_engine"], run_dir)
    llm = instantiate(cfg.llm)
    try:
        kw = dict(n=3, temperature=1.0, max_tokens=12)
        a = llm.generate([CHAT, STORY], seed=3, **kw)
        b = llm.generate([CHAT, STORY], seed=3, **kw)
        c = llm.generate([CHAT, STORY], seed=4, **kw)
        greedy = llm.generate([CHAT], temperature=0, max_tokens=8)[0]
        stop = llm.generate([STORY], temperature=0, max_tokens=40, stop=["\n", "."])[0]
        llm.logprobs = True
        lp = llm.generate([CHAT], n=2, temperature=1.0, max_tokens=6, seed=1)[0]
        out = {
            "texts": [g.texts for g in a],
            "same_seed": [g.texts for g in b],
            "other_seed": [g.texts for g in c],
            "prompt_tokens": [g.prompt_tokens for g in a],
            "completion_tokens": [g.completion_tokens for g in a],
            "finish_reasons": [g.finish_reasons for g in a],
            "greedy": greedy.texts[0],
            "stop_text": stop.texts[0],
            "stop_reason": stop.finish_reasons[0],
            "logprobs": lp.logprobs,
            "counters": llm.counters(),
        }
    finally:
        llm.close()
    print("PROBE " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
