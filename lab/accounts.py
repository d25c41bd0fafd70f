"""The programs' identities: deploy/'s ServiceAccounts and RBAC, and a kubeconfig for each.

Shell (kubectl). The lab and the API tier run the controller and the speakers as the
ServiceAccounts deploy/ defines, bound by deploy/'s own Roles and ClusterRoles, so a call the
manifests do not allow fails there as it would in a cluster (403), instead of passing in tests.
Each account's token comes from the TokenRequest API through `kubectl create token`, as an
administrator would mint one by hand; kubectl itself stays the lab's admin.
"""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lab.apiserver.kubeconfig import write_kubeconfig

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = (ROOT / "deploy" / "controller.yaml", ROOT / "deploy" / "speaker.yaml")
RBAC_KINDS = frozenset(
    {"ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"}
)
LIFETIME = "24h"  # a lab kept with --keep for a day still works


@dataclass(frozen=True, slots=True)
class Account:
    """A ServiceAccount in deploy/."""

    namespace: str
    name: str


CONTROLLER = Account("metallb-system", "metalpool-controller")
SPEAKER = Account("metallb-system", "metalpool-speaker")

# Runs the lab's (admin) kubectl with these arguments and stdin; returns its stdout.
Kubectl = Callable[[list[str], str | None], str]


def rbac_documents() -> list[dict[str, Any]]:
    """deploy/'s ServiceAccounts, Roles, ClusterRoles and bindings (not its workloads)."""
    documents: list[dict[str, Any]] = []
    for manifest in MANIFESTS:
        with manifest.open() as stream:
            documents += [d for d in yaml.safe_load_all(stream) if d and d["kind"] in RBAC_KINDS]
    return documents


def grant(kubectl: Kubectl) -> None:
    """Apply deploy/'s RBAC (the metallb-system namespace must exist)."""
    kubectl(["apply", "-f", "-"], yaml.safe_dump_all(rbac_documents()))


def account_kubeconfig(
    kubectl: Kubectl, account: Account, path: Path, *, url: str, ca: bytes
) -> Path:
    """A kubeconfig at `path` that acts as `account`, with a token from `kubectl create token`."""
    token = kubectl(
        ["create", "token", account.name, "-n", account.namespace, f"--duration={LIFETIME}"],
        None,
    ).strip()
    return write_kubeconfig(path, url, ca=ca, namespace=account.namespace, token=token)


def run_kubectl(kubectl: str, kubeconfig: Path) -> Kubectl:
    """A `Kubectl` that runs the binary `kubectl` with `kubeconfig`; raises on failure."""

    def run(args: list[str], stdin: str | None) -> str:
        done = subprocess.run(  # noqa: S603 - our kubectl, our arguments
            [kubectl, f"--kubeconfig={kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    return run
