"""Dependencies point one way: mailcore ← chatter ← mailqueue ← bounces ← marketing ← demo ← console.

A lower app that must hand work upward calls a small registry the higher app fills in
``AppConfig.ready()``; it never imports the higher app, not even inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["mailcore", "chatter", "mailqueue", "bounces", "marketing", "demo", "console"]
RANK = {app: rank for rank, app in enumerate(LAYERS)}


def imported_modules(tree: ast.AST) -> list[str]:
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def upward_imports(root: Path) -> list[str]:
    found = []
    for app in LAYERS:
        for path in sorted((root / app).rglob("*.py")):
            if "tests" in path.relative_to(root).parts:
                continue
            for module in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
                if RANK.get(module.split(".")[0], -1) > RANK[app]:
                    found.append(f"{path.relative_to(root)} imports {module}")
    return found


def test_no_app_imports_an_app_above_it() -> None:
    assert upward_imports(ROOT) == []


def test_an_upward_import_inside_a_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "chatter").mkdir()
    (tmp_path / "chatter" / "tests").mkdir()
    (tmp_path / "chatter" / "services.py").write_text("import mailcore\ndef f():\n    from mailqueue import tasks\n")
    (tmp_path / "chatter" / "tests" / "test_x.py").write_text("import console\n")
    assert upward_imports(tmp_path) == ["chatter/services.py imports mailqueue"]
