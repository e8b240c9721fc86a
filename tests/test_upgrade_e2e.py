"""An upgrade end to end against the stand-ins: a cluster joined at one Kubernetes version, the stack moved to the
next, stepped the way the engine orders the wired resources (components/external_pool.py, clouds/onprem.py).

- Every machine runs the real join script in the sandbox (tests/sandbox.py) with the node kosmos registered for it
  (NodeIdentityProvider against the local Kosmos, tests/kosmos_api.py); the stand-in agent (tests/k8s_agent.py)
  installs the metadata's pool_version and swaps components as k8s-agent component.go does.
- Boot-time pool: PoolVersion (update: waits until Scaleway moved the pool) -> new identities -> new machines ->
  PoolNodes update (new nodes Ready, then the old ones drained and deleted) -> the old identities' deletes at the end.
- On-prem pool: the chained RolloutGates (update in chain order), each host's Command (the real re-join, forced, as
  rejoin_command runs it) as soon as its gate returns, the tail after every Command; the host's kubelet in the local
  Kubernetes API (tests/kube_api.py) goes NotReady while its join runs and reports what the agent installed.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components import rollout
from components.identity import NodeIdentityProvider
from components.pool_nodes import PoolNodesProvider
from components.pool_version import PoolVersionProvider
from components.rollout import RolloutGateProvider
from components.userdata import JoinInputs, node_credentials, render
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from kube_api import KubeApi, kubeconfig
from sandbox import Machine
from test_join_sandbox import ACCESS_KEY, OPERATOR_SECRET, no_scw_environment  # noqa: F401 (fixture)

REGION = "fr-par"
OLD, NEW = "1.35.3", "1.36.1"


@pytest.fixture
def kube_api():
    with KubeApi(tls=True) as api:
        yield api


@pytest.fixture
def kosmos(kube_api):
    config = yaml.safe_dump(kubeconfig(kube_api.url))
    with LocalKosmos(operator_secret=OPERATOR_SECRET, kubeconfig=config, ready_seconds=0.5,
                     delete_seconds=0.2) as k:
        k.version = OLD
        yield k


@pytest.fixture
def release():
    with AgentRelease() as r:
        yield r


def configured(cls):
    provider = cls()
    raw = {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET}
    provider.configure(ConfigureRequest(config=Config(raw_config=raw, project_name="kosmos")))
    return provider


def common(kosmos, pool) -> dict:
    return {"region": REGION, "api_url": kosmos.url, "pool_id": f"{REGION}/{pool.id}", "pool_name": pool.name,
            "timeout_seconds": 30, "poll_seconds": 0.02}


def register(kosmos, pool, machine: str, generation: str) -> dict:
    """NodeIdentity.create, as the program runs it before the machine (generation: the redacted join's hash)."""
    return configured(NodeIdentityProvider).create(
        {**common(kosmos, pool), "machine": machine, "generation": generation}).outs


def userdata(kosmos, release, pool, node: dict, version: str) -> str:
    inputs = JoinInputs(pool_id=f"{REGION}/{pool.id}", region=REGION, agent_base_url=release.base_url,
                        api_url=kosmos.url, kubernetes_version=version)
    return render(inputs, node_credentials(node["metadata_url"], node["node_secret_key"]), "script").text


def installed(machine: Machine) -> dict:
    return json.loads((machine.root / "etc/scw-k8s-versions.json").read_text())


def joined_id(machine: Machine) -> str:
    return json.loads((machine.root / "var/lib/kosmos/node.json").read_text())["id"]


def pool_version_props(kosmos, pool, version: str) -> dict:
    return {**common(kosmos, pool), "kubernetes_version": version}


def pool_nodes_props(kosmos, pool, members: list[dict], version: str, **extra) -> dict:
    return {**common(kosmos, pool), "cluster_id": f"{REGION}/{kosmos.cluster_id}", "wait": True, "skip_drain": False,
            "kubernetes_version": version,
            "members": [{"machine": m["machine"], "node_id": m["node_id"], "node_name": m["node_name"]}
                        for m in members], **extra}


def kubelet_up(cluster, machine: Machine, node: dict, version: str | None = None):
    """The installed kubelet registers its Node (the kubelet's job, not the agent's), Ready at what the agent
    installed (or `version`, to play a kubelet that did not move)."""
    with cluster.lock:
        cluster.nodes.pop(node["node_name"], None)
    kube = cluster.add_node(node["node_name"])
    with cluster.lock:
        kube.ready, kube.kubelet_version = "True", "v" + (version or installed(machine)["kubelet"])


def upgrade_scaleway(kosmos, pools, after: float) -> threading.Thread:
    """Scaleway's side of `kosmos:cluster.version` moving: the control plane, then (a little later) the pools."""
    def run():
        kosmos.version = NEW
        time.sleep(after)
        for pool in pools:
            pool.version = NEW

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def boot_time_pool_at_the_old_version(kosmos, kube_api, release, tmp_path, machines):
    """Creation at 1.35.3 as `pulumi up` runs it: PoolVersion answers at once, identities, machines, PoolNodes."""
    pool = kosmos.add_pool("civo-lon1", size=len(machines))
    pool.version = OLD
    version = configured(PoolVersionProvider)
    created_version = version.create(pool_version_props(kosmos, pool, OLD)).outs
    old = {m: register(kosmos, pool, m, "gen-old") for m in machines}
    for m in machines:
        box = Machine(tmp_path / f"{m}-old")
        result = box.run(userdata(kosmos, release, pool, old[m], OLD))
        assert result.returncode == 0, result.stdout
        kubelet_up(kube_api.cluster, box, old[m])
    before = configured(PoolNodesProvider).create(
        pool_nodes_props(kosmos, pool, [{**old[m], "machine": m} for m in machines], OLD)).outs
    assert set(before["statuses"].values()) == {"ready"}
    return pool, version, created_version, old, before


def test_boot_time_machines_are_replaced_by_new_nodes_on_the_new_version_before_the_old_ones_go(
        kosmos, kube_api, release, tmp_path):
    machines = ["civo-lon1-0", "civo-lon1-1"]
    pool, version, created_version, old, before = boot_time_pool_at_the_old_version(kosmos, kube_api, release,
                                                                                    tmp_path, machines)
    readiness = configured(PoolNodesProvider)

    # -- the stack moves to 1.36.1. PoolVersion waits until Scaleway moved the pool (the cluster goes first).
    mover = upgrade_scaleway(kosmos, [pool], after=0.3)
    start = time.monotonic()
    moved = version.update(pool.id, created_version, pool_version_props(kosmos, pool, NEW)).outs
    mover.join()
    assert moved["version"] == NEW and time.monotonic() - start >= 0.3

    # New identities (their generation moved with the join), then the new machines: a cloud reports a machine
    # created once it runs, its join still going (cloud-init), so PoolNodes' update starts while they boot.
    new = {m: register(kosmos, pool, m, "gen-new") for m in machines}
    assert len(kosmos.live_nodes(pool.id)) == 4  # capacity never below the declared 2: old and new side by side
    fresh = {m: Machine(tmp_path / f"{m}-new") for m in machines}
    joins: dict = {}

    def boot(m):
        joins[m] = fresh[m].run(userdata(kosmos, release, pool, new[m], NEW))
        if joins[m].returncode == 0:
            kubelet_up(kube_api.cluster, fresh[m], new[m])

    booting = [threading.Thread(target=boot, args=(m,)) for m in machines]
    for t in booting:
        t.start()

    # PoolNodes update: records, at every delete of an old node, what Scaleway reports for the new ones.
    seen_at_delete: list[set] = []
    handle = kosmos.handle

    def recording(method, path, query, token):
        if method == "DELETE" and any(path.endswith(old[m]["node_id"]) for m in machines):
            seen_at_delete.append({kosmos._status(kosmos.nodes[new[m]["node_id"]]) for m in machines})
        return handle(method, path, query, token)

    kosmos.handle = recording
    after = readiness.update(pool.id, before,
                             pool_nodes_props(kosmos, pool, [{**new[m], "machine": m} for m in machines], NEW)).outs
    kosmos.handle = handle
    for t in booting:
        t.join(timeout=60)
    assert all(joins[m].returncode == 0 for m in machines), [joins[m].stdout for m in machines]
    assert seen_at_delete == [{"ready"}, {"ready"}]  # each old node deleted only once every new one was Ready
    assert set(after["statuses"]) == {new[m]["node_id"] for m in machines}

    # The end of the update: Pulumi deletes the replaced identities (and machines); their nodes are already gone.
    deletes = kosmos.count("DELETE", "")
    for m in machines:
        configured(NodeIdentityProvider).delete(old[m]["node_id"], {**common(kosmos, pool), **old[m]})
    assert kosmos.count("DELETE", "") == deletes

    # One node per machine, every one on the new version, each machine running the node kosmos registered for it.
    assert sorted(n["id"] for n in kosmos.live_nodes(pool.id)) == sorted(new[m]["node_id"] for m in machines)
    for m in machines:
        assert installed(fresh[m])["kubelet"] == NEW and joined_id(fresh[m]) == new[m]["node_id"]
    assert kosmos.auth_calls() == 4  # every node registered by the program, none by an agent


@pytest.mark.parametrize("max_unavailable", [1, 2])
def test_on_prem_hosts_rejoin_in_place_at_most_max_unavailable_at_a_time(kosmos, kube_api, release, tmp_path,
                                                                         max_unavailable):
    pool = kosmos.add_pool("home", size=4)
    pool.version = OLD
    hosts = ["h0", "h1", "h2", "h3"]
    cluster = kube_api.cluster

    # -- creation at 1.35.3: one identity per host (its generation excludes the join: the host keeps its node).
    ids = {h: register(kosmos, pool, h, "onprem-gen") for h in hosts}
    boxes = {h: Machine(tmp_path / h) for h in hosts}
    for h in hosts:
        result = boxes[h].run("", stdin=userdata(kosmos, release, pool, ids[h], OLD))
        assert result.returncode == 0, result.stdout
        node = cluster.add_node(ids[h]["node_name"])
        node.ready, node.kubelet_version = "True", "v" + installed(boxes[h])["kubelet"]
    steps = rollout.plan(hosts, max_unavailable)
    gate = configured(RolloutGateProvider)

    def gate_props(step, generation):
        return {"cluster_id": f"{REGION}/{kosmos.cluster_id}", "region": REGION, "api_url": kosmos.url,
                "pool_name": "home", "machine": step.host,
                "node_name": ids[step.host]["node_name"] if step.host else None,
                "wait_node_names": [ids[h]["node_name"] for h in step.waits_for], "generation": generation,
                "kubernetes_version": NEW, "timeout_seconds": 60, "poll_seconds": 0.02, "skip_drain": False}

    olds = {s.host: gate.create(gate_props(s, "sha-old")).outs for s in steps}

    # -- the stack moves to 1.36.1; Scaleway moved the pool (PoolVersion, tested above, ran before anything here).
    upgrade_scaleway(kosmos, [pool], after=0).join()
    out, peak, order, errors = set(), [0], [], []
    lock = threading.Lock()

    def command(host):  # rejoin_command: the same identity's join, forced, on stdin
        name = ids[host]["node_name"]
        try:
            assert cluster.nodes[name].spec.get("unschedulable"), f"{host} re-joined before it was cordoned"
            with lock:
                order.append(host)
                out.add(host)
                peak[0] = max(peak[0], len(out))
            with cluster.lock:
                cluster.nodes[name].ready = "False"  # the agent swaps kubelet: it restarts
            result = boxes[host].run("", stdin=userdata(kosmos, release, pool, ids[host], NEW), KOSMOS_JOIN_FORCE=1)
            assert result.returncode == 0, result.stdout
            with lock:
                out.discard(host)
            with cluster.lock:
                cluster.nodes[name].kubelet_version = "v" + installed(boxes[host])["kubelet"]
                cluster.nodes[name].ready = "True"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = []
    for step in steps[:-1]:  # gate k after gate k-1; Command k as soon as gate k returns (another provider)
        gate.update(step.host, olds[step.host], gate_props(step, "sha-new"))
        threads.append(threading.Thread(target=command, args=(step.host,)))
        threads[-1].start()
    for t in threads:
        t.join(timeout=60)
    gate.update("tail", olds[None], gate_props(steps[-1], "sha-new"))
    assert not errors, errors

    assert order == hosts and 1 <= peak[0] <= max_unavailable
    for h in hosts:
        node = cluster.nodes[ids[h]["node_name"]]
        assert (node.kubelet_version, node.ready) == ("v" + NEW, "True") and not node.spec.get("unschedulable")
        assert installed(boxes[h])["kubelet"] == NEW and joined_id(boxes[h]) == ids[h]["node_id"]
    # The same node per host, no registration by any agent.
    assert sorted(n["id"] for n in kosmos.live_nodes(pool.id)) == sorted(i["node_id"] for i in ids.values())
    assert kosmos.auth_calls() == len(hosts)


def test_old_nodes_stay_while_a_new_node_is_ready_on_scaleway_but_its_kubelet_runs_the_old_version(
        kosmos, kube_api, release, tmp_path):
    # Scaleway's `ready` says nothing of the kubelet's version: PoolNodes reads it from the Kubernetes API and keeps
    # the old nodes until the new ones run the declared version.
    pool, _, _, old, before = boot_time_pool_at_the_old_version(kosmos, kube_api, release, tmp_path, ["civo-lon1-0"])
    pool.version = NEW
    new = register(kosmos, pool, "civo-lon1-0", "gen-new")
    box = Machine(tmp_path / "new")
    assert box.run(userdata(kosmos, release, pool, new, NEW)).returncode == 0
    kubelet_up(kube_api.cluster, box, new, version=OLD)  # e.g. a kubelet that did not restart
    props = pool_nodes_props(kosmos, pool, [{**new, "machine": "civo-lon1-0"}], NEW, timeout_seconds=0.5)
    with pytest.raises(Exception, match=rf"nodes {new['node_name']} of pool 'civo-lon1' .* are not Ready on "
                                        rf"Kubernetes {NEW} after 0.5s .*the old nodes were kept"):
        configured(PoolNodesProvider).update(pool.id, before, props)
    assert old["civo-lon1-0"]["node_id"] in {n["id"] for n in kosmos.live_nodes(pool.id)}
    assert kosmos.count("DELETE", "") == 0
