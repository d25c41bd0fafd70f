"""The README's main job end to end: `metalpool-lab` builds, shows, fails over, cleans up."""

import re
import subprocess

import pytest

from lab.__main__ import main
from lab.network import ip_command
from tests.support.netns import unavailable_reason

pytestmark = [
    pytest.mark.wire,
    pytest.mark.timeout(240),
    pytest.mark.skipif(unavailable_reason() is not None, reason=str(unavailable_reason())),
]


def namespaces() -> set[str]:
    listing = subprocess.run(  # noqa: S603 - `ip` with fixed arguments
        [ip_command(), "netns", "list"], capture_output=True, text=True, check=True
    )
    return {line.split()[0] for line in listing.stdout.splitlines() if line.strip()}


def test_the_lab_shows_who_answers_each_service_and_a_measured_failover(capsys):
    before = namespaces()
    assert main([]) == 0
    out = capsys.readouterr().out
    rows = re.findall(
        r"^(demo/\S+)\s+(\S+)\s+(\S+)\s+(node-\d)\s+(\S+)\s+(\S+)$", out, re.MULTILINE
    )
    assert {r[0] for r in rows} >= {"demo/web-app-lb", "demo/postgres-lb", "demo/dns-udp"}
    assert all(announced == resolved for *_, announced, resolved, _ in rows), out
    assert {condition for *_, condition in rows} == {"Announced"}, out
    # The rogue holds public-pool's first address: quarantined, and its Service moved on.
    assert re.search(r"^  192\.0\.2\.10 in public-pool: held by [0-9a-f:]{17} on eth0", out, re.M)
    assert "192.0.2.10" not in {r[1] for r in rows}
    assert re.search(r"^  demo/staging-lb \S+: NoAdvertisement: no L2Advertisement", out, re.M)
    assert ("demo/postgres-lb", "192.0.2.50") in {(r[0], r[1]) for r in rows}
    failovers = re.findall(r"failover: speaker on (node-\d) .* at (node-\d) after ([\d.]+) s", out)
    assert len(failovers) == 2, out
    assert all(old != new for old, new, _ in failovers)
    assert "nothing they asked for was refused" in out  # RBAC held the programs, and sufficed
    assert "cleaned up" in out
    assert namespaces() <= before  # every namespace the lab made is gone


def test_the_lab_refuses_clearly_without_root(monkeypatch, capsys):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert main([]) == 2
    assert "needs root" in capsys.readouterr().err
