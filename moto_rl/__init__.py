"""MOTO: model-based offline pre-training and online fine-tuning of pixel robot policies.

One import namespace for the whole project. The repository keeps its packages as top-level folders
(``common/``, ``storage/``, ``learner/``, ``actors/``, ``deploy/``, and the presets in ``configs/``);
pyproject.toml's ``package-dir`` installs them as ``moto_rl.common``, ..., ``moto_rl.configs``, so a
wheel adds nothing to site-packages but ``moto_rl``.

A checkout that is not installed (``deploy/gpu_check.sh`` on a GPU node without network) finds them
too: when this folder sits in the repository, the repository root is added to this package's search
path, which maps ``moto_rl.X`` to the folder ``X/`` exactly as the installed mapping does.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version
from pathlib import Path

DISTRIBUTION = "moto-rl"  # pyproject.toml's [project] name (the console script is `moto`)

_REPOSITORY = Path(__file__).resolve().parent.parent


def _checkout_project() -> dict | None:
    """pyproject.toml's [project] table when this package sits in a moto-rl checkout, else None."""
    try:
        with open(_REPOSITORY / "pyproject.toml", "rb") as f:
            project = tomllib.load(f).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return project if project.get("name") == DISTRIBUTION else None


def _version() -> str:
    """The installed distribution's version; from the checkout's pyproject.toml when it is not installed."""
    try:
        return _installed_version(DISTRIBUTION)
    except PackageNotFoundError:
        project = _checkout_project()
        return str(project.get("version", "unknown")) if project else "unknown"


if _checkout_project() is not None and str(_REPOSITORY) not in __path__:
    __path__.append(str(_REPOSITORY))

__version__ = _version()
