"""Videos as GIFs in TensorBoard, and the tracking backends (MLflow file store, W&B offline)."""

import io
import json
import sys
import time

import numpy as np
import pytest
from PIL import Image

from moto_rl.common.config_loading import load_config
from moto_rl.common.errors import UserError
from moto_rl.common.tracking import Tracker
from moto_rl.common.video import add_gif, encode_gif


def frames(t=6, h=8, w=10):
    """(t, h, w, 3) uint8 frames of a few flat colours (GIF's palette keeps them exactly)."""
    out = np.zeros((t, h, w, 3), np.uint8)
    for i in range(t):
        out[i, :, : w // 2] = (255, 0, 0) if i % 2 else (0, 0, 255)
        out[i, :, w // 2 :] = (0, 255, 0)
    return out


def decode(gif: bytes) -> np.ndarray:
    im = Image.open(io.BytesIO(gif))
    out = []
    for k in range(im.n_frames):
        im.seek(k)
        out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def test_gif_round_trips_every_frame():
    video = frames()
    gif = encode_gif(video, fps=10)
    assert gif[:6] == b"GIF89a"
    np.testing.assert_array_equal(decode(gif), video)
    big = decode(encode_gif(video, scale=3))
    assert big.shape == (6, 24, 30, 3) and (big[:, ::3, ::3] == video).all()
    with pytest.raises(ValueError, match="uint8"):
        encode_gif(video.astype(np.float32))


def tb_images(logdir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), size_guidance={"images": 0})
    acc.Reload()
    return acc.Images(tag)


def test_gif_is_an_image_summary_tensorboard_reads_back(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tmp_path))
    add_gif(writer, "eval/video", frames(), step=7)
    writer.close()
    (event,) = tb_images(tmp_path, "eval/video")
    assert (event.step, event.width, event.height) == (7, 10, 8)
    np.testing.assert_array_equal(decode(event.encoded_image_string), frames())  # all frames, not a still


def cfg_with(*backends, **extra):
    overrides = [f"logging.backends=[{','.join(backends)}]", *[f"{k}={v}" for k, v in extra.items()]]
    return load_config(overrides)


def log_a_run(tracker, run_dir):
    for step, value in ((10, 0.5), (20, 0.25), (30, 0.125)):
        tracker.add_scalar("model/image_mse", value, step)
    tracker.add_scalar("learner/only_remote", 1.0, 5, tensorboard=False)
    tracker.add_gif("eval/video", frames(), 30, path=run_dir / "eval.gif")
    tracker.log_summary("success 1.00 after 30 steps", {"success_rate": 1.0})
    tracker.close()


def test_tensorboard_backend_has_scalars_video_config_and_summary(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    log_a_run(Tracker(cfg_with("tensorboard"), tmp_path, tb_dir=tmp_path / "tb"), tmp_path)
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0, "tensors": 0})
    acc.Reload()
    assert [(s.step, s.value) for s in acc.Scalars("model/image_mse")] == [(10, 0.5), (20, 0.25), (30, 0.125)]
    assert "learner/only_remote" not in acc.Tags()["scalars"]  # the learner writes its own TensorBoard
    assert len(decode(acc.Images("eval/video")[0].encoded_image_string)) == 6
    assert {"config/text_summary", "summary/text_summary"} <= set(acc.Tags()["tensors"])
    assert (tmp_path / "eval.gif").read_bytes()[:6] == b"GIF89a"


def test_mlflow_file_store_gets_metrics_params_video_and_summary(tmp_path):
    pytest.importorskip("mlflow", reason="the [mlflow] extra is not installed")
    from mlflow.tracking import MlflowClient

    cfg = cfg_with("mlflow", **{"algo.bc_weight": 3.5})
    log_a_run(Tracker(cfg, tmp_path), tmp_path)
    run_id = json.loads((tmp_path / "tracking.json").read_text())["mlflow"]
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    history = client.get_metric_history(run_id, "model/image_mse")
    assert sorted((m.step, m.value) for m in history) == [(10, 0.5), (20, 0.25), (30, 0.125)]
    assert [m.value for m in client.get_metric_history(run_id, "learner/only_remote")] == [1.0]
    run = client.get_run(run_id)
    assert run.data.params["algo.bc_weight"] == "3.5" and run.data.params["env.task"] == "metaworld/drawer-open"
    assert run.data.metrics["final/success_rate"] == 1.0 and run.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(run_id)} | {
        a.path for a in client.list_artifacts(run_id, "videos")
    }
    assert {"config.yaml", "summary.txt", "videos/eval.gif"} <= artifacts

    # a resumed run logs into the same MLflow run
    again = Tracker(cfg, tmp_path)
    again.add_scalar("model/image_mse", 0.0625, 40)
    again.close()
    assert json.loads((tmp_path / "tracking.json").read_text())["mlflow"] == run_id
    assert len(client.get_metric_history(run_id, "model/image_mse")) == 4


def wandb_records(path):
    """The records of an offline W&B run file (LevelDB log format: 32 KiB blocks of CRC, length, type, data)."""
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, parts = 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # block trailer
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:  # zero padding to the end of the block
            pos += -pos % 32768
            continue
        parts = chunk if kind in (1, 2) else parts + chunk  # FULL / FIRST start a record, MIDDLE / LAST extend it
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(parts)
            yield record


def _items(items):
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def test_wandb_offline_run_gets_scalars_config_video_and_summary(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason="the [wandb] extra is not installed")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = cfg_with("wandb", **{"algo.bc_weight": 3.5})
    log_a_run(Tracker(cfg, tmp_path), tmp_path)
    run_id = json.loads((tmp_path / "tracking.json").read_text())["wandb"]
    (run_file,) = (tmp_path / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb")
    deadline = time.monotonic() + 60
    while True:  # W&B's service process writes the file on its own schedule; the run is complete at 'exit'
        records = list(wandb_records(run_file))
        if any(r.WhichOneof("record_type") == "exit" for r in records) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert _items(run.config.update)["algo.bc_weight"] == 3.5
    history = [_items(r.history.item) for r in records if r.WhichOneof("record_type") == "history"]
    assert [(h["step"], h["model/image_mse"]) for h in history if "model/image_mse" in h] == [
        (10, 0.5),
        (20, 0.25),
        (30, 0.125),
    ]
    (video,) = [h for h in history if "eval/video/_type" in h]
    assert video["step"] == 30 and video["eval/video/_type"] == "video-file"
    assert list(run_file.parent.glob("files/media/videos/eval/*.gif"))
    summary = {}
    for r in records:
        if r.WhichOneof("record_type") == "summary":
            summary.update(_items(r.summary.update))
    assert summary["success_rate"] == 1.0 and summary["summary_text"] == "success 1.00 after 30 steps"


def test_a_selected_backend_that_is_not_installed_says_which_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    with pytest.raises(UserError, match=r"pip install 'moto-rl\[wandb\]'"):
        Tracker(cfg_with("tensorboard", "wandb"), tmp_path)
