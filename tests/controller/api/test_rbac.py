"""The controller runs under deploy/'s RBAC, and RBAC binds it: a right taken away is missed.

Every API-tier test already fails when the controller is refused anything (running_cluster);
this one shows the other half, that the refusal is real: without its rule for services/status
the real controller is refused with kube-apiserver's 403, the Service gets no address, and it
gets one once the rule is back (RBAC changes apply to the next request, as in kube).
"""

import json
from pathlib import Path

import pytest

from tests.support.cluster import denials, eventually, running_cluster, running_controller

CLUSTER_ROLE = "metalpool:controller"
STATUS_RULE = {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch"]}


def test_the_controller_is_refused_what_deploy_does_not_grant_and_recovers_when_it_does(
    tmp_path: Path,
):
    with running_cluster(tmp_path, denials_expected=True) as cluster:
        role = cluster.kubectl("get", "clusterrole", CLUSTER_ROLE, "-o", "json")
        rules = json.loads(role)["rules"]
        assert STATUS_RULE in rules
        without = [rule for rule in rules if rule != STATUS_RULE]
        patch = json.dumps({"rules": without})
        cluster.kubectl("patch", "clusterrole", CLUSTER_ROLE, "--type=merge", "-p", patch)
        cluster.pool("p", "192.0.2.0/24")
        with running_controller(cluster, tmp_path):
            cluster.service("web")
            refused = eventually(lambda: [d for d in denials(cluster.server) if "web/status" in d])
            assert refused[0].endswith(
                'services "web" is forbidden: User "system:serviceaccount:metallb-system:'
                'metalpool-controller" cannot patch resource "services/status" in API group ""'
                ' in the namespace "demo"'
            )
            assert cluster.ips("web") == []
            patch = json.dumps({"rules": rules})
            cluster.kubectl("patch", "clusterrole", CLUSTER_ROLE, "--type=merge", "-p", patch)
            assert eventually(lambda: cluster.ips("web"), timeout=30) == ["192.0.2.0"]


pytestmark = [
    pytest.mark.timeout(90),
    pytest.mark.emulated_only("changes deploy/'s ClusterRole and reads the server's refusals"),
]
