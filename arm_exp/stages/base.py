"""What a stage is: one :class:`Stage` declaration, at the end of the stage's module.

A declaration says everything the rest of the framework learns about a stage: the config keys
it reads (``reads``; :data:`SHARED` and :data:`LAUNCH` beside them for every stage), which of
them make up its cache key (``key``: config subtrees, minus ``key_exclude``; ``inputs``: the
artifacts it reads, keyed by their runs' keys; ``key_extra``) and which of them it reads without
their changing its result (``unkeyed``, each with the reason), what it writes (``artifacts``),
its work (``run``) and what the pipeline needs from it (``reads_checkpoint``). The registry
(:mod:`arm_exp.stages`) lists the declarations; ``cli``, ``pipeline`` and the tests read them
there, and ``tests/integration/test_stage_keys.py`` runs each stage on a config where every key
its declaration does not cover is unset, so a key read but not keyed fails a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from arm_exp.artifacts import content_key, input_code_version, input_key
from arm_exp.config import container

# Keys every stage reads that are shared by a pipeline's stages: the pipeline forwards them.
SHARED = frozenset(
    {"seed", "paths", "logger", "wandb_group", "experiment", "debug", "reuse_across_code_change"}
)
# Keys of one invocation (which stage, where, how it is launched): never forwarded.
LAUNCH = frozenset(
    {"stage", "force", "run_name", "launcher", "hparams_search", "optimized_metric", "hydra"}
)
# The keys every stage may be given beside its own `reads`.
COMMON = SHARED | LAUNCH
# Of the common keys, those that do not change what a stage computes (`seed` does: a stage
# whose result depends on it has it in its `key`).
COMMON_UNKEYED: Mapping[str, str] = {
    "stage": "which stage runs",
    "force": "recompute instead of reuse",
    "reuse_across_code_change": "whether a run made by other code is reused",
    "run_name": "the W&B run's name",
    "wandb_group": "the W&B group",
    "logger": "where metrics are sent",
    "paths": "where files go (data paths enter through the keys that interpolate them)",
    "experiment": "a set of values, keyed where they land",
    "debug": "a set of values, keyed where they land",
    "launcher": "how a sweep's jobs are launched",
    "hparams_search": "how a sweep picks its jobs",
    "optimized_metric": "which metric a sweeper reads",
    "hydra": "Hydra's own settings (run dir, logging)",
}


@dataclass(frozen=True)
class Stage:
    """One stage of arm-exp (see the module docstring)."""

    name: str  # its config (conf/<name>.yaml) and module (arm_exp/stages/<name>.py)
    run: Callable[[DictConfig], dict[str, float]]
    # Top-level keys it reads beside the common ones; None: every key (the pipeline).
    reads: tuple[str, ...] | None
    key: tuple[str, ...] = ()  # config subtrees (dotted) its cache key covers
    key_exclude: tuple[str, ...] = ()  # ...minus these (knobs only a later stage reads)
    inputs: Callable[[DictConfig], dict[str, Path]] | None = None  # artifacts, by name
    key_extra: Callable[[DictConfig], dict[str, Any]] | None = None  # computed key parts
    # Keys it reads that do not change its result -> why (inputs, tags, degree of parallelism).
    unkeyed: Mapping[str, str] = field(default_factory=dict)
    artifacts: tuple[str, ...] = ()  # files it writes into its run dir (removed by force=true)
    show: Callable[[DictConfig, dict[str, float]], str] | None = None  # its closing lines
    # The pipeline's question to a plan stage: does this config read a reward-model checkpoint?
    reads_checkpoint: Callable[[DictConfig], bool] | None = None

    @property
    def command(self) -> str:
        """Its name on the command line (``serve-rm``)."""
        return self.name.replace("_", "-")

    @property
    def cached(self) -> bool:
        """Whether its runs are kept and reused by key (the servers' are not)."""
        return bool(self.key)

    def reads_key(self, root: str) -> bool:
        """Whether a top-level key is this stage's to read (its own or a common one)."""
        return self.reads is None or root in self.reads or root in COMMON

    def key_spec(self, cfg: DictConfig) -> KeySpec:
        """What determines this stage's output for ``cfg`` (its content key's parts)."""
        return KeySpec(
            self.key,
            self.inputs(cfg) if self.inputs is not None else {},
            self.key_extra(cfg) if self.key_extra is not None else {},
            self.key_exclude,
        )

    def main(self) -> None:
        """Run the stage as a command (``python -m arm_exp.stages.<name> [overrides]``)."""
        from arm_exp.stages.lifecycle import run_command

        run_command(self)


@dataclass
class KeySpec:
    """What determines a stage's output: config subtrees (minus ``exclude``), input artifacts,
    extra data. ``exclude`` keeps knobs that only a later stage reads (``benchmark.planning``)
    out of an earlier stage's key, so sweeping them reuses its run."""

    fields: Sequence[str]
    inputs: dict[str, Path] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    exclude: Sequence[str] = ()

    def key(self, cfg: DictConfig) -> str:
        input_keys = {name: input_key(path) for name, path in self.inputs.items()}
        # The run dir is where the output goes, not what it is: a path under it (a managed
        # server's log dir) must not change the key, or no other dir could reuse the run.
        keyed = OmegaConf.create({k: cfg._get_node(k) for k in cfg if k != "hydra"})
        if "paths" in keyed:
            keyed.paths.output_dir = "<run dir>"
        subtree = {k: container(OmegaConf.select(keyed, k)) for k in self.fields}
        for dotted in self.exclude:
            _drop(subtree, dotted)
        subtree.update(self.extra)
        return content_key(
            subtree,
            [
                f"{n}:{k or _file_fingerprint(self.inputs[n])}:{input_code_version(self.inputs[n])}"
                for n, k in input_keys.items()
            ],
        )


def _drop(tree: Any, dotted: str) -> None:
    head, _, rest = dotted.partition(".")
    if isinstance(tree, dict) and head in tree:
        if rest:
            _drop(tree[head], rest)
        else:
            del tree[head]


def _file_fingerprint(path: Path) -> str:
    """For inputs without a manifest (hand-made files): size and mtime stand in for a key."""
    p = Path(path)
    if p.is_dir():
        return f"dir:{p.resolve()}"
    st = p.stat()
    return f"file:{p.resolve()}:{st.st_size}:{int(st.st_mtime)}"
