"""The speaker process leaves its heaviest optional libraries unloaded (docs/footprint.md)."""

import subprocess
import sys


def test_starting_the_speaker_loads_no_scapy():
    """scapy's layers cost ~40 MB of RSS; the speaker packs its frames by hand instead."""
    probe = "import sys, speaker.__main__; print(sorted(m for m in sys.modules if 'scapy' in m))"
    loaded = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
