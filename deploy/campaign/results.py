"""The numbers of a campaign: each run's evaluation curve, grouped by task and method, with seeded
bootstrap intervals over seeds, Wilson intervals over evaluation episodes and tie-aware rank
correlations. Plots and tables (``campaign.report``) only draw what this returns.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moto_rl.common.config_loading import load_config_file
from moto_rl.common.tasks import task_spec
from moto_rl.deploy.campaign.spec import runs_dir
from moto_rl.deploy.run.run_dir import RunDirectory

ABLATION_ORDER = ("full", "no-unc", "no-bc", "no-bc-no-unc", "dreamerv2")
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
OBJECTS_FILE = "objects.json"  # kitchen: per-object outcomes of the run's stored episodes (campaign.export)

# Paper numbers (final success, %) where the paper gives one: Franka Kitchen from pixels.
PAPER = {"kitchen/mixed": {"full": 100.0, "dreamerv2": 77.5}, "kitchen/partial": {"full": 90.5, "dreamerv2": 13.5}}
PAPER_METAWORLD_NOTE = "MetaWorld (paper Fig. 2): MOTO best or tied on 9 of 10 tasks; no per-task table."
Z95 = 1.959963984540054  # standard normal quantile of 0.975


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The 95% Wilson score interval of ``successes`` of ``n``, as ``moto_rl.deploy.run.eval.wilson_interval`` (not
    imported from there: that module loads torch). Sound at 0/N and N/N, unlike the normal interval."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def spearman(x, y) -> tuple[float, float, int]:
    """Spearman's rank correlation with tied values given their average rank (``scipy.stats.spearmanr``),
    its two-sided p-value and n; (nan, nan, n) when either side is constant or n < 3."""
    from scipy.stats import spearmanr

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = len(x)
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan, math.nan, n
    result = spearmanr(x, y)
    return float(result.statistic), float(result.pvalue), n


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
    # episodes of the final evaluation when curves.csv does not say (runs before its eval_episodes column):
    # the config's schedule.final_eval_episodes (0 = eval_episodes)
    config_final_episodes: int = 0
    objects: tuple[str, ...] = ()  # kitchen: the task's target objects
    success_objects: tuple[str, ...] = ()  # kitchen: the objects its success flag asks for (3 of 4 on partial)
    outcomes: dict = field(default_factory=dict)  # objects.json (campaign.export), when the run has one

    @property
    def final_success(self) -> float:
        return float(self.evals[-1]["success_rate"]) if self.evals else math.nan

    @property
    def final_episodes(self) -> int:
        """Episodes of the final evaluation: curves.csv's eval_episodes, else the config's."""
        if not self.evals:
            return 0
        recorded = self.evals[-1].get("eval_episodes")
        if recorded is not None and math.isfinite(float(recorded)) and recorded > 0:
            return int(recorded)
        return self.config_final_episodes

    @property
    def final_successes(self) -> int:
        return round(self.final_success * self.final_episodes) if self.evals else 0

    @property
    def counts_fewer_objects(self) -> bool:
        """Kitchen ``partial``: success asks for 3 of the task's 4 objects."""
        return bool(self.objects) and set(self.success_objects) != set(self.objects)

    def final_all_objects(self) -> tuple[int | None, str]:
        """Successes of the final evaluation over *every* target object, and how that is known: a
        curves.csv column ``all_objects_successes`` when the driver records one, or a return of 0 (the
        reward counts the objects at their goal at each step, so no evaluation step had any object
        done); None where the run's files cannot tell."""
        if not self.evals:
            return None, "no evaluation"
        last = self.evals[-1]
        recorded = last.get("all_objects_successes")
        if recorded is not None and math.isfinite(float(recorded)):
            return int(recorded), "recorded"
        if float(last.get("mean_return", math.nan)) == 0.0:
            return 0, "final evaluation return 0: no object reached its goal at any step"
        return None, "not recorded (curves.csv has no per-object column)"

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
    outcomes_path = run.path / OBJECTS_FILE
    outcomes = json.loads(outcomes_path.read_text()) if outcomes_path.is_file() else {}
    spec = task_spec(cfg.env.task)
    finished = run.summary_path.is_file()  # an unfinished run's last evaluation is an ordinary one
    final_episodes = (cfg.schedule.final_eval_episodes if finished else 0) or cfg.schedule.eval_episodes
    return RunResult(
        run.path.name,
        cfg.env.task,
        cfg.ablation,
        cfg.seed,
        finished,
        evals,
        diagnosis,
        final_episodes,
        spec.objects,
        spec.bc_filter_objects,
        outcomes,
    )


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
