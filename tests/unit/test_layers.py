"""The layers hold: `lint-imports` keeps every import to the contract in pyproject.toml, and a
contract broken on purpose makes it fail, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("bench", "house", "services", "projections", "crew", "schemas")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_tree_keeps_its_layers() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_kernel_that_imports_the_house_breaks_the_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / "crew" / "shell.py").open("a") as shell:
        shell.write("\nfrom house import cli  # noqa: E402, F401\n")

    result = lint_imports(tmp_path)

    assert result.returncode != 0
    assert "crew is not allowed to import house" in result.stdout
    assert "crew.shell -> house.cli" in result.stdout
