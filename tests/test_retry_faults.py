"""NodeIdentity and PoolNodes (components/identity.py, components/pool_nodes.py) through the real Scaleway SDK, the
real Kubernetes client and urllib against stand-ins that answer 429 (with Retry-After), 503, dropped connections
and hanging requests on demand (tests/loopback.py Faults): transient faults are retried within the resource's
timeout, permanent ones fail at once with the API's message, and what reaches Pulumi names the machine or pool.
Also the request budget: what N machines cost the API."""

from __future__ import annotations

import time

import pytest

from components.identity import NodeIdentityProvider
from components.pool_nodes import PoolNodesProvider
from components.retry import RetryExhausted
from components.scaleway_api import ScalewayError
from kube_api import pod
from loopback import DROP, HANG, Faults
from scaleway_fixtures import (  # noqa: F401 (fixtures)
    OPERATOR_SECRET,
    REGION,
    configured,
    identity_props,
    kosmos,
    kube,
    kube_api,
    no_scw_environment,
    pool_props,
)

METADATA = "/node-metadata"


def quick_sleeps():
    """A sleep that records what was asked and sleeps at most 50 ms: the waits are asserted, the test stays short."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, 0.05))

    return asked, sleep


def machines(kosmos, count: int, sleep=None, kube=None, **overrides) -> list[dict]:
    """`count` identities created as the program creates them, their machines booted (and known to Kubernetes)."""
    provider = configured(NodeIdentityProvider, sleep=sleep)
    made = []
    for i in range(count):
        outs = provider.create(identity_props(kosmos, f"civo-lon1-{i}", **overrides)).outs
        kosmos.boot(outs["node_id"])
        if kube is not None:
            kube.add_node(outs["node_name"])
        made.append(outs)
    return made


def only(suffix: str):
    return lambda method, path: path.endswith(suffix)


def test_identity_readiness_drain_and_delete_succeed_when_30_percent_of_calls_fail_transiently(kosmos, kube,
                                                                                               kube_api):
    # One of each kind first (so each surely happens), then 30% of the calls at random, on both APIs.
    kosmos.faults = Faults(script=[429, DROP, 503], share=0.3, seed=1)
    kube_faults = Faults(script=[429, DROP, 503], share=0.3, seed=2)
    _, sleep = quick_sleeps()
    members = machines(kosmos, 5, sleep=sleep, kube=kube, timeout_seconds=60)  # 5 nodes: 3 pages of 2
    kube.pods = [pod("web-1", members[0]["node_name"]), pod("web-2", members[1]["node_name"])]
    kube.pdb_blocks = {"web-2": 1}  # a budget's 429 still means "not now", not a fault
    provider = configured(PoolNodesProvider, sleep=sleep)
    outs = provider.create(pool_props(kosmos, members, timeout_seconds=60)).outs
    assert outs["statuses"] == {m["node_id"]: "ready" for m in members}
    kube_api.faults = kube_faults
    provider.delete("p", outs)
    assert kosmos.live_nodes() == [] and [p.name for p in kube.pods] == []
    # One node per machine, ever: a dropped registration POST created nothing, a retried one created one node.
    assert len(kosmos.nodes) == 5 and kosmos.auth_calls() == 5
    # Every kind of fault really happened, on both APIs, on the registration and on its metadata GET.
    for faults in (kosmos.faults, kube_faults):
        assert {f for *_, f in faults.injected} == {429, 503, DROP}, faults.injected
    assert any(p.endswith("/external-nodes/auth") for _, p, _ in kosmos.faults.injected)
    assert any(p.endswith(METADATA) for _, p, _ in kosmos.faults.injected)


def test_evictions_are_retried_through_503_and_dropped_connections(kosmos, kube, kube_api):
    # (Which requests the 30% above hits depends on the drains' threads; here the evictions surely are.)
    [m] = machines(kosmos, 1, kube=kube)
    kube.pods = [pod("web-1", m["node_name"]), pod("web-2", m["node_name"])]
    _, sleep = quick_sleeps()
    provider = configured(PoolNodesProvider, sleep=sleep)
    outs = provider.create(pool_props(kosmos, [m])).outs
    kube_api.faults = Faults(script=[503, DROP, 503], only=only("/eviction"))
    provider.delete("p", outs)
    assert [f for *_, f in kube_api.faults.injected] == [503, DROP, 503]
    assert kube.pods == [] and kosmos.live_nodes() == []


@pytest.mark.parametrize("path", ["/external-nodes/auth", METADATA, "/nodes"])
def test_retry_after_is_honoured(kosmos, path):
    kosmos.faults = Faults(script=[429], retry_after="3", only=only(path))
    asked, sleep = quick_sleeps()
    [outs] = machines(kosmos, 1, sleep=sleep)
    configured(PoolNodesProvider, sleep=sleep).create(pool_props(kosmos, [outs]))
    assert len(kosmos.faults.injected) == 1
    assert asked[0] >= 3.0  # the server's Retry-After, not the (smaller) first backoff


def test_the_kubeconfig_fetch_retries(kosmos, kube):
    [m] = machines(kosmos, 1, kube=kube)
    kube.pods = [pod("web-1", m["node_name"])]
    _, sleep = quick_sleeps()
    provider = configured(PoolNodesProvider, sleep=sleep)
    outs = provider.create(pool_props(kosmos, [m])).outs
    kosmos.faults = Faults(script=[503, DROP, 429], only=only("/kubeconfig"))
    provider.delete("p", outs)
    assert len(kosmos.faults.injected) == 3 and kube.pods == []
    assert kosmos.live_nodes() == []


def test_a_403_fails_at_once_with_the_apis_message_naming_the_pool(kosmos):
    [m] = machines(kosmos, 1)
    kosmos.faults = Faults(script=[403])
    asked, sleep = quick_sleeps()
    before = len(kosmos.requests)
    with pytest.raises(ScalewayError) as caught:
        configured(PoolNodesProvider, sleep=sleep).create(pool_props(kosmos, [m]))
    assert str(caught.value).startswith(
        f"the nodes of pool 'civo-lon1' ({kosmos.pool.id}): Scaleway API GET /k8s/v1/regions/fr-par/clusters/"
        f"{kosmos.cluster_id}/nodes: HTTP 403 insufficient permissions (type: permissions_denied")
    assert caught.value.__cause__.status_code == 403  # the SDK's exception, chained
    assert asked == [] and kosmos.requests[before:] == []  # one call, answered 403, nothing after it


def test_a_403_on_registration_names_the_machine_and_registers_nothing(kosmos):
    kosmos.faults = Faults(script=[403])
    asked, sleep = quick_sleeps()
    with pytest.raises(ScalewayError) as caught:
        configured(NodeIdentityProvider, sleep=sleep).create(identity_props(kosmos))
    assert str(caught.value).startswith(
        f"node identity of machine 'civo-lon1-0' in pool 'civo-lon1' ({kosmos.pool.id}): Scaleway API POST "
        f"/k8s/v1/regions/fr-par/pools/{kosmos.pool.id}/external-nodes/auth: HTTP 403 insufficient permissions")
    assert asked == [] and kosmos.nodes == {}


def test_metadata_refused_fails_at_once_naming_the_node_left_behind(kosmos):
    kosmos.faults = Faults(script=[403], only=only(METADATA))
    asked, sleep = quick_sleeps()
    with pytest.raises(ScalewayError) as caught:
        configured(NodeIdentityProvider, sleep=sleep).create(identity_props(kosmos))
    message = str(caught.value)
    assert "registered a node for machine 'civo-lon1-0'" in message and "HTTP Error 403" in message
    assert f"scw k8s node list pool-id={kosmos.pool.id} status=creating" in message and "--reap" in message
    assert asked == [] and len(kosmos.faults.injected) == 1  # a 403 is final
    assert kosmos.auth_calls() == 1 and len(kosmos.live_nodes()) == 1  # the documented orphan (README)


def test_faults_that_outlast_the_timeout_fail_within_it_naming_pool_call_attempts_and_last_status(kosmos):
    [m] = machines(kosmos, 1)
    kosmos.faults = Faults(share=1.0, kinds=(503,))
    started = time.monotonic()
    with pytest.raises(ScalewayError) as caught:
        configured(PoolNodesProvider).create(pool_props(kosmos, [m], timeout_seconds=2))
    assert time.monotonic() - started < 3  # never sleeps past the deadline
    err = caught.value.__cause__
    assert isinstance(err, RetryExhausted)
    assert err.call == f"Scaleway API GET /k8s/v1/regions/fr-par/clusters/{kosmos.cluster_id}/nodes"
    assert err.attempts >= 3 and err.last == "HTTP 503 service unavailable (type: internal)"
    assert str(caught.value) == f"the nodes of pool 'civo-lon1' ({kosmos.pool.id}): {err}"
    assert f"gave up after {err.attempts} attempts" in str(caught.value)


def test_a_metadata_get_failing_past_the_timeout_fails_within_it_without_a_second_node(kosmos):
    kosmos.faults = Faults(share=1.0, kinds=(503, DROP), only=only(METADATA))
    started = time.monotonic()
    with pytest.raises(ScalewayError) as caught:
        configured(NodeIdentityProvider).create(identity_props(kosmos, timeout_seconds=2))
    assert time.monotonic() - started < 3
    err = caught.value.__cause__
    assert isinstance(err, RetryExhausted) and err.call == "GET node metadata" and err.attempts >= 3
    assert "registered a node for machine 'civo-lon1-0'" in str(caught.value)
    assert kosmos.auth_calls() == 1 and len(kosmos.nodes) == 1


def test_a_kubernetes_403_during_the_drain_fails_at_once_and_keeps_the_node(kosmos, kube, kube_api):
    [m] = machines(kosmos, 1, kube=kube)
    kube.pods = [pod("web-1", m["node_name"])]
    provider = configured(PoolNodesProvider)
    outs = provider.create(pool_props(kosmos, [m])).outs
    kube_api.faults = Faults(script=[403])
    with pytest.raises(ScalewayError, match=f"pool 'civo-lon1'.*machine 'civo-lon1-0': cordoning node "
                                            f"{m['node_name']} failed: HTTP 403"):
        provider.delete("p", outs)
    assert len(kube_api.faults.injected) == 1 and kube.requests == []  # not retried
    assert not any(r[0] == "DELETE" for r in kosmos.requests)  # the node (and its machine) stay
    assert [n["id"] for n in kosmos.live_nodes()] == [m["node_id"]]


def test_a_scaleway_call_that_never_answers_times_out_and_is_retried(kosmos):
    # The SDK gives requests no timeout (scaleway_core/api.py); the policy's per-attempt timeout bounds it.
    from scaleway import Client
    from scaleway.k8s.v1 import K8SV1API

    from components.retry import RetryPolicy, retrying_scaleway

    [m] = machines(kosmos, 1)
    kosmos.faults = Faults(script=[HANG], hang_seconds=3.0)
    client = Client(access_key="SCWABCDEFGHIJKLMNOPQ", secret_key=OPERATOR_SECRET, api_url=kosmos.url,
                    default_region=REGION)
    policy = RetryPolicy(log=lambda _: None)
    policy.read_timeout = 0.3
    started = time.monotonic()
    api = retrying_scaleway(K8SV1API(client), deadline=time.monotonic() + 10, policy=policy)
    assert api.get_node(node_id=m["node_id"], region=REGION).id == m["node_id"]
    assert time.monotonic() - started < 2.5 and kosmos.faults.injected[0][2] == HANG


def test_a_metadata_get_that_never_answers_times_out_and_is_retried(kosmos):
    # urlopen's timeout is the policy's per-attempt bound (the identity's deadline caps it).
    kosmos.faults = Faults(script=[HANG], hang_seconds=3.0, only=only(METADATA))
    provider = configured(NodeIdentityProvider)
    policy = provider.retry_policy()
    policy.read_timeout = 0.3
    provider.retry_policy = lambda: policy
    started = time.monotonic()
    outs = provider.create(identity_props(kosmos)).outs
    assert time.monotonic() - started < 2.5 and kosmos.faults.injected[0][2] == HANG
    assert outs["node_id"] == kosmos.live_nodes()[0]["id"] and kosmos.auth_calls() == 1


def test_a_kubernetes_call_that_never_answers_times_out_and_is_retried(kosmos, kube, kube_api):
    import yaml

    from components.drain import drain_node
    from components.retry import RetryPolicy
    from kube_api import kubeconfig

    kube.add_node("n1")
    kube.pods = [pod("web-1", "n1")]
    kube_api.faults = Faults(script=[HANG, HANG], hang_seconds=3.0)  # the cordon (PATCH), then its retry
    policy = RetryPolicy(log=lambda _: None)
    policy.read_timeout = 0.3
    started = time.monotonic()
    drained = drain_node(yaml.safe_dump(kubeconfig(kube_api.url)), "n1", deadline=time.monotonic() + 10,
                         policy=policy, retry_seconds=0.05)
    assert drained.evicted == 1 and kube.nodes["n1"].spec["unschedulable"] is True
    assert time.monotonic() - started < 2.5
    assert [(m, f) for m, _, f in kube_api.faults.injected] == [("PATCH", HANG), ("PATCH", HANG)]
    assert ("PATCH", "/api/v1/nodes/n1") in [(m, p) for m, p, _ in kube.requests]  # the third attempt answered


# -- The request budget -------------------------------------------------------------------------------------------


def test_n_machines_cost_two_requests_each_and_one_list_per_pool_per_round(kosmos):
    """Each identity: its registration POST and its metadata GET, nothing else. The pool's wait: one list per
    polling round for all its members (a page holds 100 here), never a request per node. Under 10% faults, each
    retry adds one request, no more."""
    count = 12
    kosmos.default_page_size = 100
    kosmos.faults = Faults(share=0.1, kinds=(429, 503, DROP), retry_after="0", seed=3)
    _, sleep = quick_sleeps()
    provider = configured(NodeIdentityProvider, sleep=sleep)
    members = [provider.create(identity_props(kosmos, f"civo-lon1-{i}")).outs for i in range(count)]
    with kosmos.lock:
        answered = list(kosmos.requests)
    assert sorted(p.rsplit("/", 1)[-1] for _, p, _ in answered) == sorted(["auth", "node-metadata"] * count)
    retried = len(kosmos.faults.injected)
    assert retried > 0  # the faults happened, and cost one request each
    kosmos.faults = Faults()  # the wait's rounds are counted exactly below
    rounds: list[float] = []

    def pool_sleep(seconds: float) -> None:
        rounds.append(seconds)
        for m in members[: count // 2] if len(rounds) == 1 else members:  # half up after one round, all after two
            kosmos.boot(m["node_id"])
        time.sleep(0.01)

    configured(PoolNodesProvider, sleep=pool_sleep).create(pool_props(kosmos, members))
    with kosmos.lock:
        waited = kosmos.requests[len(answered):]
    assert all(m == "GET" and p.endswith("/nodes") and q.get("page") == "1" for m, p, q in waited)
    assert len(waited) == len(rounds) + 1 == 3  # one list per round for 12 members
    per_node = (len(answered) + retried + len(waited)) / count
    print(f"requests per node: {per_node:.2f} ({retried} of them retries of a fault)")
    assert per_node == 2 + (retried + 3) / count
