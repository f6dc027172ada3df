"""`moto pretrain` against the storage package."""

from conftest import tiny_config


def test_pretrain_on_a_tmp_store_writes_checkpoint(tmp_path):
    from learner.pretrain import pretrain
    from storage import TrajectoryStore
    from storage.synthetic import episode

    store = TrajectoryStore.open(str(tmp_path / "store"), create=True)
    for seed in range(3):
        store.append(episode(steps=20, seed=seed, source="offline", success=seed == 0))
    cfg = tiny_config("logging.progress=false", "logging.log_every=1", "logging.diagnostics_every=0", "device=cpu")
    learner = pretrain(cfg, str(tmp_path / "store"), steps=3, run_dir=tmp_path / "run")
    assert learner.step == 3
    assert (tmp_path / "run" / "checkpoint.pt").is_file()
    assert (tmp_path / "run" / "config.yaml").is_file()
