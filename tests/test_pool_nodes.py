"""NodeIdentity and PoolNodes (components/identity.py, components/pool_nodes.py) against the local Kosmos
(tests/kosmos_api.py, which never reports `public_ip_v4` here) and the local Kubernetes API (tests/kube_api.py, over
HTTPS with the CA inline in the kubeconfig): registering, waiting by node id with one list per pool per round,
draining, deleting until gone, refresh after a machine vanished; and both providers loaded exactly as Pulumi's dynamic
provider host loads them (pulumi/dynamic/__main__.py: dill-unpickled, configure()d with the stack config, CRUD as gRPC
requests from at most 4 worker threads, Delete and Read with the outputs only) in a process without SCW_*."""

from __future__ import annotations

import concurrent.futures
import json
import tempfile
import threading
import time

import pytest
import yaml
from components.identity import NodeIdentityProvider
from components.pool_nodes import PoolNodesProvider
from components.scaleway_api import ScalewayError, serialized
from kosmos_api import LocalKosmos
from kube_api import Pod, kubeconfig, pod
from pulumi_host import dynamic_host, plain, struct
from scaleway_fixtures import (  # noqa: F401 (fixtures)
    ACCESS_KEY,
    OPERATOR_SECRET,
    REGION,
    configure_host,
    configured,
    identity,
    identity_props,
    kosmos,
    kube,
    kube_api,
    lists,
    no_scw_environment,
    pool_props,
)

# -- NodeIdentity -------------------------------------------------------------------------------------------------


def test_identity_registers_a_node_with_the_operators_key_before_any_machine(kosmos):
    outs = identity(kosmos, boot=False)
    [node] = kosmos.live_nodes()
    assert (outs["node_id"], outs["node_name"]) == (node["id"], node["name"])
    assert node["status"] == "creating" and node["public_ip_v4"] is None
    assert outs["metadata_url"] == f"{kosmos.url}/k8s/v1/regions/{REGION}/node-metadata" and outs["node_secret_key"]
    assert kosmos.auth_calls() == 1
    text = json.dumps(outs)
    assert ACCESS_KEY not in text and OPERATOR_SECRET not in text  # credentials come from configure(), never state


def test_identity_without_credentials_is_a_clear_error(kosmos):
    with pytest.raises(ScalewayError, match="no usable Scaleway credentials for the node identity of machine "
                                            "'civo-lon1-0'.*scaleway:accessKey"):
        NodeIdentityProvider().create(identity_props(kosmos))


def test_deleting_the_identity_of_a_machine_that_never_came_up_removes_its_node(kosmos):
    outs = identity(kosmos, boot=False)
    provider = configured(NodeIdentityProvider)
    started = time.monotonic()
    provider.delete(outs["node_id"], outs)  # outputs only
    assert time.monotonic() - started >= kosmos.delete_seconds  # returned once Scaleway no longer lists it
    assert kosmos.live_nodes() == [] and kosmos.pool.size == 2
    calls = len(kosmos.requests)
    provider.delete(outs["node_id"], outs)  # already gone: one GET, no DELETE
    assert [r[0] for r in kosmos.requests[calls:]] == ["GET"]


def test_identity_diff_replaces_on_a_new_generation_or_a_stale_node_and_updates_settings(kosmos):
    provider = configured(NodeIdentityProvider)
    outs = identity(kosmos)
    same = provider.diff(outs["node_id"], outs, identity_props(kosmos))
    assert same.changes is False and same.replaces == []
    new = provider.diff(outs["node_id"], outs, identity_props(kosmos, generation="def456"))
    assert new.replaces == ["generation"] and new.delete_before_replace is False  # create-before-delete
    setting = provider.diff(outs["node_id"], outs, identity_props(kosmos, timeout_seconds=60))
    assert setting.changes is True and setting.replaces == []
    updated = provider.update(outs["node_id"], outs, identity_props(kosmos, timeout_seconds=60)).outs
    assert updated["node_secret_key"] == outs["node_secret_key"] and updated["timeout_seconds"] == 60
    stale = provider.diff(outs["node_id"], {**outs, "stale": "not_ready"}, identity_props(kosmos))
    assert stale.replaces == ["stale"]


def test_identity_refresh_marks_a_lost_or_vanished_node_stale_and_a_booting_one_not(kosmos):
    provider = configured(NodeIdentityProvider)
    booting, ready, lost, gone = (identity(kosmos, f"m{i}", boot=i > 0) for i in range(4))
    kosmos.lose(lost["node_id"])
    provider_pool = configured(PoolNodesProvider)
    provider_pool.delete("p", pool_props(kosmos, [gone], skip_drain=True))
    read = {o["machine"]: provider.read(o["node_id"], o).outs["stale"] for o in (booting, ready, lost, gone)}
    assert read == {"m0": "", "m1": "", "m2": "not_ready", "m3": "absent"}


# -- PoolNodes ----------------------------------------------------------------------------------------------------


def test_pool_waits_for_every_member_by_id_with_one_list_per_round(kosmos):
    members = [identity(kosmos, f"civo-lon1-{i}", boot=False) for i in range(5)]
    kosmos.default_page_size = 100
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 3:  # the machines come up while the pool waits
            for m in members:
                kosmos.boot(m["node_id"])
        time.sleep(0.01)

    provider = configured(PoolNodesProvider, sleep=sleep)
    before = len(kosmos.requests)
    outs = provider.create(pool_props(kosmos, members)).outs
    assert outs["statuses"] == {m["node_id"]: "ready" for m in members}
    rounds = kosmos.requests[before:]
    assert len(rounds) == len(sleeps) + 1 >= 4  # one request per round for the whole pool
    assert all(m == "GET" and p.endswith("/nodes") and q.get("pool_id") == kosmos.pool.id for m, p, q in rounds)
    # Jittered back-off: no two pools polled from one host stay in lockstep.
    assert len(set(sleeps)) == len(sleeps) and all(0.03 < s < 0.2 for s in sleeps)


def test_pool_lists_every_page(kosmos):
    members = [identity(kosmos, f"civo-lon1-{i}") for i in range(5)]  # the stand-in pages by 2: 3 pages
    before = len(kosmos.requests)
    configured(PoolNodesProvider).create(pool_props(kosmos, members))
    pages = [q.get("page") for m, p, q in kosmos.requests[before:] if p.endswith("/nodes")]
    assert pages == ["1", "2", "3"]  # until total_count: no extra empty page


def test_pool_timeout_names_the_machines_not_ready_and_where_to_look(kosmos):
    up, down = identity(kosmos, "civo-lon1-0"), identity(kosmos, "civo-lon1-1", boot=False)
    with pytest.raises(ScalewayError) as err:
        configured(PoolNodesProvider).create(pool_props(kosmos, [up, down], timeout_seconds=0.3))
    message = str(err.value)
    assert message.startswith("timed out after 0.3s")
    assert f"not Ready: civo-lon1-1 ({down['node_name']}: creating)" in message and "civo-lon1-0 (" not in message
    assert "/var/lib/kosmos/join.state" in message and "registration.timeoutMinutes" in message


def test_a_run_cut_short_before_ready_converges_on_the_next_without_a_second_node(kosmos):
    # State after the cut: identity and machine recorded, the pool's wait not (its create failed or was killed).
    outs = identity(kosmos, boot=False)
    with pytest.raises(ScalewayError):
        configured(PoolNodesProvider).create(pool_props(kosmos, [outs], timeout_seconds=0.2))
    kosmos.boot(outs["node_id"])  # the machine finished booting meanwhile
    again = configured(PoolNodesProvider).create(pool_props(kosmos, [outs])).outs  # the next `pulumi up`
    assert again["statuses"] == {outs["node_id"]: "ready"}
    assert kosmos.auth_calls() == 1 and len(kosmos.live_nodes()) == 1


def test_pool_not_waited_records_members_and_turning_wait_on_waits_in_an_update(kosmos):
    provider = configured(PoolNodesProvider)
    m = identity(kosmos, boot=False)
    outs = provider.create(pool_props(kosmos, [m], wait=False)).outs
    assert outs["statuses"] == {m["node_id"]: "not-waited"} and lists(kosmos) == 0
    kosmos.boot(m["node_id"])
    assert provider.diff("p", outs, pool_props(kosmos, [m])).replaces == []
    assert provider.update("p", outs, pool_props(kosmos, [m])).outs["statuses"] == {m["node_id"]: "ready"}


def test_pool_update_waits_for_the_new_member_then_drains_and_deletes_the_one_that_left(kosmos, kube):
    old = identity(kosmos, "civo-lon1-0", kube=kube)
    kube.pods = [pod("web-1", old["node_name"])]
    provider = configured(PoolNodesProvider)
    outs = provider.create(pool_props(kosmos, [old])).outs
    new = identity(kosmos, "civo-lon1-0", boot=False)  # the replacement's identity (create-before-delete)
    booted = threading.Timer(0.3, kosmos.boot, (new["node_id"],))
    booted.start()
    updated = provider.update("p", outs, pool_props(kosmos, [new])).outs
    booted.join()
    assert updated["statuses"] == {new["node_id"]: "ready"}
    assert [n["id"] for n in kosmos.live_nodes()] == [new["node_id"]]
    # Capacity never drops: the old node was deleted only once the new one was Ready (ready_seconds is 0 here).
    assert kosmos.nodes[old["node_id"]]["_deleted_at"] > kosmos.nodes[new["node_id"]]["_kubelet_at"]
    assert kube.nodes[old["node_name"]].spec["unschedulable"] is True
    assert kube.pods == []


def test_pool_delete_drains_every_node_concurrently_then_waits_until_all_are_gone(kosmos, kube, tmp_path,
                                                                                    monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where the client may write the cluster CA
    members = [identity(kosmos, f"civo-lon1-{i}", kube=kube) for i in range(3)]
    kube.pods = [pod(f"web-{i}", m["node_name"]) for i, m in enumerate(members)] + [
        pod("kilo", members[0]["node_name"], "kube-system", owner="DaemonSet"), pod("elsewhere", "other-node")]
    kube.pdb_blocks = {"web-1": 2}  # its budget refuses twice, then allows
    provider = configured(PoolNodesProvider)
    outs = provider.create(pool_props(kosmos, members)).outs
    started = time.monotonic()
    provider.delete("p", outs)  # outputs only
    assert time.monotonic() - started >= kosmos.delete_seconds  # returned only once the nodes were gone
    assert kosmos.live_nodes() == [] and kosmos.pool.size == 0  # "Pool size is reduced by 1", three times
    evictions = [p for p in kube.paths("POST") if p.endswith("/eviction")]
    assert evictions.count("/api/v1/namespaces/default/pods/web-1/eviction") == 3  # 429, 429, then evicted
    assert not any("kilo" in p or "elsewhere" in p for p in evictions)  # DaemonSet pods and other nodes: untouched
    assert all(kube.nodes[m["node_name"]].spec["unschedulable"] is True for m in members)  # cordoned first
    assert [p.name for p in kube.pods] == ["kilo", "elsewhere"]
    assert list(scratch.iterdir()) == []  # nothing of the kubeconfig is left on disk
    with kosmos.lock:
        deletes = [q for m, p, q in kosmos.requests if m == "DELETE"]
    assert deletes == [{"skip_drain": "False"}] * 3


def test_pods_without_a_controller_are_named_not_evicted_and_the_delete_proceeds(kosmos, kube, capfd):
    # kubectl drain refuses "Pods that declare no controller" without --force (kubectl pkg/drain/filters.go,
    # unreplicatedFilter over metav1.GetControllerOf). The node is deleted right after the drain and they go with it,
    # so kosmos leaves them, names them, and a destroy still completes.
    m = identity(kosmos, kube=kube)
    kube.pods = [pod("web-1", m["node_name"]), pod("debug", m["node_name"], "tools", owner=None),
                 Pod("adopted", m["node_name"], owner="ReplicaSet", controller=False)]
    provider = configured(PoolNodesProvider)
    outs = provider.create(pool_props(kosmos, [m])).outs
    capfd.readouterr()
    provider.delete("p", outs)
    evictions = [p for p in kube.paths("POST") if p.endswith("/eviction")]
    assert evictions == ["/api/v1/namespaces/default/pods/web-1/eviction"]
    assert kosmos.live_nodes() == []  # deleted all the same
    err = capfd.readouterr().err
    assert "WARNING: not evicting Pods that declare no controller: tools/debug" in err
    assert (f"drained node {m['node_name']} (1 pods evicted; not evicted, Pods that declare no controller: "
            "tools/debug, default/adopted)") in err


def test_a_budget_that_never_allows_fails_the_delete_and_keeps_that_node(kosmos, kube):
    stuck, free = identity(kosmos, "civo-lon1-0", kube=kube), identity(kosmos, "civo-lon1-1", kube=kube)
    kube.pods = [pod("db-0", stuck["node_name"])]
    kube.pdb_blocks = {"db-0": 10_000}
    provider = configured(PoolNodesProvider)
    outs = {**provider.create(pool_props(kosmos, [stuck, free])).outs, "timeout_seconds": 1}
    with pytest.raises(ScalewayError, match="PodDisruptionBudgets refuse evicting default/db-0.*skipDrain"):
        provider.delete("p", outs)
    assert [n["id"] for n in kosmos.live_nodes()] == [stuck["node_id"]]  # the stuck node (and its machine) stays


def test_skip_drain_deletes_without_touching_kubernetes(kosmos, kube):
    m = identity(kosmos, kube=kube)
    kube.pods = [pod("web-1", m["node_name"])]
    provider = configured(PoolNodesProvider)
    provider.delete("p", provider.create(pool_props(kosmos, [m], skip_drain=True)).outs)
    assert kube.requests == [] and kosmos.live_nodes() == []


def test_nodes_still_listed_at_the_timeout_fail_the_delete_and_keep_the_machines(kosmos):
    kosmos.delete_seconds = 30
    m = identity(kosmos)
    provider = configured(PoolNodesProvider)
    outs = {**provider.create(pool_props(kosmos, [m], skip_drain=True)).outs, "timeout_seconds": 0.3}
    started = time.monotonic()
    with pytest.raises(ScalewayError) as err:
        provider.delete("p", outs)
    assert time.monotonic() - started < 5  # bounded by the timeout, not by Scaleway
    assert f"nodes {m['node_name']} of pool 'civo-lon1'" in str(err.value)
    assert "their machines are kept" in str(err.value)


def test_pool_refresh_reports_each_members_status(kosmos):
    a, b, c = identity(kosmos, "a"), identity(kosmos, "b", boot=False), identity(kosmos, "c")
    kosmos.lose(c["node_id"])
    configured(NodeIdentityProvider).delete(b["node_id"], b)
    read = configured(PoolNodesProvider).read("p", pool_props(kosmos, [a, b, c])).outs["statuses"]
    assert read == {a["node_id"]: "ready", b["node_id"]: "absent", c["node_id"]: "not_ready"}


# -- Engine semantics: a machine deleted outside Pulumi, then `pulumi up --refresh` -------------------------------


def test_a_machine_deleted_behind_pulumis_back_gets_a_new_node_and_the_stale_one_goes(kosmos, kube):
    """Stepped as the engine runs `pulumi up --refresh`: refresh every resource (the cloud's read drops the vanished
    machine from state; the identity's read marks its node stale), then diff each against the refreshed outputs; the
    identity is replaced create-before-delete, the machine created with the new identity, the pool updated (new node
    Ready, then the stale one drained and deleted); replaced resources are deleted at the end."""
    identities, pool = configured(NodeIdentityProvider), configured(PoolNodesProvider)
    old = identity(kosmos, kube=kube)
    healthy = identity(kosmos, "civo-lon1-1", kube=kube)  # its machine stays: the refresh must leave it alone
    kube.pods = [pod("web-1", old["node_name"]), pod("web-2", healthy["node_name"])]
    state_pool = pool.create(pool_props(kosmos, [old, healthy])).outs
    kosmos.lose(old["node_id"])  # the machine is gone; Scaleway still lists its node, NotReady
    # refresh
    refreshed = identities.read(old["node_id"], old).outs
    kept = identities.read(healthy["node_id"], healthy).outs
    state_pool = pool.read("p", state_pool).outs
    assert refreshed["stale"] == "not_ready" and kept["stale"] == ""
    assert state_pool["statuses"] == {old["node_id"]: "not_ready", healthy["node_id"]: "ready"}
    # up: each identity's diff against the refreshed outputs
    assert identities.diff(healthy["node_id"], kept, identity_props(kosmos, "civo-lon1-1")).changes is False
    diff = identities.diff(old["node_id"], refreshed, identity_props(kosmos))
    assert diff.replaces == ["stale"] and diff.delete_before_replace is False
    new = identities.create(identity_props(kosmos)).outs  # create-before-delete: the new identity first
    assert new["node_id"] != old["node_id"] and new["node_secret_key"] != old["node_secret_key"]
    # The machine is created from the new identity's userdata (never the old node's credentials) and boots.
    kosmos.boot(new["node_id"])
    assert pool.diff("p", state_pool, pool_props(kosmos, [new, kept])).replaces == []
    updated = pool.update("p", state_pool, pool_props(kosmos, [new, kept])).outs
    assert updated["statuses"] == {new["node_id"]: "ready", healthy["node_id"]: "ready"}
    # The stale node is gone, the healthy one untouched (never cordoned, its pod still there).
    assert {n["id"] for n in kosmos.live_nodes()} == {new["node_id"], healthy["node_id"]}
    assert kube.paths("PATCH") == [] and [p.name for p in kube.pods] == ["web-1", "web-2"]
    # ...without a drain of the stale node: no kubelet is left to stop its pods, an eviction would only wait for the
    # deadline.
    assert not [p for p in kube.paths("POST") if p.endswith("/eviction")]
    calls = len(kosmos.requests)
    identities.delete(old["node_id"], refreshed)  # the replaced identity, deleted at the end: nothing left to do
    assert not any(m == "DELETE" for m, _, _ in kosmos.requests[calls:])
    assert kosmos.auth_calls() == 3  # one node per machine, ever (two machines, one replaced)


# -- Through Pulumi's own dynamic provider host -------------------------------------------------------------------


def _converge(host, kosmos, machines: int, boot_seconds: float) -> dict:
    """One pool of `machines` through the host as the engine drives `pulumi up`: every identity's Create at once
    (the engine does not bound them; the host serves 4 at a time), the machines boot `boot_seconds` later, then the
    pool's PoolNodes Create. Returns the seconds each phase took and the requests the wait made."""
    from pulumi.runtime import proto

    blob_identity, blob_pool = serialized(NodeIdentityProvider), serialized(PoolNodesProvider)
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=machines) as engine:
        created = list(engine.map(lambda i: host.Create(proto.CreateRequest(urn=f"urn:identity-{i}", properties=struct(
            {**identity_props(kosmos, f"m{i}", api_url=None), "__provider": blob_identity})), timeout=120),
            range(machines)))
    identities = [plain(c.properties) for c in created]
    registered = time.monotonic()
    timers = [threading.Timer(boot_seconds, kosmos.boot, (o["node_id"],)) for o in identities]
    for t in timers:
        t.start()
    with kosmos.lock:
        before = len(kosmos.requests)
    props = {**pool_props(kosmos, identities, api_url=None, poll_seconds=0.2), "__provider": blob_pool}
    ready = host.Create(proto.CreateRequest(urn="urn:pool", properties=struct(props)), timeout=120)
    done = time.monotonic()
    for t in timers:
        t.join()
    with kosmos.lock:
        waited = kosmos.requests[before:]
    assert set(plain(ready.properties)["statuses"].values()) == {"ready"}
    return {"register": registered - started, "ready": done - registered, "total": done - started,
            "requests": waited}


def test_forty_machines_converge_in_about_the_time_of_one_through_the_real_host(kube_api, tmp_path):
    # Realistic delays, scaled down: every API answer takes 50 ms, a machine boots 0.5 s after its identity exists,
    # a node is Ready 1 s after its kubelet first reaches the cluster.
    config = yaml.safe_dump(kubeconfig(kube_api.url))
    with LocalKosmos(operator_secret=OPERATOR_SECRET, kubeconfig=config, latency_seconds=0.05, ready_seconds=1.0,
                     default_page_size=100) as kosmos:
        kosmos.pool = kosmos.add_pool("civo-lon1", size=41)
        with dynamic_host(tmp_path) as host:
            configure_host(host, kosmos)
            one = _converge(host, kosmos, 1, boot_seconds=0.5)
            forty = _converge(host, kosmos, 40, boot_seconds=0.5)
    print({n: {k: round(v, 2) for k, v in r.items() if k != "requests"} | {"requests": len(r["requests"])}
           for n, r in (("one", one), ("forty", forty))})
    # A per-machine wait served 4 at a time would need 10 waves of `one["ready"]`; one wait per pool needs one.
    assert forty["ready"] < 2 * one["ready"], (one, forty)
    assert forty["total"] < 3 * one["total"], (one, forty)
    # The request budget: every polling round is one list of the pool (page 1 of 1), shared by its 40 members.
    rounds = [r for r in forty["requests"] if r[0] == "GET" and r[1].endswith("/nodes")]
    assert rounds and len(rounds) == len(forty["requests"])  # no per-node GET while waiting
    assert len(rounds) <= forty["ready"] / 0.2 * 1.25 + 1  # about one list per polling interval, not 40
    assert all(r[2].get("pool_id") == kosmos.pool.id and r[2].get("page") == "1" for r in rounds)


def test_both_providers_as_pulumis_dynamic_host_drives_them(kosmos, kube, tmp_path):
    from pulumi.runtime import proto

    blob_identity, blob_pool = serialized(NodeIdentityProvider), serialized(PoolNodesProvider)
    assert ACCESS_KEY not in blob_identity and ACCESS_KEY not in blob_pool  # credentials never ride in the pickle
    with dynamic_host(tmp_path) as host:
        configure_host(host, kosmos)
        inputs = {**identity_props(kosmos, api_url=None), "__provider": blob_identity}
        created = host.Create(proto.CreateRequest(urn="urn:identity", properties=struct(inputs)), timeout=60)
        outs = plain(created.properties)
        assert created.id == outs["node_id"] == kosmos.live_nodes()[0]["id"]
        assert OPERATOR_SECRET not in json.dumps(outs)
        diff = host.Diff(proto.DiffRequest(id=created.id, olds=struct(outs), news=struct(inputs)), timeout=30)
        assert diff.changes == proto.DiffResponse.DIFF_NONE
        kosmos.boot(outs["node_id"])
        kube.add_node(outs["node_name"])
        pool_in = {**pool_props(kosmos, [outs], api_url=None), "__provider": blob_pool}
        ready = host.Create(proto.CreateRequest(urn="urn:pool", properties=struct(pool_in)), timeout=60)
        pool_outs = plain(ready.properties)
        read = host.Read(proto.ReadRequest(id=ready.id, properties=struct(pool_outs)), timeout=30)
        assert plain(read.properties)["statuses"] == {outs["node_id"]: "ready"}
    # Destroy: a new host process, outputs only, no SCW_* anywhere: the pool first (drain, delete, gone), then the
    # machine, then the identity (nothing left to delete).
    with dynamic_host(tmp_path) as host:
        configure_host(host, kosmos)
        host.Delete(proto.DeleteRequest(id=ready.id, properties=struct(pool_outs)), timeout=60)
        assert kosmos.live_nodes() == []
        host.Delete(proto.DeleteRequest(id=created.id, properties=struct(outs)), timeout=60)
    assert kosmos.live_nodes() == [] and kosmos.pool.size == 2
    assert f"/api/v1/nodes/{outs['node_name']}" in kube.paths("PATCH")  # cordoned through Kubernetes
