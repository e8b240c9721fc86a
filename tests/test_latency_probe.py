"""The opt-in latency probe: its Kubernetes objects (mock engine), the probe program as real processes on 127.0.0.1,
and `make latency` (tools/latency.py) against the local Kubernetes API stand-in (tests/kube_api.py)."""

from __future__ import annotations

import copy
import functools
import hashlib
import http.server
import json
import math
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import kubernetes_validate
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from components import catalog
from components import latency_probe_program as program
from components.spec import LatencyProbeSpec, parse_spec
from conftest import REPO, STACKS, run_config, stack_config
from kube_api import TOKEN, Cluster, KubeApi, kubeconfig, nodes, probe_pod
from loopback import LoopbackServer
from tools import latency

K8S_PROVIDER = "pulumi:providers:kubernetes"
TAINTS = {
    ("kosmos:scalewayPools", 0): [{"key": "dedicated", "value": "db", "effect": "NoSchedule"}],
    ("kosmos:externalPools", 1): [{"key": "edge", "value": "nyc", "effect": "NoExecute"},
                                  {"key": "spot", "effect": "PreferNoSchedule"}],
    ("kosmos:externalPools", 3): [{"key": "kubernetes.io/arch", "value": "arm64", "effect": "NoSchedule"}],
}


def _enabled_config() -> dict:
    raw = stack_config("blog")
    for (key, index), taints in TAINTS.items():
        raw[key][index]["taints"] = taints
    raw["kosmos:latencyProbe"] = {"enabled": True, "intervalSeconds": 20}
    return raw


@functools.lru_cache(maxsize=None)
def _enabled_run():
    return run_config(_enabled_config(), stack="blog", raise_errors=True)


def _probe_objects(run):
    [component] = run.by_type("kosmos:index:LatencyProbe")
    return [r for r in run.registrations if r.parent == component.urn]


# ---------------------------------------------------------------------------------------------------------------
# The Kubernetes objects
# ---------------------------------------------------------------------------------------------------------------


def test_manifests_validate_against_the_clusters_kubernetes_schema():
    run = _enabled_run()
    # kubernetes-validate has one schema per minor: a patch version (the stacks pin "1.35.3") validates as "1.35".
    version = ".".join(_enabled_config()["kosmos:cluster"]["version"].split(".")[:2])
    objects = _probe_objects(run)
    kinds = sorted(o.inputs["kind"] for o in objects)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet", "Namespace", "Role",
                     "RoleBinding", "Service", "ServiceAccount"]
    for obj in objects:
        # strict: unknown fields are errors too (a misspelt key would otherwise be dropped by the API server).
        assert kubernetes_validate.validate(obj.inputs, version, strict=True) == version, obj.name
    # The validator does catch a misspelt field and a wrong type, so the loop above can fail.
    [ds] = [o.inputs for o in objects if o.inputs["kind"] == "DaemonSet"]
    broken = copy.deepcopy(ds)
    broken["spec"]["template"]["spec"]["toleration"] = broken["spec"]["template"]["spec"].pop("tolerations")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)
    broken = copy.deepcopy(ds)
    broken["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "9100"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)


def tolerates(toleration: dict, taint: dict) -> bool:
    """Kubernetes' rule (Toleration.ToleratesTaint in k8s.io/api core/v1/toleration.go; the scheduler's copy is
    k8s.io/component-helpers scheduling/corev1/helpers.go): an effect, if set, must match; a key, if set, must
    match; operator Exists matches any value, Equal (the default) needs the same value. (The newer numeric Lt/Gt
    operators are not used here.)"""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("key") and toleration["key"] != taint["key"]:
        return False
    operator = toleration.get("operator", "Equal")
    if operator == "Exists":
        return True
    return operator == "Equal" and toleration.get("value", "") == taint.get("value", "")


def test_the_daemonset_tolerates_every_taint_any_pool_declares():
    run = _enabled_run()
    [ds] = [o.inputs for o in _probe_objects(run) if o.inputs["kind"] == "DaemonSet"]
    tolerations = ds["spec"]["template"]["spec"]["tolerations"]
    declared = [t for taints in TAINTS.values() for t in taints]
    assert len(declared) == 4 and run.by_type("kosmos:index:LatencyProbe")
    # Kubernetes' own node taints too (unreachable / not-ready / pressure), so a probe survives what it reports.
    node_lifecycle = [{"key": f"node.kubernetes.io/{k}", "effect": e} for k, e in
                      [("not-ready", "NoExecute"), ("unreachable", "NoExecute"), ("disk-pressure", "NoSchedule"),
                       ("unschedulable", "NoSchedule")]]
    for taint in declared + node_lifecycle:
        assert any(tolerates(t, taint) for t in tolerations), taint
    # The rule above is not vacuous: a toleration for one taint does not tolerate another.
    assert not tolerates({"key": "dedicated", "value": "db", "effect": "NoSchedule"}, declared[1])


def test_every_probe_object_goes_through_the_clusters_kubernetes_provider():
    run = _enabled_run()
    [provider] = [r for r in run.by_type(K8S_PROVIDER) if r.name == "kosmos-cluster-provider"]
    objects = _probe_objects(run)
    assert len(objects) == 9
    for obj in objects:
        assert obj.type.startswith("kubernetes:"), obj.type
        assert obj.provider.startswith(provider.urn + "::"), (obj.name, obj.provider)
    # Exactly one kubernetes provider: nothing reaches another cluster or the ambient kubeconfig.
    assert [r.name for r in run.by_type(K8S_PROVIDER)] == ["kosmos-cluster-provider"]


def test_the_daemonset_runs_the_repos_probe_program_within_a_small_budget():
    run = _enabled_run()
    by_kind = {o.inputs["kind"]: o.inputs for o in _probe_objects(run)}
    source = (REPO / "components" / "latency_probe_program.py").read_text()
    assert by_kind["ConfigMap"]["data"] == {"probe.py": source}
    pod = by_kind["DaemonSet"]["spec"]["template"]
    [container] = pod["spec"]["containers"]
    assert container["image"] == catalog.LATENCY_PROBE_IMAGE
    assert "@sha256:" in container["image"]  # one digest for every node and arch
    assert container["command"] == ["python3", "-u", "/opt/kosmos/probe.py"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["KOSMOS_PROBE_INTERVAL"] == "20"
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["KOSMOS_PROBE_SERVICE"] == by_kind["Service"]["metadata"]["name"]
    assert pod["metadata"]["annotations"]["kosmos/program-sha256"] == hashlib.sha256(source.encode()).hexdigest()
    # Fits next to real workloads on a 2 GiB node: requests and limits are set and small.
    resources = container["resources"]
    assert resources["requests"] == {"cpu": "10m", "memory": "32Mi"}
    assert resources["limits"]["memory"] == "64Mi"
    # Pod network (the path workloads take over the Kilo mesh), never the host's.
    assert not pod["spec"].get("hostNetwork")
    assert by_kind["Service"]["spec"]["clusterIP"] == "None"
    assert by_kind["Service"]["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    # RBAC: read Nodes, list the probes' EndpointSlices; nothing else.
    assert by_kind["ClusterRole"]["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}]
    assert by_kind["Role"]["rules"] == [
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]}]


@pytest.mark.parametrize("stack", STACKS)
def test_off_by_default_no_kubernetes_workload_is_registered(stack_run, stack):
    raw = stack_config(stack)
    run = stack_run(stack) if "kosmos:latencyProbe" not in raw else run_config(
        {k: v for k, v in raw.items() if k != "kosmos:latencyProbe"}, stack=stack)
    assert run.error is None
    assert run.by_type("kosmos:index:LatencyProbe") == []
    kube = {r.type for r in run.registrations if r.type.startswith("kubernetes:")}
    assert kube <= {"kubernetes:core/v1:NodePatch"}, kube


def test_latency_probe_config_defaults_to_off_and_reads_its_keys():
    base = {"cluster": {"region": "fr-par", "version": "1.31"}}
    assert parse_spec(base).latency_probe == LatencyProbeSpec(enabled=False, intervalSeconds=30, image=catalog.LATENCY_PROBE_IMAGE)
    image = "registry.example:5000/tools/python@sha256:" + "a" * 64
    spec = parse_spec(base | {"latencyProbe": {"enabled": True, "intervalSeconds": 60, "image": image}})
    assert spec.latency_probe == LatencyProbeSpec(enabled=True, intervalSeconds=60, image=image)


# ---------------------------------------------------------------------------------------------------------------
# The probe program, as real processes on 127.0.0.1
# ---------------------------------------------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _families(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
        return {f.name: f for f in text_string_to_metric_families(response.read().decode())}


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = condition()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


def _rtt_counts(families: dict, source: str) -> dict:
    """Samples per destination node, from series whose labels are complete (a peer's first round may precede its
    answer to /identity: those series say `unknown`, and `make latency` fills them in from the peer's own info)."""
    return {s.labels["destination_node"]: s.value for s in families["kosmos_probe_rtt_seconds"].samples
            if s.name == "kosmos_probe_rtt_seconds_count" and s.labels["source_node"] == source
            and s.labels["destination_cloud"] != program.UNKNOWN}


def _failures(families: dict) -> dict:
    out: dict = {}
    for s in families["kosmos_probe_failures"].samples:
        key = (s.labels["destination_node"], s.labels["reason"])
        out[key] = out.get(key, 0) + s.value
    return out


NODES = {
    "scw-par-1": {"cloud": "scaleway", "cloud-region": "fr-par"},
    "civo-lon1-0": {"cloud": "civo", "cloud-region": "LON1"},
    "mac-vm": {"cloud": "on-prem", "cloud-region": "home"},
}


def test_probes_measure_each_other_and_a_dead_peer_shows_as_failures(tmp_path):
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    ports = _free_ports(3)
    cluster = Cluster(nodes=nodes(NODES))
    cluster.pods = [probe_pod(f"probe-{node}", node, port) for node, port in zip(NODES, ports)]
    procs = []
    with KubeApi(cluster) as api:
        try:
            for pod in cluster.pods:
                procs.append(subprocess.Popen(
                    [sys.executable, str(REPO / "components" / "latency_probe_program.py"),
                     "--api-url", api.url, "--token-file", str(token), "--namespace", cluster.namespace,
                     "--service", cluster.service, "--node", pod.node, "--pod", pod.name, "--listen", "127.0.0.1",
                     "--port", str(pod.port), "--interval", "0.4", "--timeout", "0.5", "--samples", "2",
                     "--exit-after", "25"],
                    stderr=subprocess.PIPE, text=True,
                ))
            first, second, third = cluster.pods
            families = _wait(lambda: (f := _families(first.port)) and len(_rtt_counts(f, first.node)) == 2 and f,
                             10, "probe 1 to measure both peers")
            rtt = families["kosmos_probe_rtt_seconds"]
            assert rtt.type == "histogram"
            by_dest = {s.labels["destination_node"]: s.labels for s in rtt.samples
                       if s.name == "kosmos_probe_rtt_seconds_count" and s.labels["destination_cloud"] != "unknown"}
            assert by_dest[second.node] == {
                "source_node": "scw-par-1", "source_cloud": "scaleway", "source_cloud_region": "fr-par",
                "destination_node": "civo-lon1-0", "destination_cloud": "civo", "destination_cloud_region": "LON1"}
            assert by_dest[third.node]["destination_cloud_region"] == "home"
            buckets = [s for s in rtt.samples if s.name == "kosmos_probe_rtt_seconds_bucket"
                       and s.labels == by_dest[second.node] | {"le": s.labels["le"]}]
            assert [float(s.labels["le"]) for s in buckets] == list(program.BUCKETS) + [math.inf]
            assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
            # Every success took less than the 0.5 s timeout, so it sits at or below the 0.5 s bucket.
            assert 0 < buckets[-1].value == buckets[program.BUCKETS.index(0.5)].value
            assert families["kosmos_probe_rounds"].samples[0].value >= 1
            [info] = families["kosmos_probe_info"].samples
            assert info.labels == {"node": "scw-par-1", "cloud": "scaleway", "cloud_region": "fr-par"}
            # Discovery went through the API paths the ServiceAccount's RBAC allows.
            assert f"/apis/discovery.k8s.io/v1/namespaces/{cluster.namespace}/endpointslices" in cluster.paths("GET")
            assert "/api/v1/nodes/mac-vm" in cluster.paths("GET")

            procs[2].send_signal(signal.SIGKILL)
            procs[2].wait(timeout=5)
            for pod in (first, second):
                failed = _wait(lambda p=pod: _failures(_families(p.port)).get((third.node, "refused"), 0) >= 2,
                               10, f"{pod.name} to count failures to the dead peer")
                assert failed
            assert procs[0].poll() is None and procs[1].poll() is None  # failures, not a crash
            # The survivors keep measuring each other.
            before = _rtt_counts(_families(first.port), first.node)[second.node]
            _wait(lambda: _rtt_counts(_families(first.port), first.node)[second.node] > before, 5, "more samples")
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=10) for proc in procs]
            logs = [proc.stderr.read() for proc in procs]
    assert codes[:2] == [0, 0], logs  # SIGTERM: a clean stop
    assert "Traceback" not in logs[0] + logs[1], logs


# ---------------------------------------------------------------------------------------------------------------
# make latency, against the Kubernetes API stand-in
# ---------------------------------------------------------------------------------------------------------------


def _metrics_text(identity: program.Identity, observations: dict, failures: dict = {}, rounds: int = 1) -> str:
    """What a probe on `identity` serves after observing `observations` {(dst Identity): [seconds...]}."""
    metrics = program.Metrics()
    metrics.identity = identity
    metrics.rounds = rounds
    for dst, values in observations.items():
        for value in values:
            metrics.observe((identity.node, identity.cloud, identity.cloud_region, dst.node, dst.cloud,
                             dst.cloud_region), value)
    for dst, count in failures.items():
        for _ in range(count):
            metrics.fail((identity.node, identity.cloud, identity.cloud_region, dst.node, dst.cloud,
                          dst.cloud_region), "timeout")
    return metrics.render()


class _Backend:
    """A probe's /metrics as the pod proxy reaches it; `texts` is served in turn (the last one repeats)."""

    def __init__(self, *texts: str):
        self.texts = list(texts)
        backend = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                body = (backend.texts.pop(0) if len(backend.texts) > 1 else backend.texts[0]).encode()
                self.send_response(200 if self.path == "/metrics" else 404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = LoopbackServer(Handler)

    @property
    def port(self) -> int:
        return self.server.httpd.server_address[1]


PAR = program.Identity("scw-par-1", "scaleway", "fr-par")
PAR2 = program.Identity("scw-par-2", "scaleway", "fr-par")
LON = program.Identity("civo-lon1-0", "civo", "LON1")
NYC = program.Identity("civo-nyc1-0", "civo", "NYC1")
NYC_UNKNOWN = program.Identity("civo-nyc1-0")


def _known_inputs():
    return {
        PAR: _metrics_text(PAR, {LON: [0.012] * 10, NYC: [0.004] * 50 + [0.09] * 50, PAR2: [0.0004] * 4},
                           failures={NYC: 3}),
        PAR2: _metrics_text(PAR2, {NYC_UNKNOWN: [0.09] * 100, PAR: [3.0]}, failures={NYC_UNKNOWN: 2}),
        # LON has not finished a round on the first scrape: `make latency` must wait for it.
        LON: (_metrics_text(LON, {}, rounds=0), _metrics_text(LON, {PAR: [0.012] * 10})),
        # NYC's probe never answered PAR2's identity request: PAR2 labels it unknown; NYC's own info fills it in.
        NYC: _metrics_text(NYC, {}),
    }


def _run_latency(tmp_path, monkeypatch, url, *args):
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig(url)))
    monkeypatch.setenv("KUBECONFIG", str(config))
    out = tmp_path / "out"
    code = latency.main(["--stack", "standin", "--out", str(out), "--poll", "0.1", *args])
    return code, out


def test_make_latency_waits_for_every_probe_and_computes_the_matrix(tmp_path, monkeypatch, capsys):
    inputs = _known_inputs()
    backends = {ident: _Backend(*(texts if isinstance(texts, tuple) else (texts,))) for ident, texts in inputs.items()}
    cluster = Cluster(nodes=nodes({i.node: {"cloud": i.cloud, "cloud-region": i.cloud_region} for i in inputs}))
    cluster.pods = [probe_pod(f"probe-{i.node}", i.node, b.port) for i, b in backends.items()]
    with KubeApi(cluster) as api:
        for backend in backends.values():
            backend.server.__enter__()
        try:
            code, out = _run_latency(tmp_path, monkeypatch, api.url, "--timeout", "10")
        finally:
            for backend in backends.values():
                backend.server.__exit__()
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "waiting for the probes: 3/4 reported" in captured.err  # LON had no round yet
    assert "4/4 reported" in captured.err
    # Every probe went through the pod proxy path of the official client (pod:port percent-encoded).
    assert any(p.endswith("/pods/probe-civo-lon1-0%3A9100/proxy/metrics") for p in cluster.paths("GET"))

    result = json.loads((out / "latency.json").read_text())
    cells = {(c["from"], c["to"]): c for c in result["cells"]}
    # 10 samples of 12 ms, all in the (10 ms, 15 ms] bucket: interpolated median 12.5 ms, p95 14.75 ms.
    assert cells[("scaleway/fr-par", "civo/LON1")] == pytest.approx(
        {"from": "scaleway/fr-par", "to": "civo/LON1", "samples": 10, "failures": 0,
         "medianSeconds": 0.0125, "p95Seconds": 0.01475})
    assert cells[("civo/LON1", "scaleway/fr-par")]["medianSeconds"] == pytest.approx(0.0125)
    # Two probes in fr-par to NYC: 50×4 ms + 150×90 ms. Median rank 100 of 200 falls in (80, 100] ms, where
    # 150 samples are: 80 + 20×(50/150). p95 rank 190: 80 + 20×(140/150). Failures add up: 3 + 2.
    nyc = cells[("scaleway/fr-par", "civo/NYC1")]
    assert nyc["samples"] == 200 and nyc["failures"] == 5
    assert nyc["medianSeconds"] == pytest.approx(0.08 + 0.02 * 50 / 150)
    assert nyc["p95Seconds"] == pytest.approx(0.08 + 0.02 * 140 / 150)
    # Within fr-par: 4 × 0.4 ms and one 3 s sample (beyond the last bucket): p95 is capped at the last bound, 2 s.
    par = cells[("scaleway/fr-par", "scaleway/fr-par")]
    assert par["samples"] == 5
    assert par["medianSeconds"] == pytest.approx(0.0005 * 2.5 / 4)
    assert par["p95Seconds"] == 2.0
    assert result["locations"] == ["civo/LON1", "civo/NYC1", "scaleway/fr-par"]
    assert result["nodes"]["civo-nyc1-0"] == "civo/NYC1"
    assert result["probes"] == {"expected": 4, "reported": 4, "complete": True, "silent": {}}

    table = captured.out
    assert "12.5 / 14.8" in table and "(5 failed)" in table
    png = (out / "latency.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_make_latency_times_out_naming_the_silent_probe_and_keeps_what_it_got(tmp_path, monkeypatch, capsys):
    good = _Backend(_metrics_text(PAR, {LON: [0.012] * 10}))
    dead_port = _free_ports(1)[0]  # nothing listens there: the API server's proxy cannot dial it
    cluster = Cluster(nodes=nodes({PAR.node: {}, LON.node: {}}))
    cluster.pods = [probe_pod("probe-par", PAR.node, good.port), probe_pod("probe-lon", LON.node, dead_port)]
    with KubeApi(cluster) as api, good.server:
        started = time.monotonic()
        code, out = _run_latency(tmp_path, monkeypatch, api.url, "--timeout", "1")
        assert time.monotonic() - started < 8
    err = capsys.readouterr().err
    assert code == 2
    assert "1 of 2 probes reported within 1s" in err
    assert "probe-lon: proxy answered 503: error trying to reach service: dial tcp 127.0.0.1" in err
    result = json.loads((out / "latency.json").read_text())
    assert result["probes"]["complete"] is False and result["probes"]["reported"] == 1
    assert [c["to"] for c in result["cells"]] == ["civo/LON1"]
    assert (out / "latency.png").stat().st_size > 0


def test_make_latency_without_the_probe_says_how_to_enable_it(tmp_path, monkeypatch, capsys):
    cluster = Cluster(daemonset="something-else")
    with KubeApi(cluster) as api:
        code, _ = _run_latency(tmp_path, monkeypatch, api.url, "--timeout", "1")
    assert code == 1
    assert "enable the probe with `kosmos:latencyProbe: {enabled: true}`" in capsys.readouterr().err


def test_kubeconfig_comes_from_the_stack_output_when_kubeconfig_is_unset(monkeypatch):
    monkeypatch.delenv("KUBECONFIG", raising=False)
    calls = []

    class Done:
        returncode, stderr = 0, ""
        stdout = yaml.safe_dump(kubeconfig("https://203.0.113.7:6443"))

    def run(command, **kwargs):
        calls.append(command)
        return Done()

    client = latency.api_client("blog", run=run)
    assert calls == [["pulumi", "stack", "output", "kubeconfig", "--show-secrets", "--stack", "blog"]]
    assert client.configuration.host == "https://203.0.113.7:6443"
    assert client.configuration.api_key["authorization"] == f"Bearer {TOKEN}"

    class Failed:
        returncode, stdout, stderr = 255, "", "error: no stack named 'blog' found"

    with pytest.raises(latency.LatencyError, match="no stack named 'blog' found"):
        latency.api_client("blog", run=lambda *a, **k: Failed())


@pytest.mark.parametrize("content, says", [
    (None, "no such file"),
    ("", "is not a usable kubeconfig: Invalid kube-config"),
    ("clusters: [\n", "is not a usable kubeconfig: while parsing a flow node"),
    ("- just a list\n", "is not a usable kubeconfig"),
])
def test_make_latency_with_a_bad_kubeconfig_says_so_in_one_line(tmp_path, monkeypatch, capsys, content, says):
    # Without a cluster (the README's first try of `make latency`): one line naming the file, exit 1, no traceback.
    config = tmp_path / "kubeconfig"
    if content is not None:
        config.write_text(content)
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert latency.main(["--stack", "dev", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"latency: KUBECONFIG={config}") and says in err and len(err.splitlines()) == 1, err


def test_make_latency_with_an_unreachable_api_names_the_host(tmp_path, monkeypatch, capsys):
    url = f"https://127.0.0.1:{_free_ports(1)[0]}"  # nothing listens there
    code, _ = _run_latency(tmp_path, monkeypatch, url, "--timeout", "1")
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"latency: cannot reach the Kubernetes API at {url}: ") and "Max retries" not in err, err
