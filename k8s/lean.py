"""Keeping the official Kubernetes client out of the programs' memory.

kopf imports `kubernetes.client` (every generated model: about 35 MiB) whenever it is
installed, only to recognise its objects if a handler returns one. Our programs never do: they
speak to the API through `k8s.api` with plain dicts. The image does not install the client at
all; a development environment does (the tests use it as a second, independent client), so the
launchers call `exclude_official_client()` before anything imports kopf, and a program run from
the development environment has the footprint of the image (docs/footprint.md).
"""

import sys


def exclude_official_client() -> None:
    """Make `import kubernetes` fail in this process, unless something already imported it."""
    # A None entry in sys.modules makes the import raise ModuleNotFoundError (the import
    # system's documented rule), which kopf takes as "not installed".
    sys.modules.setdefault("kubernetes", None)  # type: ignore[arg-type]  # None is the documented marker
