"""The rules of docs/architecture.md, enforced: which package may import which, and no long functions.

Imports are read from the source (no package is imported): ``import``/``from`` statements anywhere in
a module, and import strings, i.e. string constants naming a module of the project such as
``"deploy.train:main"`` for ``importlib`` (checked against the files, so a config key like
``"storage.url"`` is not one).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# package -> the other packages it may import (docs/architecture.md, "Who may import whom")
MAY_IMPORT = {
    "common": set(),
    "storage": {"common"},
    "actors": {"common", "storage"},
    "learner": {"common", "storage"},
    "deploy": {"common", "storage", "actors", "learner"},
}
# Files exempt from the rule: none. Add one only with a comment saying why and until when.
ALLOWED_FOR_NOW: set[str] = set()
MAX_FUNCTION_LINES = 60


def package_files() -> list[Path]:
    return sorted(p for pkg in MAY_IMPORT for p in (ROOT / pkg).rglob("*.py"))


def is_project_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] not in MAY_IMPORT or not all(p.isidentifier() for p in parts):
        return False
    path = ROOT.joinpath(*parts)
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import statement and every import string in a module."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            name = node.value.split(":")[0]
            if is_project_module(name):
                found.append((node.lineno, name))
    return found


def layering_violations(files: list[Path]) -> list[str]:
    problems = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        own = rel.split("/")[0]
        for line, module in imported_modules(ast.parse(path.read_text(), rel)):
            other = module.split(".")[0]
            if other in MAY_IMPORT and other != own and other not in MAY_IMPORT[own]:
                allowed = sorted(MAY_IMPORT[own]) or "nothing"
                problems.append(f"{rel}:{line} imports {module} ({own}/ may import only {allowed})")
    return problems


def long_functions(files: list[Path], limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """'path:line name() is N lines' for each function or method longer than ``limit`` (def to last line)."""
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
                if lines > limit:
                    found.append(f"{rel}:{node.lineno} {node.name}() is {lines} lines (limit {limit})")
    return found


def checked(files: list[Path]) -> list[Path]:
    return [p for p in files if p.relative_to(ROOT).as_posix() not in ALLOWED_FOR_NOW]


def test_packages_import_only_downward():
    problems = layering_violations(checked(package_files()))
    assert not problems, "imports against the layering of docs/architecture.md:\n  " + "\n  ".join(problems)


def test_no_function_is_longer_than_the_limit():
    problems = long_functions(checked(package_files()))
    assert not problems, "split these into parts a reader sees at a glance:\n  " + "\n  ".join(problems)


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    """The checkers themselves: an upward import statement, an import string, a long function."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "train.py").write_text("")
    (tmp_path / "storage").mkdir()
    bad = tmp_path / "storage" / "bad.py"
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES))
    bad.write_text(f"from deploy import train\nTARGET = 'deploy.train:main'\nKEY = 'storage.url'\n\ndef f():\n{body}\n")
    problems = layering_violations([bad])
    assert [p.split(" imports ")[0] for p in problems] == ["storage/bad.py:1", "storage/bad.py:2"]
    expected = f"storage/bad.py:5 f() is {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})"
    assert long_functions([bad]) == [expected]
