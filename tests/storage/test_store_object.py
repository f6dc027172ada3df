"""Object-store URLs against real servers on 127.0.0.1, exactly as on a cluster, once per backend:

- ``s3://`` through s3fs, on the AWS-mocking package ``moto``'s ``ThreadedMotoServer``;
- ``gs://`` through gcsfs, on ``gcp-storage-emulator`` (a stub of the GCS JSON API, in memory).

For each: concurrent writers with one SIGKILLed, ``moto store verify`` / ``fsck``, a sampler that sees
new episodes, and a tiny ``moto train`` whose ``storage.url`` is on the server.

The clients are pointed at the servers only by environment variables (fsspec's ``FSSPEC_<PROTOCOL>_<KWARG>``
settings, gcsfs's ``STORAGE_EMULATOR_HOST``), which child processes and Ray actors inherit: the way a user
points moto at MinIO or a GCS emulator (docs/cluster.md). The store code has no test-only path.
"""

import copy
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pytest
from helpers.smoke import smoke_run

# not Sampler here: it needs torch, and the spawned writers import this module
from moto_rl.storage import StoreError, TrajectoryStore, synthetic

REPO = Path(__file__).resolve().parents[2]
WRITERS, PER_WRITER = 4, 6


def _s3_server():
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
    return env, server.stop


def _gs_server():
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    httpd = server._api._httpd  # the emulator's http.server: no public getter for the port it got, nor a quiet mode
    port = httpd.server_port
    printing = httpd.handle_error

    def handle_error(request, client_address):
        # gcsfs asks for an object and its listing at once and hangs up on the one it no longer needs:
        # not an error, but http.server prints a traceback for each
        if not isinstance(sys.exc_info()[1], ConnectionError):
            printing(request, client_address)

    httpd.handle_error = handle_error
    env = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        # the emulator takes no credentials; without this gcsfs first looks for Google ones (application
        # default credentials, the GCE metadata server)
        "FSSPEC_GS_TOKEN": "anon",
        # else gcsfs (2026.10 here) first asks a gRPC API that the emulator does not serve for each bucket's
        # layout and waits 60 s for it. Read when gcsfs is imported: it must be in the environment before that.
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
    }
    return env, server.stop


SERVERS = {"s3": _s3_server, "gs": _gs_server}


@dataclass
class ObjectStore:
    scheme: str
    env: dict[str, str]
    # moto's S3 backend is process-wide and outlives a stopped server: each server gets a bucket of its own
    bucket: str = field(default_factory=lambda: f"moto-test-{uuid.uuid4().hex[:8]}")

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.bucket}/{path}"

    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.filesystem(self.scheme, skip_instance_cache=True)


@pytest.fixture(scope="module", params=list(SERVERS))
def object_store(request):
    """A fresh server on 127.0.0.1 with one bucket, and this process's environment pointing at it
    (children started meanwhile inherit it)."""
    env, stop = SERVERS[request.param]()
    saved_env = {k: os.environ.get(k) for k in env}
    saved_conf = copy.deepcopy(fsspec.config.conf)
    os.environ.update(env)
    fsspec.config.set_conf_env(fsspec.config.conf)  # fsspec read FSSPEC_* when it was imported
    store = ObjectStore(request.param, env)
    fs = store.fs()
    if request.param == "gs":
        assert type(fs).__name__ == "GCSFileSystem", (
            "gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT was set"
        )
    fs.mkdir(store.bucket)
    yield store
    fsspec.config.conf.clear()
    fsspec.config.conf.update(saved_conf)
    for k, v in saved_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    stop()


# The writers are spawned processes: they reach the server through the environment they inherit.
def write_many(url: str, writer: int, start) -> None:
    store = TrajectoryStore.open(url, create=True)  # all writers race to create the store
    start.wait()
    for i in range(PER_WRITER):
        store.append(synthetic.episode(steps=8, size=8, seed=writer * 1000 + i))


def write_forever(url: str, start) -> None:
    store = TrajectoryStore.open(url, create=True)
    start.wait()
    for seed in range(10_000):
        store.append(synthetic.episode(steps=30, size=16, seed=99_000 + seed))


def test_four_writers_one_sigkilled(object_store):
    url = object_store.url("concurrent/store")
    ctx = mp.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=write_many, args=(url, w, start)) for w in range(WRITERS - 1)]
    victim = ctx.Process(target=write_forever, args=(url, start))
    for p in [*procs, victim]:
        p.start()
    start.set()
    # the killed writer dies wherever it is, once it has committed a few episodes
    deadline, store = time.monotonic() + 120, None
    while time.monotonic() < deadline:
        try:
            store = store or TrajectoryStore.open(url)  # one handle: it caches the markers it has read
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
    assert sorted(s for s in seeds if s < 99_000) == sorted(
        w * 1000 + i for w in range(WRITERS - 1) for i in range(PER_WRITER)
    )
    killed = sorted(s for s in seeds if s >= 99_000)
    assert killed == list(range(99_000, 99_000 + len(killed)))  # the victim's committed ones, no gap, none partial
    assert store.verify() == []
    for eid in ids[::5]:
        episode = store.read(eid)
        np.testing.assert_array_equal(
            episode.image, synthetic.frames(episode.length, episode.image.shape[1], episode.meta.seed)
        )

    cli = [sys.executable, "-m", "moto_rl.deploy.cli", "store"]
    verify = subprocess.run([*cli, "verify", url], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert f"{len(ids)} committed episodes checked, 0 problem(s)" in verify.stdout

    # a leftover of an uncommitted episode, as a writer killed between data and marker leaves it
    fs = object_store.fs()
    leftover_id = f"{time.time_ns() - 10**12:019d}-deadbeef0000"  # 1000 s old
    fs.pipe(f"{object_store.bucket}/concurrent/store/episodes/{leftover_id}/zarr.json", b"{}")
    assert leftover_id not in TrajectoryStore.open(url).episode_ids()
    fsck = subprocess.run(
        [*cli, "fsck", url, "--older-than", "600"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    assert f"removed episodes/{leftover_id}" in fsck.stdout
    fs.invalidate_cache()
    assert not fs.exists(f"{object_store.bucket}/concurrent/store/episodes/{leftover_id}")
    assert TrajectoryStore.open(url).episode_ids() == ids  # committed data untouched


def test_sampler_sees_new_episodes(object_store):
    from moto_rl.storage import Sampler

    url = object_store.url("sampler/store")
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


@pytest.mark.ray
def test_tiny_train_with_its_store_on_the_server(object_store, tmp_path):
    url = object_store.url("runs/tiny/store")
    run_name = f"tiny-{object_store.scheme}"
    overrides = smoke_run(
        f"run_name={run_name}",
        "logging.diagnostics_every=0",
        f"logging.root={tmp_path}",
        f"storage.offline_url={tmp_path}/demos",
        f"storage.url={url}",
        "workers.num_workers=1",
        "schedule.offline_steps=4",
        "schedule.online_steps=6",
        "schedule.eval_every_episodes=0",
        "schedule.eval_episodes=1",
        "schedule.checkpoint_every=0",
    )
    # os.environ holds the server's settings: the driver, its local Ray and the actors inherit them
    env = dict(os.environ, MOTO_RAY_TMP=tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    done = subprocess.run(
        [sys.executable, "-m", "moto_rl.deploy.cli", "train", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    assert url in done.stdout  # the summary names the store
    store = TrajectoryStore.open(url)
    sources = [store.meta(i).source for i in store.episode_ids()]
    assert sources.count("offline") == 2 and sources.count("online") == 3
    assert store.verify() == []
    assert not (tmp_path / run_name / "store").exists()  # nothing went to a local folder instead


def test_this_project_and_the_aws_mocking_server_install_side_by_side():
    """Our distribution is `moto-rl` (console script `moto`); the S3 server's is `moto` (import name `moto`)."""
    from importlib.metadata import distribution

    scripts = {e.name: e.value for e in distribution("moto-rl").entry_points if e.group == "console_scripts"}
    assert scripts == {"moto": "moto_rl.deploy.cli:main"}
    import moto.server  # the AWS package; our packages are common/storage/learner/actors/deploy

    assert int(moto.__version__.split(".")[0]) >= 5 and hasattr(moto.server, "ThreadedMotoServer")
