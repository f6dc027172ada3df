"""The numbers of a campaign: each run's evaluation curve, grouped by task and method, with seeded
bootstrap intervals over seeds. Plots and tables (``campaign_report``) only draw what this returns.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common.config_loading import load_config_file
from deploy.campaign_spec import runs_dir
from deploy.run_dir import RunDirectory

ABLATION_ORDER = ("full", "no-unc", "no-bc", "no-bc-no-unc", "dreamerv2")
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0

# Paper numbers (final success, %) where the paper gives one: Franka Kitchen from pixels.
PAPER = {"kitchen/mixed": {"full": 100.0, "dreamerv2": 77.5}, "kitchen/partial": {"full": 90.5, "dreamerv2": 13.5}}
PAPER_METAWORLD_NOTE = "MetaWorld (paper Fig. 3): MOTO best or tied on 9 of 10 tasks; no per-task table."


@dataclass
class RunResult:
    name: str
    task: str
    method: str  # the ablation, with the size when a campaign mixes sizes
    seed: int
    finished: bool
    # env_steps, episodes, learner_steps, success_rate, mean_return, epsilon_u
    evals: list[dict] = field(default_factory=list)
    diagnosis: dict = field(default_factory=dict)  # diagnosis.json (`moto diagnose`), when the run has one

    @property
    def final_success(self) -> float:
        return float(self.evals[-1]["success_rate"]) if self.evals else math.nan

    @property
    def epsilon_u(self) -> float:
        """The latest finite epsilon_u (model uncertainty on expert episodes, paper Eq. 12)."""
        values = [float(e.get("epsilon_u", math.nan)) for e in self.evals]
        finite = [v for v in values if math.isfinite(v)]
        return finite[-1] if finite else math.nan


def _read_curves(path: Path) -> list[dict]:
    with open(path) as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def read_run(run: RunDirectory) -> RunResult:
    """The curve from the latest checkpoint (it has epsilon_u), or curves.csv when that has more points."""
    cfg = load_config_file(run.config_path)
    checkpoint = run.latest_checkpoint()
    evals = RunDirectory.read_schedule(checkpoint)["evals"] if checkpoint else []
    if run.curves_path.is_file():
        rows = _read_curves(run.curves_path)
        if len(rows) > len(evals):
            evals = rows
    diagnosis_path = run.path / "diagnosis.json"
    diagnosis = json.loads(diagnosis_path.read_text()) if diagnosis_path.is_file() else {}
    return RunResult(run.path.name, cfg.env.task, cfg.ablation, cfg.seed, run.summary_path.is_file(), evals, diagnosis)


def read_campaign(campaign_dir: str | Path) -> list[RunResult]:
    root = runs_dir(Path(campaign_dir))
    runs = [RunDirectory(p) for p in sorted(root.iterdir()) if (p / "config.yaml").is_file()] if root.is_dir() else []
    results = [read_run(r) for r in runs]
    sizes = {load_config_file(r.config_path).size for r in runs}
    if len(sizes) > 1:  # tell the sizes apart only when there is more than one
        for r, result in zip(runs, results, strict=True):
            result.method = f"{result.method} ({load_config_file(r.config_path).size})"
    return results


def method_order(methods: set[str]) -> list[str]:
    def key(m: str) -> tuple[int, str]:
        base = m.split(" ")[0]
        return (ABLATION_ORDER.index(base) if base in ABLATION_ORDER else len(ABLATION_ORDER), m)

    return sorted(methods, key=key)


def bootstrap_mean(
    values: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 (seeds) and its 95% percentile-bootstrap interval; values (S,) or (S, X)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(samples, len(values)))
    means = values[idx].mean(axis=1)  # (samples,) or (samples, X)
    return values.mean(axis=0), np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def curve_on_grid(runs: list[RunResult]) -> tuple[np.ndarray, np.ndarray]:
    """Success of each seed on a shared x grid of env steps that every seed reached: (X,), (S, X)."""
    xs = [np.array([e["env_steps"] for e in r.evals], dtype=float) for r in runs]
    ys = [np.array([e["success_rate"] for e in r.evals], dtype=float) for r in runs]
    end = min(x[-1] for x in xs)
    grid = np.unique(np.concatenate([x[x <= end] for x in xs]))
    return grid, np.stack([np.interp(grid, x, y) for x, y in zip(xs, ys, strict=True)])


def group(results: list[RunResult]) -> dict[tuple[str, str], list[RunResult]]:
    """(task, method) -> runs with at least one evaluation, ordered by seed."""
    groups: dict[tuple[str, str], list[RunResult]] = {}
    for r in sorted(results, key=lambda r: r.seed):
        if r.evals:
            groups.setdefault((r.task, r.method), []).append(r)
    return groups
