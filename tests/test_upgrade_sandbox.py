"""An upgrade of an on-prem host in place, with the real join script run by bash in the sandbox: the host joined at
one Kubernetes version, the pool moved to the next (as Scaleway's UpgradePool does), the join re-run as the on-prem
update runs it (KOSMOS_JOIN_FORCE=1, script on stdin). Each machine joins as the node kosmos registered for it
(components/identity.py, `register` of test_join_sandbox.py): its userdata carries that node's credentials as the
agent's cache. The stand-in agent (tests/k8s_agent.py) swaps the components whose installed version differs, as
k8s-agent component.go / versions.go do, and keeps the node through its cache."""

from __future__ import annotations

import json

import pytest

from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from sandbox import Machine
from test_join_sandbox import OPERATOR_SECRET, no_scw_environment, register, script_for  # noqa: F401 (fixture)


@pytest.fixture
def kosmos():
    with LocalKosmos(operator_secret=OPERATOR_SECRET) as k:
        k.pool = k.add_pool("home")
        k.pool.version = "1.35.3"
        k.registered = []
        yield k


@pytest.fixture
def release():
    with AgentRelease() as r:
        yield r


def join(kosmos, release, version: str, node: dict) -> str:
    """The machine's script at `version`, carrying `node`'s credentials (kosmos registered it before the machine)."""
    return script_for(kosmos, release, node, kubernetes_version=version)


def installed(machine: Machine) -> dict:
    return json.loads((machine.root / "etc/scw-k8s-versions.json").read_text())


def node_record(machine: Machine) -> dict:
    return json.loads((machine.root / "var/lib/kosmos/node.json").read_text())


def test_a_rejoin_after_the_pool_moved_swaps_kubelet_and_keeps_the_node(kosmos, release, tmp_path):
    machine = Machine(tmp_path / "host")
    identity = register(kosmos, "host")
    first = machine.run("", stdin=join(kosmos, release, "1.35.3", identity))
    assert first.returncode == 0, first.stdout
    assert installed(machine) == {"containerd": "2.0.5", "kubelet": "1.35.3"}
    [node] = kosmos.live_nodes()
    assert node_record(machine)["kubernetes_version"] == "1.35.3"

    kosmos.pool.version = "1.36.1"  # the control plane and the pool were upgraded
    # The on-prem update re-runs the same identity's join at the new version (a host keeps its node).
    again = machine.run("", stdin=join(kosmos, release, "1.36.1", identity), KOSMOS_JOIN_FORCE=1)
    assert again.returncode == 0, again.stdout
    assert installed(machine) == {"containerd": "2.0.5", "kubelet": "1.36.1"}
    # kubelet uninstalled then installed at the new version; containerd (unchanged) untouched.
    assert machine.agent("components").splitlines() == [
        "containerd 2.0.5", "kubelet 1.35.3", "kubelet uninstalled", "kubelet 1.36.1"
    ]
    assert "Component already installed component=containerd" in machine.log()
    # Same node: the agent used its cache (the only auth call is the program's), one node for the machine.
    assert kosmos.auth_calls() == 1
    assert [n["id"] for n in kosmos.live_nodes()] == [node["id"]] == [identity["node_id"]]
    assert node_record(machine)["id"] == node["id"]
    assert node_record(machine)["kubernetes_version"] == "1.36.1"
    assert machine.state() == "ok"


def test_a_declared_minor_accepts_the_pools_patch(kosmos, release, tmp_path):
    machine = Machine(tmp_path / "host")
    result = machine.run("", stdin=join(kosmos, release, "1.35", register(kosmos, "host")))
    assert result.returncode == 0, result.stdout
    assert node_record(machine)["kubernetes_version"] == "1.35.3"


def test_metadata_still_on_the_old_version_fails_the_rejoin_clearly(kosmos, release, tmp_path):
    # Unverified whether Scaleway reports the upgraded pool's version to a node that joined before: if it does not,
    # the agent reinstalls nothing, and the join says so instead of reporting an upgrade that did not happen.
    kosmos.metadata_version = "joined"
    machine = Machine(tmp_path / "host")
    identity = register(kosmos, "host")
    assert machine.run("", stdin=join(kosmos, release, "1.35.3", identity)).returncode == 0
    kosmos.pool.version = "1.36.1"
    again = machine.run("", stdin=join(kosmos, release, "1.36.1", identity), KOSMOS_JOIN_FORCE=1)
    assert again.returncode != 0
    assert ("node metadata reports pool version 1.35.3, not kosmos:cluster.version 1.36.1 (README, Upgrading)"
            in again.stdout)
    assert machine.state().startswith("failed:identity: ")
    assert installed(machine)["kubelet"] == "1.35.3"


def test_a_machine_created_before_the_pool_moved_fails_instead_of_joining_old(kosmos, release, tmp_path):
    # What PoolVersion (components/pool_version.py) prevents in a real run: the identity comes after the pool moved.
    machine = Machine(tmp_path / "new")
    result = machine.run(join(kosmos, release, "1.36.1", register(kosmos, "new")))
    assert result.returncode != 0
    assert "node metadata reports pool version 1.35.3, not kosmos:cluster.version 1.36.1" in result.stdout


def test_a_pool_version_the_repository_does_not_know_fails_in_the_agent(kosmos, release, tmp_path):
    kosmos.pool.version = "1.36"  # not a release of the repository (releases.yaml keys are full versions)
    machine = Machine(tmp_path / "host")
    result = machine.run(join(kosmos, release, "", register(kosmos, "host")))
    assert result.returncode != 0
    assert "release 1.36 not found" in machine.log()


def test_a_replacement_machine_joins_a_new_node_on_the_new_version(kosmos, release, tmp_path):
    # Boot-time clouds: the version change replaces the machine (and its identity) create-before-delete. The new
    # machine joins as its own new node at the pool's new version; the old node goes when PoolNodes deletes it.
    old = Machine(tmp_path / "old")
    assert old.run(join(kosmos, release, "1.35.3", register(kosmos, "old"))).returncode == 0
    [old_node] = kosmos.live_nodes()
    kosmos.pool.version = "1.36.1"
    new = Machine(tmp_path / "new")
    result = new.run(join(kosmos, release, "1.36.1", register(kosmos, "new")))
    assert result.returncode == 0, result.stdout
    assert installed(new)["kubelet"] == "1.36.1" and installed(old)["kubelet"] == "1.35.3"
    new_id = node_record(new)["id"]
    assert new_id != old_node["id"] and len(kosmos.live_nodes()) == 2  # both, until the old one is deleted
    kosmos.delete_seconds = 0
    status, _ = kosmos.handle("DELETE", f"/k8s/v1/regions/fr-par/nodes/{old_node['id']}", {}, OPERATOR_SECRET)
    assert status == 200
    assert [n["id"] for n in kosmos.live_nodes()] == [new_id]  # one node per machine
