"""The project must never shadow a standard-library module with a top-level package."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_no_top_level_package_shadows_the_standard_library() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py")}
    assert "mailqueue" in packages
    assert not (packages | modules) & set(sys.stdlib_module_names)
