"""The lab runs its own kubectl and refuses one it cannot work with in one line (lab.kubectl)."""

import stat
from pathlib import Path

from lab.kubectl import MINIMUM, kubectl_path, kubectl_problem


def fake_kubectl(tmp_path: Path, output: str) -> str:
    """A stand-in that prints `output` for `kubectl version --client -o json`."""
    script = tmp_path / "kubectl"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def version(major: str, minor: str) -> str:
    return f'{{"clientVersion": {{"major": "{major}", "minor": "{minor}"}}}}'


def test_the_venv_kubectl_is_the_one_run_and_it_is_recent_enough():
    found = kubectl_path()
    assert found is not None
    assert kubectl_problem(found) is None


def test_debians_kubectl_1_20_is_refused_with_its_version_and_the_fix(tmp_path):
    problem = kubectl_problem(fake_kubectl(tmp_path, version("1", "20")))
    assert problem is not None
    assert "kubectl 1.20" in problem
    assert "bin/bootstrap" in problem
    assert "\n" not in problem


def test_a_minor_with_a_plus_as_some_distributions_print_it_is_read(tmp_path):
    assert kubectl_problem(fake_kubectl(tmp_path, version("1", f"{MINIMUM[1]}+"))) is None


def test_a_kubectl_that_prints_nonsense_or_is_missing_is_refused_in_one_line(tmp_path):
    nonsense = kubectl_problem(fake_kubectl(tmp_path, "not json"))
    assert nonsense is not None
    assert "does not say its version" in nonsense
    missing = kubectl_problem(str(tmp_path / "nowhere" / "kubectl"))
    assert missing is not None
    assert "bin/bootstrap" in missing
