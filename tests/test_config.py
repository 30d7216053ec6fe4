"""Config loading: every recipe loads, overrides convert types, bad keys and values are named."""

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from sdpo_jax.config import ConfigError, available, format_config, load_config

RECIPES = ["chart", "web", "slide", "chart_tiny", "web_tiny", "slide_tiny"]


def test_every_recipe_is_shipped_and_loads(tmp_path):
    assert sorted(available()) == sorted(RECIPES)
    (tmp_path / "config.json").write_text("{}")
    for name in RECIPES:
        overrides = [] if name.endswith("_tiny") else [f"model.path={tmp_path}"]
        config = load_config(name, overrides)
        assert config.name == name
        assert config.data.task == name.removesuffix("_tiny")


def test_paper_scale_recipes_match_the_paper_setup(tmp_path):
    """The values cited in configs/_common.py, the same for all three tasks."""
    (tmp_path / "config.json").write_text("{}")
    configs = [load_config(name, [f"model.path={tmp_path}"]) for name in ("chart", "web", "slide")]
    for config in configs:
        assert (config.model.preset, config.train.batch_prompts, config.sampling.num_samples) == (
            "8b",
            32,
            8,
        )
        objective, optim = config.objective, config.optim
        assert (objective.divergence, objective.support, objective.topk) == (
            "reverse_kl",
            "topk",
            20,
        )
        assert (objective.is_clip, objective.eps_low, objective.eps_high, objective.beta) == (
            2.0,
            0.2,
            0.28,
            0.0,
        )
        assert (objective.sd_weight, objective.credit_gamma) == (1.0, 1.0)
        assert (optim.lr, optim.warmup_steps, optim.min_lr_ratio) == (1e-6, 0, 1.0)
        assert dict(config.mesh.rules)["heads"] == ("tensor",)
    # Only the task, and the benchmark's visual score that goes with it, differ.
    assert [c.reward.visual for c in configs] == ["chartmimic", "design2code", "slide"]
    without_task = [
        dataclasses.replace(
            c,
            name="",
            data=dataclasses.replace(c.data, task="chart"),
            reward=dataclasses.replace(c.reward, visual="chartmimic"),
        )
        for c in configs
    ]
    assert without_task[0] == without_task[1] == without_task[2]


def test_overrides_convert_to_the_declared_types():
    config = load_config(
        "chart_tiny",
        [
            "train.steps=7",
            "optim.lr=3e-5",
            "model.remat=true",
            "objective.divergence=jsd",
            "run_dir=/tmp/somewhere",
            'mesh.rules=[["embed", ["fsdp"]], ["heads", []]]',
            "eval.out_dir=none",
        ],
    )
    assert config.train.steps == 7 and isinstance(config.train.steps, int)
    assert config.optim.lr == pytest.approx(3e-5)
    assert config.model.remat is True
    assert config.objective.divergence == "jsd"
    assert config.run_dir == "/tmp/somewhere"
    assert config.mesh.rules == (("embed", ("fsdp",)), ("heads", ()))
    assert config.eval.out_dir is None


def test_printed_config_round_trips_through_overrides():
    changed = load_config("web_tiny", ["objective.topk=7", "model.remat=true"])
    again = load_config("web_tiny", format_config(changed).splitlines())
    assert again == changed


@pytest.mark.parametrize(
    ("override", "named", "allowed"),
    [
        ("trian.steps=3", "'trian'", "train"),
        ("train.stepz=3", "'train.stepz'", "train.steps"),
        ("train.steps=three", "train.steps", ">= 1"),
        ("train.steps=0", "train.steps", ">= 1"),
        ("optim.lr=-1e-3", "optim.lr", ">= 0.0"),
        ("objective.divergence=kl", "objective.divergence", "reverse_kl, forward_kl, jsd"),
        ("objective.jsd_alpha=1.5", "objective.jsd_alpha", "<= 1.0"),
        ("model.remat=maybe", "model.remat", "true, false"),
        ("model.preset=70b", "model.preset", "tiny, mini, 2b, 4b, 8b"),
        ("sampling.num_samples=1", "sampling.num_samples", "a group needs at least 2"),
        ("reward.visual=clip", "reward.visual", "ssim, chartmimic, design2code, slide"),
        ("train=3", "'train'", "train.<key>"),
        ("train.steps.x=3", "'train.steps.x'", "no sub-keys"),
        ("train.steps", "'train.steps'", "key.sub=value"),
    ],
)
def test_bad_overrides_fail_naming_the_key_and_the_allowed_values(override, named, allowed):
    with pytest.raises(ConfigError) as err:
        load_config("chart_tiny", [override])
    message = str(err.value)
    assert "\n" not in message
    assert named in message and allowed in message


def test_paper_scale_without_weights_says_how_to_point_at_them():
    with pytest.raises(ConfigError, match=r"model\.path=.*_tiny configs run without weights"):
        load_config("chart")
    # The memory plan reads shapes only: a preset stands in for the weights there.
    assert load_config("chart", ["model.preset=2b"], weights=False).model.preset == "2b"


def test_model_path_must_be_a_model_folder(tmp_path):
    with pytest.raises(ConfigError, match=r"no config\.json"):
        load_config("web", [f"model.path={tmp_path}"])
    with pytest.raises(ConfigError, match=r"^warmstart\.init=.*\(no config\.json"):
        load_config("chart_tiny", [f"warmstart.init={tmp_path}"])


def test_unknown_recipe_lists_the_available_ones():
    with pytest.raises(ConfigError, match="chart_tiny"):
        load_config("chart_huge")


def test_cross_field_checks():
    with pytest.raises(ConfigError, match=r"train\.microbatches"):
        load_config("chart_tiny", ["train.batch_prompts=3", "train.microbatches=2"])
    with pytest.raises(ConfigError, match=r"data\.path"):
        load_config("chart_tiny", ["data.source=chartmimic"])
    with pytest.raises(ConfigError, match=r"reward\.visual='design2code' does not score chart"):
        load_config("chart_tiny", ["reward.visual=design2code"])
    with pytest.raises(ConfigError, match=r"teacher\.departures .* reward\.visual='ssim'"):
        load_config("chart_tiny", ["teacher.departures=true", "reward.visual=ssim"])
    for recipe in ("chart_tiny", "web_tiny", "slide_tiny"):
        assert load_config(recipe, ["teacher.departures=true"]).teacher.departures
    with pytest.raises(ConfigError, match=r"teacher\.max_context_tokens=300 leaves no room"):
        load_config("chart_tiny", ["teacher.max_context_tokens=300"])
    assert (
        load_config("chart_tiny", ["teacher.max_context_tokens=0"]).teacher.max_context_tokens == 0
    )


def test_tiny_recipes_start_from_the_shipped_warm_start_unless_told_otherwise():
    for task in ("chart", "web", "slide"):
        assert (Path(load_config(f"{task}_tiny").model.path) / "config.json").is_file()
    fresh = load_config("chart_tiny", ["model.path=none"])
    assert fresh.model.path is None and fresh.model.preset == "tiny"


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "sdpo_jax.config", *args], capture_output=True, text=True, timeout=60
    )


def test_print_config_command_prints_the_resolved_config():
    run = _cli("slide_tiny", "sampling.top_p=0.9", "--print-config")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert "sampling.top_p=0.9" in lines and "name=slide_tiny" in lines
    assert "mesh.rules=[]" in lines


def test_cli_bad_value_is_one_line_and_nonzero_exit():
    run = _cli("chart_tiny", "train.steps=-2", "--print-config")
    assert run.returncode != 0
    assert run.stderr.strip().count("\n") == 0
    assert run.stderr.startswith("config error: train.steps=-2")


def test_paper_sharding_rules_cover_every_logical_axis_of_the_model():
    from configs._common import PAPER_SHARDING_RULES
    from models.sharding import DEFAULT_RULES
    from sdpo_jax.runtime import sharding_rules

    assert {name for name, _ in PAPER_SHARDING_RULES} == set(DEFAULT_RULES)
    config = load_config("chart_tiny", ['mesh.rules=[["embed", ["fsdp"]], ["heads", []]]'])
    assert sharding_rules(config.mesh) == {"embed": ("fsdp",), "heads": None}
    assert sharding_rules(load_config("chart_tiny").mesh) is None


def test_mesh_shape_fills_the_open_axis():
    from sdpo_jax.config import MeshConfig
    from sdpo_jax.errors import RunError
    from sdpo_jax.runtime import mesh_shape

    assert mesh_shape(MeshConfig(data=1, fsdp=-1, tensor=2), 8) == (1, 4, 2)
    assert mesh_shape(MeshConfig(data=2, fsdp=2, tensor=2), 8) == (2, 2, 2)
    with pytest.raises(RunError, match="cannot be split"):
        mesh_shape(MeshConfig(data=1, fsdp=-1, tensor=3), 8)
    with pytest.raises(RunError, match="at most one"):
        mesh_shape(MeshConfig(data=-1, fsdp=-1, tensor=1), 8)


@pytest.mark.parametrize("name", ["chart_tiny", "web_tiny", "slide_tiny", "chart"])
def test_every_recipe_takes_all_devices(name):
    """A recipe started on 8 devices (one host's, or two of 4) uses all 8, no mesh flags."""
    from sdpo_jax.runtime import mesh_shape

    config = load_config(name, [], weights=False)
    for devices in (1, 2, 8):
        assert math.prod(mesh_shape(config.mesh, devices)) == devices


def test_rollouts_that_the_mesh_cannot_split_stop_with_one_line():
    from models.sharding import make_mesh
    from sdpo_jax.errors import RunError
    from sdpo_jax.runtime import check_rows_fit

    check_rows_fit(make_mesh(data=8), None, 8)
    check_rows_fit(None, None, 3)  # one device: no mesh
    with pytest.raises(
        RunError, match=r"^6 rollouts a microbatch .* the 4 devices of mesh.data x mesh.fsdp"
    ):
        check_rows_fit(make_mesh(data=2, fsdp=2), None, 6)


def test_an_older_runs_config_still_loads(tmp_path):
    """Runs saved before the render limits moved under `render.limits` keep exporting."""
    from sdpo_jax.commands.export import run_config
    from sdpo_jax.config import format_config

    config = load_config("chart_tiny", ["render.limits.wall_seconds=7"])
    old_keys = ("wall_seconds", "cpu_seconds", "memory_mb")
    saved = [
        line.replace("render.limits.", "render.")
        for line in format_config(config).splitlines()
        if not line.startswith("render.limits.") or line.split(".")[2].split("=")[0] in old_keys
    ]
    assert "render.wall_seconds=7.0" in saved
    (tmp_path / "config.txt").write_text("\n".join(saved))
    assert run_config(tmp_path) == config
