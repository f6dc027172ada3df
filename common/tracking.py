"""Experiment tracking behind one setting: ``logging.backends: [tensorboard, wandb, mlflow]``.

A ``Tracker`` has the calls of torch's ``SummaryWriter`` that moto uses (``add_scalar``, ``add_image``,
``flush``, ``close``) plus ``add_gif`` (a video: a GIF file in the run directory and in each backend)
and ``log_summary`` (the final one-screen summary). Each backend receives the resolved config when the
tracker opens. TensorBoard is a dependency; W&B and MLflow are extras, imported only when selected.

Resuming a run (``moto train --resume``) continues the same W&B and MLflow runs: their ids are kept in
``<run_dir>/tracking.json``.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from moto_rl.common.config import MotoConfig
from moto_rl.common.errors import UserError
from moto_rl.common.video import encode_gif, gif_summary

IDS_FILE = "tracking.json"


def _flat_config(cfg: MotoConfig) -> dict[str, Any]:
    from omegaconf import OmegaConf

    nested = OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(f"{prefix}{k}.", v)
        else:
            flat[prefix[:-1]] = node

    walk("", nested)
    return flat


def _missing_extra(name: str, extra: str) -> UserError:
    return UserError(
        f"logging.backends has '{name}' but {name} is not installed: pip install 'moto-rl[{extra}]' "
        f"(in a checkout: pip install -e '.[{extra}]'), or drop '{name}' from logging.backends"
    )


class TensorBoardBackend:
    def __init__(self, tb_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(tb_dir))

    def config(self, cfg: MotoConfig, yaml_text: str) -> None:
        self.writer.add_text("config", "```\n" + yaml_text + "\n```", 0)

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, image, step, dataformats="HWC")

    def gif(self, tag: str, gif: bytes, shape: tuple[int, int], path: Path | None, step: int) -> None:
        self.writer._get_file_writer().add_summary(gif_summary(tag, gif, *shape), step)

    def summary(self, text: str, values: dict[str, float]) -> None:
        self.writer.add_text("summary", "```\n" + text + "\n```", 0)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class WandbBackend:
    """W&B; ``WANDB_MODE=offline`` writes the run under ``<run_dir>/wandb`` (``wandb sync`` uploads it)."""

    def __init__(self, cfg: MotoConfig, run_dir: Path, ids: dict):
        try:
            import wandb
        except ImportError:
            raise _missing_extra("wandb", "wandb") from None
        self.wandb = wandb
        ids.setdefault("wandb", uuid.uuid4().hex[:8])  # W&B run ids are short [a-z0-9] strings
        self.run = wandb.init(
            project=cfg.logging.wandb_project,
            name=run_dir.name,
            id=ids["wandb"],
            resume="allow",
            dir=str(run_dir),
            config=_flat_config(cfg),
            reinit="create_new",
        )
        self.run.define_metric("step")
        self._defined: set[str] = set()

    def _x(self, tag: str) -> None:
        # each series carries its own x (driver scalars use env steps, learner ones gradient steps)
        if tag not in self._defined:
            self.run.define_metric(tag, step_metric="step")
            self._defined.add(tag)

    def config(self, cfg: MotoConfig, yaml_text: str) -> None:
        pass  # given to wandb.init

    def scalar(self, tag: str, value: float, step: int) -> None:
        self._x(tag)
        self.run.log({tag: value, "step": step})

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self._x(tag)
        self.run.log({tag: self.wandb.Image(image), "step": step})

    def gif(self, tag: str, gif: bytes, shape: tuple[int, int], path: Path | None, step: int) -> None:
        if path is not None:
            self._x(tag)
            self.run.log({tag: self.wandb.Video(str(path), format="gif"), "step": step})

    def summary(self, text: str, values: dict[str, float]) -> None:
        self.run.summary.update(values)
        self.run.summary["summary_text"] = text

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.run.finish()


class MlflowBackend:
    """MLflow through its client (no global active run); by default a file store at ``<run_dir>/mlruns``."""

    BATCH = 200

    def __init__(self, cfg: MotoConfig, run_dir: Path, ids: dict):
        try:
            from mlflow.entities import Metric
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise _missing_extra("mlflow", "mlflow") from None
        self.Metric = Metric
        uri = cfg.logging.mlflow_tracking_uri or (run_dir.resolve() / "mlruns").as_uri()
        if uri.startswith("file:"):
            # MLflow 3 keeps its file store (the serverless default here) behind this documented opt-in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(cfg.logging.mlflow_experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(cfg.logging.mlflow_experiment)
        if "mlflow" not in ids:
            ids["mlflow"] = self.client.create_run(exp_id, run_name=run_dir.name).info.run_id
        self.run_id = ids["mlflow"]
        self.pending: list = []

    def config(self, cfg: MotoConfig, yaml_text: str) -> None:
        from mlflow.entities import Param

        params = [Param(k, str(v)[:6000]) for k, v in _flat_config(cfg).items()]
        try:
            for i in range(0, len(params), 100):
                self.client.log_batch(self.run_id, params=params[i : i + 100])
        except Exception:  # a resumed run has them already (MLflow params are write-once)
            pass
        self.client.log_text(self.run_id, yaml_text, "config.yaml")

    def scalar(self, tag: str, value: float, step: int) -> None:
        import time

        self.pending.append(self.Metric(tag, float(value), int(time.time() * 1000), int(step)))
        if len(self.pending) >= self.BATCH:
            self.flush()

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self.client.log_image(self.run_id, np.asarray(image), f"{tag.replace('/', '_')}_{step:08d}.png")

    def gif(self, tag: str, gif: bytes, shape: tuple[int, int], path: Path | None, step: int) -> None:
        if path is not None:
            self.client.log_artifact(self.run_id, str(path), "videos")

    def summary(self, text: str, values: dict[str, float]) -> None:
        self.client.log_text(self.run_id, text, "summary.txt")
        for key, value in values.items():
            self.scalar(f"final/{key}", value, 0)

    def flush(self) -> None:
        if self.pending:
            self.client.log_batch(self.run_id, metrics=self.pending)
            self.pending = []

    def close(self) -> None:
        self.flush()
        self.client.set_terminated(self.run_id)


class Tracker:
    """Every backend of ``cfg.logging.backends``; TensorBoard events go to ``tb_dir``."""

    def __init__(self, cfg: MotoConfig, run_dir: str | Path, tb_dir: str | Path | None = None):
        from moto_rl.common.config_loading import to_yaml

        self.run_dir = Path(run_dir)
        ids_path = self.run_dir / IDS_FILE
        ids = json.loads(ids_path.read_text()) if ids_path.is_file() else {}
        self.backends: list[Any] = []
        for name in dict.fromkeys(cfg.logging.backends):  # in order, once each
            if name == "tensorboard":
                self.backends.append(TensorBoardBackend(Path(tb_dir) if tb_dir else self.run_dir / "tb"))
            elif name == "wandb":
                self.backends.append(WandbBackend(cfg, self.run_dir, ids))
            elif name == "mlflow":
                self.backends.append(MlflowBackend(cfg, self.run_dir, ids))
            else:
                raise UserError(f"logging.backends: unknown backend '{name}'; choices: tensorboard, wandb, mlflow")
        if ids:
            ids_path.write_text(json.dumps(ids))
        yaml_text = to_yaml(cfg)
        for b in self.backends:
            b.config(cfg, yaml_text)

    def add_scalar(self, tag: str, value: float, step: int, tensorboard: bool = True) -> None:
        """``tensorboard=False``: only the other backends (TensorBoard has the series from another process)."""
        for b in self.backends:
            if tensorboard or not isinstance(b, TensorBoardBackend):
                b.scalar(tag, float(value), int(step))

    def add_image(self, tag: str, image: np.ndarray, step: int, dataformats: str = "HWC") -> None:
        if dataformats != "HWC":
            raise ValueError("Tracker.add_image takes (H, W, 3) images")
        for b in self.backends:
            b.image(tag, image, int(step))

    def add_gif(
        self, tag: str, frames: np.ndarray, step: int, path: str | Path | None = None, fps: float = 10.0, scale: int = 1
    ) -> bytes:
        """A video: written to ``path`` (if given) and logged to every backend as an animated GIF."""
        gif = encode_gif(frames, fps, scale)
        if path is not None:
            Path(path).write_bytes(gif)
        _, h, w, _ = np.asarray(frames).shape
        for b in self.backends:
            b.gif(tag, gif, (h * scale, w * scale), Path(path) if path else None, int(step))
        return gif

    def log_summary(self, text: str, values: dict[str, float]) -> None:
        for b in self.backends:
            b.summary(text, values)

    def flush(self) -> None:
        for b in self.backends:
            b.flush()

    def close(self) -> None:
        for b in self.backends:
            b.close()
