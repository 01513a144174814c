"""``arm-exp serve-llm``: put the configured LLM behind an OpenAI-compatible HTTP endpoint.

- ``llm`` with a ``managed`` server (e.g. ``llm=smollm2_vllm_cpu``): start that server
  (``vllm serve``; several for data-parallel replicas) on a free port, wait for health, print
  its URL, stop it on exit, Ctrl-C or SIGTERM; a server that dies ends the command with an
  error that carries its log's tail.
- any in-process backend (``hf_local``, ``vllm_engine``): serve it with our own small server,
  batching concurrent requests.
"""

from __future__ import annotations

import logging
import time

from hydra.utils import instantiate
from omegaconf import DictConfig

from arm_exp.errors import LLMError
from arm_exp.llm.http_server import serve
from arm_exp.llm.openai_server import OpenAIServerLLM
from arm_exp.stages.base import Stage
from arm_exp.stages.lifecycle import echo

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, float]:
    llm = instantiate(cfg.llm)
    if isinstance(llm, OpenAIServerLLM):
        if not llm.servers:
            raise ValueError(
                f"llm={cfg.llm.get('model')} is a client of an existing server at "
                f"{llm.base_urls}; serve-llm needs a managed server or an in-process backend"
            )
        try:
            urls = llm.start()
            echo(f"serving {llm.model} at {' '.join(urls)} (Ctrl-C to stop)")
            while all(s.alive() for s in llm.servers):
                time.sleep(1.0)
            dead = next(s for s in llm.servers if not s.alive())
            code = dead.proc.returncode if dead.proc is not None else None
            raise LLMError(
                f"{dead.name} at {dead.base_url} exited (code {code}); "
                f"log {dead.log_path}:\n{dead.log_tail()}"
            )
        finally:
            llm.close()
    server = serve(llm, str(cfg.serve.model_name), str(cfg.serve.host), int(cfg.serve.port))
    host, port = server.server_address[:2]
    echo(f"serving {cfg.serve.model_name} at http://{host}:{port}/v1 (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()
        llm.close()
    return {}


# A server: no cache key, no run to reuse.
STAGE = Stage(name="serve_llm", run=run, reads=("llm", "serve"))

if __name__ == "__main__":
    STAGE.main()
