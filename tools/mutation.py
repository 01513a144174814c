"""Mutation testing of the code that decides our numbers (``make mutants``).

For each target of ``tools/mutation.toml`` this runs mutmut in its own scratch dir under
``outputs/mutants/`` (a generated ``pyproject.toml`` with that target's ``[tool.mutmut]``
section; the package, tests and configs linked in), so every target is mutated against its own
tests only. mutmut copies the code to ``mutants/``, finds which of those tests execute each
function, then runs each mutant in a forked process against just those tests.

It prints one line per target (mutants, killed, survived, ..., kill rate) and the diff of every
survivor that ``docs/testing.md`` does not list as equivalent; it exits 1 if there is one.

    python -m tools.mutation [--only SUBSTRING ...] [--max-children N]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tools" / "mutation.toml"
DOC = ROOT / "docs" / "testing.md"
OUT = ROOT / "outputs" / "mutants"
MUTMUT = Path(sys.executable).parent / "mutmut"
# A mutant counts as caught when its tests fail or hang (mutmut's timeout).
CAUGHT = ("killed", "timeout", "caught by type check", "segfault")


@dataclass
class Target:
    module: str
    tests: list[str]
    functions: list[str] = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return self.module.removesuffix(".py").rstrip("/").replace("/", ".")

    @property
    def label(self) -> str:
        return self.module + (f" ({', '.join(self.functions)})" if self.functions else "")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", self.dotted + "_" + "_".join(self.functions)).strip(
            "_"
        )

    def only_mutate(self) -> str:
        return self.module if self.module.endswith(".py") else self.module.rstrip("/") + "/*"

    def patterns(self) -> list[str]:
        """mutmut's mutant-name globs: ``pkg.mod.x_func__mutmut_3``, ``pkg.mod.xǁClsǁmeth__...``."""
        if not self.functions:
            return [f"{self.dotted}.*"]
        out = []
        for f in self.functions:
            cls, _, meth = f.rpartition(".")
            if not cls:
                out.append(f"{self.dotted}.x_{f}__mutmut_*")
            else:
                out.append(f"{self.dotted}.x\u01c1{cls}\u01c1{meth or '*'}__mutmut_*")
        return out


def load_targets(path: Path = TABLE) -> list[Target]:
    data = tomllib.loads(path.read_text())
    return [Target(**t) for t in data["target"]]


def equivalent_mutants(doc: Path = DOC) -> set[str]:
    """Mutant names listed under "## Equivalent mutants" in docs/testing.md."""
    text = doc.read_text() if doc.exists() else ""
    section = text.split("## Equivalent mutants", 1)[1] if "## Equivalent mutants" in text else ""
    section = section.split("\n## ", 1)[0]
    return set(re.findall(r"`(arm_exp\.[^`\s]+__mutmut_\d+)`", section))


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(f'"{x}"' for x in items) + "]"


def prepare(target: Target) -> Path:
    """A fresh scratch dir: links to the code, tests and configs, and the target's config."""
    work = OUT / target.slug
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for name in ("arm_exp", "tests", "conf"):
        (work / name).symlink_to(ROOT / name, target_is_directory=True)
    # The project's own pyproject (pytest markers and options) plus this target's mutmut table.
    section = "\n".join(
        [
            "",
            "[tool.mutmut]",
            'source_paths = ["arm_exp"]',
            f"only_mutate = {_toml_list([target.only_mutate()])}",
            f"pytest_add_cli_args_test_selection = {_toml_list(target.tests)}",
            'pytest_add_cli_args = ["-p", "no:cacheprovider"]',
            'also_copy = ["conf", "tests", "pyproject.toml"]',
            "use_git_change_detection = false",
            "",
        ]
    )
    (work / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text() + section)
    return work


def run_target(target: Target, max_children: int) -> tuple[dict[str, str], float, Path]:
    """Run mutmut for one target; returns {mutant: status}, seconds, and the scratch dir."""
    work = prepare(target)
    env = {
        **os.environ,
        # Forked mutant runs on a 2-core box: one thread each (torch, BLAS, HF tokenizers).
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    started = time.perf_counter()
    log = work / "mutmut.log"
    with log.open("w") as f:
        names = target.patterns() if target.functions else []
        proc = subprocess.run(
            [str(MUTMUT), "run", "--max-children", str(max_children), *names],
            cwd=work,
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise SystemExit(f"mutmut failed on {target.label} (exit {proc.returncode}):\n{tail}")
    out = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    statuses = {}
    globs = target.patterns()
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and any(_fnmatch(name, g) for g in globs):
            statuses[name] = status
    return statuses, seconds, work


def _fnmatch(name: str, glob: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, glob)


def _row(
    label: str, statuses: dict[str, str], equivalent: set[str], seconds: float | None
) -> tuple:
    """A line of the summary: label, mutants, caught, survived, no tests, equivalent, kill rate,
    seconds (None for a module's line inside a package target)."""
    counts = Counter(statuses.values())
    eq = {n for n, s in statuses.items() if s not in CAUGHT and n in equivalent}
    caught = sum(counts[s] for s in CAUGHT)
    n = len(statuses)
    rate = caught / (n - len(eq)) if n - len(eq) else 1.0
    return (label, n, caught, counts["survived"], counts["no tests"], len(eq), rate, seconds)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", default=[], help="targets whose module contains this")
    ap.add_argument("--max-children", type=int, default=2, help="mutants run at once")
    args = ap.parse_args(argv)
    if not MUTMUT.exists():
        raise SystemExit(f"{MUTMUT}: not found; `pip install -e '.[dev]'` installs mutmut")
    targets = [t for t in load_targets() if not args.only or any(s in t.label for s in args.only)]
    equivalent = equivalent_mutants()
    rows, unexplained = [], []
    seen: set[str] = set()  # mutants not caught
    total_started = time.perf_counter()
    for t in targets:
        print(f"== {t.label}: tests {' '.join(t.tests)}", flush=True)
        statuses, seconds, work = run_target(t, args.max_children)
        seen |= {n for n, s in statuses.items() if s not in CAUGHT}
        rows.append(_row(t.label, statuses, equivalent, seconds))
        if not t.module.endswith(".py"):  # a package: one row per module as well
            for module in sorted({n.rsplit(".", 1)[0] for n in statuses}):
                part = {n: s for n, s in statuses.items() if n.rsplit(".", 1)[0] == module}
                rows.append(_row(f"  {module.rsplit('.', 1)[1]}.py", part, equivalent, None))
        for name, status in sorted(statuses.items()):
            if status not in CAUGHT and name not in equivalent:
                unexplained.append((name, status, work))
    elapsed = time.perf_counter() - total_started

    print()
    head = f"{'target':<58} {'mutants':>7} {'caught':>6} {'survived':>8} {'no tests':>8}"
    print(head + f" {'equivalent':>10} {'kill rate':>9} {'time':>7}")
    for label, n, caught, surv, none, eq, rate, seconds in rows:
        took = "" if seconds is None else f"{seconds:.0f}s"
        print(
            f"{label:<58} {n:>7} {caught:>6} {surv:>8} {none:>8} {eq:>10} {100 * rate:>8.1f}%"
            f" {took:>7}"
        )
    print(f"total time {elapsed / 60:.1f} min ({args.max_children} mutants at a time)")
    print("kill rate = caught / (mutants - equivalent); equivalents are listed in docs/testing.md")
    if not args.only:
        stale = sorted(equivalent - seen)
        if stale:
            print(f"\nlisted as equivalent but now caught or gone: {', '.join(stale)}")
    if unexplained:
        print(f"\n{len(unexplained)} mutant(s) not caught and not listed as equivalent:")
        for name, status, work in unexplained:
            diff = subprocess.run(
                [str(MUTMUT), "show", name], cwd=work, capture_output=True, text=True
            ).stdout
            print(f"\n-- {name}: {status}\n{diff.strip()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
