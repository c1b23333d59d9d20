"""Each stage's cache key comes from the inputs it declares: changing a setting moves the keys of exactly the stages
that read it, a stage cannot read a setting or call a stage it does not declare, and its code is part of its key."""
import typing

import pytest

from camlib.settings import QUESTIONS, UNKEYED_FIELDS, Settings, resolve
from camlib.stages import DECLARATIONS, Run, UndeclaredInput, robustness, stage_key
from camlib.stages import inputs
from camlib.stages.inputs import SettingsView, fields_read

STAGES = sorted(name for name, declaration in DECLARATIONS.items() if declaration.module)
OTHER_VALUES = {  # fields whose changed value cannot be made from their type alone
    "arch": "efficientnet_lite1_s4", "weights": "none", "run_dir": "runs/elsewhere", "data_dir": "elsewhere",
    "layout": "folder", "arch_study": ["efficientnet_lite1_s4:imagenet"], "open_questions": ["pseudo_labels"],
    "train_sizes": [5], "label_noise_levels": [0.25], "crop_sizes": [32],
}


class FixedFiles:
    """The run's data, its files unchanged: these tests change settings, not photos."""

    def key(self, records=None) -> str:
        return "the same files"


def stage_keys(settings: Settings) -> dict[str, str]:
    run = Run(settings, progress=False, shared={"data": FixedFiles()})
    return {name: stage_key(name, run) for name in STAGES}


def other_value(name: str, value):
    """A valid value of field `name` other than `value`."""
    if name in OTHER_VALUES:
        return OTHER_VALUES[name]
    options = typing.get_args(Settings.model_fields[name].annotation)
    if typing.get_origin(Settings.model_fields[name].annotation) is typing.Literal:
        return next(option for option in options if option != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 or 1 if isinstance(value, int) else value / 2
    low, high = value  # a range low,high
    return [low, high + 1]


def moved_keys(changes: dict, base: Settings | None = None) -> set[str]:
    """The stages whose key changes when `changes` are applied to `base` (default: the cpu profile)."""
    base = base or resolve("cpu")
    if changes.get("layout", "zoo") != "zoo":
        changes = {"data_dir": "elsewhere", **changes}
    before, after = stage_keys(base), stage_keys(Settings(**{**base.to_dict(), **changes}))
    return {name for name in STAGES if before[name] != after[name]}


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_changing_a_setting_moves_the_keys_of_exactly_the_stages_that_read_it(name):
    base = resolve("cpu")
    readers = {stage for stage in STAGES if name in fields_read(stage)}
    assert readers or name == "run_dir", f"no stage declares {name}: its notebooks cannot take it"
    expected = set() if name in UNKEYED_FIELDS else readers
    assert moved_keys({name: other_value(name, getattr(base, name))}, base) == expected


def test_the_known_stale_keys_are_fixed():
    """The robustness key held not robustness_images_per_class, the averaging key not study_replicates."""
    assert "robustness" in moved_keys({"robustness_images_per_class": 50})
    assert "averaging" in moved_keys({"study_replicates": 2})


@pytest.mark.parametrize("changes,recomputed", [
    ({"robustness_images_per_class": 50}, {"robustness", "metric"}),
    ({"baseline_max_iter": 60}, {"baseline", "metric"}),
    ({"crop_sizes": [32, 64]}, {"crop_size"}),
    ({"saliency_crops": 2}, {"saliency"}),
    ({"arch_study": ["efficientnet_lite1_s4:imagenet"]}, {"architectures", "metric"}),
    ({"tta_transforms": "d4"}, {"inference", "device_gap", "device_folds", "robustness", "averaging", "balanced",
                                "metric"}),
    ({"workers": 2, "train_processes": 1, "frame_cache_gib": 0.5, "run_dir": "runs/other"}, set()),
    ({"open_questions": ["pseudo_labels"]}, set()),
])
def test_run_all_with_one_parameter_recomputes_its_chapter_and_what_depends_on_it(changes, recomputed):
    """`./run_all.sh -p NAME VALUE` after a default run: the stages whose key moved are the ones recomputed."""
    assert moved_keys(changes) == recomputed


def test_a_recipe_change_recomputes_every_stage_that_uses_a_model():
    moved = moved_keys({"epochs": 4})
    assert moved == set(STAGES) - {"exploration", "baseline"}


def test_a_stage_cannot_read_a_setting_it_does_not_declare():
    view = SettingsView(resolve("cpu"), "robustness")
    assert view.robustness_images_per_class == 20 and view.study_seeds == [0]
    assert view.tta_config("robustness").crops == "grid"  # methods read through the view
    with pytest.raises(UndeclaredInput, match="baseline_max_iter"):
        view.baseline_max_iter
    with pytest.raises(UndeclaredInput, match="exploration.*arch"):
        SettingsView(resolve("cpu"), "exploration").train_config()


def test_a_stage_cannot_call_a_stage_it_does_not_need(tmp_path):
    run = Run(resolve("cpu", {"run_dir": str(tmp_path)}), progress=False, read_only=True,
              shared={"data": FixedFiles()})
    seen_by_crop_size = inputs.seen_by(run, DECLARATIONS["crop_size"])
    with pytest.raises(UndeclaredInput, match="'crop_size' calls stage 'robustness'"):
        robustness(seen_by_crop_size)


def test_every_stage_runs_its_body_within_its_declaration(toy_cameras, tmp_path):
    """Read-only, each stage does what it does before its cache (subsets, plans, switches) under its view."""
    import camlib.stages as stages
    settings = resolve("smoke", {"layout": "kaggle", "data_dir": str(toy_cameras), "run_dir": str(tmp_path),
                                 "open_questions": list(QUESTIONS)})
    run = Run(settings, progress=False, read_only=True)
    functions = {"study_main": stages.study_models.main_as_study}
    for name in STAGES:
        function = functions.get(name) or getattr(stages, name)
        assert function(run) is None, name  # nothing stored, nothing computed


@pytest.mark.parametrize("addition,moves", [("# a comment", False), ("EXTRA = 1", True)])
def test_a_stage_key_follows_its_code_not_its_comments(addition, moves, monkeypatch):
    """crop_size imports camlib.studies: editing its code moves crop_size's key; baseline's does not move."""
    run = Run(resolve("cpu"), progress=False, shared={"data": FixedFiles()})
    before = {name: stage_key(name, run) for name in ("crop_size", "baseline")}
    original = inputs.inspect.getsource

    def edited(module):
        return original(module) + f"\n{addition}\n" if module.__name__ == "camlib.studies" else original(module)

    monkeypatch.setattr(inputs.inspect, "getsource", edited)
    inputs.code_hash.cache_clear()
    try:
        assert (stage_key("crop_size", run) != before["crop_size"]) == moves
        assert stage_key("baseline", run) == before["baseline"]
    finally:
        inputs.code_hash.cache_clear()
