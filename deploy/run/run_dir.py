"""The run directory: everything a run leaves behind, and the atomic checkpoints it resumes from.

runs/<name>/
  config.yaml            the resolved config (what --resume reads back)
  store/                 the run's Zarr store (offline demos + online episodes), unless storage.url
  tb/                    TensorBoard logs (learner losses and diagnostics, success vs env steps, ...)
  checkpoints/step_<N>/  learner.pt (model, optimisers, RNG) + schedule.json, written as one
                         directory and renamed into place, so a crash never leaves half of one
  videos/                evaluation episodes and open-loop predictions as GIFs
  eval/step_<N>/         `moto eval` results: eval.json and GIFs
  curves.csv             one row per evaluation
  success_curve.png      written at the end
  summary.txt            the one-screen summary
  init_from.json         with init_from=: the checkpoint the weights came from (path, step, sha256)
  tracking.json          with logging.backends wandb / mlflow: their run ids (--resume continues them)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config_file, save_config
from moto_rl.common.errors import UserError

KEEP_CHECKPOINTS = 2


class RunDirectory:
    def __init__(self, path: str | Path):
        self.path = Path(path)

    # layout ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def tb_dir(self) -> Path:
        return self.path / "tb"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    @property
    def videos_dir(self) -> Path:
        return self.path / "videos"

    @property
    def curves_path(self) -> Path:
        return self.path / "curves.csv"

    @property
    def plot_path(self) -> Path:
        return self.path / "success_curve.png"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.txt"

    def store_url(self, cfg: MotoConfig) -> str:
        return cfg.storage.url or str(self.path / "store")

    # creation and resumption ------------------------------------------------------------------
    @classmethod
    def create(cls, cfg: MotoConfig) -> RunDirectory:
        name = (
            cfg.run_name
            or f"{cfg.env.task.replace('/', '-')}-{cfg.ablation}-s{cfg.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        run = cls(Path(cfg.logging.root) / name)
        if run.config_path.exists():
            raise UserError(
                f"run directory {run.path} already exists; continue it with "
                f"`moto train --resume {run.path}` or pick another run_name="
            )
        for d in (run.path, run.tb_dir, run.checkpoints_dir, run.videos_dir):
            d.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run.config_path)
        return run

    @classmethod
    def open(cls, path: str | Path) -> tuple[RunDirectory, MotoConfig]:
        run = cls(path)
        if not run.config_path.is_file():
            raise UserError(f"{path} is not a run directory (no config.yaml); start a run with `moto train`")
        return run, load_config_file(run.config_path)

    # checkpoints -------------------------------------------------------------------------------
    def checkpoint_dirs(self) -> list[Path]:
        found = [p for p in self.checkpoints_dir.glob("step_*") if re.fullmatch(r"step_\d+", p.name)]
        return sorted(found, key=lambda p: int(p.name.split("_")[1]))

    def latest_checkpoint(self) -> Path | None:
        dirs = [d for d in self.checkpoint_dirs() if (d / "schedule.json").is_file()]
        return dirs[-1] if dirs else None

    def staging_dir(self, step: int) -> Path:
        """A fresh directory to write a checkpoint into before ``commit_checkpoint``."""
        staging = self.checkpoints_dir / f".staging_{step}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging

    def commit_checkpoint(self, staging: Path, step: int, schedule: dict) -> Path:
        """Rename ``staging`` into place as ``step_<step>``: each change is one rename, so a process stopped
        anywhere in here (a signal, a kill) leaves every checkpoint whole or absent, never torn.

        A whole checkpoint of the same step is kept (same step, same weights) and only its schedule.json is
        replaced; an older one is renamed aside before it is deleted."""
        final = self.checkpoints_dir / f"step_{step:08d}"
        if (final / "schedule.json").is_file():
            _write_atomically(final / "schedule.json", json.dumps(schedule))
            self._discard(staging)
        else:
            (staging / "schedule.json").write_text(json.dumps(schedule))
            if final.exists():  # a torn one from older code: out of the way first
                self._discard(final)
            os.replace(staging, final)  # atomic on one file system: a checkpoint is whole or absent
        for old in self.checkpoint_dirs()[:-KEEP_CHECKPOINTS]:
            self._discard(old)
        return final

    def _discard(self, path: Path) -> None:
        """Rename ``path`` aside (no longer a checkpoint at once), then delete it."""
        trash = self.checkpoints_dir / f".discard_{path.name}"
        shutil.rmtree(trash, ignore_errors=True)
        os.replace(path, trash)
        shutil.rmtree(trash, ignore_errors=True)

    def discard_staging(self) -> list[Path]:
        """Remove what a stopped or killed process left half-written: staging directories, checkpoints
        being deleted. Only while no learner writes into them (before the actors start, after they stop)."""
        found = [p for p in self.checkpoints_dir.glob(".staging_*")] + list(self.checkpoints_dir.glob(".discard_*"))
        for p in found:
            shutil.rmtree(p, ignore_errors=True)
        return found

    @staticmethod
    def read_schedule(checkpoint: Path) -> dict:
        return json.loads((checkpoint / "schedule.json").read_text())

    # curves --------------------------------------------------------------------------------------
    def write_curves(self, evals: list[dict]) -> None:
        """Rewrite curves.csv from the schedule's eval history (so a resumed run's curve continues)."""
        # eval_episodes: how many episodes the success rate is over (0 where an older run did not record it)
        lines = ["env_steps,episodes,learner_steps,success_rate,mean_return,epsilon_u,eval_episodes"]
        lines += [
            f"{e['env_steps']},{e['episodes']},{e['learner_steps']},{e['success_rate']:.4f},{e['mean_return']:.4f},"
            f"{float(e.get('epsilon_u', float('nan'))):.6g},{int(e.get('eval_episodes', 0))}"
            for e in evals
        ]
        tmp = self.curves_path.with_suffix(".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.curves_path)


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def discard_failed_start(run: RunDirectory) -> bool:
    """Remove the directory of a new run that stopped on bad input before its first checkpoint (nothing in
    it is worth keeping, and a left-over config.yaml would block the same run_name). True if removed."""
    if run.latest_checkpoint() is not None or run.summary_path.exists():
        return False
    shutil.rmtree(run.path, ignore_errors=True)
    return True
