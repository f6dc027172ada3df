"""A campaign spec: a grid of runs (tasks x sizes x ablations x seeds) plus shared overrides.

    # configs/campaigns/example.yaml
    name: example                 # campaign folder runs/campaigns/<name> (default: the file's stem)
    profile: paper                # configs/profiles/<profile>.yaml (default: local)
    tasks: [metaworld/drawer-open, kitchen/mixed]
    seeds: [0, 1, 2]
    ablations: [full, dreamerv2]  # default: [full]
    sizes: [paper]                # default: the profile's size
    overrides: [workers.num_workers=8, perf.amp_bf16=true]   # applied to every run
    max_concurrent: 4             # runs at once (`--max-concurrent` wins)
    store_root: ""                # e.g. s3://bucket/campaign: each run's store at <store_root>/<run name>
    results_dir: docs/results/x   # finished runs' small files go here (commit it); found there = done
    grids:                        # more grids in one campaign (each key defaults to the top-level one);
      - tasks: [metaworld/hammer] #   a run that two grids share (same name) runs once
        ablations: [full, dreamerv2]
        seeds: [0, 1]
        overrides: [schedule.online_steps=2000]   # after the top-level overrides

The spec is an omegaconf structured config, so unknown keys and wrong types fail by name; every
grid point is then resolved with ``load_config`` so a bad task, preset or override fails before
anything starts. Run names depend only on the grid point, which is what makes a campaign resumable.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import ConfigError, load_config, preset_names

# Keys the grid sets for each run; a shared override of them would make run names lie.
RESERVED = {
    "profile": "profile",
    "task": "tasks",
    "env.task": "tasks",
    "ablation": "ablations",
    "size": "sizes",
    "seed": "seeds",
    "run_name": "(derived from the grid point)",
    "logging.root": "--dir",
}


@dataclass
class SubGrid:
    """One more grid of a campaign; an empty list takes the top-level value."""

    tasks: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    ablations: list[str] = field(default_factory=list)
    sizes: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)  # applied after the top-level overrides


@dataclass
class CampaignSpec:
    tasks: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    ablations: list[str] = field(default_factory=lambda: ["full"])
    sizes: list[str] = field(default_factory=list)  # empty: the profile's size
    profile: str = "local"
    overrides: list[str] = field(default_factory=list)
    max_concurrent: int = 1
    store_root: str = ""
    results_dir: str = ""  # where finished runs' small files are exported (see deploy/campaign/export.py)
    grids: list[SubGrid] = field(default_factory=list)
    name: str = ""
    description: str = ""

    def subgrids(self) -> list[SubGrid]:
        """The top-level grid (when it names tasks) and each of ``grids``, with defaults filled in."""
        top = SubGrid(list(self.tasks), list(self.seeds), list(self.ablations), list(self.sizes))
        filled = [
            SubGrid(
                g.tasks or top.tasks,
                g.seeds or top.seeds,
                g.ablations or top.ablations,
                g.sizes or top.sizes,
                list(g.overrides),
            )
            for g in self.grids
        ]
        return ([top] if top.tasks else []) + filled


@dataclass(frozen=True)
class GridPoint:
    """One run of the campaign: its deterministic name and the overrides that build its config."""

    name: str
    task: str
    size: str
    ablation: str
    seed: int
    overrides: tuple[str, ...]

    def run_path(self, campaign_dir: Path) -> Path:
        return runs_dir(campaign_dir) / self.name

    def config(self) -> MotoConfig:
        return load_config(list(self.overrides))


class CampaignSpecError(ConfigError):
    """A bad campaign spec; the message names the key and the fix."""


def runs_dir(campaign_dir: Path) -> Path:
    return Path(campaign_dir) / "runs"


def load_spec(path: str | Path) -> CampaignSpec:
    """Read and check a spec file (keys, types, values); the grid itself is checked by ``expand``."""
    path = Path(path)
    if not path.is_file():
        raise CampaignSpecError(f"campaign spec {path} not found; see configs/campaigns/ for examples")
    try:
        raw = OmegaConf.load(path)
    except Exception as e:
        raise CampaignSpecError(f"cannot read campaign spec {path}: {e}") from None
    if not isinstance(raw, dict) and not OmegaConf.is_dict(raw):
        raise CampaignSpecError(f"campaign spec {path} must be a mapping of keys (tasks:, seeds:, ...)")
    valid = [f.name for f in dataclasses.fields(CampaignSpec)]
    for key in raw:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise CampaignSpecError(f"{path}: unknown key '{key}'.{hint} Valid keys: {', '.join(valid)}.")
    grid_keys = [f.name for f in dataclasses.fields(SubGrid)]
    for i, grid in enumerate(raw.get("grids") or []):
        for key in grid if OmegaConf.is_dict(grid) else []:
            if key not in grid_keys:
                close = difflib.get_close_matches(str(key), grid_keys, n=1)
                hint = f" Did you mean '{close[0]}'?" if close else ""
                raise CampaignSpecError(
                    f"{path}: grids[{i}] has unknown key '{key}'.{hint} Valid keys: {', '.join(grid_keys)}."
                )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(CampaignSpec), raw)
    except (ConfigKeyError, ConfigAttributeError, ValidationError) as e:
        raise CampaignSpecError(f"{path}: bad value for '{e.full_key}': {str(e.msg).splitlines()[0]}") from None
    spec: CampaignSpec = OmegaConf.to_object(merged)  # type: ignore[assignment]
    spec.name = spec.name or path.stem
    check_spec(spec, str(path))
    return spec


def _check_choices(values: list[str], valid: list[str], key: str, source: str) -> None:
    for value in values:
        if value not in valid:
            close = difflib.get_close_matches(value, valid, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise CampaignSpecError(f"{source}: {key} has unknown '{value}'.{hint} Valid: {', '.join(valid)}.")


def check_spec(spec: CampaignSpec, source: str = "campaign spec") -> None:
    grids = spec.subgrids()
    if not grids:
        raise CampaignSpecError(
            f"{source}: 'tasks' is empty; list at least one task, e.g. tasks: [metaworld/drawer-open]"
        )
    for i, grid in enumerate(grids):
        index = i - 1 if spec.tasks else i  # subgrids() puts the top-level grid first when it has tasks
        where = source if index < 0 else f"{source}: grids[{index}]"
        if not grid.tasks:
            raise CampaignSpecError(f"{where}: 'tasks' is empty; e.g. tasks: [metaworld/drawer-open]")
        if not grid.seeds:
            raise CampaignSpecError(f"{where}: 'seeds' is empty; e.g. seeds: [0, 1, 2]")
        if not grid.ablations:
            raise CampaignSpecError(f"{where}: 'ablations' is empty; e.g. ablations: [full]")
        for key in ("tasks", "seeds", "ablations", "sizes"):
            values = getattr(grid, key)
            if len(set(values)) != len(values):
                raise CampaignSpecError(f"{where}: '{key}' lists a value twice: {values}")
        _check_choices(grid.tasks, preset_names("tasks"), "tasks", where)
        _check_choices(grid.ablations, preset_names("ablations"), "ablations", where)
        _check_choices(grid.sizes, preset_names("sizes"), "sizes", where)
    _check_choices([spec.profile], preset_names("profiles"), "profile", source)
    if spec.max_concurrent < 1:
        raise CampaignSpecError(f"{source}: max_concurrent must be >= 1 (got {spec.max_concurrent})")
    for item in spec.overrides + [o for g in spec.grids for o in g.overrides]:
        key = item.split("=", 1)[0]
        if "=" not in item:
            raise CampaignSpecError(f"{source}: override '{item}' is not key=value (e.g. workers.num_workers=8)")
        if key in RESERVED:
            raise CampaignSpecError(
                f"{source}: override '{item}' sets '{key}', which the campaign sets per run; "
                f"use {RESERVED[key]} instead"
            )
        if key == "storage.url" and spec.store_root:
            raise CampaignSpecError(f"{source}: set either store_root or an override of storage.url, not both")


def expand(spec: CampaignSpec, campaign_dir: str | Path) -> list[GridPoint]:
    """All grid points, seed-major within each grid (a half-done grid has every task and method for seed 0
    first); a run that several grids name appears once, where it first appears.

    Each point's config is resolved now, so an error names the run before anything starts.
    """
    points: dict[str, GridPoint] = {}
    for grid in spec.subgrids():
        for point in _expand_grid(spec, grid, runs_dir(Path(campaign_dir))):
            first = points.setdefault(point.name, point)
            if first is not point and first.config() != point.config():
                # a run's name is task-ablation-size-seed: a variant under the same name would be skipped
                # as "already run" and its results silently be the other run's
                raise CampaignSpecError(
                    f"two grids name run {point.name} with different settings ({_differences(first, point)}); "
                    "a campaign runs each name once, so put the variant in a campaign spec of its own"
                )
    return list(points.values())


def flat_config(cfg: MotoConfig) -> dict:
    """A config as {"section.key": value}, for naming what differs between two of them."""
    return _flatten(OmegaConf.to_container(OmegaConf.structured(cfg)))  # type: ignore[arg-type]


def _flatten(d: dict, prefix: str = "") -> dict:
    out: dict = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _differences(a: GridPoint, b: GridPoint) -> str:
    flat_a, flat_b = flat_config(a.config()), flat_config(b.config())
    return ", ".join(f"{k}: {flat_a[k]!r} vs {flat_b.get(k)!r}" for k in flat_a if flat_a[k] != flat_b.get(k))


def _expand_grid(spec: CampaignSpec, grid: SubGrid, root: Path) -> list[GridPoint]:
    sizes: list[str | None] = list(grid.sizes) or [None]
    points: list[GridPoint] = []
    for seed in grid.seeds:
        for task in grid.tasks:
            for size in sizes:
                for ablation in grid.ablations:
                    points.append(_point(spec, root, task, size, ablation, seed, grid.overrides))
    return points


def _point(
    spec: CampaignSpec, root: Path, task: str, size: str | None, ablation: str, seed: int, extra: list[str]
) -> GridPoint:
    base = [f"profile={spec.profile}", f"task={task}", f"ablation={ablation}"] + ([f"size={size}"] if size else [])
    try:
        resolved_size = size or load_config(base).size
    except ConfigError as e:
        raise CampaignSpecError(f"run {task} {ablation} seed {seed}: {e}") from None
    name = f"{task.replace('/', '-')}-{ablation}-{resolved_size}-s{seed}"
    per_run = [f"seed={seed}", f"run_name={name}", f"logging.root={root}"]
    if spec.store_root:
        per_run.append(f"storage.url={spec.store_root.rstrip('/')}/{name}")
    # progress bars of concurrent runs would interleave; the campaign prints its own progress
    overrides = tuple(base + ["logging.progress=false"] + list(spec.overrides) + list(extra) + per_run)
    point = GridPoint(name, task, resolved_size, ablation, seed, overrides)
    try:
        point.config()
    except ConfigError as e:
        raise CampaignSpecError(f"run {name}: {e}") from None
    return point
