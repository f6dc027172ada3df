"""Build a typed ``MotoConfig`` from presets and ``key=value`` overrides, with errors a user can act on.

Order of precedence (later wins): dataclass defaults < size preset < task preset < ablation preset <
profile (``configs/profiles/<name>.yaml``, default ``local``) < command-line dotlist. The profile also
names the default size, task and ablation. ``profile=``, ``size=``, ``task=`` and ``ablation=`` on the
command line select presets; every other ``key=value`` overrides one field.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from moto_rl.common.config import MotoConfig
from moto_rl.common.errors import UserError
from moto_rl.common.tasks import UnknownTaskError, task_spec


def _config_dir() -> Path:
    """The presets: the ``moto_rl.configs`` package of an installed wheel (the repository's ``configs/``,
    mapped by pyproject.toml), or ``configs/`` beside the packages in a source tree that is not installed."""
    try:
        return Path(str(importlib.resources.files("moto_rl.configs")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "configs"


CONFIG_DIR = _config_dir()
SELECTORS = ("profile", "size", "task", "ablation")

# Fields whose value must be one of a fixed set.
CHOICES: dict[str, tuple[str, ...]] = {
    "env.gl_backend": ("egl", "osmesa", "glfw"),
    "model.norm": ("layer", "none"),
    "algo.penalty_reduce": ("mean", "max"),
    "algo.imag_member": ("random", "mean"),
    "workers.weight_sync": ("episode", "steps"),
}
LOGGING_BACKENDS = ("tensorboard", "wandb", "mlflow")

# Counts that must be at least 1, and counts where 0 has a documented meaning (never / none / all).
POSITIVE = (
    "env.image_size",
    "env.action_repeat",
    "env.max_episode_steps",
    "model.cnn_depth",
    "model.deter",
    "model.stoch",
    "model.classes",
    "model.hidden",
    "model.mlp_layers",
    "model.ensemble",
    "algo.batch_size",
    "algo.imag_horizon",
    "schedule.updates_per_episode",
    "schedule.eval_episodes",
    "schedule.demo_episodes",
    "workers.envs_per_worker",
    "workers.weight_sync_steps",
    "logging.log_every",
)
NON_NEGATIVE = (
    "algo.agent_batch",
    "schedule.offline_steps",
    "schedule.online_steps",
    "schedule.eval_every_episodes",
    "schedule.checkpoint_every",
    "workers.num_workers",
    "workers.render_threads",
    "storage.max_frames_in_memory",
    "storage.prefetch",
    "logging.diagnostics_every",
    "perf.torch_threads",
)


class ConfigError(UserError, ValueError):
    """A config problem, phrased so that the user knows what to change."""


def preset_names(kind: str) -> list[str]:
    """Names of the presets in ``configs/<kind>/`` (tasks are ``suite/name``)."""
    root = CONFIG_DIR / kind
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _field_names(node: Any) -> list[str]:
    return [f.name for f in dataclasses.fields(node)] if dataclasses.is_dataclass(node) else []


def _schema_at(dotted: str) -> Any:
    """The dataclass instance that holds the parent of ``dotted`` (or None if the path is invalid)."""
    node: Any = MotoConfig()
    for part in dotted.split(".")[:-1]:
        if not dataclasses.is_dataclass(node) or not hasattr(node, part):
            return None
        node = getattr(node, part)
    return node


def _unknown_key_message(key: str, source: str) -> str:
    parent_path, _, leaf = key.rpartition(".")
    node = _schema_at(key)
    valid = _field_names(node)
    if not valid:  # the parent itself is unknown: report from the first bad segment
        return f"{source}: unknown config key '{key}'. Top-level keys: {', '.join(_field_names(MotoConfig()))}."
    close = difflib.get_close_matches(leaf, valid, n=1)
    hint = f" Did you mean '{parent_path + '.' if parent_path else ''}{close[0]}'?" if close else ""
    where = f"'{parent_path}'" if parent_path else "the top level"
    return f"{source}: unknown config key '{key}'.{hint} Valid keys in {where}: {', '.join(valid)}."


def _merge(cfg: DictConfig, other: Any, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(cfg, other)  # type: ignore[return-value]
    except (ConfigKeyError, ConfigAttributeError) as e:
        raise ConfigError(_unknown_key_message(str(e.full_key), source)) from None
    except ValidationError as e:
        raise ConfigError(f"{source}: bad value for '{e.full_key}': {str(e.msg).splitlines()[0]}") from None


def _load_yaml(path: Path) -> DictConfig:
    try:
        return OmegaConf.load(path)  # type: ignore[return-value]
    except Exception as e:  # YAML syntax errors and the like
        raise ConfigError(f"cannot read config file {path}: {e}") from None


def _preset(kind: str, name: str) -> DictConfig:
    path = CONFIG_DIR / kind / f"{name}.yaml"
    if not path.is_file():
        names = preset_names(kind)
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ConfigError(
            f"unknown {kind[:-1] if kind.endswith('s') else kind} '{name}'.{hint} Valid: {', '.join(names)}."
        )
    return _load_yaml(path)


def _split(overrides: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    selectors: dict[str, str] = {}
    dotlist: list[str] = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. size=tiny, algo.bc_weight=0).")
        key, value = item.split("=", 1)
        if key in SELECTORS:
            selectors[key] = value
        else:
            dotlist.append(item)
    return selectors, dotlist


def validate(cfg: MotoConfig) -> None:
    """Checks that a type alone cannot express."""
    try:
        task_spec(cfg.env.task)
    except UnknownTaskError as e:
        raise ConfigError(f"env.task: {e}") from None
    for key, choices in CHOICES.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value not in choices:
            raise ConfigError(f"{key}='{value}' is not valid. Choices: {', '.join(choices)}.")
    if not (cfg.device in ("auto", "cpu", "cuda") or cfg.device.startswith("cuda:")):
        raise ConfigError(f"device='{cfg.device}' is not valid. Choices: auto, cpu, cuda, cuda:N.")
    _check_counts(cfg)
    bad = [b for b in cfg.logging.backends if b not in LOGGING_BACKENDS]
    if bad:
        choices = ", ".join(LOGGING_BACKENDS)
        raise ConfigError(f"logging.backends: unknown backend(s) {', '.join(bad)}. Choices: {choices}.")


def _value(cfg: MotoConfig, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _check_counts(cfg: MotoConfig) -> None:
    defaults = MotoConfig()
    for key in POSITIVE:
        if _value(cfg, key) < 1:
            raise ConfigError(f"{key}={_value(cfg, key)} must be at least 1 (default {_value(defaults, key)}).")
    for key in NON_NEGATIVE:
        if _value(cfg, key) < 0:
            raise ConfigError(
                f"{key}={_value(cfg, key)} must be 0 or more (default {_value(defaults, key)}; "
                "see common/config.py for what 0 means)."
            )
    if cfg.algo.seq_len < 2:
        raise ConfigError(f"algo.seq_len={cfg.algo.seq_len} must be at least 2 (default {defaults.algo.seq_len}).")
    bad = [c for c in cfg.model.decoder_channels if c < 1]
    if not cfg.model.decoder_channels or bad:
        channels = cfg.model.decoder_channels
        raise ConfigError(f"model.decoder_channels={channels} must be a non-empty list of counts >= 1.")


def load_config(overrides: Sequence[str] = (), profile: str = "local") -> MotoConfig:
    """Resolve presets, a profile and overrides into a validated, typed ``MotoConfig``."""
    selectors, dotlist = _split(overrides)
    profile = selectors.get("profile", profile)
    prof = _preset("profiles", profile)
    defaults = MotoConfig()
    size = selectors.get("size", prof.get("size", defaults.size))
    task = selectors.get("task", OmegaConf.select(prof, "env.task", default=defaults.env.task))
    ablation = selectors.get("ablation", prof.get("ablation", defaults.ablation))
    try:
        task_spec(task)
    except UnknownTaskError as e:
        raise ConfigError(f"task: {e}") from None
    cfg: DictConfig = OmegaConf.structured(MotoConfig)
    cfg = _merge(cfg, _preset("sizes", size), f"configs/sizes/{size}.yaml")
    cfg = _merge(cfg, _preset("tasks", task), f"configs/tasks/{task}.yaml")
    cfg = _merge(cfg, _preset("ablations", ablation), f"configs/ablations/{ablation}.yaml")
    cfg = _merge(cfg, prof, f"configs/profiles/{profile}.yaml")
    cfg.size, cfg.env.task, cfg.ablation = size, task, ablation
    if dotlist:
        try:
            cli = OmegaConf.from_dotlist(dotlist)
        except Exception as e:
            raise ConfigError(f"cannot parse overrides {dotlist}: {e}") from None
        cfg = _merge(cfg, cli, "command line")
    typed: MotoConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    validate(typed)
    return typed


def with_task(cfg: MotoConfig, task: str) -> MotoConfig:
    """``cfg`` moved to another task: its env preset (camera, action repeat, episode length) applied on top."""
    try:
        task_spec(task)
    except UnknownTaskError as e:
        raise ConfigError(f"task: {e}") from None
    merged = _merge(
        OmegaConf.structured(cfg),
        OmegaConf.create({"env": _preset("tasks", task).get("env", {})}),
        f"configs/tasks/{task}.yaml",
    )
    typed: MotoConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    typed.env.task = task
    validate(typed)
    return typed


def to_yaml(cfg: MotoConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def save_config(cfg: MotoConfig, path: str | Path) -> None:
    Path(path).write_text(to_yaml(cfg))


def load_config_file(path: str | Path, overrides: Sequence[str] = ()) -> MotoConfig:
    """Load a resolved config written by ``save_config`` (e.g. a run's ``config.yaml``)."""
    cfg: DictConfig = OmegaConf.structured(MotoConfig)
    cfg = _merge(cfg, _load_yaml(Path(path)), str(path))
    if overrides:
        cfg = _merge(cfg, OmegaConf.from_dotlist(list(overrides)), "command line")
    typed: MotoConfig = OmegaConf.to_object(cfg)  # type: ignore[assignment]
    validate(typed)
    return typed
