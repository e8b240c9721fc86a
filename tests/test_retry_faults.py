"""Registration, drain and delete through the real Scaleway SDK and the real Kubernetes client against stand-ins that
answer 429 (with Retry-After), 503 and dropped connections on demand (tests/loopback.py Faults): transient faults are
retried within the registration's timeout, permanent ones fail at once with the API's message."""

from __future__ import annotations

import time

import pytest

from components.registration import RegistrationError
from components.retry import RetryExhausted
from loopback import DROP, HANG, Faults
from test_registration import configured, kosmos, kube, kube_api, no_scw_environment, props, register  # noqa: F401
from kube_api import pod


def quick_sleeps():
    """A sleep that records what was asked and sleeps at most 50 ms: the waits are asserted, the test stays short."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, 0.05))

    return asked, sleep


def test_create_drain_and_delete_succeed_when_30_percent_of_calls_fail_transiently(kosmos, kube, kube_api):
    node = register(kosmos, "203.0.113.7", kube)
    for i in range(4):  # other nodes, so the listing has pages (the stand-in pages by 2)
        register(kosmos, f"198.51.100.{i}")
    kube.pods = [pod("web-1", node["name"]), pod("web-2", node["name"])]
    kube.pdb_blocks = {"web-2": 1}  # a budget's 429 still means "not now", not a fault
    # One of each kind first (so each surely happens), then 30% of the calls at random.
    kosmos.faults = Faults(script=[429, DROP, 503], share=0.3, seed=1)
    kube_faults = Faults(script=[429, DROP, 503], share=0.3, seed=2)
    _, sleep = quick_sleeps()
    provider = configured(sleep=sleep)
    outs = provider.create(props(kosmos, timeout_seconds=60)).outs
    assert outs["node_id"] == node["id"] and outs["status"] == "ready"
    kube_api.faults = kube_faults
    provider.delete(node["id"], outs)
    assert node["id"] not in [n["id"] for n in kosmos.live_nodes()]
    assert [p.name for p in kube.pods] == []
    # Every kind of fault really happened, on both APIs.
    for faults in (kosmos.faults, kube_faults):
        assert {f for *_, f in faults.injected} == {429, 503, DROP}, faults.injected
    assert any(p.endswith("/eviction") for _, p, _ in kube_faults.injected)


def test_retry_after_is_honoured(kosmos):
    register(kosmos, "203.0.113.7")
    kosmos.faults = Faults(script=[429], retry_after="3")
    asked, sleep = quick_sleeps()
    assert configured(sleep=sleep).create(props(kosmos)).outs["status"] == "ready"
    assert asked[0] >= 3.0  # the server's Retry-After, not the (smaller) first backoff


def test_the_kubeconfig_fetch_retries(kosmos, kube):
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("web-1", node["name"])]
    _, sleep = quick_sleeps()
    provider = configured(sleep=sleep)
    outs = provider.create(props(kosmos)).outs
    kosmos.faults = Faults(script=[503, DROP, 429], only=lambda method, path: path.endswith("/kubeconfig"))
    provider.delete(node["id"], outs)
    assert len(kosmos.faults.injected) == 3 and kube.pods == []
    assert node["id"] not in [n["id"] for n in kosmos.live_nodes()]


def test_a_403_fails_at_once_with_the_apis_message(kosmos):
    from scaleway_core.api import ScalewayException

    register(kosmos, "203.0.113.7")
    kosmos.faults = Faults(script=[403])
    asked, sleep = quick_sleeps()
    with pytest.raises(ScalewayException) as caught:
        configured(sleep=sleep).create(props(kosmos))
    message = str(caught.value)
    assert caught.value.status_code == 403
    assert message.startswith(f"Scaleway API GET /k8s/v1/regions/fr-par/clusters/{kosmos.cluster_id}/nodes: HTTP 403 "
                              "insufficient permissions (type: permissions_denied")
    assert asked == [] and kosmos.requests == []  # one call, answered 403, nothing after it


def test_faults_that_outlast_the_timeout_fail_naming_the_call_attempts_and_last_status(kosmos):
    register(kosmos, "203.0.113.7")
    kosmos.faults = Faults(share=1.0, kinds=(503,))
    started = time.monotonic()
    with pytest.raises(RetryExhausted) as caught:
        configured().create(props(kosmos, timeout_seconds=2))
    assert time.monotonic() - started < 3  # never sleeps past the deadline
    err = caught.value
    assert err.call == f"Scaleway API GET /k8s/v1/regions/fr-par/clusters/{kosmos.cluster_id}/nodes"
    assert err.attempts >= 3 and err.last == "HTTP 503 service unavailable (type: internal)"
    assert f"gave up after {err.attempts} attempts" in str(err)


def test_a_kubernetes_403_during_the_drain_fails_at_once_and_keeps_the_node(kosmos, kube, kube_api):
    node = register(kosmos, "203.0.113.7", kube)
    kube.pods = [pod("web-1", node["name"])]
    provider = configured()
    outs = provider.create(props(kosmos)).outs
    kube_api.faults = Faults(script=[403])
    with pytest.raises(RegistrationError, match=f"cordoning node {node['name']} failed: HTTP 403"):
        provider.delete(node["id"], outs)
    assert len(kube_api.faults.injected) == 1 and kube.requests == []  # not retried
    assert not any(r[0] == "DELETE" for r in kosmos.requests)  # the node (and its machine) stay


def test_a_scaleway_call_that_never_answers_times_out_and_is_retried(kosmos):
    # The SDK gives requests no timeout (scaleway_core/api.py); the policy's per-attempt timeout bounds it.
    from scaleway import Client
    from scaleway.k8s.v1 import K8SV1API

    from components.retry import RetryPolicy, retrying_scaleway

    node = register(kosmos, "203.0.113.7")
    kosmos.faults = Faults(script=[HANG], hang_seconds=3.0)
    client = Client(access_key="SCWABCDEFGHIJKLMNOPQ", secret_key=kosmos.operator_secret, api_url=kosmos.url,
                    default_region="fr-par")
    policy = RetryPolicy(log=lambda _: None)
    policy.read_timeout = 0.3
    started = time.monotonic()
    api = retrying_scaleway(K8SV1API(client), deadline=time.monotonic() + 10, policy=policy)
    assert api.get_node(node_id=node["id"], region="fr-par").id == node["id"]
    assert time.monotonic() - started < 2.5 and kosmos.faults.injected[0][2] == HANG


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
