"""Videos as animated GIFs: one encoder for the files in ``videos/`` and the TensorBoard summaries.

TensorBoard's image summary stores encoded image bytes and the browser decodes them, so a GIF in an
image summary plays in the Images tab with the default install (no moviepy, which torch's
``add_video`` needs). The GIF's bytes are exactly the ones saved to disk.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def encode_gif(frames: np.ndarray, fps: float = 10.0, scale: int = 1) -> bytes:
    """frames (T, H, W, 3) uint8 -> the bytes of an animated GIF that loops (nearest-neighbour ``scale``)."""
    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(f"a video is (T, H, W, 3) uint8 with T >= 1, got {frames.shape} {frames.dtype}")
    images = [Image.fromarray(f) for f in frames]
    if scale != 1:
        size = (frames.shape[2] * scale, frames.shape[1] * scale)
        images = [im.resize(size, Image.NEAREST) for im in images]
    buf = io.BytesIO()
    duration_ms = max(20, int(round(1000.0 / fps)))  # browsers clamp faster GIFs to ~10 fps
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def save_gif(frames: np.ndarray, path: str | Path, fps: float = 10.0, scale: int = 2) -> bytes:
    """Write ``frames`` as a GIF file; returns its bytes (to log the same video elsewhere)."""
    data = encode_gif(frames, fps, scale)
    Path(path).write_bytes(data)
    return data


def gif_summary(tag: str, gif: bytes, height: int, width: int):
    """A TensorBoard ``Summary`` holding the GIF as an image (it animates in the Images tab)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=gif)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


def add_gif(writer, tag: str, frames: np.ndarray, step: int, fps: float = 10.0, scale: int = 1) -> bytes:
    """Log (T, H, W, 3) uint8 ``frames`` as an animated GIF to a torch ``SummaryWriter`` (or a
    ``moto_rl.common.tracking.Tracker``, which logs it to each of its backends); returns the bytes."""
    if hasattr(writer, "add_gif"):
        return writer.add_gif(tag, frames, step, fps=fps, scale=scale)
    data = encode_gif(frames, fps, scale)
    _, h, w, _ = np.asarray(frames).shape
    writer._get_file_writer().add_summary(gif_summary(tag, data, h * scale, w * scale), step)
    return data
