"""What a user may point ``moto eval`` and ``moto train init_from=`` at, resolved to one checkpoint file.

Accepted, each with the ``config.yaml`` it was trained with:

    runs/pretrain-x/                      a `moto pretrain` output        -> learner.pt (older: checkpoint.pt)
    runs/pretrain-x/learner.pt            its checkpoint file
    runs/run-x/                           a `moto train` run directory    -> its latest checkpoints/step_N/learner.pt
    runs/run-x/checkpoints/step_N/        one of its checkpoints          -> learner.pt
    runs/run-x/checkpoints/step_N/learner.pt
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from moto_rl.common.config import MotoConfig
from moto_rl.common.errors import UserError
from moto_rl.learner.service import CHECKPOINT_FILE, LEGACY_CHECKPOINT_FILE

INIT_RECORD = "init_from.json"


@dataclass
class CheckpointSource:
    file: Path  # the checkpoint (.pt)
    config: Path  # the config.yaml it was trained with


def _config_above(file: Path) -> Path | None:
    for folder in list(file.parents)[:4]:  # step_N/ -> checkpoints/ -> run/
        if (folder / "config.yaml").is_file():
            return folder / "config.yaml"
    return None


def _latest_run_checkpoint(run: Path) -> Path | None:
    from moto_rl.deploy.run.run_dir import RunDirectory

    latest = RunDirectory(run).latest_checkpoint()
    return latest / CHECKPOINT_FILE if latest else None


def resolve_checkpoint(path: str | Path) -> CheckpointSource:
    """The checkpoint file and config behind ``path`` (see the module docstring), or a UserError saying why not."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(
            f"{path}: no such file or directory; give a `moto pretrain` output, a run directory or a checkpoint"
        )
    if p.is_dir():
        candidates = [p / CHECKPOINT_FILE, p / LEGACY_CHECKPOINT_FILE]
        file = next((c for c in candidates if c.is_file()), None) or _latest_run_checkpoint(p)
        if file is None:
            raise UserError(
                f"{path} holds no checkpoint (no {CHECKPOINT_FILE}, {LEGACY_CHECKPOINT_FILE} or checkpoints/step_N/); "
                "a run writes its first one after schedule.checkpoint_every gradient steps"
            )
    else:
        file = p
    config = _config_above(file)
    if config is None:
        raise UserError(
            f"{file}: no config.yaml beside it or in the folders above; moto needs the config it was trained with"
        )
    return CheckpointSource(file.resolve(), config.resolve())


def load_policy_learner(source: CheckpointSource, cfg: MotoConfig, action_dim: int):
    """(a CPU ``Learner`` with the checkpoint's weights, the step they were saved at); shapes are checked
    with the learner's own clear error, so a checkpoint from another size preset or task fails here."""
    import copy

    from moto_rl.common.config import PerfConfig
    from moto_rl.learner.learner import Learner

    cpu_cfg = copy.deepcopy(cfg)
    cpu_cfg.device, cpu_cfg.perf = "cpu", PerfConfig()  # speed switches change no weight
    learner = Learner(cpu_cfg, action_dim, device="cpu")
    return learner, learner.load(source.file, weights_only=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def prepare_init_from(cfg: MotoConfig, overrides: list[str]) -> dict:
    """Check ``cfg.init_from`` before a run directory exists; point it at the resolved file; return the record.

    Unless ``schedule.offline_steps`` is set on the command line, the offline phase is skipped: the
    weights already had theirs."""
    from moto_rl.common.tasks import task_spec

    source = resolve_checkpoint(cfg.init_from)
    _, step = load_policy_learner(source, cfg, task_spec(cfg.env.task).action_dim)  # raises on a size mismatch
    record = {
        "init_from": cfg.init_from,
        "checkpoint": str(source.file),
        "config": str(source.config),
        "learner_step": step,
        "sha256": _sha256(source.file),
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    cfg.init_from = str(source.file)
    if not any(o.startswith("schedule.offline_steps=") for o in overrides):
        cfg.schedule.offline_steps = 0
    return record


def write_init_record(run_path: Path, record: dict) -> None:
    (Path(run_path) / INIT_RECORD).write_text(json.dumps(record, indent=2) + "\n")
