"""The programs leave the heaviest libraries unloaded (docs/footprint.md).

Judged from a fresh interpreter that runs `python -m PROGRAM --help` as the lab does (runpy) and,
on its way out, lists the modules it holds: argparse answers after the program imported kopf.
"""

import subprocess
import sys

import pytest

PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print(" ".join(name for name, module in sys.modules.items() if module)))
sys.argv = [{program!r}, "--help"]
runpy.run_module({program!r}, run_name="__main__")
"""


def imported(program: str) -> set[str]:
    """The top-level packages loaded by `python -m program --help`."""
    ran = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", PROBE.format(program=program)],
        capture_output=True,
        text=True,
        check=True,
    )
    return {name.split(".")[0] for name in ran.stdout.splitlines()[-1].split()}


@pytest.mark.parametrize("program", ["controller", "speaker"])
def test_a_program_loads_kopf_but_neither_the_official_client_nor_scapy(program):
    """The client's models cost 35 MiB and scapy's layers ~40 MiB; kopf would load the client."""
    top_level = imported(program)
    assert "kopf" in top_level  # the listing is complete enough to show what is loaded
    assert not top_level & {"kubernetes", "scapy"}
