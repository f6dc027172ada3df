"""The rules of docs/architecture.md, enforced: which package may import which, and no long functions.

Imports are read from the source (no package is imported): ``import``/``from`` statements anywhere in
a module, and import strings, i.e. string constants naming a module of the project such as
``"moto_rl.deploy.run.train:main"`` for ``importlib`` (checked against the files, so a config key like
``"storage.url"`` is not one). The project is imported only as ``moto_rl.*``: the repository's folders
``common/`` ... ``deploy/`` are ``moto_rl.common`` ... ``moto_rl.deploy`` (pyproject.toml's package-dir).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "moto_rl"
# unit -> the other units it may import (docs/architecture.md, "Who may import whom"). A unit is a
# top-level folder, or a sub-package of deploy/: one run never reaches up into the campaign that runs it.
LOWER = {"common", "storage", "actors", "learner"}
MAY_IMPORT = {
    "common": set(),
    "storage": {"common"},
    "actors": {"common", "storage"},
    "learner": {"common", "storage"},
    "deploy.run": LOWER,
    "deploy.dataset_builders": LOWER | {"deploy.run"},
    "deploy.campaign": LOWER | {"deploy.run"},
    "deploy": LOWER | {"deploy.run", "deploy.dataset_builders", "deploy.campaign"},  # cli.py, bench.py
}
PACKAGES = ("common", "storage", "actors", "learner", "deploy")  # the folders, each moto_rl.<folder>
# Files exempt from the rule: none. Add one only with a comment saying why and until when.
ALLOWED_FOR_NOW: set[str] = set()
MAX_FUNCTION_LINES = 60


def package_files() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def unit_of(parts: list[str] | tuple[str, ...]) -> str:
    """The unit of a module or file given as its parts below the namespace (("deploy", "run", "driver"))."""
    if parts[0] == "deploy" and len(parts) > 1 and f"deploy.{parts[1]}" in MAY_IMPORT:
        return f"deploy.{parts[1]}"
    return parts[0]


def is_project_module(name: str) -> bool:
    parts = name.split(".")
    if parts[0] != NAMESPACE or len(parts) < 2 or parts[1] not in PACKAGES or not all(p.isidentifier() for p in parts):
        return False
    path = ROOT.joinpath(*parts[1:])
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
        own = unit_of(path.relative_to(ROOT).parts)
        for line, module in imported_modules(ast.parse(path.read_text(), rel)):
            parts = module.split(".")
            if parts[0] != NAMESPACE or len(parts) < 2 or parts[1] not in PACKAGES:
                continue
            other = unit_of(parts[1:])
            if other != own and other not in MAY_IMPORT[own]:
                allowed = sorted(MAY_IMPORT[own]) or "nothing"
                problems.append(f"{rel}:{line} imports {module} ({own} may import only {allowed})")
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


OLD_NAMES = (*PACKAGES, "moto_configs")  # the top-level names the wheel installed before moto_rl
_OLD = "(" + "|".join(OLD_NAMES) + ")"
IMPORT_IN_STRING = re.compile(rf"(?:^|[\s;])(?:import\s+{_OLD}(?=[\s.,;]|$)|from\s+{_OLD}(?:\.\w+)*\s+import\b)")


def bare_imports(files: list[Path]) -> list[str]:
    """'path:line module' for each import of the project by an old top-level name (``common.config``
    for ``moto_rl.common.config``): statements, import strings, and ``python -c`` code in strings."""
    found = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value.split(":")[0]
                if is_project_module(f"{NAMESPACE}.{name}") and "." in name:
                    names = [name]
                names += [m.group(1) or m.group(2) for m in IMPORT_IN_STRING.finditer(node.value)]
            found += [f"{rel}:{node.lineno} {n}" for n in names if n.split(".")[0] in OLD_NAMES]
    return found


# Test files that import the old names on purpose: none but the one that imports a user's own common/.
BARE_IMPORTS_ON_PURPOSE = {
    "tests/common/test_packaging.py",  # a user project's common/ and deploy/ beside the wheel
    "tests/test_architecture.py",  # this file: the checker's own examples
}


def test_the_project_is_imported_only_as_moto_rl():
    files = package_files() + sorted((ROOT / "moto_rl").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    files = [p for p in files if p.relative_to(ROOT).as_posix() not in BARE_IMPORTS_ON_PURPOSE]
    problems = bare_imports(files)
    assert not problems, "import these as moto_rl.<name> (pyproject.toml's package-dir):\n  " + "\n  ".join(problems)


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    """The checkers themselves: an upward import statement, an import string, an import from one run up
    into the campaign, an old top-level name, a long function."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    for folder, name in (("deploy/run", "train.py"), ("deploy/campaign", "spec.py"), ("storage", "store.py")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / name).write_text("")
    bad = tmp_path / "storage" / "bad.py"
    body = "\n".join(f"    x = {i}" for i in range(MAX_FUNCTION_LINES))
    bad.write_text(
        "from moto_rl.deploy.run import train\nTARGET = 'moto_rl.deploy.run.train:main'\nKEY = 'storage.url'\n\n"
        f"def f():\n{body}\n"
    )
    problems = layering_violations([bad])
    assert [p.split(" imports ")[0] for p in problems] == ["storage/bad.py:1", "storage/bad.py:2"]
    upward = tmp_path / "deploy" / "run" / "upward.py"
    upward.write_text("from moto_rl.deploy.campaign.spec import x\nfrom moto_rl.deploy.run.train import y\n")
    assert [p.split(" imports ")[0] for p in layering_violations([upward])] == ["deploy/run/upward.py:1"]
    old = tmp_path / "storage" / "old.py"
    old.write_text(
        "import storage.store\nfrom common import x\nKEY = 'storage.url'\nT = 'storage.store:f'\n"
        "C = 'import actors'\nD = 'from actors to the learner'\n"
    )
    assert bare_imports([old]) == [
        "storage/old.py:1 storage.store",
        "storage/old.py:2 common",
        "storage/old.py:4 storage.store",
        "storage/old.py:5 actors",
    ]
    expected = f"storage/bad.py:5 f() is {MAX_FUNCTION_LINES + 1} lines (limit {MAX_FUNCTION_LINES})"
    assert long_functions([bad]) == [expected]
