"""The ground floor stays the ground floor: common/ imports nothing from the packages above it, by
import statement or by import string (importlib.import_module("deploy.x"), "learner.y:func")."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UPPER = ("storage", "actors", "learner", "deploy")
MODULE_STRING = re.compile(rf"^({'|'.join(UPPER)})(\.\w+)+(:\w+)?$")


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def upward_references(path: Path, root: Path = ROOT) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
            names = [node.value] if is_module(node.value.split(":")[0]) else []  # not config keys like "storage.url"
        found += [f"{path.relative_to(root)}:{node.lineno}: {n}" for n in names if n.split(".")[0] in UPPER]
    return found


def test_common_imports_nothing_from_the_packages_above_it():
    found = [ref for path in sorted((ROOT / "common").rglob("*.py")) for ref in upward_references(path)]
    assert found == []


def test_the_check_sees_statements_and_strings(tmp_path):
    tmp = tmp_path / "probe.py"
    tmp.write_text(
        'import deploy.train\nfrom learner import x\nimport importlib\nimportlib.import_module("actors.worker")\n'
        'H = "storage.cli:info"\nOK = "common.config"\n'
    )
    found = upward_references(tmp, tmp_path)
    assert sorted(f.split(": ")[1] for f in found) == ["actors.worker", "deploy.train", "learner", "storage.cli:info"]


def test_the_command_line_lives_at_the_top():
    from deploy import cli

    assert cli.build_parser().prog == "moto"
    assert not (ROOT / "common" / "cli.py").exists() and not (ROOT / "common" / "bench.py").exists()
    scripts = (ROOT / "pyproject.toml").read_text()
    assert 'moto = "deploy.cli:main"' in scripts
