"""A `pulumi up` cut short converges on the next one (issue 20), with the real providers in Pulumi's own dynamic
provider host (a separate process, killed here as an interrupted run kills it) against the local Kosmos.

The engine's side, from pulumi/pulumi (pkg/backend/snapshot.go, pkg/resource/deploy/deployment_executor.go,
pkg/cmd/pulumi/operations/refresh.go): a resource whose Create was in flight when the CLI died is not in the
checkpoint's resources, only in its `pending_operations` (type `creating`). The next `pulumi up` warns "Attempting to
deploy or update resources with N pending operations from previous deployment ... interrupted while creating" and
plans from the resources alone, so that resource is created again; pending creates stay in the checkpoint (they are
carried over until `pulumi refresh` clears them: interactively, or with `--clear-pending-creates`, or
`--import-pending-creates` with the id). So each test below steps: creates that completed are state; the killed
create is not; the next run creates it again with the same inputs.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import grpc
import pytest
import yaml

from components import status
from components.identity import NodeIdentityProvider
from components.pool_nodes import PoolNodesProvider
from components.scaleway_api import serialized
from kube_api import kubeconfig
from loopback import HANG, Faults
import scaleway_fixtures as fx
from pulumi_host import dynamic_host, plain, struct
from scaleway_fixtures import kosmos, kube, kube_api, no_scw_environment  # noqa: F401 (fixtures)


def create_killed(host, request, killed_when) -> None:
    """Send a Create through the host and kill the host process once `killed_when()` holds: the call fails the way
    the engine's does when its plugin dies (the CLI interrupted), and nothing comes back to record."""
    from pulumi.runtime import proto

    failures: list = []

    def call():
        try:
            host.Create(proto.CreateRequest(**request), timeout=60)
        except grpc.RpcError as err:
            failures.append(err.code())

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 20
    while not killed_when():
        assert time.monotonic() < deadline, "the create never got where the kill was meant to land"
        time.sleep(0.02)
    host.process.kill()
    caller.join(timeout=20)
    assert failures == [grpc.StatusCode.UNAVAILABLE]


def test_killed_while_the_pool_waits_the_next_up_completes_without_duplicates_or_orphans(kosmos, tmp_path):
    from pulumi.runtime import proto

    # State after the first run's creates that completed: three identities (their machines exist, still booting).
    identities = [fx.configured(NodeIdentityProvider).create(fx.identity_props(kosmos, f"civo-lon1-{i}")).outs
                  for i in range(3)]
    props = {**fx.pool_props(kosmos, identities, api_url=None, poll_seconds=0.05),
             "__provider": serialized(PoolNodesProvider)}
    request = {"urn": "urn:pool", "properties": struct(props)}
    with dynamic_host(tmp_path) as host:
        fx.configure_host(host, kosmos)
        lists_before = kosmos.count("GET", "/nodes")
        create_killed(host, request, lambda: kosmos.count("GET", "/nodes") >= lists_before + 2)  # mid-wait
    # The machines finish booting meanwhile; the next `pulumi up` creates PoolNodes again (it is not in state).
    for outs in identities:
        kosmos.boot(outs["node_id"])
    with dynamic_host(tmp_path) as host:
        fx.configure_host(host, kosmos)
        ready = plain(host.Create(proto.CreateRequest(**request), timeout=60).properties)
    ids = {o["node_id"] for o in identities}
    assert ready["statuses"] == {i: "ready" for i in ids}
    assert kosmos.auth_calls() == 3 and set(kosmos.nodes) == ids  # no second node for any machine
    assert {n["id"] for n in kosmos.live_nodes()} == ids  # and none that no machine holds


def _status(project, outputs: dict, *args: str, capsys) -> tuple[int, dict]:
    path = project / "outputs.json"
    path.write_text(json.dumps(outputs))
    code = status.main(["--stack", "dev", "--outputs", str(path), "--project-dir", str(project), "--poll", "0.1",
                        "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_killed_between_registration_and_state_leaves_a_node_make_status_reaps_after_its_grace(
        kosmos, kube, kube_api, tmp_path, monkeypatch, capsys):
    from pulumi.runtime import proto

    # The identity's create registered the node (auth_external_node answered) and was killed while reading its
    # metadata: Scaleway lists a `creating` node whose id and secret died with the process.
    kosmos.faults = Faults(script=[HANG], hang_seconds=3.0, only=lambda m, p: p.endswith("/node-metadata"))
    request = {"urn": "urn:identity", "properties": struct(
        {**fx.identity_props(kosmos, api_url=None), "__provider": serialized(NodeIdentityProvider)})}
    with dynamic_host(tmp_path) as host:
        fx.configure_host(host, kosmos)
        create_killed(host, request, lambda: len(kosmos.faults.injected) == 1)
    [lost] = kosmos.live_nodes()
    assert lost["status"] == "creating"
    # The next `pulumi up` creates the identity again (a new node), the machine boots with it, the pool waits.
    with dynamic_host(tmp_path) as host:
        fx.configure_host(host, kosmos)
        outs = plain(host.Create(proto.CreateRequest(**request), timeout=60).properties)
    kosmos.boot(outs["node_id"])
    kube.add_node(outs["node_name"])
    fx.configured(PoolNodesProvider).create(fx.pool_props(kosmos, [outs]))
    assert outs["node_id"] != lost["id"] and kosmos.auth_calls() == 2

    # `make status` with the stack's outputs: the unclaimed node is "registering" within the grace period (a
    # `pulumi up` may still be about to record it), an orphan after it; `--reap --yes` deletes exactly that node.
    monkeypatch.setenv("SCW_ACCESS_KEY", fx.ACCESS_KEY)
    monkeypatch.setenv("SCW_SECRET_KEY", fx.OPERATOR_SECRET)
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text("name: kosmos\nruntime: python\nstackConfigDir: stacks\n")
    (project / "stacks" / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {
        "scaleway:apiUrl": kosmos.url, "kosmos:cluster": {"region": fx.REGION, "version": "1.31"}}}))
    (project / "kubeconfig").write_text(yaml.safe_dump(kubeconfig(kube_api.url)))
    monkeypatch.setenv("KUBECONFIG", str(project / "kubeconfig"))
    outputs = {"clusterId": f"{fx.REGION}/{kosmos.cluster_id}", "kubeconfig": "not used: KUBECONFIG is set",
               "poolIds": {"civo-lon1": f"{fx.REGION}/{kosmos.pool.id}"},
               "nodes": {"civo-lon1": {"cloud": "civo", "region": "LON1", "labels": {}, "machines": [
                   {"machine": "civo-lon1-0", "nodeId": outs["node_id"], "nodeName": outs["node_name"]}]}}}
    code, report = _status(project, outputs, "--reap", "--yes", capsys=capsys)
    assert report["reap"]["deleted"] == [] and {n["id"] for n in kosmos.live_nodes()} == {lost["id"], outs["node_id"]}
    assert any(lost["id"] in note and "claimed by no machine yet" in note for note in report["notes"])
    # Past the grace period (60 minutes by default): the stand-in's record ages as Scaleway's would.
    old = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=2)
    with kosmos.lock:
        kosmos.nodes[lost["id"]]["created_at"] = old.isoformat().replace("+00:00", "Z")
    code, report = _status(project, outputs, "--reap", "--yes", capsys=capsys)
    assert [o["nodeId"] for o in report["reap"]["deleted"]] == [lost["id"]] and report["reap"]["failed"] == []
    assert code == 0 and [n["id"] for n in kosmos.live_nodes()] == [outs["node_id"]]


@pytest.mark.parametrize("wait", [True, False])
def test_a_second_create_of_pool_nodes_only_reads(kosmos, wait):
    """Creating PoolNodes twice with the same members (a killed create, then the next run) registers nothing and
    deletes nothing: its create only reads."""
    provider = fx.configured(NodeIdentityProvider)
    identities = [provider.create(fx.identity_props(kosmos, f"m{i}")).outs for i in range(2)]
    for o in identities:
        kosmos.boot(o["node_id"])
    provider = fx.configured(PoolNodesProvider)
    for _ in range(2):
        provider.create(fx.pool_props(kosmos, identities, wait=wait))
    with kosmos.lock:
        writes = [(m, p) for m, p, _ in kosmos.requests if m != "GET"]
    assert [m for m, _ in writes] == ["POST", "POST"]  # the two registrations, nothing from the pool
