"""``s3://`` stores against a real S3 server on 127.0.0.1 (the AWS-mocking package ``moto``'s
``ThreadedMotoServer``), through s3fs, exactly as on a cluster: concurrent writers with one SIGKILLed,
a sampler that sees new episodes, ``moto store verify`` / ``fsck``, and a tiny ``moto train`` whose
``storage.url`` is on the server.

Client settings reach s3fs through fsspec's environment config (``FSSPEC_S3_ENDPOINT_URL``), which
child processes and Ray actors inherit: the way a user points moto at MinIO or another S3 endpoint.
"""

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import fsspec
import numpy as np
import pytest

from storage import Sampler, StoreError, TrajectoryStore, synthetic

REPO = Path(__file__).resolve().parents[2]
BUCKET = "moto-test"
WRITERS, PER_WRITER = 4, 6


@pytest.fixture(scope="module")
def s3_env():
    """A fresh S3 server on 127.0.0.1 with one bucket; the env vars that point s3fs at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FSSPEC_S3_ENDPOINT_URL": f"http://{host}:{port}",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    fsspec.config.conf.setdefault("s3", {})["endpoint_url"] = env["FSSPEC_S3_ENDPOINT_URL"]  # already imported
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    fs.mkdir(BUCKET)
    yield env
    fsspec.config.conf["s3"].pop("endpoint_url", None)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    server.stop()


def _configure(env: dict) -> None:
    os.environ.update(env)
    fsspec.config.conf.setdefault("s3", {})["endpoint_url"] = env["FSSPEC_S3_ENDPOINT_URL"]


def write_many(url: str, writer: int, env: dict, start) -> None:
    _configure(env)
    store = TrajectoryStore.open(url, create=True)  # all writers race to create the store
    start.wait()
    for i in range(PER_WRITER):
        store.append(synthetic.episode(steps=8, size=8, seed=writer * 1000 + i))


def write_forever(url: str, env: dict, start) -> None:
    _configure(env)
    store = TrajectoryStore.open(url, create=True)
    start.wait()
    for seed in range(10_000):
        store.append(synthetic.episode(steps=30, size=16, seed=99_000 + seed))


def test_four_writers_one_sigkilled_on_s3(s3_env):
    url = f"s3://{BUCKET}/concurrent/store"
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=write_many, args=(url, w, s3_env, start)) for w in range(WRITERS - 1)]
    victim = ctx.Process(target=write_forever, args=(url, s3_env, start))
    for p in [*procs, victim]:
        p.start()
    start.set()
    # the killed writer dies wherever it is, once it has committed a few episodes
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            store = TrajectoryStore.open(url)
            if sum(store.meta(i).seed >= 99_000 for i in store.episode_ids()) >= 2:
                break
        except StoreError:
            pass
        time.sleep(0.05)
    else:
        pytest.fail("the victim writer committed nothing within 120 s")
    time.sleep(0.03)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(10)
    for p in procs:
        p.join(120)
        assert p.exitcode == 0

    store = TrajectoryStore.open(url)
    ids = store.episode_ids()
    seeds = [store.meta(i).seed for i in ids]
    assert len(ids) == len(set(ids))
    assert sorted(s for s in seeds if s < 99_000) == sorted(w * 1000 + i for w in range(WRITERS - 1) for i in range(PER_WRITER))
    killed = sorted(s for s in seeds if s >= 99_000)
    assert killed == list(range(99_000, 99_000 + len(killed)))  # the victim's committed ones, no gap, none partial
    assert store.verify() == []
    for eid in ids[::5]:
        episode = store.read(eid)
        np.testing.assert_array_equal(episode.image, synthetic.frames(episode.length, episode.image.shape[1], episode.meta.seed))

    cli = [sys.executable, "-m", "deploy.cli", "store"]
    verify = subprocess.run([*cli, "verify", url], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"{len(ids)} committed episodes checked, 0 problem(s)" in verify.stdout

    # a leftover of an uncommitted episode, as a writer killed between data and marker leaves it
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    leftover_id = f"{time.time_ns() - 10**12:019d}-deadbeef0000"  # 1000 s old
    fs.pipe(f"{BUCKET}/concurrent/store/episodes/{leftover_id}/zarr.json", b"{}")
    assert leftover_id not in TrajectoryStore.open(url).episode_ids()
    fsck = subprocess.run([*cli, "fsck", url, "--older-than", "600"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert f"removed episodes/{leftover_id}" in fsck.stdout
    fs.invalidate_cache()
    assert not fs.exists(f"{BUCKET}/concurrent/store/episodes/{leftover_id}")
    assert TrajectoryStore.open(url).episode_ids() == ids  # committed data untouched


def test_sampler_sees_new_episodes_on_s3(s3_env):
    url = f"s3://{BUCKET}/sampler/store"
    store = TrajectoryStore.open(url, create=True)
    for seed in range(2):
        store.append(synthetic.episode(steps=12, size=8, seed=seed))
    sampler = Sampler(TrajectoryStore.open(url), batch_size=4, seq_len=5, prefetch=0, refresh_seconds=0)
    assert sampler.num_episodes == 2
    writer = TrajectoryStore.open(url)  # another handle, as another process would have
    writer.append(synthetic.episode(steps=12, size=8, seed=7))
    sampler.refresh()
    assert sampler.num_episodes == 3
    batch = sampler.sample()
    assert tuple(batch.image.shape[:2]) == (4, 5)
    sampler.close()


def test_tiny_train_with_its_store_on_s3(s3_env, tmp_path):
    url = f"s3://{BUCKET}/runs/tiny/store"
    overrides = [
        "size=tiny", "seed=0", "run_name=tiny-s3", "logging.progress=false", "logging.diagnostics_every=0",
        f"logging.root={tmp_path}", f"storage.offline_url={tmp_path}/demos", f"storage.url={url}",
        "env.max_episode_steps=10", "workers.num_workers=1",
        "schedule.offline_steps=4", "schedule.updates_per_episode=2", "schedule.online_steps=6",
        "schedule.eval_every_episodes=0", "schedule.eval_episodes=1", "schedule.checkpoint_every=0", "schedule.demo_episodes=2",
        "algo.batch_size=4", "algo.seq_len=8", "algo.agent_batch=16", "algo.imag_horizon=3",
    ]
    env = dict(os.environ, **s3_env, MOTO_RAY_TMP=tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    done = subprocess.run([sys.executable, "-m", "deploy.cli", "train", *overrides], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert url in done.stdout  # the summary names the store
    store = TrajectoryStore.open(url)
    sources = [store.meta(i).source for i in store.episode_ids()]
    assert sources.count("offline") == 2 and sources.count("online") == 3
    assert store.verify() == []
    assert not (tmp_path / "tiny-s3" / "store").exists()  # nothing went to a local folder instead


def test_this_project_and_the_aws_mocking_server_install_side_by_side():
    """Our distribution is `moto-rl` (console script `moto`); the S3 server's is `moto` (import name `moto`)."""
    from importlib.metadata import distribution

    scripts = {e.name: e.value for e in distribution("moto-rl").entry_points if e.group == "console_scripts"}
    assert scripts == {"moto": "deploy.cli:main"}
    import moto.server  # the AWS package; our packages are common/storage/learner/actors/deploy

    assert int(moto.__version__.split(".")[0]) >= 5 and hasattr(moto.server, "ThreadedMotoServer")
