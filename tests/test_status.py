"""`make status` / `kosmos status` (components/status.py) against the local Kosmos (tests/kosmos_api.py) and the
local Kubernetes API (tests/kube_api.py): the real SDK and client, over 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import time
import sys
import uuid

import pytest
import yaml

from conftest import REPO
from kosmos_api import LocalKosmos, Pool
from kube_api import KubeApi, kubeconfig, pod

from components import status
from components.userdata import bare_id

ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
REGION = "fr-par"
LABELS = {"team": "web", "cloud": "civo", "cloud-region": "LON1"}
HOUR = 3600


@pytest.fixture
def kube_api():
    with KubeApi(tls=True) as api:
        yield api


@pytest.fixture
def kosmos():
    with LocalKosmos(operator_secret=OPERATOR_SECRET, delete_seconds=0.3) as k:
        k.version = "1.35.3"  # the control plane's, as the stacks declare it
        yield k


@pytest.fixture
def project(tmp_path, monkeypatch, kosmos, kube_api):
    """A Pulumi project directory whose stack file points at the local Kosmos; SCW_* credentials; KUBECONFIG."""
    for name in list(os.environ):
        if name.startswith("SCW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/scw
    monkeypatch.setenv("SCW_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("SCW_SECRET_KEY", OPERATOR_SECRET)
    (tmp_path / "Pulumi.yaml").write_text("name: kosmos\nruntime: python\nstackConfigDir: stacks\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {
        "scaleway:apiUrl": kosmos.url, "kosmos:cluster": {"region": REGION, "version": "1.35"}}}))
    config = tmp_path / "kubeconfig"
    config.write_text(yaml.safe_dump(kubeconfig(kube_api.url)))
    monkeypatch.setenv("KUBECONFIG", str(config))
    return tmp_path


class World:
    """A cluster: a Scaleway pool (Scaleway's nodes) and an external pool whose machines the outputs declare."""

    def __init__(self, kosmos: LocalKosmos, kube, project):
        self.kosmos, self.kube, self.project = kosmos, kube, project
        self.scw = kosmos.add_pool("default")
        self.civo = kosmos.add_pool("civo-lon")
        self.machines: list[dict] = []
        node = kosmos.seed_node(self.scw, age_seconds=30 * 86400)
        kube.add_node(node["name"], {"team": "platform"}, ready="True", kubelet_version="v1.35.3")

    def node(self, *, age=2 * HOUR, ready="True", kubelet="v1.35.3", labels=None, pool=None, booted=True) -> dict:
        """A node registered `age` ago; unless `booted` is False (its machine never ran the join: Scaleway says
        `creating`, Kubernetes has no node), its kubelet reached the cluster."""
        node = self.kosmos.seed_node(pool or self.civo, age_seconds=age, ready=booted)
        if booted:
            self.kube.add_node(node["name"], LABELS if labels is None else labels, ready=ready,
                               kubelet_version=kubelet)
        return node

    def machine(self, name: str, node: dict | None, **identity) -> None:
        entry = {"machine": name, "hostname": name, "arch": "amd64", "machineId": f"civo-{name}", "publicIp": None}
        if node is not None:
            entry.update(nodeId=node["id"], nodeName=node["name"])
        entry.update(identity)
        self.machines.append(entry)

    def outputs(self) -> dict:
        return {
            "clusterId": f"{REGION}/{self.kosmos.cluster_id}",
            "kubeconfig": "not used: KUBECONFIG is set",
            "poolIds": {"default": f"{REGION}/{self.scw.id}", "civo-lon": f"{REGION}/{self.civo.id}"},
            "nodes": {"civo-lon": {"cloud": "civo", "region": "LON1", "labels": LABELS, "machineType": "g3.medium",
                                   "os": "ubuntu-jammy", "machines": self.machines}},
        }

    def run(self, *args: str, capsys=None) -> tuple[int, str, str]:
        path = self.project / "outputs.json"
        path.write_text(json.dumps(self.outputs()))
        code = status.main(["--stack", "dev", "--outputs", str(path), "--project-dir", str(self.project),
                            "--poll", "0.1", *args])
        out, err = capsys.readouterr()
        return code, out, err


@pytest.fixture
def world(kosmos, kube_api, project):
    return World(kosmos, kube_api.cluster, project)


def clean(world: World) -> None:
    for i in range(2):
        world.machine(f"civo-lon-{i}", world.node())


def drifted(world: World) -> dict:
    """Every kind of drift, with the nodes involved by role."""
    clean(world)
    nodes = {
        "gone": world.node(ready="Unknown"),  # its machine was deleted by hand: the kubelet stopped posting
        "lagging": world.node(kubelet="v1.34.6"),
        "unlabelled": world.node(labels={"cloud": "civo"}),
        "orphan": world.node(),  # nobody claims it, registered 2h ago
        # A `pulumi up` still running registered it, its machine is still booting: not claimed in the outputs yet.
        "registering": world.node(age=120, booted=False),
    }
    world.machine("civo-lon-2", nodes["gone"])
    world.machine("civo-lon-3", nodes["lagging"])
    world.machine("civo-lon-4", nodes["unlabelled"])
    world.machine("civo-lon-5", None, nodeId=str(uuid.uuid4()))  # Scaleway no longer lists its node
    return nodes


def test_a_clean_cluster_needs_nothing_and_exits_zero(world, capsys):
    clean(world)
    code, out, err = world.run("--exit-code", capsys=capsys)
    assert code == 0, out + err
    assert "needs attention: nothing" in out
    assert "civo-lon-0" in out and "civo-lon-1" in out and "(orphan)" not in out
    assert "status: pool civo-lon: 2 nodes listed by Scaleway" in err  # progress on stderr


def test_a_drifted_cluster_is_reported_and_exit_code_fails(world, capsys):
    nodes = drifted(world)
    code, out, err = world.run("--exit-code", "--json", capsys=capsys)
    assert code == 1, err
    report = json.loads(out)
    assert report["controlPlaneVersion"] == "1.35.3" and report["kubernetesReachable"] is True
    found = {(a["kind"], a["machine"], a["nodeId"]) for a in report["attention"]}
    assert found == {
        ("not-ready", "civo-lon-2", nodes["gone"]["id"]),
        ("kubelet-behind", "civo-lon-3", nodes["lagging"]["id"]),
        ("labels-missing", "civo-lon-4", nodes["unlabelled"]["id"]),
        ("no-node", "civo-lon-5", next(m["nodeId"] for m in world.machines if m["machine"] == "civo-lon-5")),
        ("orphan", None, nodes["orphan"]["id"]),
    }
    civo = next(p for p in report["pools"] if p["name"] == "civo-lon")
    rows = {r["machine"] or r["nodeId"]: r for r in civo["rows"]}
    assert rows["civo-lon-2"]["ready"] == "Unknown" and rows["civo-lon-3"]["kubelet"] == "v1.34.6"
    assert rows["civo-lon-4"]["labelsMissing"] == ["cloud-region", "team"]
    assert rows["civo-lon-5"]["scaleway"] == "gone"
    assert rows[nodes["orphan"]["id"]]["unclaimed"] == "orphan"
    assert rows[nodes["registering"]["id"]]["unclaimed"] == "registering"
    assert any(nodes["registering"]["id"] in n and "pulumi up" in n for n in report["notes"])
    # The Scaleway pool's node is listed, not claimed, never an orphan.
    [scw] = [p for p in report["pools"] if p["name"] == "default"]
    assert scw["managedBy"] == "scaleway" and [r["scaleway"] for r in scw["rows"]] == ["ready"]


def test_the_table_says_the_same_as_the_json(world, capsys):
    nodes = drifted(world)
    code, table, _ = world.run(capsys=capsys)
    assert code == 0  # without --exit-code, a report is a success
    code, document, _ = world.run("--json", capsys=capsys)
    report = json.loads(document)
    for item in report["attention"]:
        line = next(line for line in table.splitlines() if line.strip().startswith(item["kind"])
                    and (item["nodeName"] or item["machine"]) in line)
        assert item["detail"] in line
    assert f"needs attention: {len(report['attention'])}" in table
    assert nodes["lagging"]["name"] in table and "v1.34.6" in table


def test_a_younger_grace_makes_the_registering_node_an_orphan(world, capsys):
    nodes = drifted(world)
    _, out, _ = world.run("--json", "--grace-minutes", "1", capsys=capsys)
    orphans = {a["nodeId"] for a in json.loads(out)["attention"] if a["kind"] == "orphan"}
    assert orphans == {nodes["orphan"]["id"], nodes["registering"]["id"]}


def test_the_grace_follows_the_pools_registration_timeout(world, project, capsys):
    """Unclaimed for 45 minutes: within a `pulumi up` of the default timeout (15 min: grace 2 x 15 + 30), past one of
    a 5-minute timeout (grace 40)."""
    clean(world)
    node = world.node(age=45 * 60, booted=False)
    _, out, _ = world.run("--json", capsys=capsys)
    report = json.loads(out)
    civo = next(p for p in report["pools"] if p["name"] == "civo-lon")
    assert civo["graceSeconds"] == 60 * 60 and report["attention"] == []
    assert {r["nodeId"]: r["unclaimed"] for r in civo["rows"] if not r["machine"]} == {node["id"]: "registering"}
    stack_file = project / "stacks" / "Pulumi.dev.yaml"
    doc = yaml.safe_load(stack_file.read_text())
    doc["config"]["kosmos:externalPools"] = [{"name": "civo-lon", "registration": {"timeoutMinutes": 5}}]
    stack_file.write_text(yaml.safe_dump(doc))
    _, out, _ = world.run("--json", capsys=capsys)
    report = json.loads(out)
    assert next(p for p in report["pools"] if p["name"] == "civo-lon")["graceSeconds"] == 40 * 60
    assert [(a["kind"], a["nodeId"]) for a in report["attention"]] == [("orphan", node["id"])]


def test_reap_without_yes_deletes_nothing(world, kosmos, capsys):
    nodes = drifted(world)
    before = len(kosmos.live_nodes())
    code, out, _ = world.run("--reap", capsys=capsys)
    assert code == 0
    assert "nothing deleted (add --yes)" in out and nodes["orphan"]["id"] in out
    assert not [r for r in kosmos.requests if r[0] == "DELETE"]
    assert len(kosmos.live_nodes()) == before
    assert not [p for m, p, _ in world.kube.requests if m == "PATCH"]  # not even cordoned


def test_reap_yes_drains_and_deletes_exactly_the_orphans(world, kosmos, capsys):
    nodes = drifted(world)
    world.kube.pods.append(pod("web-1", nodes["orphan"]["name"]))
    code, out, err = world.run("--reap", "--yes", "--json", capsys=capsys)
    result = json.loads(out)["reap"]
    assert [o["nodeId"] for o in result["deleted"]] == [nodes["orphan"]["id"]] and result["failed"] == []
    deleted = [p.rsplit("/", 1)[1] for m, p, _ in kosmos.requests if m == "DELETE"]
    assert deleted == [nodes["orphan"]["id"]]
    # Drained first (cordon, eviction), then gone from Scaleway's list; every other node still there.
    assert world.kube.paths("PATCH") == [f"/api/v1/nodes/{nodes['orphan']['name']}"]
    assert world.kube.pods == []
    assert nodes["orphan"]["id"] not in {n["id"] for n in kosmos.live_nodes()}
    assert {n["id"] for n in kosmos.live_nodes(world.civo.id)} == {
        m["nodeId"] for m in world.machines if m.get("nodeName")} | {nodes["registering"]["id"]}
    assert code == 0  # asked to reap, and it did; without --exit-code the rest is a report
    assert "waiting until Scaleway no longer lists 1 node(s)" in err


def test_reap_yes_exit_code_counts_what_is_left(world, capsys):
    clean(world)
    world.node()  # one orphan, nothing else wrong
    code, out, _ = world.run("--reap", "--yes", "--exit-code", capsys=capsys)
    assert code == 0, out
    assert "reap: deleted civo-lon/" in out and "pulumi up --refresh" in out


def test_reap_reads_the_claims_again_before_deleting(world, kosmos, monkeypatch, capsys):
    """A `pulumi up` that ends between the report and the delete claims the node: it is not deleted."""
    clean(world)
    late = world.node()
    reads = []
    original = status.stack_outputs

    def stack_outputs(*args):
        reads.append(args)
        outputs = original(*args)
        if len(reads) > 1:  # the update ended: its outputs now claim the node
            outputs["nodes"]["civo-lon"]["machines"].append({"machine": "civo-lon-2", "nodeId": late["id"],
                                                             "nodeName": late["name"]})
        return outputs

    monkeypatch.setattr(status, "stack_outputs", stack_outputs)
    code, out, _ = world.run("--reap", "--yes", "--json", capsys=capsys)
    [failed] = json.loads(out)["reap"]["failed"]
    assert len(reads) == 2 and failed["nodeId"] == late["id"] and "not deleted" in failed["error"]
    assert code == 1 and not [r for r in kosmos.requests if r[0] == "DELETE"]
    assert world.kube.paths("PATCH") == []  # not even cordoned


def test_a_node_scaleway_keeps_listing_is_a_failure_within_the_timeout(world, kosmos, capsys):
    clean(world)
    orphan = world.node()
    kosmos.delete_seconds = 60
    code, out, _ = world.run("--reap", "--yes", "--json", "--timeout", "1", capsys=capsys)
    [failed] = json.loads(out)["reap"]["failed"]
    assert code == 1 and failed["nodeId"] == orphan["id"] and "still listed by Scaleway after 1s" in failed["error"]


def test_kubernetes_unreachable_keeps_the_scaleway_view_with_a_note(world, kube_api, project, monkeypatch, capsys):
    clean(world)
    kube_api.__exit__(None, None, None)  # the API server is gone; the kubeconfig still points at it
    code, out, err = world.run("--exit-code", "--json", "--request-timeout", "5", capsys=capsys)
    report = json.loads(out)
    assert code == 0, err  # the note alone does not fail
    assert report["kubernetesReachable"] is False and report["attention"] == []
    assert report["notes"][0].startswith(f"Kubernetes API not read (KUBECONFIG={project / 'kubeconfig'}: cannot reach")
    assert [r["scaleway"] for r in report["pools"][0]["rows"]] == ["ready", "ready"]
    # The Scaleway view still decides: a node Scaleway does not list fails --exit-code.
    world.machine("civo-lon-9", None, nodeId=str(uuid.uuid4()))
    code, out, _ = world.run("--exit-code", capsys=capsys)
    assert code == 1 and "note: Kubernetes API not read" in out


def test_no_kubeconfig_at_all_is_a_note(world, monkeypatch, capsys):
    clean(world)
    monkeypatch.delenv("KUBECONFIG")
    original = world.outputs
    monkeypatch.setattr(world, "outputs", lambda: {**original(), "kubeconfig": None})
    code, out, _ = world.run("--exit-code", capsys=capsys)
    assert code == 0 and "no KUBECONFIG and no kubeconfig output" in out


def test_bad_credentials_or_outputs_are_one_line_and_exit_2(world, monkeypatch, capsys, tmp_path):
    clean(world)
    monkeypatch.setenv("SCW_SECRET_KEY", "55555555-5555-4555-8555-555555555555")
    code, out, err = world.run(capsys=capsys)
    assert code == 2 and out == "" and "status: Scaleway API get_cluster: HTTP 401" in err
    (tmp_path / "empty.json").write_text("{}")
    assert status.main(["--stack", "test", "--outputs", str(tmp_path / "empty.json")]) == 2
    assert "no clusterId, poolIds" in capsys.readouterr().err


def test_a_silent_or_failing_scaleway_api_is_bounded_and_retried(kosmos, monkeypatch):
    # The SDK gives `requests` no timeout: each attempt is bounded by components/retry.py, and retried.
    from loopback import HANG, Faults

    monkeypatch.setenv("SCW_ACCESS_KEY", "SCWABCDEFGHIJKLMNOPQ")
    monkeypatch.setenv("SCW_SECRET_KEY", kosmos.operator_secret)
    kosmos.faults = Faults(script=[HANG, 503, 429], hang_seconds=3.0, retry_after="0")
    apis = status.Apis("fr-par", kosmos.url, None, request_timeout=5)
    # Short back-offs: with the default ones (full jitter up to 0.5, 1, 2 s) the three retries alone may take 3 s,
    # and the bound below would not show that the 3 s hang was cut at the read timeout.
    apis.retry.read_timeout, apis.retry.base = 0.3, 0.05
    started = time.monotonic()
    assert apis.cluster_version(kosmos.cluster_id) == kosmos.version
    assert len(kosmos.faults.injected) == 3 and time.monotonic() - started < 3
    kosmos.faults = Faults(share=1.0, kinds=(HANG,), hang_seconds=3.0)
    apis = status.Apis("fr-par", kosmos.url, None, request_timeout=1)
    apis.retry.read_timeout = 0.3
    started = time.monotonic()
    with pytest.raises(status.StatusError, match=r"Scaleway API get_cluster: Scaleway API GET .* gave up after \d+ "
                                                 r"attempts .*; last: no answer \(ReadTimeout"):
        apis.cluster_version(kosmos.cluster_id)
    assert time.monotonic() - started < 2


def test_make_status_runs_the_tool(world, project):
    """The Makefile target's command line (tools/status.py), as a process: stdout the table, stderr progress."""
    clean(world)
    world.node()
    path = project / "outputs.json"
    path.write_text(json.dumps(world.outputs()))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "tools.status", "--stack", "dev", "--outputs", str(path),
                           "--project-dir", str(project), "--exit-code"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "orphan" in proc.stdout and "status: reading cluster" in proc.stderr


def test_status_reads_the_outputs_the_real_program_exports(stack_run, kube_api, project, capsys):
    """The stack outputs as the real program exports them (the blog stack on the mock engine, tools/engine.py): every
    external machine claims the node its NodeIdentity registered, by that node's id; only a node nobody registered
    for a machine is an orphan."""
    run = stack_run("blog")
    assert all(e.known for e in run.exports.values())
    outputs = {name: e.value for name, e in run.exports.items()}  # `pulumi stack output --json --show-secrets`
    machines = {m["machine"]: (pool, m) for pool, summary in outputs["nodes"].items() for m in summary["machines"]}
    assert len(machines) == 6 and all(m["nodeId"] and m["nodeName"] for _, m in machines.values())
    # The engine mocks name clusters "kosmos"; the stand-in then names nodes as they do (Scaleway's scheme).
    with LocalKosmos(operator_secret=OPERATOR_SECRET, cluster_id=bare_id(outputs["clusterId"]),
                     cluster_name="kosmos") as kosmos:
        kosmos.version = "1.35.3"
        pools = {name: Pool(bare_id(pool_id), name, None, 1) for name, pool_id in outputs["poolIds"].items()}
        kosmos.pools = {pool.id: pool for pool in pools.values()}
        for pool, machine in machines.values():
            node = kosmos.seed_node(pools[pool], node_id=machine["nodeId"], age_seconds=HOUR)
            assert node["name"] == machine["nodeName"]
            kube_api.cluster.add_node(node["name"], outputs["nodes"][pool]["labels"], ready="True",
                                      kubelet_version="v1.35.3")
        orphan = kosmos.seed_node(pools["civo-lon1"], age_seconds=2 * HOUR)
        (project / "stacks" / "Pulumi.blog.yaml").write_text(yaml.safe_dump({"config": {
            "scaleway:apiUrl": kosmos.url, "kosmos:cluster": {"region": REGION, "version": "1.35.3"}}}))
        path = project / "outputs.json"
        path.write_text(json.dumps(outputs))
        code = status.main(["--stack", "blog", "--outputs", str(path), "--project-dir", str(project), "--json",
                            "--reap", "--exit-code"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["kubernetesReachable"] is True
    rows = {r["machine"]: r for p in report["pools"] for r in p["rows"] if r["machine"]}
    assert {name: (r["nodeId"], r["scaleway"], r["ready"], r["labelsMissing"]) for name, r in rows.items()} == {
        name: (m["nodeId"], "ready", "True", []) for name, (_, m) in machines.items()}
    assert [(a["kind"], a["nodeId"]) for a in report["attention"]] == [("orphan", orphan["id"])]
    assert [o["nodeId"] for o in report["reap"]["orphans"]] == [orphan["id"]]
    assert {p["name"] for p in report["pools"] if p["managedBy"] == "scaleway"} == {"par", "ams"}


# --- the README's sample ------------------------------------------------------------------------------------------
SAMPLE_START, SAMPLE_END = "<!-- status sample: tests/test_status.py -->\n```text\n", "```\n"


def test_the_readme_sample_is_what_the_tool_prints(kosmos, kube_api, project, monkeypatch, capsys):
    """The sample in README.md ("Operating a cluster") is this run's output, its ids made repeatable by seeding
    uuid4. STATUS_SAMPLE_WRITE=1 rewrites it."""
    import random

    seeded = random.Random(22)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=seeded.getrandbits(128), version=4))
    world = World(kosmos, kube_api.cluster, project)
    drifted(world)
    code, out, _ = world.run("--reap", "--exit-code", capsys=capsys)
    assert code == 1
    readme = REPO / "README.md"
    text = readme.read_text()
    start = text.index(SAMPLE_START) + len(SAMPLE_START)
    end = text.index(SAMPLE_END, start)
    sample = '$ make status STACK=dev STATUS_ARGS="--reap --exit-code"\n' + out
    if os.environ.get("STATUS_SAMPLE_WRITE"):
        readme.write_text(text[:start] + sample + text[end:])
    assert text[start:end] == sample


def test_a_claimed_node_that_never_joined_is_not_ready_and_every_page_is_read(world, kosmos, capsys):
    clean(world)
    stuck = world.node(age=HOUR, booted=False)  # registered by kosmos; its machine never ran the join
    world.machine("civo-lon-2", stuck)
    code, out, _ = world.run("--json", "--exit-code", capsys=capsys)
    report = json.loads(out)
    assert [(a["kind"], a["machine"], a["detail"]) for a in report["attention"]] == [
        ("not-ready", "civo-lon-2", "Scaleway status creating; no Kubernetes node of that name (its machine never "
                                    "joined: not booted, or its join failed, see /var/log/kosmos-join.log on it)")]
    assert code == 1
    # The stand-in pages by 2: the civo pool's 3 nodes take pages 1 and 2 (total_count says there is no more).
    pages = [q.get("page") for m, p, q in kosmos.requests
             if m == "GET" and p.endswith("/nodes") and q.get("pool_id") == world.civo.id]
    assert pages == ["1", "2"]


def test_a_name_without_an_id_claims_nothing(world, kosmos, capsys):
    """Claims are by node id, which every machine's NodeIdentity gives the outputs; a name alone (hand-edited or
    older outputs) claims no node, and the pool's unclaimed nodes are not reaped for it."""
    clean(world)
    node = world.node()
    world.machine("civo-lon-2", None, nodeName=node["name"])
    code, out, _ = world.run("--json", "--reap", "--yes", capsys=capsys)
    report = json.loads(out)
    assert [(a["kind"], a["machine"]) for a in report["attention"]] == [("no-node", "civo-lon-2")]
    assert report["reap"]["orphans"] == [] and not [r for r in kosmos.requests if r[0] == "DELETE"]


def test_a_drain_that_cannot_finish_keeps_the_orphan(world, kosmos, capsys):
    clean(world)
    orphan = world.node()
    world.kube.pods.append(pod("db-0", orphan["name"]))
    world.kube.pdb_blocks["db-0"] = 10**6  # a budget that never allows the eviction
    code, out, _ = world.run("--reap", "--yes", "--json", "--timeout", "1", capsys=capsys)
    [failed] = json.loads(out)["reap"]["failed"]
    assert code == 1 and failed["nodeId"] == orphan["id"] and "disruption" in failed["error"].lower()
    assert not [r for r in kosmos.requests if r[0] == "DELETE"]
    assert orphan["id"] in {n["id"] for n in kosmos.live_nodes()}


def test_a_machine_the_outputs_name_no_node_for_makes_no_orphan_of_its_pool(world, kosmos, capsys):
    """Outputs written before nodeId/nodeName existed: the unclaimed nodes may be those machines'. Reported, never
    reaped."""
    clean(world)
    world.machine("civo-lon-2", None)  # its node is one of the two below, or neither: the outputs cannot say
    old, new = world.node(age=30 * 86400), world.node()
    code, out, _ = world.run("--reap", "--yes", "--json", "--exit-code", capsys=capsys)
    report = json.loads(out)
    assert [(a["kind"], a["machine"]) for a in report["attention"]] == [("no-node", "civo-lon-2")]
    assert code == 1 and report["reap"]["orphans"] == [] and not [r for r in kosmos.requests if r[0] == "DELETE"]
    civo = next(p for p in report["pools"] if p["name"] == "civo-lon")
    assert {r["nodeId"]: r["unclaimed"] for r in civo["rows"] if r["machine"] is None} == {
        old["id"]: "unmatched", new["id"]: "unmatched"}
    assert sum("civo-lon-2 name(s) no node" in n for n in report["notes"]) == 2


@pytest.mark.parametrize("text", ["- a list\n", "{not: [closed\n", ""])
def test_a_kubeconfig_that_is_not_one_is_a_note(world, project, text, capsys):
    clean(world)
    (project / "kubeconfig").write_text(text)
    code, out, err = world.run("--exit-code", "--json", capsys=capsys)
    report = json.loads(out)
    assert code == 0, err
    assert report["kubernetesReachable"] is False and "KUBECONFIG=" in report["notes"][0]
