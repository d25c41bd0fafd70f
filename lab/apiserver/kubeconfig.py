"""A kubeconfig for kubectl, kopf and the kubernetes client, pointing at the emulated server.

The server speaks plain HTTP on 127.0.0.1 and has no authentication; kubectl accepts an
`http://` server URL, and kopf / the kubernetes client read the same file.
"""

from pathlib import Path
from typing import Any

import yaml

CONTEXT = "metalpool-lab"


def kubeconfig(url: str, *, namespace: str = "default") -> dict[str, Any]:
    """The kubeconfig document for a server URL."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {"token": "lab"}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(path: Path | str, url: str, *, namespace: str = "default") -> Path:
    """Write the kubeconfig to `path` (mode 0600) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(kubeconfig(url, namespace=namespace), sort_keys=False))
    target.chmod(0o600)
    return target
