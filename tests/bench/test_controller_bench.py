"""The controller benchmark still runs end to end: `python -m bench.controller --quick`.

A smoke test of the bench, not of its figures: the machine running CI is too noisy for those.
It starts its own API server and controllers (as the bench does) and checks that every case
printed a result and that no address changed across the restarts.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_quick_bench_runs_and_keeps_every_address_across_restarts():
    done = subprocess.run(
        [sys.executable, "-m", "bench.controller", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for case in ("create→IP p50", "create→IP p99", "new Services, last IP"):
        assert case in out, out
    assert "restart (SIGTERM)" in out, out
    assert "restart (SIGKILL)" in out, out
    assert out.count("addresses changed: 0 of") == 2, out
    assert "during the whole run: 0" in out, out
