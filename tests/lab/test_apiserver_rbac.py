"""The emulated API server authenticates and authorizes as kube-apiserver does.

Each rule names the Kubernetes source it follows. The pure parts (request attributes, RBAC
decisions) are tables; the gate is checked over HTTPS, with the real kubectl, and with deploy/'s
own ServiceAccounts and roles.
"""

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab import accounts
from lab.apiserver.auth.attributes import Attributes, request_attributes
from lab.apiserver.auth.rbac import Policy, decide, policy_from
from lab.apiserver.auth.tokens import ADMIN_TOKEN
from lab.apiserver.auth.users import ADMIN, ANONYMOUS, User, service_account_user
from lab.apiserver.kubeconfig import write_kubeconfig
from lab.apiserver.runner import ApiServerThread
from lab.kubectl import KUBECTL
from tests.lab.rest import Rest

SPEAKER = service_account_user("metallb-system", "metalpool-speaker")
CONTROLLER = service_account_user("metallb-system", "metalpool-controller")
SECRETS = "/api/v1/namespaces/metallb-system/secrets"

# --------------------------------------------------------------------------- request attributes


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/api/v1/services", "", ("list", "services", "", "", "")),
        ("GET", "/api/v1/services", "watch=true", ("watch", "services", "", "", "")),
        ("GET", "/api/v1/services", "watch=false", ("list", "services", "", "", "")),
        ("GET", "/api/v1/namespaces/d/services/web", "", ("get", "services", "", "d", "web")),
        ("PATCH", "/api/v1/namespaces/d/services/web/status", "",
         ("patch", "services", "status", "d", "web")),
        ("POST", "/api/v1/namespaces/d/events", "", ("create", "events", "", "d", "")),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/m/leases/l", "",
         ("update", "leases", "", "m", "l")),
        ("DELETE", "/api/v1/namespaces/d/configmaps/c", "", ("delete", "configmaps", "", "d", "c")),
        ("DELETE", "/api/v1/namespaces/d/configmaps", "",
         ("deletecollection", "configmaps", "", "d", "")),
        # An exact metadata.name field selector names the object for list and watch, which is
        # how a rule with resourceNames can allow them.
        ("GET", SECRETS, "fieldSelector=metadata.name%3Dmemberlist&watch=1",
         ("watch", "secrets", "", "metallb-system", "memberlist")),
        ("GET", SECRETS, "fieldSelector=metadata.name%21%3Dmemberlist",
         ("list", "secrets", "", "metallb-system", "")),
        # /api/v1/namespaces/NAME is in the namespace NAME.
        ("GET", "/api/v1/namespaces/demo", "", ("get", "namespaces", "", "demo", "demo")),
        ("POST", "/api/v1/namespaces/m/serviceaccounts/sa/token", "",
         ("create", "serviceaccounts", "token", "m", "sa")),
    ],
)  # fmt: skip
def test_request_attributes_follow_requestinfo(method, path, query, expected):
    """k8s.io/apiserver/pkg/endpoints/request/requestinfo.go, NewRequestInfo."""
    found = request_attributes(method, path, query)
    assert (found.verb, found.resource, found.subresource, found.namespace, found.name) == expected
    assert found.is_resource_request


def test_a_url_outside_the_resource_api_is_a_non_resource_request():
    """requestinfo.go: anything not under /api or /apis is verb = lowercased method, no resource."""
    found = request_attributes("GET", "/version", "")
    assert (found.verb, found.path, found.is_resource_request) == ("get", "/version", False)


# --------------------------------------------------------------------------- RBAC decisions


def role(name: str, *rules: dict[str, Any], namespace: str = "") -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": metadata, "rules": list(rules)}


def binding(
    name: str, kind: str, role_name: str, *subjects: dict[str, str], namespace: str = ""
) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
        "subjects": list(subjects),
    }


SA = {"kind": "ServiceAccount", "name": "metalpool-speaker", "namespace": "metallb-system"}
POLICY: Policy = policy_from(
    cluster_roles=[
        role("watcher", {"apiGroups": [""], "resources": ["services"], "verbs": ["list", "watch"]}),
        role("status", {"apiGroups": [""], "resources": ["*/status"], "verbs": ["patch"]}),
        role("all-crds", {"apiGroups": ["metallb.io"], "resources": ["*"], "verbs": ["*"]}),
    ],
    roles=[
        role(
            "secret-reader",
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": ["memberlist"],
                "verbs": ["get", "list", "watch"],
            },
            namespace="metallb-system",
        ),
    ],
    cluster_bindings=[
        binding("w", "ClusterRole", "watcher", SA),
        binding("g", "ClusterRole", "status", {"kind": "Group", "name": "system:serviceaccounts"}),
    ],
    role_bindings=[
        binding("r", "Role", "secret-reader", SA, namespace="metallb-system"),
        # A ClusterRole bound by a RoleBinding grants its rules in that namespace only.
        binding("c", "ClusterRole", "all-crds", SA, namespace="metallb-system"),
        binding("x", "Role", "gone", SA, namespace="metallb-system"),
    ],
)


def ask(verb: str, resource: str, namespace: str = "", name: str = "", **more: str) -> Attributes:
    return Attributes(
        verb=verb, path="/", resource=resource, namespace=namespace, name=name, **more
    )


@pytest.mark.parametrize(
    ("user", "request_", "allowed"),
    [
        (SPEAKER, ask("list", "services"), True),
        (SPEAKER, ask("watch", "services", "demo"), True),
        (SPEAKER, ask("get", "services", "demo", "web"), False),  # only list and watch granted
        (SPEAKER, ask("patch", "services", "demo", "web", subresource="status"), True),  # */status
        (SPEAKER, ask("patch", "services", "demo", "web"), False),  # the subresource only
        (CONTROLLER, ask("patch", "pods", "x", "p", subresource="status"), True),  # via its group
        (CONTROLLER, ask("list", "services"), False),  # the binding names the speaker only
        (SPEAKER, ask("get", "secrets", "metallb-system", "memberlist"), True),
        (SPEAKER, ask("get", "secrets", "metallb-system", "other"), False),  # resourceNames
        (SPEAKER, ask("list", "secrets", "metallb-system"), False),  # no name, no resourceNames
        (SPEAKER, ask("list", "secrets", "other", "memberlist"), False),  # a Role's namespace
        (SPEAKER, ask("delete", "ipaddresspools", "metallb-system", "p", group="metallb.io"), True),
        (SPEAKER, ask("delete", "ipaddresspools", "elsewhere", "p", group="metallb.io"), False),
        (SPEAKER, ask("list", "ipaddresspools", "", "", group="metallb.io"), False),  # cluster
        (ADMIN, ask("delete", "nodes", "", "n1"), True),  # system:masters
        (ANONYMOUS, ask("list", "services"), False),
    ],
)  # fmt: skip
def test_rbac_decides_as_kubes_authorizer(user: User, request_: Attributes, allowed: bool):
    """plugin/pkg/auth/authorizer/rbac/rbac.go and pkg/apis/rbac/v1/evaluation_helpers.go
    (VerbMatches, APIGroupMatches, ResourceMatches with `*/subresource`, ResourceNameMatches);
    a RoleBinding applies to its own namespace only (appliesTo)."""
    assert decide(POLICY, user, request_).allowed is allowed


def test_a_binding_to_a_missing_role_grants_nothing_and_the_denial_says_so():
    """rbac.go: rule-resolution errors become the reason, `RBAC: <aggregate>`."""
    decision = decide(POLICY, SPEAKER, ask("create", "leases", "metallb-system"))
    assert not decision.allowed
    assert decision.reason == 'RBAC: role.rbac.authorization.k8s.io "gone" not found'


@pytest.mark.parametrize(
    ("user", "path", "allowed"),
    [
        (SPEAKER, "/apis", True),
        (SPEAKER, "/apis/metallb.io/v1beta1", True),
        (SPEAKER, "/openapi/v3", True),
        (SPEAKER, "/metrics", False),
        (ANONYMOUS, "/healthz", True),
        (ANONYMOUS, "/version", True),
        (ANONYMOUS, "/apis", False),  # discovery is for authenticated users since 1.14
    ],
)
def test_discovery_and_health_follow_the_bootstrap_roles(user: User, path: str, allowed: bool):
    """plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go: system:discovery (bound to
    system:authenticated) and system:public-info-viewer (also to system:unauthenticated)."""
    request_ = Attributes(verb="get", path=path)
    assert decide(POLICY, user, request_).allowed is allowed


# --------------------------------------------------------------------------- over the wire


@pytest.fixture
def installed(apiserver: ApiServerThread, rest: Rest, tmp_path: Path) -> Path:
    """deploy/'s ServiceAccounts and RBAC in metallb-system; the admin's kubeconfig."""
    rest.request("POST", "/api/v1/namespaces", {"metadata": {"name": "metallb-system"}})
    kubeconfig = write_kubeconfig(tmp_path / "admin", apiserver.url, ca=apiserver.ca)
    accounts.grant(accounts.run_kubectl(str(KUBECTL), kubeconfig))
    return kubeconfig


def minted(apiserver: ApiServerThread, admin: Path, account: accounts.Account, path: Path) -> str:
    """A token for `account`, from `kubectl create token`, as its kubeconfig holds it."""
    kubeconfig = accounts.account_kubeconfig(
        accounts.run_kubectl(str(KUBECTL), admin), account, path, url=apiserver.url,
        ca=apiserver.ca,
    )  # fmt: skip
    token: str = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]["token"]
    return token


def test_an_unknown_token_is_401_and_no_token_is_the_anonymous_user(apiserver: ApiServerThread):
    """k8s.io/apiserver/pkg/endpoints/filters/authentication.go: failed authentication is 401
    `Unauthorized`; the anonymous authenticator only runs when no credentials were presented
    (pkg/authentication/request/anonymous)."""
    unknown = Rest(apiserver.url, token="no-such-token")  # noqa: S106 -- not a secret
    status, body = unknown.get("/api/v1/services")
    assert (status, body["reason"], body["message"]) == (401, "Unauthorized", "Unauthorized")
    status, body = Rest(apiserver.url, token=None).get("/api/v1/services")
    assert (status, body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'services is forbidden: User "system:anonymous" cannot list resource "services" in API'
        ' group "" at the cluster scope'
    )
    assert Rest(apiserver.url, token=None).get("/healthz")[0] == 200


def test_a_forbidden_request_is_worded_as_kube_apiserver_words_it(
    apiserver: ApiServerThread, installed: Path, tmp_path: Path
):
    """responsewriters/errors.go forbiddenMessage inside apimachinery errors.NewForbidden:
    `<resource>[.<group>] ["<name>"] is forbidden: User "<u>" cannot <verb> resource "<r>[/<sub>]"
    in API group "<g>" in the namespace "<ns>"`, with details {name, group, kind}."""
    token = minted(apiserver, installed, accounts.SPEAKER, tmp_path / "speaker")
    speaker = Rest(apiserver.url, token=token)
    status, body = speaker.get("/api/v1/namespaces/metallb-system/secrets/other")
    assert (status, body["reason"], body["details"]) == (
        403, "Forbidden", {"name": "other", "kind": "secrets"},
    )  # fmt: skip
    assert body["message"] == (
        'secrets "other" is forbidden: User "system:serviceaccount:metallb-system:metalpool-'
        'speaker" cannot get resource "secrets" in API group "" in the namespace "metallb-system"'
    )
    status, body = speaker.request(
        "PATCH", "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools/p/status",
        {}, content_type="application/merge-patch+json",
    )  # fmt: skip
    assert status == 403
    assert body["message"].startswith('ipaddresspools.metallb.io "p" is forbidden: User "system:')
    assert body["message"].endswith(
        'cannot patch resource "ipaddresspools/status" in API group "metallb.io" in the'
        ' namespace "metallb-system"'
    )


def test_deploys_speaker_may_read_the_memberlist_secret_only_by_name(
    apiserver: ApiServerThread, installed: Path, tmp_path: Path
):
    """RBAC resourceNames allow list and watch only with the field selector metadata.name=
    (kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-resources)."""
    token = minted(apiserver, installed, accounts.SPEAKER, tmp_path / "speaker")
    speaker = Rest(apiserver.url, token=token)
    assert speaker.get(f"{SECRETS}?fieldSelector=metadata.name%3Dmemberlist")[0] == 200
    assert speaker.get(SECRETS)[0] == 403
    assert speaker.get(f"{SECRETS}/memberlist")[0] == 404  # allowed, and simply not there


def test_a_token_stops_working_when_its_account_is_deleted_even_if_one_is_made_again(
    apiserver: ApiServerThread, installed: Path, rest: Rest, tmp_path: Path
):
    """Bound service-account tokens carry the account's uid (pkg/serviceaccount/claims.go):
    a new account of the same name does not revive them."""
    token = minted(apiserver, installed, accounts.CONTROLLER, tmp_path / "controller")
    controller = Rest(apiserver.url, token=token)
    pools = "/apis/metallb.io/v1beta1/ipaddresspools"
    assert controller.get(pools)[0] in (200, 404)  # authenticated (404 until the CRDs exist)
    account = "/api/v1/namespaces/metallb-system/serviceaccounts/metalpool-controller"
    rest.ok("DELETE", account)
    rest.ok("POST", "/api/v1/namespaces/metallb-system/serviceaccounts",
            {"metadata": {"name": "metalpool-controller"}})  # fmt: skip
    assert controller.get(pools)[0] == 401


def test_a_token_request_shorter_than_ten_minutes_is_invalid(rest: Rest, installed: Path):
    """pkg/apis/authentication/validation ValidateTokenRequest: expirationSeconds >= 600."""
    path = "/api/v1/namespaces/metallb-system/serviceaccounts/metalpool-speaker/token"
    status, body = rest.post(path, {"spec": {"expirationSeconds": 60}})
    assert (status, body["reason"]) == (422, "Invalid")
    assert "may not specify a duration less than 10 minutes" in body["message"]
    status, body = rest.post(path, {"spec": {}})
    assert status == 201
    assert body["kind"] == "TokenRequest"
    assert body["spec"]["expirationSeconds"] == 3600  # the default is an hour
    assert body["status"]["token"]


def test_kubectl_shows_the_forbidden_message_for_a_service_account(
    apiserver: ApiServerThread, installed: Path, tmp_path: Path
):
    """What a user sees: kubectl prints the Status message after `Error from server (Forbidden)`."""
    speaker_kubeconfig = accounts.account_kubeconfig(
        accounts.run_kubectl(str(KUBECTL), installed), accounts.SPEAKER, tmp_path / "speaker",
        url=apiserver.url, ca=apiserver.ca,
    )  # fmt: skip
    done = subprocess.run(  # noqa: S603 -- our kubectl
        [str(KUBECTL), f"--kubeconfig={speaker_kubeconfig}", f"--cache-dir={tmp_path / 'cache'}",
         "get", "configmaps", "-n", "kube-system"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        'Error from server (Forbidden): configmaps is forbidden: User "system:serviceaccount:'
        'metallb-system:metalpool-speaker" cannot list resource "configmaps" in API group "" in'
        ' the namespace "kube-system"'
    )
    whoami = subprocess.run(  # noqa: S603 -- our kubectl, as the admin
        [str(KUBECTL), f"--kubeconfig={installed}", "get", "ns", "-o", "name",
         f"--token={ADMIN_TOKEN}"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert "namespace/metallb-system" in whoami.stdout
