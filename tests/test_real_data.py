"""The real-camera path: the whole report on the Dresden Nikon photos (skipped when they are absent)."""
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dresden_smoke_report(dresden_nikon, tmp_path):
    out = tmp_path / "dresden"
    run = subprocess.run(["./run_all.sh", "--layout", "dresden", "--data-dir", str(dresden_nikon), "--profile", "smoke",
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=1500,
                         env={**os.environ, "CAMLIB_DATA": str(tmp_path / "data")})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_classes"] == 3 and metrics["settings"]["layout"] == "dresden"
    assert metrics["n_train_images"] == 36 and metrics["n_test_images"] == 40  # device 0 trains, device 1 tests
    assert 0 <= metrics["accuracy"] <= 1 and 0 <= metrics["crop_accuracy"] <= 1
    assert metrics["robustness"] and metrics["crop_size"]
    html = (out / "report.html").read_text()
    assert "real photos" in html and "simulated camera zoo" not in html.split("Limitations")[0]
