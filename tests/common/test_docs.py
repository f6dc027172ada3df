"""The documentation stands alone and matches the command line."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = re.compile(r"\.\./shared|shared/docs|environment[- ]notes", re.IGNORECASE)


def repo_texts():
    yield from [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for top in ("common", "storage", "learner", "actors", "deploy", "configs"):
        yield from sorted(p for p in (ROOT / top).rglob("*") if p.suffix in (".py", ".yaml", ".md"))
    yield from [ROOT / "pyproject.toml", ROOT / "Makefile"]


def test_nothing_points_outside_the_repository():
    found = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in repo_texts()
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert found == []


def test_every_doc_page_named_in_the_readme_and_code_exists():
    named = {m for p in repo_texts() for m in re.findall(r"docs/[\w-]+\.md", p.read_text())}
    assert named and [n for n in sorted(named) if not (ROOT / n).is_file()] == []


def test_the_readme_lists_every_command():
    from moto_rl.deploy.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    readme = (ROOT / "README.md").read_text()
    missing = [c for c in commands if f"`moto {c}" not in readme]
    assert missing == []
