"""On-prem rolling upgrades (components/rollout.py): the gate provider driven through its methods the way the engine
drives them (gates updated in chain order, each host's Command updated as soon as its gate is done, in parallel),
against the local Kubernetes API (tests/kube_api.py, HTTPS) and the local Kosmos that serves its kubeconfig
(tests/kosmos_api.py). A host's Command is simulated as what the re-join does to its node: the kubelet restarts
(not Ready), then reports the new version. The real dynamic provider host loads the provider too."""

from __future__ import annotations

import random
import threading
import time

import pytest
import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components import rollout
from components.rollout import ROLLOUT_ANNOTATION, RolloutError, RolloutGateProvider, plan, waves
from kosmos_api import LocalKosmos
from kube_api import KubeApi, kubeconfig, pod
from pulumi_host import dynamic_host, plain, struct

REGION = "fr-par"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
HOSTS = [f"h{i}" for i in range(5)]


@pytest.fixture
def kube_api():
    with KubeApi(tls=True) as api:
        for host in HOSTS:
            node = api.cluster.add_node(f"scw-node-{host}")
            node.ready, node.kubelet_version = "True", "v1.35.3"
        yield api


@pytest.fixture
def kosmos(kube_api):
    with LocalKosmos(operator_secret=OPERATOR_SECRET, kubeconfig=yaml.safe_dump(kubeconfig(kube_api.url))) as k:
        yield k


def provider(**kwargs) -> RolloutGateProvider:
    p = RolloutGateProvider(**kwargs)
    raw = {"scaleway:accessKey": "SCWABCDEFGHIJKLMNOPQ", "scaleway:secretKey": OPERATOR_SECRET}
    p.configure(ConfigureRequest(config=Config(raw_config=raw, project_name="kosmos")))
    return p


def gate_props(kosmos, step, generation, version="1.36.1", **extra) -> dict:
    return {
        "cluster_id": f"{REGION}/{kosmos.cluster_id}", "region": REGION, "api_url": kosmos.url, "pool_name": "home",
        "machine": step.host, "node_name": f"scw-node-{step.host}" if step.host else None,
        "wait_node_names": [f"scw-node-{h}" for h in step.waits_for], "generation": generation,
        "kubernetes_version": version, "timeout_seconds": 30, "poll_seconds": 0.02, "skip_drain": False, **extra,
    }


def test_the_plan_waits_for_host_k_minus_m_and_the_tail_for_the_last_m():
    assert plan(["a", "b", "c"], 1) == [rollout.Step("a", ()), rollout.Step("b", ("a",)), rollout.Step("c", ("b",)),
                                        rollout.Step(None, ("c",))]
    assert [s.waits_for for s in plan(HOSTS, 2)] == [(), (), ("h0",), ("h1",), ("h2",), ("h3", "h4")]
    assert [s.waits_for for s in plan(["a"], 3)] == [(), ("a",)]
    assert waves(HOSTS, 2) == [["h0", "h1"], ["h2", "h3"], ["h4"]]


def test_creating_gates_waits_for_nothing_and_calls_nothing(kosmos, kube_api):
    p = provider()
    start = time.monotonic()
    for step in plan(HOSTS, 1):
        result = p.create(gate_props(kosmos, step, "g0"))
        assert result.outs["generation"] == "g0"
    assert time.monotonic() - start < 0.5
    assert kube_api.cluster.requests == [] and kosmos.requests == []  # no API touched: creation is not serialized


def _roll(kosmos, kube_api, max_unavailable, rejoin_seconds=(0.05, 0.25), steps=None):
    """The engine's order for one update that moved the generation: gate k after gate k-1; Command k as soon as
    gate k is done (its own thread: another provider); the tail after every Command. Returns the peak number of
    hosts out of service (cordoned or not Ready) at once, and the order the hosts were re-joined in."""
    cluster = kube_api.cluster
    p = provider()
    steps = steps or plan(HOSTS, max_unavailable)
    olds = {s.host: gate_props(kosmos, s, "g0", "1.35.3") for s in steps}
    out, peak, order, commands, errors = set(), [0], [], [], []
    lock = threading.Lock()

    def watch(stop):
        while not stop.is_set():
            with cluster.lock:
                n = sum(1 for node in cluster.nodes.values() if node.spec.get("unschedulable") or node.ready != "True")
            peak[0] = max(peak[0], n)
            time.sleep(0.002)

    def command(host):  # the re-join: the agent swaps kubelet, which restarts and reports the new version
        try:
            node = cluster.nodes[f"scw-node-{host}"]
            assert node.spec.get("unschedulable"), f"{host} re-joined before it was cordoned"
            with lock:
                order.append(host)
            with cluster.lock:
                node.ready = "False"
            time.sleep(random.uniform(*rejoin_seconds))
            with cluster.lock:
                node.kubelet_version, node.ready = "v1.36.1", "True"
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,))
    watcher.start()
    try:
        for step in steps[:-1]:
            p.update(step.host, olds[step.host], gate_props(kosmos, step, "g1"))
            t = threading.Thread(target=command, args=(step.host,))
            t.start()
            commands.append(t)
        for t in commands:
            t.join(timeout=30)
        p.update("tail", olds[None], gate_props(kosmos, steps[-1], "g1"))
    finally:
        stop.set()
        watcher.join()
    assert not errors, errors
    return peak[0], order


@pytest.mark.parametrize("max_unavailable", [1, 2])
def test_hosts_rejoin_at_most_max_unavailable_at_a_time_and_all_end_on_the_new_version(kosmos, kube_api,
                                                                                       max_unavailable):
    kube_api.cluster.pods.append(pod("web-1", "scw-node-h0"))  # evicted by the drain before h0 re-joins
    peak, order = _roll(kosmos, kube_api, max_unavailable)
    assert order == HOSTS
    assert 1 <= peak <= max_unavailable
    for node in kube_api.cluster.nodes.values():
        assert (node.kubelet_version, node.ready) == ("v1.36.1", "True")
        assert not node.spec.get("unschedulable") and ROLLOUT_ANNOTATION not in node.annotations  # all uncordoned
    assert [p for p in kube_api.cluster.pods if p.node == "scw-node-h0"] == []


def test_the_measure_sees_concurrent_rejoins_when_gates_wait_for_nothing(kosmos, kube_api):
    # The same engine order with gates that wait for no one: the watcher must see several hosts out at once, so the
    # bound asserted above is a real one.
    free = [rollout.Step(h, ()) for h in HOSTS] + [rollout.Step(None, tuple(HOSTS))]
    peak, _ = _roll(kosmos, kube_api, 1, rejoin_seconds=(0.3, 0.4), steps=free)
    assert peak >= 3


def test_an_unchanged_generation_touches_nothing(kosmos, kube_api):
    p = provider()
    [first, *_] = plan(HOSTS, 1)
    props = gate_props(kosmos, first, "g0")
    assert p.diff("h0", props, props).changes is False
    p.update("h0", props, dict(props, timeout_seconds=60))
    assert kube_api.cluster.requests == []
    assert p.diff("h0", props, dict(props, generation="g1")).replaces == []  # a gate is never replaced


def test_a_node_cordoned_by_someone_else_stays_cordoned(kosmos, kube_api):
    node = kube_api.cluster.nodes["scw-node-h0"]
    node.spec["unschedulable"] = True  # the operator's own cordon
    p = provider()
    steps = plan(HOSTS, 1)
    p.update("h0", gate_props(kosmos, steps[0], "g0"), gate_props(kosmos, steps[0], "g1"))
    node.kubelet_version = "v1.36.1"
    p.update("h1", gate_props(kosmos, steps[1], "g0"), gate_props(kosmos, steps[1], "g1"))
    assert node.spec["unschedulable"] is True  # not the rollout's cordon: not undone
    assert kube_api.cluster.nodes["scw-node-h1"].annotations[ROLLOUT_ANNOTATION] == "g1"


def test_a_host_that_never_reaches_the_version_stops_the_rollout_with_a_clear_error(kosmos, kube_api):
    p = provider()
    steps = plan(HOSTS, 1)
    p.update("h0", gate_props(kosmos, steps[0], "g0"), gate_props(kosmos, steps[0], "g1"))
    # h0 re-joined but its metadata still said 1.35.3 (unverified Scaleway behaviour): its kubelet stayed old.
    with pytest.raises(RolloutError, match=r"rollout of pool 'home': node scw-node-h0 is not Ready on Kubernetes "
                                           r"1.36.1 after 0.3s \(kubelet v1.35.3, not Ready on 1.36.1\); host h1 was "
                                           r"not started"):
        p.update("h1", gate_props(kosmos, steps[1], "g0"),
                 gate_props(kosmos, steps[1], "g1", timeout_seconds=0.3))
    assert not kube_api.cluster.nodes["scw-node-h1"].spec.get("unschedulable")  # h1 untouched


def test_a_declared_minor_accepts_any_of_its_patches(kosmos, kube_api):
    kube_api.cluster.nodes["scw-node-h0"].kubelet_version = "v1.36.4"
    p = provider()
    steps = plan(HOSTS, 1)
    p.update("h1", gate_props(kosmos, steps[1], "g0", "1.35"), gate_props(kosmos, steps[1], "g1", "1.36"))
    assert kube_api.cluster.nodes["scw-node-h1"].spec["unschedulable"] is True


def test_the_gate_provider_runs_in_pulumis_dynamic_host(kosmos, kube_api, tmp_path):
    from pulumi.runtime import proto

    from components.scaleway_api import serialized

    steps = plan(HOSTS, 1)
    blob = serialized(RolloutGateProvider)
    with dynamic_host(tmp_path) as host:
        host.Configure(proto.ConfigureRequest(args=struct(
            {"scaleway:accessKey": "SCWABCDEFGHIJKLMNOPQ", "scaleway:secretKey": OPERATOR_SECRET})), timeout=30)
        inputs = {k: v for k, v in gate_props(kosmos, steps[0], "g0").items() if v is not None}
        created = host.Create(proto.CreateRequest(urn="urn:gate", properties=struct({**inputs, "__provider": blob})),
                              timeout=30)
        assert kube_api.cluster.requests == []
        olds = plain(created.properties)
        news = {**inputs, "generation": "g1", "__provider": blob}
        diff = host.Diff(proto.DiffRequest(id=created.id, olds=struct(olds), news=struct(news)), timeout=30)
        assert diff.changes == proto.DiffResponse.DIFF_SOME and list(diff.replaces) == []
        host.Update(proto.UpdateRequest(id=created.id, olds=struct(olds), news=struct(news)), timeout=60)
    node = kube_api.cluster.nodes["scw-node-h0"]
    assert node.spec["unschedulable"] is True and node.annotations[ROLLOUT_ANNOTATION] == "g1"


def test_the_wiring_chains_gates_only_and_puts_each_command_after_its_gate():
    """The real program (ExternalPool -> OnPremNodes): three on-prem hosts, maxUnavailable 2."""
    import json

    from tools.engine import load_stack_config, run_program

    config, secret_keys = load_stack_config("baremetal")
    pools = json.loads(config["kosmos:externalPools"])
    home = next(p for p in pools if p["provider"] == "on-prem")
    home["hosts"] += [{**home["hosts"][0], "name": f"h{i}", "address": f"192.0.2.{i}"} for i in (1, 2)]
    home["upgrade"] = {"maxUnavailable": 2}
    config["kosmos:externalPools"] = json.dumps(pools)
    run = run_program("baremetal", config=config, secret_keys=secret_keys)
    by_name = {r.name: r for r in run.registrations}
    name_of = {r.urn: r.name for r in run.registrations}
    gate_type = "pulumi-python:dynamic/kosmos:RolloutGate"

    def deps(name, kind=None):
        r = by_name[name]
        found = set(r.dependencies).union(*r.property_dependencies.values())
        return {name_of[u] for u in found if kind is None or by_name[name_of[u]].type == kind}

    def prop(name, key):
        return {name_of[u] for u in by_name[name].property_dependencies.get(key, [])}

    hosts = ["mac-vm", "h1", "h2"]
    gate = {h: f"kosmos-home-nodes-{h}-rollout" for h in hosts}
    identity = {h: f"kosmos-home-nodes-{h}-identity" for h in hosts}
    assert deps(gate["mac-vm"], gate_type) == set()
    assert deps(gate["h1"], gate_type) == {gate["mac-vm"]}  # the chain: each gate after the previous one only
    assert deps(gate["h2"], gate_type) == {gate["h1"]}
    for h in hosts:
        assert prop(gate[h], "node_name") == {identity[h]}  # its node name, known before the Command runs
        command = f"kosmos-home-nodes-{h}"
        assert deps(command, gate_type) == {gate[h]}
        assert by_name[command].inputs["create"].endswith(by_name[gate[h]].inputs["generation"])  # the join's hash
    assert prop(gate["h2"], "wait_node_names") == {identity["mac-vm"]}  # host k waits for host k-2
    assert prop(gate["h1"], "wait_node_names") == set()
    done = "kosmos-home-nodes-rollout-done"
    assert {f"kosmos-home-nodes-{h}" for h in hosts} <= deps(done)
    assert prop(done, "wait_node_names") == {identity["h1"], identity["h2"]}
    # The identities register only once the pool runs the declared version.
    assert all("kosmos-home-version" in deps(identity[h]) for h in hosts)
