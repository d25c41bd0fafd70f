"""Where the API server is and how to prove who we are: from a kubeconfig, else in-cluster.

The rule is client-go's, for the cases a bare-metal cluster uses (kubeadm, MicroK8s, kind, k3s,
a Pod's ServiceAccount):
- KUBECONFIG (files joined by the path separator; the first file to set a name wins, and the
  first to set current-context) or ~/.kube/config; paths inside a file are relative to it
  (clientcmd's ResolvePaths);
- else in-cluster: KUBERNETES_SERVICE_HOST and _PORT (not a DNS name: the speaker runs on the
  host network, where cluster DNS may not resolve), the ServiceAccount's token and CA.
Tokens from a file (in-cluster, or `tokenFile`) are re-read when a minute old, because kubelet
rotates the projected ServiceAccount token and the old one expires. Credential plugins (`exec`,
`auth-provider`) are not run: a user that has only those is refused with a message naming it.
Parsing is pure; `load()` is the edge that reads the environment and the files.
"""

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class CredentialsError(Exception):
    """No usable kubeconfig or in-cluster configuration; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Pem:
    """PEM bytes given inline (`*-data`) or a file to read them from."""

    data: bytes | None = None
    path: Path | None = None

    def read(self) -> bytes:
        """The PEM bytes."""
        return self.data if self.data is not None else Path(str(self.path)).read_bytes()


@dataclass(frozen=True, slots=True)
class Credentials:
    """One API server and one identity at it."""

    server: str  # https://host:port, no trailing slash
    ca: Pem | None = None  # None: the system's trust store
    insecure: bool = False  # insecure-skip-tls-verify
    server_name: str | None = None  # tls-server-name
    token: str | None = None
    token_file: Path | None = None
    certificate: Pem | None = None
    key: Pem | None = None
    username: str | None = None
    password: str | None = None
    namespace: str | None = None
    source: str = ""  # where these came from, for messages


def load(environ: Mapping[str, str] | None = None) -> Credentials:
    """The kubeconfig's current context if there is a kubeconfig, else the in-cluster account."""
    env = os.environ if environ is None else environ
    paths = _kubeconfig_paths(env)
    if paths:
        documents = []
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError as error:
                raise CredentialsError(f"kubeconfig {path}: {error.strerror}") from error
            loaded = yaml.safe_load(text) or {}
            if not isinstance(loaded, dict):
                raise CredentialsError(f"kubeconfig {path}: not a mapping")
            documents.append((path, loaded))
        return from_kubeconfig(documents)
    return in_cluster(env, SERVICE_ACCOUNT)


def _kubeconfig_paths(env: Mapping[str, str]) -> list[Path]:
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    if listed:
        # client-go skips listed files that do not exist, but fails when none does.
        present = [path for path in listed if path.exists()]
        if not present:
            raise CredentialsError(f"KUBECONFIG names no file that exists: {env['KUBECONFIG']}")
        return present
    default = Path(env.get("HOME", "~")).expanduser() / ".kube" / "config"
    return [default] if default.exists() else []


def from_kubeconfig(documents: Sequence[tuple[Path, Mapping[str, Any]]]) -> Credentials:
    """The current context's cluster and user, merged over `documents` as client-go merges."""
    current: str | None = None
    found: dict[str, dict[str, tuple[Path, Mapping[str, Any]]]] = {
        "contexts": {},
        "clusters": {},
        "users": {},
    }
    for path, document in documents:
        current = current or document.get("current-context") or None
        for section, entries in found.items():
            for item in document.get(section) or []:
                if isinstance(item, dict) and item.get("name") not in entries:
                    entries[str(item.get("name"))] = (path, item.get(section[:-1]) or {})
    where = ", ".join(str(path) for path, _ in documents)
    if not current:
        raise CredentialsError(f"kubeconfig {where}: current-context is not set")
    context = _entry(found["contexts"], current, "context", where)[1]
    cluster_path, cluster = _entry(found["clusters"], str(context.get("cluster")), "cluster", where)
    user_path, user = _entry(found["users"], str(context.get("user")), "user", where)
    server = str(cluster.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        named = context.get("cluster")
        raise CredentialsError(f"kubeconfig {where}: cluster {named!r} has no https:// server")
    token, token_file = user.get("token"), user.get("tokenFile")
    certificate = _pem(user, "client-certificate", user_path)
    if not (token or token_file or certificate or user.get("username")) and (
        user.get("exec") or user.get("auth-provider")
    ):
        raise CredentialsError(
            f"kubeconfig {where}: user {context.get('user')!r} authenticates with a credential"
            " plugin (exec or auth-provider), which MetalPool does not run; give it a token,"
            " a tokenFile or a client certificate"
        )
    return Credentials(
        server=server,
        ca=_pem(cluster, "certificate-authority", cluster_path),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        server_name=cluster.get("tls-server-name") or None,
        token=str(token) if token else None,
        token_file=_relative(user_path, str(token_file)) if token_file else None,
        certificate=certificate,
        key=_pem(user, "client-key", user_path),
        username=user.get("username") or None,
        password=user.get("password") or None,
        namespace=context.get("namespace") or None,
        source=f"kubeconfig {where}, context {current!r}",
    )


def in_cluster(env: Mapping[str, str], account: Path) -> Credentials:
    """The Pod's ServiceAccount, at the address kubelet put in the environment."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    token = account / "token"
    if not (host and port) or not token.exists():
        raise CredentialsError(
            "no kubeconfig (KUBECONFIG or ~/.kube/config) and not in a Pod"
            " (KUBERNETES_SERVICE_HOST/_PORT and a ServiceAccount token are needed)"
        )
    bracketed = f"[{host}]" if ":" in host else host
    ca = account / "ca.crt"
    namespace = account / "namespace"
    return Credentials(
        server=f"https://{bracketed}:{port}",
        ca=Pem(path=ca) if ca.exists() else None,
        token_file=token,
        namespace=namespace.read_text(encoding="utf-8").strip() if namespace.exists() else None,
        source=f"in-cluster ServiceAccount ({account})",
    )


def _entry(
    entries: Mapping[str, tuple[Path, Mapping[str, Any]]], name: str, kind: str, where: str
) -> tuple[Path, Mapping[str, Any]]:
    try:
        return entries[name]
    except KeyError:
        raise CredentialsError(f"kubeconfig {where}: no {kind} named {name!r}") from None


def _pem(section: Mapping[str, Any], field: str, path: Path) -> Pem | None:
    inline, named = section.get(f"{field}-data"), section.get(field)
    if inline:
        try:
            return Pem(data=base64.b64decode(str(inline), validate=True))
        except binascii.Error:
            raise CredentialsError(f"kubeconfig {path}: {field}-data is not base64") from None
    return Pem(path=_relative(path, str(named))) if named else None


def _relative(kubeconfig: Path, named: str) -> Path:
    given = Path(named).expanduser()
    return given if given.is_absolute() else kubeconfig.parent / given
