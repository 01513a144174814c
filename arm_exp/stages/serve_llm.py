"""``arm-exp serve-llm``: put the configured LLM behind an OpenAI-compatible HTTP endpoint.

- ``llm`` with a ``managed`` server (e.g. ``llm=smollm2_vllm_cpu``): start that server
  (``vllm serve``) on a free port, wait for health, print its URL, stop it on exit/Ctrl-C.
- any in-process backend (``hf_local``, ``vllm_engine``): serve it with our own small server,
  batching concurrent requests.
"""

from __future__ import annotations

import logging
import time

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.llm.http_server import serve
from arm_exp.llm.openai_server import OpenAIServerLLM
from arm_exp.stages.common import CONF_DIR

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, float]:
    llm = instantiate(cfg.llm)
    if isinstance(llm, OpenAIServerLLM):
        if llm.managed is None:
            raise ValueError(
                f"llm={cfg.llm.get('model')} is a client of an existing server at "
                f"{llm.base_urls}; serve-llm needs a managed server or an in-process backend"
            )
        url = llm.managed.start()
        print(f"serving {llm.model} at {url}/v1 (Ctrl-C to stop)", flush=True)
        try:
            while llm.managed.alive():
                time.sleep(1.0)
        finally:
            llm.close()
        return {}
    server = serve(llm, str(cfg.serve.model_name), str(cfg.serve.host), int(cfg.serve.port))
    host, port = server.server_address[:2]
    print(f"serving {cfg.serve.model_name} at http://{host}:{port}/v1 (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        llm.close()
    return {}


@hydra.main(config_path=CONF_DIR, config_name="serve_llm", version_base="1.3")
def main(cfg: DictConfig) -> None:
    run(cfg)
