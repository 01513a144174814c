"""``hydra/sweeper=arm_exp_waves``: Hydra's basic sweeper, with the shared stages run first.

The jobs of ``arm-exp pipeline -m ...`` share their reward model's stages (explore, synthesize,
train) whenever the swept keys are read only later (``planner=best_of_n,mcts``). Launched
together, one job would run each shared stage and every other job would wait for its lock,
holding a GPU idle (SLURM arrays: for the whole explore -> train of a 70B explorer). This
sweeper first composes each job's config, as the launcher will, and asks the pipeline which
stages the job would run that the cache lacks (:func:`arm_exp.stages.pipeline.pending_upstream`);
it launches one job per distinct run of them with ``pipeline.until=<stage>`` (those stages
only, in ``<sweep dir>/upstream/<stage>-<node>``), wave by wave where the jobs branch
(:func:`arm_exp.sweeps.upstream_waves`), then the jobs themselves, as the basic sweeper does:
they find every shared stage in the cache. A wave job that fails ends the sweep (its error is
raised) before the jobs that need its stage start. Sweeps of other stages, and jobs whose plans
read no reward model, are the basic sweeper's. Wave jobs are numbered after the sweep's jobs, so
those keep their numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


class WavesSweeper(BasicSweeper):
    """Hydra's :class:`BasicSweeper` that runs each stage a pipeline sweep's jobs share once,
    before launching the jobs (see the module docstring)."""

    def sweep(self, arguments: list[str]) -> Any:
        assert self.config is not None
        if self.config.get("stage") == "pipeline":
            self._shared_stages_first(arguments)
        return super().sweep(arguments)

    def _shared_stages_first(self, arguments: list[str]) -> None:
        from arm_exp.stages.pipeline import pending_upstream
        from arm_exp.sweeps import upstream_waves

        assert self.config is not None and self.hydra_context is not None
        assert self.launcher is not None
        loader = self.hydra_context.config_loader
        parser = OverridesParser.create(config_loader=loader)
        [jobs] = self.split_arguments(
            parser.parse_overrides([*self._parse_config(), *arguments]), None
        )
        chains = []
        for job in jobs:
            cfg = loader.load_sweep_config(master_config=self.config, sweep_overrides=list(job))
            chains.append(pending_upstream(cfg, [str(o) for o in cfg.hydra.overrides.task]))
        waves = upstream_waves(chains)
        if not waves:
            return
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")  # the jobs' dir names read it
        number = len(jobs)
        for i, wave in enumerate(waves, 1):
            batch = [
                [*jobs[j], f"pipeline.until={stage}",
                 f"hydra.sweep.subdir=upstream/{stage}-{dict(chains[j])[stage]}"]
                for j, stage in wave
            ]  # fmt: skip
            log.info(
                "shared stages, wave %d of %d: %d job(s) (%s) before the %d jobs that need them",
                i, len(waves), len(wave), ", ".join(f"up to {s}" for _, s in wave),
                sum(bool(c) for c in chains),
            )  # fmt: skip
            for result in self.launcher.launch(batch, initial_job_idx=number):
                _ = result.return_value  # a failed job raises its error here
            number += len(batch)
