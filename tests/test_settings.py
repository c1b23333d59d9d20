"""The parameter surface: every setting typed and ranged, bad values refused in one line before any work,
notebooks declaring exactly what their chapter uses."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from camlib import notebooks, settings, validate
from camlib.settings import PROFILES, Settings, SettingsError, resolve
from camlib.stages import CHAPTER_FIELDS

REPO = Path(__file__).resolve().parents[1]
BAD = [  # (parameter, value, words the one-line message must hold)
    ("epoch", "3", "unknown parameter 'epoch' (did you mean 'epochs'?)"),
    ("lr", "abc", "lr"),
    ("seed", "x", "seed"),
    ("zoo_difficulty", "insane", "'distinct', 'subtle' or 'very_subtle'"),
    ("arch", "densenet161", "densenet161"),
    ("crop", "abc", "crop"),
    ("epochs", "-1", "greater than or equal to 1"),
    ("crop_sizes", "32,abc", "crop_sizes"),
    ("gamma_range", "1.2,0.8", "gamma_range"),
    ("replicates", "0", "replicates"),
]


@pytest.mark.parametrize("name,value,words", BAD)
def test_each_bad_parameter_stops_with_one_line_and_status_2(name, value, words, capsys, monkeypatch):
    monkeypatch.setenv("CAMLIB_OFFLINE", "1")  # densenet161's weights are not on this machine: no download attempt
    status = validate.main(["-p", name, value])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and words in err and "Traceback" not in err, err


def test_a_bad_parameter_is_refused_without_importing_torch():
    """Checking parameters reads only the settings model and camlib.choices: no torch, albumentations or cv2."""
    code = ("import sys; from camlib import validate; assert validate.main(['-p', 'epochs', 'banana']) == 2; "
            "print(*[m for m in ('torch', 'albumentations', 'cv2') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "" and "epochs" in result.stderr, result


def test_run_all_refuses_a_bad_parameter_before_any_notebook(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run(["./run_all.sh", "--out", str(out), "-p", "lr", "abc"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, env={"PATH": "/usr/bin:/bin", "CAMLIB_OFFLINE": "1"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "lr" in result.stderr, result.stderr
    assert not (out / "notebooks").exists() or not list((out / "notebooks").iterdir())


def test_camlib_train_set_uses_the_same_check():
    for item, words in (("epoch=3", "did you mean 'epochs'"), ("lr=abc", "lr"), ("epochs", "NAME=VALUE")):
        result = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "camlib", "train", "--set", item, "--out", "/tmp/unused"],
                                cwd=REPO, capture_output=True, text=True, timeout=600)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr


def test_a_notebook_refuses_an_unknown_injected_parameter(tmp_path):
    from camlib.stages import setup
    namespace = {"profile": "smoke", "run_dir": str(tmp_path), "epoch": 3}  # papermill -p epoch 3 injects this
    with pytest.raises(SettingsError, match="unknown parameter 'epoch'"):
        setup(namespace)
    assert SettingsError("x")._render_traceback_() == ["SettingsError: x"]  # one line in the notebook, not a traceback


def test_profiles_are_valid_and_every_setting_belongs_to_a_chapter():
    for profile in PROFILES:
        assert resolve(profile).profile == profile
    declared = {name for fields in CHAPTER_FIELDS.values() for name in fields}
    assert set(Settings.model_fields) == declared
    assert all(Settings.model_fields[name].description for name in Settings.model_fields)


def test_notebook_parameters_match_their_stage_settings():
    for path in notebooks.chapters():
        assert notebooks.check(path) == [], path.name
        cell = next(c for c in json.loads(path.read_text())["cells"] if "parameters" in c["metadata"].get("tags", []))
        declared = [line.split(" = ")[0].split(":")[0] for line in "".join(cell["source"]).splitlines()
                    if " = " in line and not line.startswith("#")]
        expected = list(notebooks.REPORT_FIELDS) + ["appendix_dir"] if path.stem == "99_report" else list(CHAPTER_FIELDS[path.stem])
        assert declared == expected, path.name


def test_papermill_help_lists_each_chapters_parameters_with_comments():
    result = subprocess.run([str(REPO / ".venv/bin/papermill"), "--help-notebook", "notebooks/04_robustness.ipynb"],
                            cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0
    for name in ("robustness_sweep", "epochs", "zoo_seed", "replicates"):
        assert name in result.stdout
    assert "training epochs" in result.stdout  # the comment travels as the parameter's help


def test_augmentation_ranges_have_one_owner():
    from camlib.stages.robustness import training_ranges
    default = resolve("cpu")
    assert training_ranges(default)["jpeg"] == list(default.jpeg_range)
    no_jpeg = resolve("cpu", {"aug_jpeg": "False", "gamma_range": "0.7,1.3"})
    assert training_ranges(no_jpeg)["jpeg"] is None and training_ranges(no_jpeg)["gamma"] == [0.7, 1.3]
    assert no_jpeg.augment_config().jpeg_range is None and no_jpeg.augment_config().gamma_range == (0.7, 1.3)


def test_the_tta_factory_keeps_every_field():
    run = resolve("cpu", {"tta_grid": 5, "robustness_tta_crops": "grid"})
    for purpose in ("main", "study", "robustness"):
        assert run.tta_config(purpose).grid_size == 5 and run.tta_config(purpose).crop == run.crop
    assert run.tta_config("robustness").crops == "grid"


def test_settings_list_command_prints_each_parameter_with_its_cpu_default(capsys):
    settings.main()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" = ")[0] for line in lines] == settings.field_names()
    cpu = resolve("cpu")
    assert cpu.epochs != Settings.model_fields["epochs"].default  # so the line below tells the profile from the class
    assert f"epochs = {cpu.epochs!r}  # {Settings.model_fields['epochs'].description}" in lines


def test_the_default_profiles_have_every_weight_they_need_offline(monkeypatch):
    """The default run's architecture study needs the Lite1 weights package: a fresh install must have it."""
    from camlib.settings import resolve
    from camlib.stages.core import check_resources
    monkeypatch.setenv("CAMLIB_OFFLINE", "1")
    for profile in ("smoke", "cpu"):
        check_resources(resolve(profile, {}))
