"""End to end: ./run_all.sh on the smoke profile executes every notebook and renders the report;
a second identical run gives identical metrics; README and CI agree on the commands."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["1. The task and the challenge", "2. The data", "3. The method", "4. Results on the test device",
            "5. Robustness", "6. Test crop size", "7. Training-set size", "8. Transfer learning and architectures",
            "9. The classical baseline", "10. Claims of the original study", "11. Limitations",
            "Appendix A: reproducibility", "Appendix B: the executed notebooks"]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
TIMING_KEYS = {"environment", "stage_seconds", "train_minutes", "train_images_per_s", "train_seconds"}


def without_timings(value):
    """metrics.json minus wall times, speeds and the machine description (the rest must repeat exactly)."""
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [without_timings(v) for v in value]
    return value


def run_smoke(out: Path, data: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAMLIB_DATA": str(data)}
    return subprocess.run(["./run_all.sh", "--profile", "smoke", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200)


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    first = run_smoke(root / "run1", root / "data")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_smoke(root / "run2", root / "data")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return root / "run1", root / "run2"


@pytest.mark.slow
def test_every_notebook_executed_without_errors(smoke_runs):
    run, _ = smoke_runs
    for name in NOTEBOOKS:
        executed = json.loads((run / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (name, errors[:1])
        if name != "99_report":
            assert (run / "appendix" / f"{name}.html").exists()


@pytest.mark.slow
def test_metrics_json_has_every_documented_key_in_range(smoke_runs):
    metrics = json.loads((smoke_runs[0] / "metrics.json").read_text())
    for key in ("weighted_accuracy", "accuracy_unalt", "accuracy_manip", "single_crop_weighted_accuracy",
                "noaug_weighted_accuracy", "baseline_weighted_accuracy"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["n_classes"] == 10
    robustness = metrics["robustness"]
    assert robustness and {"family", "value", "variant", "accuracy"} <= set(robustness[0])
    assert {r["family"] for r in robustness} == {"jpeg", "gamma", "resize"}
    assert {r["variant"] for r in robustness} == {"with augmentation", "without augmentation"}
    assert metrics["crop_size"] and {"crop", "accuracy"} <= set(metrics["crop_size"][0])
    assert metrics["train_size"] and {"images_per_class", "accuracy"} <= set(metrics["train_size"][0])
    for row in robustness + metrics["crop_size"] + metrics["train_size"]:
        assert 0.0 <= row["accuracy"] <= 1.0
    assert metrics["environment"]["git_commit"] and metrics["settings"]["profile"] == "smoke"
    assert set(metrics["stage_seconds"]) >= set(NOTEBOOKS) - {"99_report"}


@pytest.mark.slow
def test_report_html_is_self_contained_with_every_section(smoke_runs):
    html = (smoke_runs[0] / "report.html").read_text()
    for title in SECTIONS:
        assert title in html, title
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', html)) >= 10
    assert "Traceback" not in html and 'class="output_error"' not in html and "jp-RenderedText\" data-mime-type=\"application/vnd.jupyter.stderr" not in html
    assert "simulated camera zoo" in html  # honest about the data
    assert "appendix/02_training.html" in html


@pytest.mark.slow
def test_identical_reruns_give_identical_metrics(smoke_runs):
    first, second = (without_timings(json.loads((run / "metrics.json").read_text())) for run in smoke_runs)
    for metrics in (first, second):
        metrics["settings"].pop("run_dir")
    assert first["weighted_accuracy"] is not None and first == second


def test_readme_commands_and_ci_agree():
    readme = (REPO / "README.md").read_text()
    assert "./run_all.sh            # the default report" in readme
    assert "./run_all.sh --tests" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert "./run_all.sh --tests" in ci
    usage = subprocess.run(["./run_all.sh", "--help"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert usage.returncode == 0 and "--profile" in usage.stdout


def test_notebooks_are_committed_clean_and_parameterized():
    for name in NOTEBOOKS:
        notebook = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
        cells = notebook["cells"]
        assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), name
        tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, name
        source = "".join(tagged[0]["source"])
        assert 'profile = "cpu"' in source and "run_dir" in source


def test_bad_arguments_fail_with_one_line():
    bad = subprocess.run(["./run_all.sh", "--profile", "huge"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown profile" in bad.stderr and bad.stderr.count("\n") == 1
    missing = subprocess.run(["./run_all.sh", "--layout", "dresden", "--data-dir", "/nonexistent"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "--data-dir" in missing.stderr
