"""End to end on loopback, stepped as `pulumi up` then `pulumi destroy` run it, with public_ip_v4 never reported:
node identities created by the real providers in Pulumi's own dynamic provider host (tests/pulumi_host.py), every
machine's userdata rendered as the program renders it (the pool's template once, personalised per machine), the real
join script run in sandboxes (a Civo machine with cloud-config as cloud-init runs it, an on-prem host with the script
on stdin as SSH delivers it) installing the stand-in k8s-agent, the pool's readiness by node id; then the destroy:
readiness (drain, delete, wait until gone), machines, identities. A third identity's machine never came up."""

from __future__ import annotations

import os
import shlex
import urllib.error
import urllib.request

import yaml
from pulumi.runtime import proto

from components.identity import NodeIdentityProvider
from components.pool_nodes import PoolNodesProvider
from components.scaleway_api import serialized
from components.userdata import JoinInputs, node_credentials, render, render_leave
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from kube_api import KubeApi, kubeconfig
from pulumi_host import dynamic_host, plain, struct
from sandbox import Machine

ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"


def _can_register(kosmos, pool, token: str) -> bool:
    request = urllib.request.Request(f"{kosmos.url}/k8s/v1/regions/fr-par/pools/{pool.id}/external-nodes/auth",
                                     method="POST", headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(request, timeout=10):
            return True
    except urllib.error.HTTPError:
        return False


def test_machines_join_as_their_own_nodes_and_destroy_leaves_none(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("SCW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    with KubeApi(tls=True) as kube_api, AgentRelease() as release, LocalKosmos(
        operator_secret=OPERATOR_SECRET, kubeconfig=yaml.safe_dump(kubeconfig(kube_api.url)), delete_seconds=0.5,
        ready_seconds=0.2, report_public_ip=False,
    ) as kosmos:
        kube = kube_api.cluster
        civo_pool, home_pool = kosmos.add_pool("civo-lon1", size=2), kosmos.add_pool("home", size=1)
        config = {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET,
                  "scaleway:apiUrl": kosmos.url}
        blob_identity, blob_pool = serialized(NodeIdentityProvider), serialized(PoolNodesProvider)

        def inputs(pool):
            return JoinInputs(pool_id=f"fr-par/{pool.id}", region="fr-par", agent_base_url=release.base_url,
                              api_url=kosmos.url)

        def identity_in(pool, machine):
            return {"region": "fr-par", "pool_id": f"fr-par/{pool.id}", "pool_name": pool.name, "machine": machine,
                    "generation": "abc123", "timeout_seconds": 20, "poll_seconds": 0.05, "__provider": blob_identity}

        def pool_in(pool, identities):
            return {"cluster_id": f"fr-par/{kosmos.cluster_id}", "region": "fr-par", "pool_id": f"fr-par/{pool.id}",
                    "pool_name": pool.name, "wait": True, "timeout_seconds": 30, "poll_seconds": 0.05,
                    "skip_drain": False, "__provider": blob_pool,
                    "members": [{"machine": i["machine"], "node_id": i["node_id"], "node_name": i["node_name"]}
                                for i in identities]}

        # -- pulumi up --------------------------------------------------------------------------------------------
        with dynamic_host(tmp_path) as host:
            host.Configure(proto.ConfigureRequest(args=struct(config)), timeout=30)
            created = {
                name: host.Create(proto.CreateRequest(urn=f"urn:{name}", properties=struct(identity_in(pool, name))),
                                  timeout=60)
                for name, pool in (("civo-lon1-0", civo_pool), ("civo-lon1-1", civo_pool), ("mac-vm", home_pool))
            }
        ids = {name: plain(c.properties) for name, c in created.items()}
        assert kosmos.auth_calls() == 3 and len(kosmos.live_nodes()) == 3  # every node exists before its machine

        # Civo boots with the cloud-config variant: cloud-init writes the files, then runs the join.
        civo = Machine(tmp_path / "civo")
        civo_userdata = render(inputs(civo_pool), node_credentials(ids["civo-lon1-0"]["metadata_url"],
                                                                    ids["civo-lon1-0"]["node_secret_key"]),
                               "cloud-config").text
        files = {f["path"]: f for f in yaml.safe_load(civo_userdata)["write_files"]}
        cache = civo.root / "etc/scw-k8s-userdata"
        cache.write_text(files["/etc/scw-k8s-userdata"]["content"])
        cache.chmod(0o600)
        assert civo.run(files["/usr/local/sbin/kosmos-join"]["content"]).returncode == 0, civo.log()
        # On-prem gets the script on stdin over SSH.
        home = Machine(tmp_path / "home")
        home_stdin = render(inputs(home_pool), node_credentials(ids["mac-vm"]["metadata_url"],
                                                                ids["mac-vm"]["node_secret_key"]), "script").text
        joined = home.run("", stdin=home_stdin)
        assert joined.returncode == 0, joined.stdout
        # civo-lon1-1's machine never comes up.
        assert kosmos.auth_calls() == 3  # the agents registered nothing

        with dynamic_host(tmp_path) as host:
            host.Configure(proto.ConfigureRequest(args=struct(config)), timeout=30)
            ready = host.Create(proto.CreateRequest(
                urn="urn:home-readiness", properties=struct(pool_in(home_pool, [ids["mac-vm"]]))), timeout=60)
            civo_ready = host.Create(proto.CreateRequest(
                urn="urn:civo-readiness", properties=struct(pool_in(civo_pool, [ids["civo-lon1-0"]]))), timeout=60)
        statuses = {**plain(ready.properties)["statuses"], **plain(civo_ready.properties)["statuses"]}
        assert statuses == {ids["mac-vm"]["node_id"]: "ready", ids["civo-lon1-0"]["node_id"]: "ready"}
        assert all(n["public_ip_v4"] is None for n in kosmos.live_nodes())  # matched by id, never by address

        # Nothing a machine holds can register a node: not its userdata (as its cloud serves it back), not what went
        # over SSH, not any file after the join. Its own node secret is refused by the registration endpoint.
        for machine, delivered, own in ((civo, civo_userdata, ids["civo-lon1-0"]), (home, home_stdin, ids["mac-vm"])):
            everything = delivered + machine.all_files_text(exclude=()) + machine.log()
            assert OPERATOR_SECRET not in everything and ACCESS_KEY not in everything
            others = [i["node_secret_key"] for i in ids.values() if i is not own]
            assert not [s for s in others if s in everything]  # only its own node's credentials
            assert own["node_secret_key"] in delivered
            assert shlex.quote(own["node_secret_key"]) not in machine.all_files_text()  # only in the agent's cache
        assert not any(_can_register(kosmos, civo_pool, i["node_secret_key"]) for i in ids.values())

        # -- pulumi destroy: a new host, outputs only, in dependency order --------------------------------------
        for i in ids.values():
            kube.add_node(i["node_name"])
        with dynamic_host(tmp_path) as host:
            host.Configure(proto.ConfigureRequest(args=struct(config)), timeout=30)
            for r in (ready, civo_ready):
                host.Delete(proto.DeleteRequest(id=r.id, properties=r.properties), timeout=60)
            assert [n["id"] for n in kosmos.live_nodes()] == [ids["civo-lon1-1"]["node_id"]]
            assert home.run(render_leave(inputs(home_pool))).returncode == 0  # the on-prem machine goes
            for name, c in created.items():  # then the identities; the never-booted machine's node goes here
                host.Delete(proto.DeleteRequest(id=c.id, properties=c.properties), timeout=60)
        assert kosmos.live_nodes() == []  # no orphan
        assert (civo_pool.size, home_pool.size) == (0, 0)
        assert f"/api/v1/nodes/{ids['mac-vm']['node_name']}" in kube.paths("PATCH")  # cordoned before the delete
        assert not (home.root / "etc/scw-k8s-userdata").exists()
