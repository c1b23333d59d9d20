"""End to end: ./run_all.sh on the smoke profile executes every notebook and renders a self-contained report;
metrics.json fits its schema; a rerun reproduces the main model exactly; README and CI agree on the commands."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from camlib import summary

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["1. The task, the challenge and the terms used", "2. The data", "3. The method", "4. Results on the test device",
            "5. Robustness", "6. Test crop size", "7. Training-set size", "8. Transfer learning and architectures",
            "9. The classical baseline", "10. The questions the original study left open", "11. Claims of the original study",
            "12. Limitations", "Appendix A: reproducibility", "Appendix B: the executed notebooks"]
NOTEBOOKS = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
SIMULATED_NOTE = "The data of this report is simulated."


def run_smoke(out: Path, data: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAMLIB_DATA": str(data)}
    return subprocess.run(["./run_all.sh", "--profile", "smoke", "--out", str(out), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    result = run_smoke(root / "run1", root / "data")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


@pytest.mark.slow
def test_every_notebook_executed_without_errors(smoke_run):
    run = smoke_run / "run1"
    for name in NOTEBOOKS:
        executed = json.loads((run / "notebooks" / f"{name}.ipynb").read_text())
        errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (name, errors[:1])
        if name != "99_report":
            assert (run / "appendix" / f"{name}.html").exists()


@pytest.mark.slow
def test_metrics_json_fits_its_schema_with_intervals_and_per_seed_entries(smoke_run):
    metrics = summary.read_metrics(smoke_run / "run1" / "metrics.json")  # pydantic: raises when it does not fit
    main = metrics.main
    assert len(main.seeds) == 2 and len(main.per_seed) == 2  # the smoke profile's replicates
    assert main.weighted_accuracy.value == pytest.approx(sum(s.weighted_accuracy for s in main.per_seed) / 2)
    assert main.weighted_accuracy.low <= main.weighted_accuracy.value <= main.weighted_accuracy.high
    for row in metrics.robustness + metrics.crop_size:
        assert 0 <= row.accuracy.low <= row.accuracy.value <= row.accuracy.high <= 1
    assert {m.role for m in metrics.models} >= {"main", "noaug"} and all(m.steps > 0 for m in metrics.models)
    assert metrics.claims and all(c.verdict in ("supported", "contradicted", "inconclusive", "not testable") for c in metrics.claims)
    assert {q.name for q in metrics.open_questions if q.ran} >= {"balanced", "metric", "open_set"}
    assert metrics.environment["git_commit"] and metrics.settings["profile"] == "smoke"
    assert set(metrics.notebook_seconds) >= set(NOTEBOOKS) - {"99_report"}
    stored = json.loads((smoke_run / "run1" / "metrics.json").read_text())
    assert stored["schema_version"] == summary.SCHEMA_VERSION


@pytest.mark.slow
def test_the_seed_claims_added_last_run_in_the_smoke_profile(smoke_run):
    metrics = summary.read_metrics(smoke_run / "run1" / "metrics.json")
    by_topic = {c.topic: c for c in metrics.claims}
    for topic in ("label noise", "schedule", "device gap"):
        assert topic in by_topic, f"no {topic} row in the smoke run's claims"
        claim = by_topic[topic]
        assert claim.difference is not None and claim.difference.low <= claim.difference.value <= claim.difference.high
    assert {row.label_noise for row in metrics.label_noise} == {0.0, 0.05, 0.15, 0.3}
    assert {row.schedule for row in metrics.schedules} == {"one_cycle", "cosine_restarts"}
    assert metrics.device_gap is not None and metrics.device_gap.same_device.n_images > 0


@pytest.mark.slow
def test_report_is_self_contained_with_every_section_and_one_simulated_note(smoke_run):
    html = (smoke_run / "run1" / "report.html").read_text()
    for title in SECTIONS:
        assert title in html, title
    assert "<title>Forensic camera model identification: a reproducible tech report</title>" in html
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', html)  # nothing fetched from the network
    assert "@import" not in html and "cdnjs" not in html and "mathjax" not in html.lower()
    assert html.count(SIMULATED_NOTE) == 2  # once at the top, once in the limitations
    assert html.index(SIMULATED_NOTE) < html.index("1. The task")
    figures = re.findall(r"<figure.*?</figure>", html, flags=re.S)
    assert len(figures) >= 12
    for figure in figures:  # every figure is numbered and captioned, with alt text
        assert re.search(r"<figcaption><b>Figure \d+\.</b> \S", figure) and 'alt="' in figure
    assert "Traceback" not in html and "appendix/02_training.html" in html


@pytest.mark.slow
def test_a_rerun_reproduces_the_main_model_exactly(smoke_run):
    rerun = run_smoke(smoke_run / "run2", smoke_run / "data", "--only", "03_tta")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    first, second = (summary.read_metrics(smoke_run / run / "metrics.json") for run in ("run1", "run2"))
    assert first.main.model_dump() == second.main.model_dump()
    assert [m.final_train_loss for m in first.models if m.role == "main"] == \
           [m.final_train_loss for m in second.models if m.role == "main"]


@pytest.mark.slow
def test_switching_jpeg_augmentation_off_moves_the_report(tmp_path, smoke_run):
    from camlib.report import _environment
    from camlib.settings import resolve
    from camlib.stages.robustness import training_ranges
    settings = resolve("smoke", {"aug_jpeg": "False", "run_dir": str(tmp_path)})
    assert training_ranges(settings)["jpeg"] is None  # no green JPEG band in the robustness figure
    metrics = summary.read_metrics(smoke_run / "run1" / "metrics.json")
    template = _environment().get_template("report.md.j2").make_module({"m": metrics, "s": settings, "appendix_dir": "a"})
    method = str(template.method())
    assert "JPEG recompression" not in method and "gamma correction in 0.8-1.2" in method
    default = _environment().get_template("report.md.j2").make_module(
        {"m": metrics, "s": resolve("smoke"), "appendix_dir": "a"})
    assert "JPEG recompression at quality 70-90" in str(default.method())


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
        assert 'profile: str = "cpu"' in source and "run_dir" in source


def test_bad_arguments_fail_with_one_line():
    bad = subprocess.run(["./run_all.sh", "--profile", "huge"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown profile" in bad.stderr and bad.stderr.count("\n") == 1
    missing = subprocess.run(["./run_all.sh", "--layout", "dresden", "--data-dir", "/nonexistent"], cwd=REPO,
                             capture_output=True, text=True, timeout=600)
    assert missing.returncode == 2 and "--data-dir" in missing.stderr
