"""The real-camera path: the whole report on the Dresden Nikon photos (skipped when they are absent)."""
import os
import subprocess
from pathlib import Path

import pytest

from camlib import summary

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dresden_smoke_report(dresden_nikon, tmp_path):
    out = tmp_path / "dresden"
    run = subprocess.run(["./run_all.sh", "--layout", "dresden", "--data-dir", str(dresden_nikon), "--profile", "smoke",
                          "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=1500,
                         env={**os.environ, "CAMLIB_DATA": str(tmp_path / "data")})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    metrics = summary.read_metrics(out / "metrics.json")
    assert len(metrics.data.classes) == 3 and metrics.settings["layout"] == "dresden" and not metrics.data.simulated
    assert metrics.data.n_train_images == 36 and metrics.data.n_test_images == 40  # device 0 trains, device 1 tests
    assert metrics.data.split_by_device
    assert 0 <= metrics.main.accuracy.low <= metrics.main.accuracy.high <= 1
    assert metrics.device_fold is not None and metrics.device_fold.n_images == 36  # the swapped fold tests on device 0
    labels = {b.label for b in metrics.baselines}
    assert any("quantisation" in label for label in labels) and any("PRNU" in label for label in labels)
    html = (out / "report.html").read_text()
    assert "The data of this report is simulated" not in html
    assert str(dresden_nikon) not in html  # the data folder by name, never the machine's absolute path
    assert "Dresden Image Database" in html and "not redistributed" in html
