"""A kubeconfig for kubectl, kopf and the kubernetes client, pointing at the emulated server.

The server speaks HTTPS on 127.0.0.1 with the lab's own CA, which the kubeconfig carries as
certificate-authority-data; kubectl, kopf and the kubernetes client all read the same file. The
user is the lab's admin (its well-known token, in system:masters) unless a token is given: the
programs get their ServiceAccount's, minted by the TokenRequest API, so that RBAC holds them to
what deploy/ grants.
"""

import base64
from pathlib import Path
from typing import Any

import yaml

from lab.apiserver.auth.tokens import ADMIN_TOKEN

CONTEXT = "metalpool-lab"


def kubeconfig(
    url: str, *, ca: bytes, namespace: str = "default", token: str = ADMIN_TOKEN
) -> dict[str, Any]:
    """The kubeconfig document for a server URL whose certificate `ca` (PEM) signed."""
    authority = base64.b64encode(ca).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": url, "certificate-authority-data": authority}}
        ],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_kubeconfig(
    path: Path | str, url: str, *, ca: bytes, namespace: str = "default", token: str = ADMIN_TOKEN
) -> Path:
    """Write the kubeconfig to `path` (mode 0600) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    document = kubeconfig(url, ca=ca, namespace=namespace, token=token)
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    target.chmod(0o600)
    return target
