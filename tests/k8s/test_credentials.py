"""Credentials: a kubeconfig read as client-go reads it, else the Pod's ServiceAccount.

The merge and path rules follow client-go's clientcmd (loader.go: the first file to set a
name or current-context wins; ResolvePaths makes a file's relative paths relative to it) and
rest.InClusterConfig (KUBERNETES_SERVICE_HOST/_PORT, the token and CA under
/var/run/secrets/kubernetes.io/serviceaccount, the host joined as net.JoinHostPort joins it).
"""

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s.credentials import Credentials, CredentialsError, Pem, from_kubeconfig, in_cluster, load

ROOT = Path(__file__).resolve().parents[2]
CA = b"-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n"


def kubeconfig(
    *, server: str = "https://192.0.2.1:6443", user: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "lab",
        "contexts": [{"name": "lab", "context": {"cluster": "c", "user": "u", **extra}}],
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(CA).decode(),
                },
            }
        ],
        "users": [{"name": "u", "user": {"token": "t0ken"} if user is None else user}],
    }


def test_a_token_kubeconfig_gives_its_server_ca_token_and_namespace():
    found = from_kubeconfig([(Path("/k/config"), kubeconfig(namespace="demo"))])
    assert (found.server, found.ca, found.token, found.namespace) == (
        "https://192.0.2.1:6443",
        Pem(data=CA),
        "t0ken",
        "demo",
    )
    assert "context 'lab'" in found.source


def test_relative_paths_are_relative_to_the_file_that_names_them():
    user = {"client-certificate": "certs/me.crt", "client-key": "/abs/me.key", "tokenFile": "t"}
    found = from_kubeconfig([(Path("/etc/k/config"), kubeconfig(user=user))])
    assert found.certificate == Pem(path=Path("/etc/k/certs/me.crt"))
    assert found.key == Pem(path=Path("/abs/me.key"))
    assert found.token_file == Path("/etc/k/t")


def test_the_first_file_to_name_a_user_or_the_context_wins():
    first = {"current-context": "lab", "users": [{"name": "u", "user": {"token": "first"}}]}
    second = kubeconfig(user={"token": "second"})
    second["current-context"] = "other"
    found = from_kubeconfig([(Path("/a"), first), (Path("/b"), second)])
    assert found.token == "first"  # noqa: S105 - a test token


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"current-context": None}, "current-context is not set"),
        ({"current-context": "nope"}, "no context named 'nope'"),
        ({"clusters": []}, "no cluster named 'c'"),
        ({"users": [{"name": "u", "user": {"exec": {"command": "aws"}}}]}, "credential plugin"),
    ],
)
def test_a_kubeconfig_that_cannot_be_used_is_refused_saying_why(change, message):
    with pytest.raises(CredentialsError, match=message):
        from_kubeconfig([(Path("/k"), kubeconfig() | change)])


def test_a_server_without_a_scheme_is_refused():
    with pytest.raises(CredentialsError, match="has no https:// server"):
        from_kubeconfig([(Path("/k"), kubeconfig(server="192.0.2.1:6443"))])


def account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_bytes(CA)
    (tmp_path / "namespace").write_text("metallb-system\n")
    return tmp_path


@pytest.mark.parametrize(
    ("host", "server"),
    [("192.0.2.1", "https://192.0.2.1:443"), ("2001:db8::1", "https://[2001:db8::1]:443")],
)
def test_in_a_pod_the_service_address_comes_from_the_environment(tmp_path, host, server):
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": "443"}
    found = in_cluster(env, account(tmp_path))
    assert found == Credentials(
        server=server,
        ca=Pem(path=tmp_path / "ca.crt"),
        token_file=tmp_path / "token",
        namespace="metallb-system",
        source=f"in-cluster ServiceAccount ({tmp_path})",
    )


def test_outside_a_pod_without_a_kubeconfig_the_message_says_what_is_missing(tmp_path):
    with pytest.raises(CredentialsError, match=r"no kubeconfig .* and not in a Pod"):
        load({"HOME": str(tmp_path)})


def test_kubeconfig_lists_files_skipping_missing_ones(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(kubeconfig()))
    found = load({"KUBECONFIG": f"{tmp_path / 'missing'}:{path}"})
    assert found.token == "t0ken"  # noqa: S105 - a test token
    with pytest.raises(CredentialsError, match="names no file that exists"):
        load({"KUBECONFIG": str(tmp_path / "missing")})


@pytest.mark.parametrize("program", ["controller", "speaker"])
def test_a_program_without_credentials_says_so_in_one_line_and_exits_1(tmp_path, program):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # no KUBECONFIG, not in a Pod
    ran = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-m", program, *(["--node-name", "n1"] if program == "speaker" else [])],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 1
    assert ran.stderr.strip().endswith(
        "cannot reach the API server: no kubeconfig (KUBECONFIG or ~/.kube/config) and not in a"
        " Pod (KUBERNETES_SERVICE_HOST/_PORT and a ServiceAccount token are needed)"
    )
    assert "Traceback" not in ran.stderr
