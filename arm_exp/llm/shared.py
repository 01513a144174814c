"""Build each distinct LLM config once per process and share it between roles.

``policy=llm scorer=policy_judge`` puts the same ``${llm}`` under ``policy.llm`` and
``scorer.llm``. Instantiating the two nodes separately built the backbone twice: two copies of
an in-process model, or two managed vLLM servers each claiming 90% of the GPU's memory.
:class:`SharedLLMs` instantiates stage objects with every LLM sub-config replaced by one object
per distinct resolved config (its JSON is the key), so roles that name the same backbone share
it, and roles that name different ones (``llm@synthesizer_llm=...``) keep their own.

Each role counts its own usage (``LLMPolicy.counters()``, the judge's ``judge_*`` counters);
the backend's counters (requests, retries, latency, merged batches) belong to the shared object
and are read once through :meth:`SharedLLMs.backend_counters`.

An explicit object, not a module-level cache: a stage makes one, builds its roles through it
and closes it at the end (which stops managed servers and in-process workers).
"""

from __future__ import annotations

import json
from typing import Any

from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from arm_exp.llm.base import LLM, backend_counters


def is_llm_config(node: Any) -> bool:
    """True for a config dict whose ``_target_`` is a class of the LLM protocol."""
    if not isinstance(node, dict) or not isinstance(node.get("_target_"), str):
        return False
    if node.get("_partial_"):
        return False
    try:
        target = get_object(node["_target_"])
    except ImportError:
        return False  # a bad target: instantiate() reports it with its own message
    return isinstance(target, type) and issubclass(target, LLM)


class SharedLLMs:
    """One LLM object per distinct config, handed to every role that uses that config."""

    def __init__(self) -> None:
        self._built: dict[str, LLM] = {}

    def instantiate(self, node: DictConfig | dict[str, Any], **kwargs: Any) -> Any:
        """``hydra.utils.instantiate(node, **kwargs)``, with LLM sub-configs shared."""
        data = (
            OmegaConf.to_container(node, resolve=True)
            if isinstance(node, DictConfig | ListConfig)
            else node
        )
        return instantiate(self._share(data), **kwargs)

    def llm(self, node: DictConfig | dict[str, Any]) -> LLM:
        """The shared object for one LLM config (built on first request)."""
        data = (
            OmegaConf.to_container(node, resolve=True)
            if isinstance(node, DictConfig | ListConfig)
            else node
        )
        key = json.dumps(data, sort_keys=True, default=str)
        if key not in self._built:
            self._built[key] = instantiate(data)
        return self._built[key]

    def _share(self, data: Any) -> Any:
        if is_llm_config(data):
            return self.llm(data)
        if isinstance(data, dict):
            return {k: self._share(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self._share(v) for v in data]
        return data

    @property
    def built(self) -> list[LLM]:
        """The distinct LLM objects built so far, in build order."""
        return list(self._built.values())

    def backend_counters(self) -> dict[str, float]:
        """The backends' own counters (requests, retries, latency percentiles, batches): as
        they are for one LLM, prefixed ``llm<i>_`` when a stage built several."""
        built = self.built
        if len(built) == 1:
            return backend_counters(built[0])
        return {
            f"llm{i}_{k}": v
            for i, llm in enumerate(built)
            for k, v in backend_counters(llm).items()
        }

    def close(self) -> None:
        """Close every LLM built here (stops managed servers and in-process workers)."""
        for llm in self.built:
            llm.close()
