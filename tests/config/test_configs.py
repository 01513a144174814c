"""Every option of every config group composes with a stage that reads it and instantiates on
CPU without optional extras (heavy resources are created lazily, on first use); every stage's
primary config composes; the schema types what it says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf

from arm_exp.config import CONF_DIR, compose, override_root
from arm_exp.config_check import Origins, check_config
from arm_exp.stages import REGISTRY, get
from arm_exp.stages.base import COMMON
from tests.conftest import have_cuda

CONF = Path(CONF_DIR)
PRIMARY = sorted(p.stem for p in CONF.glob("*.yaml") if p.stem != "base")
# Groups that only override other keys (no objects of their own).
GLOBAL_GROUPS = {"experiment", "debug", "hydra", "paths", "hparams_search", "launcher"}
STAGES = {get(command).name: get(command) for command in REGISTRY}


def _options(group: str) -> list[str]:
    return sorted(
        str(p.relative_to(CONF / group).with_suffix("")) for p in (CONF / group).rglob("*.yaml")
    )


def _reader(group: str) -> str:
    """A stage that reads the group's key (the pipeline for global groups)."""
    key = override_root(group)
    for name, stage in STAGES.items():
        if stage.reads is not None and key in stage.reads:
            return name
    return "pipeline"


GROUPS = sorted(g for g in (p.name for p in CONF.iterdir() if p.is_dir()) if g != "hydra") + [
    "llm@explorer_llm",
    "llm@synthesizer_llm",
]
CASES = [(group, option) for group in GROUPS for option in _options(group.split("@")[0])]


def _package(group: str, option: str) -> str:
    """Where an option lands: its ``# @package X`` header (``objective`` fills
    ``planner.objective``), else the group's name or ``@`` package."""
    path = CONF / group.split("@")[0] / f"{option}.yaml"
    first = path.read_text().splitlines()[:1]
    if first and first[0].startswith("# @package ") and "_global_" not in first[0]:
        return first[0].split()[-1]
    return group.split("@")[-1]


def _targets(node) -> list[DictConfig]:
    """The outermost nodes with a _target_ inside ``node``."""
    if isinstance(node, DictConfig):
        if "_target_" in node:
            return [node]
        return [t for v in node.values() for t in _targets(v)]
    if isinstance(node, ListConfig):
        return [t for v in node for t in _targets(v)]
    return []


def test_every_group_is_read_by_some_stage():
    read = {k for s in STAGES.values() if s.reads for k in s.reads} | COMMON
    on_disk = {p.name for p in CONF.iterdir() if p.is_dir()}
    assert on_disk - read == set()


FOLDER_OPTIONS = {("scorer", "vllm_pooling")}


@pytest.mark.parametrize(("group", "option"), CASES, ids=lambda x: str(x))
def test_option_composes_and_instantiates(group, option, tmp_path, request):
    from arm_exp.sweeps import PLUGIN_GROUPS, PluginMissing, check_plugins

    if group in PLUGIN_GROUPS:
        # an option whose Hydra plugin lives in its own extra (launcher=ray): without the plugin
        # the CLI must refuse it in one line that names the install command
        try:
            check_plugins([f"{group}={option}"], CONF_DIR)
        except PluginMissing as e:
            assert "pip install" in str(e) and option in str(e)
            pytest.skip(f"{group}={option}: plugin not installed ({e})")
    primary = _reader(group)
    extra = []
    if primary in ("plan", "pipeline", "serve_rm"):
        # scorer=vllm_pooling reads an exported folder (what vLLM serves), the others a .ckpt
        rm = "tiny_rm_folder" if (group, option) in FOLDER_OPTIONS else "tiny_rm_ckpt"
        extra.append(f"rm_ckpt={request.getfixturevalue(rm)}")
    cfg = compose(primary, [f"{group}={option}", *extra], tmp_path)
    _resolve_all(cfg)
    # every value of the option (and of what it interpolates) is what its targets take
    assert check_config(cfg, None, Origins(primary, [f"{group}={option}", *extra])) == []
    if group.split("@")[0] in GLOBAL_GROUPS:
        return
    node = OmegaConf.select(cfg, _package(group, option))
    if node is None:  # an explicit "nothing" option (scorer=none)
        assert (CONF / group.split("@")[0] / f"{option}.yaml").read_text().strip()
        return
    targets = _targets(node)
    assert targets, f"{group}/{option}.yaml builds no object (no _target_)"
    for t in targets:
        if t.get("accelerator") == "gpu" and not have_cuda():
            assert callable(get_object(t._target_))  # a GPU trainer cannot be built on a CPU box
            continue
        assert instantiate(t) is not None


def _resolve_all(cfg: DictConfig) -> None:
    """Resolve every interpolation outside the (read-only) hydra node; raises on a broken one."""
    for key in cfg:
        if key == "hydra" or OmegaConf.is_missing(cfg, key):
            continue
        value = cfg[key]
        if isinstance(value, DictConfig | ListConfig):
            OmegaConf.to_container(value, resolve=True)


@pytest.mark.parametrize("primary", PRIMARY)
def test_primary_config_composes(primary, tmp_path):
    cfg = compose(primary, [], tmp_path)
    assert cfg.stage == primary
    assert primary in STAGES


def test_roles_follow_llm_unless_given_their_own(tmp_path):
    roles = ["explorer=llm", "synthesis=llm", "goal_writer=llm"]
    url = ["llm=openai_server", "llm.base_url=http://x:1/v1", "llm.model=m"]
    cfg = compose("pipeline", [*roles, *url], tmp_path)
    for node in (cfg.explorer.llm, cfg.synthesis.llm, cfg.goal_writer.llm, cfg.policy.llm):
        assert (node.base_url, node.model) == ("http://x:1/v1", "m")
    cfg = compose("pipeline", [*roles, *url, "llm@synthesizer_llm=smollm2_cpu"], tmp_path)
    assert cfg.synthesis.llm._target_.endswith("HFLocalLLM")
    assert cfg.goal_writer.llm._target_.endswith("HFLocalLLM")
    assert cfg.explorer.llm.base_url == "http://x:1/v1"
    cfg = compose("pipeline", [*roles, "llm@explorer_llm=openai_server", "explorer_llm.model=e"],
                  tmp_path)  # fmt: skip
    assert cfg.explorer.llm.model == "e" and cfg.synthesis.llm._target_.endswith("HFLocalLLM")


def test_the_schema_types_the_stage_keys(tmp_path):
    from hydra.errors import ConfigCompositionException

    for bad in ["limit=abc", "explore.num_per_task=1.5", "force=maybe", "pipeline.goals=maybe",
                "train.data.batch_size=x", "no_such_key=1"]:  # fmt: skip
        with pytest.raises(ConfigCompositionException):
            compose("pipeline", [bad], tmp_path)
    cfg = compose("pipeline", ["pipeline.plans=[['planner=mcts','scorer=oracle']]"], tmp_path)
    assert OmegaConf.to_container(cfg.pipeline.plans) == [["planner=mcts", "scorer=oracle"]]


def _server_args(node) -> list[str]:
    managed = node.managed
    return [str(a) for a in OmegaConf.to_container(managed.command, resolve=True)]


@pytest.mark.parametrize(
    "option",
    [
        o
        for o in _options("llm")
        if "api_server" in (Path(CONF_DIR) / "llm" / f"{o}.yaml").read_text()
    ],
)
def test_managed_vllm_servers_take_what_the_client_sends(option, tmp_path):
    """The client keeps ``max_concurrency`` requests in flight per replica; the server's batch
    (``--max-num-seqs``) is the same number, so neither side idles nor queues for the other.
    No server forces the slow AWQ kernel (``--quantization awq``: vLLM says use awq_marlin)."""
    cfg = compose("plan", [f"llm={option}", "seed=3"], tmp_path)
    args = _server_args(cfg.llm)
    assert args[args.index("--max-num-seqs") + 1] == str(cfg.llm.max_concurrency)
    if "--quantization" in args:
        assert args[args.index("--quantization") + 1] != "awq"


def test_the_70b_explorer_fits_one_gpu_per_job(tmp_path):
    """experiment=armap's 70B AWQ explorer/synthesizer under a SLURM job of one GPU
    (conf/launcher/submitit_slurm.yaml: gpus_per_node 1): tensor parallel 1 and Marlin kernels,
    whether served, served as replicas, or in-process."""
    cfg = compose("pipeline", ["experiment=armap"], tmp_path)
    slurm = OmegaConf.load(Path(CONF_DIR) / "launcher" / "submitit_slurm.yaml")
    gpus = int(slurm.hydra.launcher.gpus_per_node)
    for role in ("explorer_llm", "synthesizer_llm"):
        args = _server_args(cfg[role])
        tp = (
            int(args[args.index("--tensor-parallel-size") + 1])
            if "--tensor-parallel-size" in args
            else 1
        )
        assert tp <= gpus == 1
        assert args[args.index("--quantization") + 1] == "awq_marlin"
    dp = compose("plan", ["llm=llama3_70b_awq_server_dp"], tmp_path).llm.managed
    assert int(dp.devices_per_replica) == 1
    engine = compose("plan", ["llm=llama3_70b_awq_vllm"], tmp_path).llm
    assert engine.tensor_parallel_size == 1 and engine.quantization == "awq_marlin"
