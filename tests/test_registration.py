"""NodeRegistrationProvider against the local Kosmos (tests/kosmos_api.py) and the local Kubernetes API
(tests/kube_api.py, over HTTPS with the CA inline in the kubeconfig): matching, waiting, draining, deleting until
gone; and the provider loaded exactly as Pulumi's dynamic provider host loads it (pulumi/dynamic/__main__.py:
dill-unpickled, configure()d with the stack config, then Create/Diff/Read/Delete as gRPC requests, Delete and Read
with the outputs only) in a process without SCW_*."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest
import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components.registration import NodeRegistrationProvider, RegistrationError, serialized_provider
from kosmos_api import LocalKosmos
from kube_api import Cluster, KubeApi, Pod, kubeconfig, pod
from pulumi_host import dynamic_host, plain, struct

REGION = "fr-par"
ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
JOIN_KEY = "55555555-5555-4555-8555-555555555555"


@pytest.fixture
def kube_api():
    with KubeApi(tls=True) as api:
        yield api


@pytest.fixture
def kube(kube_api) -> Cluster:
    return kube_api.cluster


@pytest.fixture
def kosmos(kube_api):
    config = yaml.safe_dump(kubeconfig(kube_api.url))
    with LocalKosmos(operator_secret=OPERATOR_SECRET, kubeconfig=config, delete_seconds=0.6) as k:
        k.pool = k.add_pool("civo-lon1", JOIN_KEY, size=3)
        yield k


def register(kosmos, ip: str, kube: Cluster | None = None, ready: bool = True) -> dict:
    """What a machine's agent does: auth with the join key (+ the metadata fetch that makes it Ready)."""
    kosmos.nat_ip = ip
    status, payload = kosmos.handle("POST", f"/k8s/v1/regions/{REGION}/pools/{kosmos.pool.id}/external-nodes/auth",
                                    {}, JOIN_KEY)
    assert status == 200
    if ready:
        kosmos.handle("GET", f"/k8s/v1/regions/{REGION}/node-metadata", {}, payload["node_secret_key"])
    node = next(n for n in kosmos.nodes.values() if n["_secret"] == payload["node_secret_key"])
    if kube is not None:
        kube.add_node(node["name"])
    return node


def configured(clock=None, sleep=None, **config) -> NodeRegistrationProvider:
    provider = NodeRegistrationProvider(clock=clock, sleep=sleep)
    raw = {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET, **config}
    provider.configure(ConfigureRequest(config=Config(raw_config=raw, project_name="kosmos")))
    return provider


def props(kosmos, **overrides) -> dict:
    base = {
        "cluster_id": f"{REGION}/{kosmos.cluster_id}", "region": REGION, "pool_id": f"{REGION}/{kosmos.pool.id}",
        "pool_name": "civo-lon1", "machine": "civo-lon1-0", "match_ip": "203.0.113.7", "match_node_id": None,
        "wait": True, "timeout_seconds": 20, "poll_seconds": 0.05, "skip_drain": False, "api_url": kosmos.url,
        "node_id": None, "node_name": None, "status": None,
    }
    base.update(overrides)
    return base


@pytest.fixture(autouse=True)
def no_scw_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("SCW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/scw either


def test_create_finds_the_node_by_the_public_ip_scaleway_reports_across_pages(kosmos):
    for i in range(4):  # other machines' nodes, over several pages (the stand-in pages by 2)
        register(kosmos, f"198.51.100.{i}")
    mine = register(kosmos, "203.0.113.7")
    result = configured().create(props(kosmos))
    assert result.id == mine["id"]
    assert (result.outs["node_id"], result.outs["node_name"], result.outs["status"]) == (mine["id"], mine["name"], "ready")
    pages = [q.get("page") for m, p, q in kosmos.requests if p.endswith("/nodes") and m == "GET"]
    assert pages[:3] == ["1", "2", "3"]
    for forbidden in ("access_key", "secret_key", ACCESS_KEY, OPERATOR_SECRET):
        assert forbidden not in json.dumps(result.outs)


def test_create_waits_for_ready(kosmos):
    node = register(kosmos, "203.0.113.7", ready=False)
    kosmos.ready_seconds = 0.0
    waits = []
    provider = configured(sleep=lambda s: (waits.append(s), kosmos.handle(
        "GET", f"/k8s/v1/regions/{REGION}/node-metadata", {}, node["_secret"]), time.sleep(0.01)))
    assert provider.create(props(kosmos)).outs["status"] == "ready"
    assert waits  # it polled until the node turned Ready


def test_on_prem_matches_the_node_id_the_join_reported_not_its_address(kosmos):
    register(kosmos, "192.168.1.50")  # an unrelated node that has the host's LAN/SSH address
    mine = register(kosmos, "198.51.100.200")  # the NAT address Scaleway saw
    result = configured().create(props(kosmos, match_ip=None, match_node_id=mine["id"], machine="mac-vm"))
    assert result.outs["node_id"] == mine["id"] and result.outs["node_name"].startswith("scw-multicloud-civo-lon1-")


def test_on_prem_without_a_reported_node_id_fails_clearly(kosmos):
    with pytest.raises(RegistrationError, match="no KOSMOS_NODE_ID line"):
        configured().create(props(kosmos, match_ip=None, match_node_id=""))


def test_two_live_nodes_with_the_same_ip_are_an_error_naming_both(kosmos):
    a, b = register(kosmos, "203.0.113.7"), register(kosmos, "203.0.113.7")
    with pytest.raises(RegistrationError) as err:
        configured().create(props(kosmos))
    assert a["name"] in str(err.value) and b["name"] in str(err.value) and "does not guess" in str(err.value)


def test_timeout_names_machine_pool_and_where_to_look(kosmos):
    register(kosmos, "198.51.100.1")
    with pytest.raises(RegistrationError) as err:
        configured().create(props(kosmos, timeout_seconds=0.3))
    message = str(err.value)
    assert message.startswith("timed out after 0.3s")
    assert "machine 'civo-lon1-0' (node with public IP 203.0.113.7)" in message
    assert "/var/lib/kosmos/join.state" in message


def test_no_credentials_anywhere_is_a_clear_error(kosmos):
    with pytest.raises(RegistrationError, match="no usable Scaleway credentials.*scaleway:accessKey"):
        NodeRegistrationProvider().create(props(kosmos))


def test_delete_drains_then_deletes_then_waits_until_gone(kosmos, kube, tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the client may write the cluster CA
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("web-1", node["name"]), pod("web-2", node["name"]), pod("kilo", node["name"], "kube-system",
                                                                           owner="DaemonSet"),
                 pod("elsewhere", "other-node")]
    kube.pdb_blocks = {"web-2": 2}  # its budget refuses twice, then allows
    provider = configured()
    outs = provider.create(props(kosmos)).outs
    started = time.monotonic()
    provider.delete(node["id"], outs)  # outputs only
    assert time.monotonic() - started >= kosmos.delete_seconds  # returned only once the node was gone
    assert kosmos.live_nodes() == [] and kosmos.pool.size == 2  # "Pool size is reduced by 1"
    evictions = [p for p in kube.paths("POST") if p.endswith("/eviction")]
    assert evictions.count("/api/v1/namespaces/default/pods/web-2/eviction") == 3  # 429, 429, then evicted
    assert "/api/v1/namespaces/default/pods/web-1/eviction" in evictions
    assert not any("kilo" in p or "elsewhere" in p for p in evictions)  # DaemonSet pods and other nodes: untouched
    assert kube.nodes[node["name"]].spec["unschedulable"] is True  # cordoned first
    assert [p.name for p in kube.pods] == ["kilo", "elsewhere"]
    assert list(scratch.iterdir()) == []  # nothing of the kubeconfig is left on disk
    # Drain happened before the API delete.
    first_delete = next(i for i, r in enumerate(kosmos.requests) if r[0] == "DELETE")
    assert kosmos.requests[first_delete][2] == {"skip_drain": "False"}


def test_two_drains_in_one_process_both_reach_the_https_api(kosmos, kube):
    # The dynamic provider host deletes every node of a destroy in one process, all with the same cluster CA: the
    # client's by-content cache of the CA file (kubernetes 31.0.0) must not hand the second drain a removed file.
    machines = {"civo-lon1-0": "203.0.113.7", "civo-lon1-1": "203.0.113.8"}
    nodes = [register(kosmos, ip, kube) for ip in machines.values()]
    kube.pods = [pod(f"web-{i}", node["name"]) for i, node in enumerate(nodes)]
    provider = configured()
    outs = [provider.create(props(kosmos, machine=m, match_ip=ip)).outs for m, ip in machines.items()]
    for node, out in zip(nodes, outs):
        provider.delete(node["id"], out)
    assert [kube.nodes[n["name"]].spec.get("unschedulable") for n in nodes] == [True, True]
    assert kube.pods == [] and kosmos.live_nodes() == []


def test_pods_without_a_controller_are_named_not_evicted_and_the_delete_proceeds(kosmos, kube, capfd):
    # kubectl drain refuses "Pods that declare no controller" without --force (kubectl pkg/drain/filters.go,
    # unreplicatedFilter over metav1.GetControllerOf). The node is deleted right after the drain and they go with it,
    # so kosmos leaves them, names them, and a destroy still completes.
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("web-1", node["name"]), pod("debug", node["name"], "tools", owner=None),
                 Pod("adopted", node["name"], owner="ReplicaSet", controller=False)]
    provider = configured()
    outs = provider.create(props(kosmos)).outs
    capfd.readouterr()
    provider.delete(node["id"], outs)
    evictions = [p for p in kube.paths("POST") if p.endswith("/eviction")]
    assert evictions == ["/api/v1/namespaces/default/pods/web-1/eviction"]
    assert kosmos.live_nodes() == []  # deleted all the same
    err = capfd.readouterr().err
    assert "WARNING: not evicting Pods that declare no controller: tools/debug" in err
    assert "WARNING: not evicting Pods that declare no controller: default/adopted" in err
    assert (f"drained node {node['name']} (1 pods evicted; not evicted, Pods that declare no controller: "
            "tools/debug, default/adopted)") in err


def test_a_budget_that_never_allows_fails_the_delete_and_keeps_the_node(kosmos, kube):
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("db-0", node["name"])]
    kube.pdb_blocks = {"db-0": 10_000}
    provider = configured()
    outs = {**provider.create(props(kosmos)).outs, "timeout_seconds": 1}
    with pytest.raises(RegistrationError, match="PodDisruptionBudgets refuse evicting default/db-0.*skipDrain"):
        provider.delete(node["id"], outs)
    assert not any(r[0] == "DELETE" for r in kosmos.requests)  # the node (and so its machine) stays
    assert len(kosmos.live_nodes()) == 1


def test_skip_drain_deletes_without_touching_kubernetes(kosmos, kube):
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("web-1", node["name"])]
    provider = configured()
    outs = provider.create(props(kosmos, skip_drain=True)).outs
    provider.delete(node["id"], outs)
    assert kube.requests == [] and kosmos.live_nodes() == []


def test_a_node_still_listed_at_the_timeout_fails_the_delete_and_keeps_the_machine(kosmos):
    """Scaleway keeps the node `deleting` longer than the registration's timeout: the delete fails (so Pulumi keeps
    the machine that depends on it) and says the node is still there, with its status."""
    kosmos.delete_seconds = 30
    node = register(kosmos, "203.0.113.7")
    provider = configured()
    outs = {**provider.create(props(kosmos, skip_drain=True)).outs, "timeout_seconds": 0.3}
    started = time.monotonic()
    with pytest.raises(RegistrationError) as err:
        provider.delete(node["id"], outs)
    assert time.monotonic() - started < 5  # bounded by the timeout, not by Scaleway
    message = str(err.value)
    assert f"node {node['name']} ({node['id']})" in message and "still listed by Scaleway (status deleting)" in message
    assert "its machine is kept" in message
    assert sum(r[0] == "GET" and r[1].endswith(node["id"]) for r in kosmos.requests) >= 2  # polled, with back-off


def test_delete_of_a_node_already_gone_or_never_registered_is_success(kosmos):
    provider = configured()
    provider.delete("x", props(kosmos, node_id="66666666-6666-4666-8666-666666666666", skip_drain=True))
    provider.delete("x", props(kosmos, wait=False, node_id="", skip_drain=True))  # nothing matches: nothing to do
    assert not any(r[0] == "DELETE" for r in kosmos.requests)


def test_diff_compares_inputs_with_the_old_outputs(kosmos):
    register(kosmos, "203.0.113.7")
    provider = configured()
    outs = provider.create(props(kosmos)).outs
    same = provider.diff("id", outs, props(kosmos))
    assert same.changes is False and same.replaces == []
    ip = provider.diff("id", outs, props(kosmos, match_ip="203.0.113.8"))
    assert ip.changes is True and ip.replaces == ["match_ip"] and ip.delete_before_replace is False
    setting = provider.diff("id", outs, props(kosmos, skip_drain=True))
    assert setting.changes is True and setting.replaces == []


def test_turning_wait_on_later_finds_the_node_the_label_patch_needs(kosmos):
    # registration.wait false -> true is an in-place update; ExternalPool then registers the label patch named by
    # this registration's node_name, which a not-waited create left empty.
    provider = configured()
    not_waited = provider.create(props(kosmos, wait=False)).outs
    assert (not_waited["node_id"], not_waited["status"]) == ("", "not-waited")
    mine = register(kosmos, "203.0.113.7")
    assert provider.diff("id", not_waited, props(kosmos)).replaces == []
    outs = provider.update("id", not_waited, props(kosmos)).outs
    assert (outs["node_id"], outs["node_name"], outs["status"]) == (mine["id"], mine["name"], "ready")
    # Settings changed later keep the recorded node without asking the API again.
    calls = len(kosmos.requests)
    again = provider.update("id", outs, props(kosmos, skip_drain=True)).outs
    assert again["node_id"] == mine["id"] and len(kosmos.requests) == calls


def test_state_from_before_node_ids_updates_in_place_when_the_reported_id_is_the_tracked_node(kosmos):
    # Old state matched on-prem nodes by hostname (match_name); the join now reports the id of the same node.
    old = {**props(kosmos, match_ip=None), "match_name": "mac-vm", "node_id": "n-1", "node_name": "scw-x",
           "status": "ready"}
    del old["match_node_id"]
    provider = configured()
    same_node = provider.diff("id", old, props(kosmos, match_ip=None, match_node_id="n-1"))
    assert same_node.changes is True and same_node.replaces == []  # never a replace that would delete the node
    other_node = provider.diff("id", old, props(kosmos, match_ip=None, match_node_id="n-2"))
    assert other_node.replaces == ["match_node_id"]
    # In a preview the re-run join's output is unknown: an update, not a replace (decided again at apply).
    from pulumi.runtime import rpc

    preview = provider.diff("id", {**old, "match_node_id": "n-1"}, props(kosmos, match_ip=None, match_node_id=rpc.UNKNOWN))
    assert preview.changes is True and preview.replaces == []


@pytest.fixture
def host(tmp_path):
    with dynamic_host(tmp_path) as stub:
        yield stub


def test_the_provider_as_pulumis_dynamic_host_drives_it(kosmos, kube, host):
    from pulumi.runtime import proto

    civo = register(kosmos, "203.0.113.7", kube)
    onprem = register(kosmos, "198.51.100.200", kube)  # NAT address, unlike its SSH address
    provider_blob = serialized_provider()
    assert ACCESS_KEY not in provider_blob  # credentials never ride in the pickled provider
    base = {k: v for k, v in props(kosmos, api_url=None, timeout_seconds=30).items() if v is not None}
    inputs = {
        "civo": {**base, "__provider": provider_blob},
        "onprem": {**base, "machine": "mac-vm", "match_ip": "", "match_node_id": onprem["id"],
                   "__provider": provider_blob},
    }
    # Configure: all stack config, namespaced keys (the engine sends the whole stack config).
    host.Configure(proto.ConfigureRequest(args=struct(
        {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET, "scaleway:apiUrl": kosmos.url,
         "kosmos:cluster": "{}"})), timeout=30)
    created = {name: host.Create(proto.CreateRequest(urn=f"urn:{name}", properties=struct(props_)), timeout=60)
               for name, props_ in inputs.items()}
    assert created["civo"].id == civo["id"] and created["onprem"].id == onprem["id"]  # exactly its own node
    outs = {name: plain(c.properties) for name, c in created.items()}
    for name in outs:
        text = json.dumps(outs[name])
        assert ACCESS_KEY not in text and OPERATOR_SECRET not in text
    # Diff gets the old outputs and the same inputs again: no change.
    diff = host.Diff(proto.DiffRequest(id=onprem["id"], olds=struct(outs["onprem"]),
                                               news=struct(inputs["onprem"])), timeout=30)
    assert diff.changes == proto.DiffResponse.DIFF_NONE
    read = host.Read(proto.ReadRequest(id=onprem["id"], properties=struct(outs["onprem"])), timeout=30)
    assert plain(read.properties)["status"] == "ready"
    # Delete gets the outputs only and returns once Scaleway no longer lists the node.
    host.Delete(proto.DeleteRequest(id=onprem["id"], properties=struct(outs["onprem"])), timeout=60)
    assert [n["id"] for n in kosmos.live_nodes()] == [civo["id"]]
    assert kosmos.pool.size == 2
    assert any(p.endswith("/eviction") or "/nodes/" in p for p in kube.paths())  # drained through Kubernetes
