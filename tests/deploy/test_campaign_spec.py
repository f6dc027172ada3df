"""Campaign specs: keys and values are checked with errors that name them; the grid expands deterministically."""

from pathlib import Path

import pytest

from moto_rl.deploy.campaign.spec import CampaignSpecError, expand, load_spec

SPECS = sorted((Path(__file__).resolve().parents[2] / "configs" / "campaigns").glob("*.yaml"))


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
profile: local
tasks: [metaworld/drawer-open, metaworld/plate-slide]
seeds: [0, 1]
ablations: [full, no-bc]
sizes: [tiny]
overrides: [workers.num_workers=1, schedule.online_steps=40]
max_concurrent: 2
"""


def test_grid_is_the_product_seed_major_with_names_from_the_grid_point(tmp_path):
    spec = load_spec(write(tmp_path, GOOD, "grid.yaml"))
    assert spec.name == "grid"  # default name: the file's stem
    points = expand(spec, tmp_path / "camp")
    assert len(points) == 2 * 2 * 2
    assert [p.seed for p in points] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert points[0].name == "metaworld-drawer-open-full-tiny-s0"
    assert len({p.name for p in points}) == len(points)
    assert [p.name for p in expand(spec, tmp_path / "camp")] == [p.name for p in points]  # deterministic
    cfg = points[-1].config()
    assert (cfg.env.task, cfg.ablation, cfg.size, cfg.seed) == ("metaworld/plate-slide", "no-bc", "tiny", 1)
    assert cfg.algo.bc_weight == 0 and cfg.workers.num_workers == 1 and cfg.schedule.online_steps == 40
    assert cfg.run_name == points[-1].name
    assert Path(cfg.logging.root) == tmp_path / "camp" / "runs"
    assert cfg.storage.url == ""  # the store stays inside the run directory


def test_store_root_gives_each_run_its_own_store(tmp_path):
    spec = load_spec(write(tmp_path, GOOD + "store_root: s3://bucket/camp/\n"))
    urls = [p.config().storage.url for p in expand(spec, tmp_path)]
    assert urls[0] == "s3://bucket/camp/metaworld-drawer-open-full-tiny-s0"
    assert len(set(urls)) == len(urls)


def test_without_sizes_the_profile_size_names_the_run(tmp_path):
    spec = load_spec(write(tmp_path, "profile: paper\ntasks: [metaworld/hammer]\n"))
    (point,) = expand(spec, tmp_path)
    assert point.name == "metaworld-hammer-full-paper-s0" and point.config().model.ensemble == 7


@pytest.mark.parametrize(
    "text, message",
    [
        ("taks: [metaworld/hammer]\n", "unknown key 'taks'. Did you mean 'tasks'?"),
        ("tasks: [metaworld/hammer]\nseeds: 3\n", "bad value for 'seeds'"),
        ("tasks: [metaworld/hammer]\nmax_concurrent: lots\n", "bad value for 'max_concurrent'"),
        ("tasks: []\n", "'tasks' is empty"),
        ("tasks: [metaworld/hamer]\n", "tasks has unknown 'metaworld/hamer'. Did you mean 'metaworld/hammer'?"),
        ("tasks: [metaworld/hammer]\nablations: [no_bc]\n", "ablations has unknown 'no_bc'. Did you mean 'no-bc'?"),
        ("tasks: [metaworld/hammer]\nsizes: [huge]\n", "sizes has unknown 'huge'"),
        ("tasks: [metaworld/hammer]\nseeds: [1, 1]\n", "'seeds' lists a value twice"),
        ("tasks: [metaworld/hammer]\noverrides: [seed=3]\n", "sets 'seed', which the campaign sets per run; use seeds"),
        ("tasks: [metaworld/hammer]\noverrides: [task=kitchen/mixed]\n", "use tasks instead"),
        ("tasks: [metaworld/hammer]\noverrides: [workers.num_workers]\n", "is not key=value"),
        (
            "tasks: [metaworld/hammer]\noverrides: [algo.bc_wieght=1]\n",
            "run metaworld-hammer-full-tiny-s0: command line: unknown config key 'algo.bc_wieght'. "
            "Did you mean 'algo.bc_weight'?",
        ),
        ("tasks: [metaworld/hammer]\nmax_concurrent: 0\n", "max_concurrent must be >= 1"),
        ("- metaworld/hammer\n", "must be a mapping"),
    ],
)
def test_bad_specs_fail_naming_the_problem(tmp_path, text, message):
    with pytest.raises(CampaignSpecError) as info:
        expand(load_spec(write(tmp_path, text)), tmp_path)
    assert message in str(info.value)


def test_missing_spec_file_says_where_examples_are(tmp_path):
    with pytest.raises(CampaignSpecError, match="configs/campaigns/"):
        load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_shipped_specs_expand(path, tmp_path):
    points = expand(load_spec(path), tmp_path)
    # the studies sized for a 2-core CPU (the CPU study, the paper-schedule study and their follow-ups) run
    # the tiny model, and small in the scale pair; the GPU campaigns run the paper size
    cpu_scale = path.stem.startswith(("cpu-study", "paper-schedule"))
    assert len(points) >= (1 if cpu_scale else 4)
    assert {p.config().size for p in points} <= ({"tiny", "small"} if cpu_scale else {"paper"})


def test_cpu_study_spec_is_the_issue_grid(tmp_path):
    """Ten MetaWorld tasks with full MOTO; three with the four methods over 2 seeds; kitchen partial once."""
    points = expand(load_spec(SPECS[0].with_name("cpu-study.yaml")), tmp_path)
    metaworld = {p.task for p in points if p.task.startswith("metaworld/") and p.ablation == "full" and p.seed == 0}
    assert len(metaworld) == 10
    ablated = {p.task for p in points if p.ablation == "dreamerv2"}
    assert len(ablated) == 3
    for task in ablated:
        grid = {(p.ablation, p.seed) for p in points if p.task == task}
        assert grid == {(a, s) for a in ("full", "dreamerv2", "no-unc", "no-bc") for s in (0, 1)}
    (kitchen,) = [p for p in points if p.task.startswith("kitchen/")]
    assert kitchen.task == "kitchen/partial" and kitchen.config().schedule.updates_per_episode == 50
    assert len(points) == 32


def test_shipped_specs_cover_the_paper_grids(tmp_path):
    by_name = {p.stem: load_spec(p) for p in SPECS}
    assert len(by_name["metaworld10"].tasks) == 10 and len(by_name["metaworld10"].seeds) >= 3
    assert set(by_name["kitchen"].tasks) == {"kitchen/mixed", "kitchen/partial"}
    assert by_name["ablations"].ablations == ["full", "no-unc", "no-bc", "no-bc-no-unc", "dreamerv2"]


GRIDS = """
profile: local
tasks: [metaworld/drawer-open, metaworld/hammer]
sizes: [tiny]
overrides: [schedule.online_steps=40]
grids:
  - tasks: [metaworld/drawer-open]
    ablations: [full, dreamerv2]
    seeds: [0, 1]
  - tasks: [kitchen/partial]
    overrides: [schedule.online_steps=80, schedule.updates_per_episode=50]
"""


def test_grids_add_runs_once_each_with_their_own_overrides(tmp_path):
    points = expand(load_spec(write(tmp_path, GRIDS)), tmp_path / "camp")
    names = [p.name for p in points]
    assert names == [
        "metaworld-drawer-open-full-tiny-s0",
        "metaworld-hammer-full-tiny-s0",  # the top-level grid
        "metaworld-drawer-open-dreamerv2-tiny-s0",  # its full-s0 run is the top-level one, not repeated
        "metaworld-drawer-open-full-tiny-s1",
        "metaworld-drawer-open-dreamerv2-tiny-s1",
        "kitchen-partial-full-tiny-s0",  # seeds, ablations and sizes default to the top-level ones
    ]
    configs = {p.name: p.config() for p in points}
    assert configs["kitchen-partial-full-tiny-s0"].schedule.online_steps == 80  # the grid's override wins
    assert configs["kitchen-partial-full-tiny-s0"].schedule.updates_per_episode == 50
    assert configs["metaworld-drawer-open-dreamerv2-tiny-s1"].schedule.online_steps == 40
    assert configs["metaworld-drawer-open-dreamerv2-tiny-s1"].algo.bc_weight == 0


@pytest.mark.parametrize(
    "grid, message",
    [
        ("  - tasks: [metaworld/drawr-open]", "grids[0]: tasks has unknown 'metaworld/drawr-open'"),
        ("  - ablations: [full, ful]\n    tasks: [metaworld/hammer]", "grids[0]: ablations has unknown 'ful'"),
        ("  - tasks: [metaworld/hammer]\n    overrides: [seed=3]", "use seeds instead"),
        ("  - tasks: [metaworld/hammer]\n    task: x", "grids[0] has unknown key 'task'. Did you mean 'tasks'?"),
    ],
)
def test_a_bad_grid_is_named(tmp_path, grid, message):
    with pytest.raises(CampaignSpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        expand(load_spec(write(tmp_path, f"tasks: [metaworld/drawer-open]\ngrids:\n{grid}\n")), tmp_path)


def test_two_grids_giving_one_run_different_settings_is_an_error(tmp_path):
    """A run's name is task-ablation-size-seed: a second grid's variant of it (here: 5x the online steps)
    would be skipped as already run, and the study would report the first run's result for it."""
    spec = (
        "tasks: [metaworld/coffee-push]\noverrides: [schedule.online_steps=40]\n"
        "grids:\n  - tasks: [metaworld/coffee-push]\n    overrides: [schedule.online_steps=200]\n"
    )
    with pytest.raises(
        CampaignSpecError,
        match=r"run metaworld-coffee-push-full-\w+-s0 .*"
        r"schedule.online_steps: 40 vs 200.*campaign spec of its own",
    ):
        expand(load_spec(write(tmp_path, spec)), tmp_path / "camp")
