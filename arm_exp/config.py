"""The configuration every arm-exp command composes: typed schema, Hydra helpers.

All stages share one config tree (``conf/base.yaml``: every config group, ``experiment=`` and
``debug=``), so an experiment file or a command-line override means the same thing to a single
stage and to ``arm-exp pipeline``, which forwards each override to the stages that read it
(each stage's declaration, :mod:`arm_exp.stages`). The top level, ``benchmark`` and the stages'
own nodes are typed by the dataclasses below, registered in Hydra's ConfigStore as
``arm_exp_schema`` (the first entry of ``conf/base.yaml``'s defaults): Hydra itself rejects an
unknown key or a value of the wrong type. The other config groups' options
(``planner/mcts.yaml``, ...) are ``_target_`` nodes whose types are their constructors'
annotations (:mod:`arm_exp.config_check` checks the composed config against them before a
stage runs).

LLM roles: ``llm`` is the backbone (the policy, and every role that has no backbone of its own);
``explorer_llm``, ``explorer2_llm`` (``explorer=llm_pair``'s second) and ``synthesizer_llm`` are
null unless ``llm@explorer_llm=NAME`` (and so on) picks one, and the configs that need them read
``${arm_exp.llm:explorer_llm}`` (the role's own, else ``llm``), so ``llm=X llm.base_url=URL``
reaches every role.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import MISSING, SI, DictConfig, ListConfig, OmegaConf

from arm_exp.artifacts import redact
from arm_exp.errors import ConfigError
from arm_exp.sweeps import register_resolvers

# The configs live at the repo root (conf/); stages are used from an editable install or a
# clone. ARM_EXP_CONF points elsewhere (e.g. a copy with a lab's own configs).
CONF_DIR = os.environ.get("ARM_EXP_CONF") or str(Path(__file__).resolve().parents[1] / "conf")


# -- the schema --------------------------------------------------------------------------------


@dataclass
class PathsConfig:
    """``paths.*``: where things live (``conf/paths/default.yaml`` sets them)."""

    root_dir: str = SI("${oc.env:ARM_EXP_ROOT,${arm_exp.project_root:}}")
    log_dir: str = "${paths.root_dir}/outputs"
    cache_dir: str = "${paths.root_dir}/outputs/.cache"
    output_dir: str = "${hydra:runtime.output_dir}"
    webshop_data: str | None = None
    alfworld_data: str | None = None


@dataclass
class RenderConfig:
    """``benchmark.render.*``: what of a trajectory the reward model reads
    (:class:`arm_exp.reward.render.Renderer`)."""

    observations: bool = True
    thoughts: bool = True


@dataclass
class PlanningDefaults:
    """``benchmark.planning.*``: the paper's planner settings on a benchmark; the planner
    configs (``conf/planner/*.yaml``) read them."""

    sampling_temperature: float = MISSING
    best_of_n: int = MISSING
    reflexion_trials: int = MISSING
    reflexion_temperature: float = MISSING
    reflexion_answer: str = MISSING
    reflexion_threshold: float | None = None  # None: calibrated
    mcts_rollouts: int = MISSING
    mcts_expansion: int = MISSING
    mcts_expansion_mode: str = MISSING
    mcts_expansion_temperature: float = MISSING
    mcts_expansion_pool: int = 0
    mcts_horizon: int | None = None  # None: the env's max_steps
    mcts_rollout_temperature: float = 0.0


@dataclass
class RewardDataDefaults:
    """``benchmark.reward_data.*``: ARMAP's reward-model data on a benchmark
    (``experiment=armap`` reads them)."""

    explore_per_task: int = MISSING
    negatives_per_positive: int = MISSING
    natural_negatives: int = MISSING
    goals: bool = False


@dataclass
class RewardTrainingDefaults:
    """``benchmark.reward_training.*``: ARMAP's reward-model budget on a benchmark."""

    lr: float = MISSING
    epochs: int = MISSING
    effective_batch: int = MISSING
    warmup_ratio: float = MISSING
    max_grad_norm: float = MISSING
    max_length: int = MISSING


@dataclass
class BenchmarkConfig:
    """``benchmark.*`` (``conf/benchmark/<name>.yaml``): what a benchmark is. Its parts that are
    built (``env``, ``agent``, ``synthesis_kit``, ``goal_generator``) are ``_target_`` nodes,
    checked against their constructors (:mod:`arm_exp.config_check`)."""

    name: str = MISSING
    train_split: str = MISSING
    eval_split: str = MISSING
    num_envs: int = MISSING  # episodes in flight, batched policy calls
    step_feedback: bool = False  # the env's grading shown after each step (not ARMAP)
    invalid_action_retries: int = 0
    report_metric: str = "success_rate"  # the paper's headline: success_rate | score
    max_steps: int = MISSING
    random_exclude: list[str] = field(default_factory=list)  # regexes the random agent avoids
    env: Any = MISSING
    agent: Any = MISSING
    synthesis_kit: Any = MISSING
    goal_generator: Any = None  # `arm-exp goals` (WebShop)
    render: RenderConfig = field(default_factory=RenderConfig)
    planning: PlanningDefaults = field(default_factory=PlanningDefaults)
    reward_data: RewardDataDefaults = field(default_factory=RewardDataDefaults)
    reward_training: RewardTrainingDefaults = field(default_factory=RewardTrainingDefaults)


@dataclass
class PluginGroup:
    """``launcher.*`` / ``hparams_search.*``: the Hydra plugin an option needs."""

    name: str = MISSING
    plugin: str | None = None  # its module (None: ships with hydra-core)
    install: str | None = None  # how to install it


@dataclass
class ExploreConfig:
    """``explore.*``: how ``arm-exp explore`` runs the explorer."""

    num_per_task: int = 4  # trajectories per task (record ids <task>#<k>)
    # Episodes in flight (one batched policy call per step). None: benchmark.num_envs, or more
    # when the explorer's LLM is a server: as many as it admits (arm_exp/stages/explore.py).
    num_envs: int | None = None
    invalid_action_retries: int = SI("${benchmark.invalid_action_retries}")
    max_steps: int = SI("${benchmark.max_steps}")


@dataclass
class PlanConfig:
    """``plan.*``: how ``arm-exp plan`` runs the planner."""

    # Tasks planned at once (threads, an env each). None: the policy's (or judge's) LLM
    # server's max_concurrency, else 1 (arm_exp/planning/runner.py). Results do not depend on it.
    concurrency: int | None = None
    # Held-out transfer (beyond ARMAP): a reward model trained on this benchmark may guide
    # planning on another one (refused by default); recorded as the run's `rm_trained_on`.
    allow_rm_from: str | None = None


@dataclass
class SynthesizeConfig:
    """``synthesize.*``."""

    skip_bad: bool = False  # skip (and count) malformed input lines instead of failing


@dataclass
class TrainDataConfig:
    """``train.data.*``: how triplets become batches."""

    batch_size: int = 16  # examples (positive + its negatives) per step
    val_fraction: float = 0.1  # held-out groups (by intent + positive), carved with `seed`
    train_fraction: float = 1.0  # the data-amount ablation: a seeded share of training groups
    negatives_per_example: int | None = None  # None: what the loss wants (1, listwise 4)
    skip_bad: bool = False
    num_workers: int = 0


@dataclass
class TrainConfig:
    """``train.*``: optimizer and schedule (``_target_`` nodes) and the data."""

    optimizer: Any = field(
        default_factory=lambda: {
            "_target_": "torch.optim.AdamW",
            "_partial_": True,
            "lr": 2.0e-5,
            "weight_decay": 0.0,
        }
    )
    scheduler: Any = field(
        default_factory=lambda: {
            "_target_": "arm_exp.reward.schedules.constant_with_warmup",
            "_partial_": True,
            "num_warmup_steps": 10,
        }
    )
    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    # The scheduler's warmup as a share of the run's optimizer steps (ARMAP: 0.1); None keeps
    # the scheduler's own num_warmup_steps.
    warmup_ratio: float | None = None


@dataclass
class GoalsConfig:
    """``goals.*``: how many goals ``arm-exp goals`` writes."""

    num_products: int = 10000  # ARMAP: ~10k products outside the human test goals
    per_product: int = 1  # goals (attribute/option draws) per product
    batch_size: int = 32  # requests per batched writer call (the unit of resumption)


@dataclass
class ReportConfig:
    """``report.*``."""

    format_version: int = 1
    show: bool = True  # print the tables at the end (the pipeline prints them itself)
    pool: list[str] = field(default_factory=lambda: ["seed"])  # repeats, pooled into one row
    baseline: Any = None  # {column: value} of the row to compare with; None: {scorer: none}


@dataclass
class ServeConfig:
    """``serve.*``: ``serve-llm`` / ``serve-rm`` endpoints."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "arm-exp-llm"
    max_batch: int = 64


@dataclass
class ExportConfig:
    """``export.*``: ``arm-exp export``."""

    # Keep LoRA as a PEFT adapter (the head in `modules_to_save`) instead of merging it.
    adapter: bool = False


@dataclass
class StageTasks:
    """Which tasks a benchmark stage of the pipeline runs (None: the stage's own default)."""

    split: str | None = None
    limit: int | None = None


@dataclass
class PipelineConfig:
    """``pipeline.*``: what ``arm-exp pipeline`` runs beyond the stages' own config.

    Every other key and group (``benchmark=``, ``loss=``, ``planner.n=``, ...) reaches the
    stages that read it. ``plans`` compares several planners in one job: one plan run per list
    of overrides (applied after the command line's); empty: one plan run with the composed
    ``planner`` and ``scorer``.
    """

    cache_dir: str = "${paths.log_dir}/pipeline/cache"
    goals: bool = False  # run `arm-exp goals` first and explore its goals (split=extra)
    explore: StageTasks = field(default_factory=StageTasks)
    plan: StageTasks = field(default_factory=StageTasks)
    plans: list[list[str]] = field(default_factory=list)
    # Stage locks: kernel file locks (released when the holder dies, also on NFS with lockd);
    # a number makes them heartbeat leases of that many seconds, for shared file systems
    # without working flock (a crashed holder's lease is taken over once it expires).
    lock_lease_s: float | None = None
    # Run the reward model's stages only, up to this one (goals, explore, synthesize, train),
    # no plan, no report: what a sweep's first waves run (hydra_plugins.arm_exp_waves).
    until: str | None = None


@dataclass
class ArmExpConfig:
    """The top level of every arm-exp config (see the module docstring)."""

    stage: str = "???"
    split: str | None = None  # the benchmark split (a stage sets its own default)
    limit: int | None = None  # first N tasks of the split
    task_ids: list[str] | None = None  # explicit task ids instead of split/limit
    seed: int = 0
    force: bool = False  # recompute even if the run dir holds a complete run
    # Reuse (or resume) a run whose recorded code changed since, with a warning naming the files.
    reuse_across_code_change: bool = False
    input_dir: str | None = None  # the upstream stage's run dir
    input_dirs: list[str] = field(default_factory=list)  # report: more dirs
    rm_ckpt: str | None = None  # reward-model checkpoint (or train run dir)
    wandb_group: str | None = None
    run_name: str | None = None  # W&B name after <stage>:<benchmark>: (default: values set)
    optimized_metric: str | None = None  # what a sweeper (Optuna) optimizes
    paths: PathsConfig = field(default_factory=PathsConfig)
    explore: ExploreConfig = field(default_factory=ExploreConfig)
    plan: PlanConfig = field(default_factory=PlanConfig)
    synthesize: SynthesizeConfig = field(default_factory=SynthesizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    goals: GoalsConfig = field(default_factory=GoalsConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)
    launcher: PluginGroup | None = None
    hparams_search: PluginGroup | None = None
    # Config groups whose option is a `_target_` node (or null), checked against its target.
    llm: Any = None
    explorer_llm: Any = None
    explorer2_llm: Any = None
    synthesizer_llm: Any = None
    explorer: Any = None
    policy: Any = None
    planner: Any = None
    scorer: Any = None
    synthesis: Any = None
    goal_writer: Any = None
    reward_model: Any = None
    loss: Any = None
    trainer: Any = None
    logger: Any = None  # {name: a Lightning logger's `_target_` node}


def role_llm(role: str, *, _root_: DictConfig) -> Any:
    """``${arm_exp.llm:explorer_llm}``: the role's own LLM config if one was picked
    (``llm@explorer_llm=NAME``), else ``llm``'s, so overrides of ``llm.*`` reach the role."""
    node = _root_.get(role)
    return _root_.llm if node is None else node


def grad_accumulation(effective_batch: int, batch_size: int, devices: Any = 1) -> int:
    """``${arm_exp.accumulate:EFFECTIVE,BATCH,DEVICES}``: the micro-batches each device
    accumulates so that an optimizer step sees ``effective_batch`` examples, with
    ``batch_size`` per forward pass on each of ``devices`` (Lightning's ``trainer.devices``: a
    count, a list of ids, or -1/``auto``: every GPU this job sees, one device without CUDA);
    refuses a remainder."""
    n = _device_count(devices)
    per_step = batch_size * n
    if effective_batch % per_step:
        raise ValueError(
            f"an effective batch of {effective_batch} is not a multiple of "
            f"train.data.batch_size={batch_size} x {n} device(s) (trainer.devices={devices})"
        )
    return max(1, effective_batch // per_step)


def _device_count(devices: Any) -> int:
    if isinstance(devices, list | tuple | ListConfig):
        return max(1, len(devices))
    if str(devices) in ("-1", "auto"):
        import torch

        return max(1, torch.cuda.device_count())
    return max(1, int(devices))


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore and our resolvers into OmegaConf (idempotent)."""
    ConfigStore.instance().store(name="arm_exp_schema", node=ArmExpConfig)
    if not OmegaConf.has_resolver("arm_exp.llm"):
        OmegaConf.register_new_resolver("arm_exp.llm", role_llm)
    if not OmegaConf.has_resolver("arm_exp.accumulate"):
        OmegaConf.register_new_resolver("arm_exp.accumulate", grad_accumulation)


register_configs()
# Before any config is composed: the multirun job-dir name (conf/hydra/default.yaml) uses it.
register_resolvers()

# Groups whose option is selected with `group@package=...`: the package is the key they fill.
LLM_ROLES = ("explorer_llm", "explorer2_llm", "synthesizer_llm")


def override_root(key: str) -> str:
    """The top-level key an override addresses: ``planner.n`` -> ``planner``,
    ``llm@synthesizer_llm`` -> ``synthesizer_llm``, ``hydra/launcher`` -> ``hydra``."""
    key = key.lstrip("+~")
    if "@" in key:
        key = key.split("@", 1)[1]
    return key.split(".", 1)[0].split("/", 1)[0]


# -- Hydra helpers -----------------------------------------------------------------------------


def choice(group: str, default: str | None = None) -> str | None:
    """The option chosen for a config group (``planner`` -> ``"mcts"``), from Hydra's runtime.

    An LLM role without a backbone of its own (``llm@synthesizer_llm``) reports ``llm``'s.
    """
    if not HydraConfig.initialized():
        return default
    choices = HydraConfig.get().runtime.choices
    value = choices.get(group)
    if value is None and group.startswith("llm@"):
        value = choices.get("llm")
    return default if value is None else str(value)


def container(node: Any) -> Any:
    """A resolved plain-Python copy of a config node (non-config values pass through)."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return node


def resolved_config(cfg: DictConfig, keys: Iterable[str] | None = None) -> dict[str, Any]:
    """The run's config (or its ``keys``) as plain data, resolved, secrets redacted."""
    wanted = [str(k) for k in cfg if k != "hydra"] if keys is None else list(keys)
    out: dict[str, Any] = {}
    for k in wanted:
        if k not in cfg or k == "hydra":
            continue
        out[k] = None if OmegaConf.is_missing(cfg, k) else container(cfg[k])
    return redact(out)


def require(cfg: DictConfig, key: str) -> Any:
    """``cfg[key]`` (dotted) or a :class:`ConfigError` that says how to pass it."""
    value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
    if value is None or (isinstance(value, str) and value in ("", "???")):
        raise ConfigError(f"config key `{key}` is required: pass {key}=... on the command line")
    return value


def compose(
    config_name: str,
    overrides: Sequence[str] = (),
    output_dir: str | Path | None = None,
    set_hydra_config: bool = True,
) -> DictConfig:
    """Compose a stage's config in-process, as ``arm-exp <stage> <overrides>`` would.

    Sets Hydra's global config (unless ``set_hydra_config`` is false: the pipeline composes its
    stages' configs to key them, inside its own app) so ``${hydra:...}`` interpolations and
    :func:`choice` work; ``output_dir`` becomes the run dir. Used by ``pipeline`` and by tests
    (to run stages in-process).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import open_dict

    def _compose() -> DictConfig:
        return hydra_compose(
            config_name=config_name, overrides=list(overrides), return_hydra_config=True
        )

    if GlobalHydra.instance().is_initialized():  # inside a running app (``pipeline``)
        cfg = _compose()
    else:
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            cfg = _compose()
    if output_dir is not None:
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.run.dir = str(output_dir)
    if set_hydra_config:
        HydraConfig.instance().set_config(cfg)
    return cfg


def sweep_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """``metrics[cfg.optimized_metric]`` for a sweeper (Optuna) to optimize, else None."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    if name not in metrics:
        raise ConfigError(
            f"optimized_metric={name} is not among this stage's metrics: {sorted(metrics)}"
        )
    return float(metrics[name])
