"""End to end on loopback: machines join the local Kosmos through the agent protocol (sandboxed join scripts, the
stand-in k8s-agent), the registration provider (configured as Pulumi's host configures it) finds exactly the node
each machine registered, and a delete given only the outputs returns once Scaleway no longer lists the node. The
registrations run in Pulumi's own dynamic provider host (tests/pulumi_host.py)."""

from __future__ import annotations

import os
import time

import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components.clouds.onprem import node_id_from_join_output
from components.registration import NodeRegistrationProvider, serialized_provider
from components.userdata import JoinInputs, render, render_leave
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from kube_api import KubeApi, kubeconfig
from pulumi_host import dynamic_host, plain, struct
from sandbox import Machine

ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
CIVO_KEY = "55555555-5555-4555-8555-555555555555"
HOME_KEY = "66666666-6666-4666-8666-666666666666"


def test_civo_and_on_prem_join_register_and_are_removed(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("SCW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    with KubeApi(tls=True) as kube_api, AgentRelease() as release, LocalKosmos(
        operator_secret=OPERATOR_SECRET, kubeconfig=yaml.safe_dump(kubeconfig(kube_api.url)), delete_seconds=0.5
    ) as kosmos:
        kube = kube_api.cluster
        civo_pool, home_pool = kosmos.add_pool("civo-lon1", CIVO_KEY, 1), kosmos.add_pool("home", HOME_KEY, 1)

        def inputs(pool):
            return JoinInputs(pool_id=f"fr-par/{pool.id}", region="fr-par", agent_base_url=release.base_url,
                              api_url=kosmos.url)

        # Civo boots with the cloud-config variant; Scaleway sees its public IP.
        civo = Machine(tmp_path / "civo")
        doc = yaml.safe_load(render(inputs(civo_pool), CIVO_KEY, "cloud-config").text)
        files = {f["path"]: f["content"] for f in doc["write_files"]}
        (civo.root / "etc/kosmos").mkdir(parents=True)
        (civo.root / "etc/kosmos/join.secret").write_text(files["/etc/kosmos/join.secret"])
        kosmos.nat_ip = "203.0.113.7"
        assert civo.run(files["/usr/local/sbin/kosmos-join"]).returncode == 0
        # On-prem gets the script on stdin over SSH; behind NAT Scaleway sees 198.51.100.200, not 192.168.1.50.
        home = Machine(tmp_path / "home")
        kosmos.nat_ip = "198.51.100.200"
        joined = home.run("", stdin=render(inputs(home_pool), HOME_KEY, "script").text)
        assert joined.returncode == 0, joined.stdout
        home_node_id = node_id_from_join_output(joined.stdout)

        # The registrations, as Pulumi's dynamic host runs them: unpickled, configure()d with the stack config.
        from pulumi.runtime import proto

        blob = serialized_provider()
        config = {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET,
                  "scaleway:apiUrl": kosmos.url}
        common = {"cluster_id": f"fr-par/{kosmos.cluster_id}", "region": "fr-par", "wait": True,
                  "timeout_seconds": 20, "poll_seconds": 0.05, "skip_drain": False, "__provider": blob}
        civo_in = {**common, "pool_id": f"fr-par/{civo_pool.id}", "pool_name": "civo-lon1", "machine": "civo-lon1-0",
                   "match_ip": "203.0.113.7"}
        home_in = {**common, "pool_id": f"fr-par/{home_pool.id}", "pool_name": "home", "machine": "mac-vm",
                   "match_node_id": home_node_id}
        with dynamic_host(tmp_path) as host:
            host.Configure(proto.ConfigureRequest(args=struct(config)), timeout=30)
            civo_created = host.Create(proto.CreateRequest(urn="urn:civo", properties=struct(civo_in)), timeout=60)
            home_created = host.Create(proto.CreateRequest(urn="urn:home", properties=struct(home_in)), timeout=60)
        civo_outs, home_outs = plain(civo_created.properties), plain(home_created.properties)
        by_pool = {n["pool_id"]: n for n in kosmos.live_nodes()}
        assert civo_created.id == civo_outs["node_id"] == by_pool[civo_pool.id]["id"]
        assert home_created.id == by_pool[home_pool.id]["id"] == home_node_id
        assert home_outs["node_name"].startswith("scw-multicloud-home-")  # Scaleway's name, not the hostname

        # Destroy: a new host process gets the outputs only (no SCW_* anywhere); it drains, deletes, and returns
        # once Scaleway no longer lists the node. Then the machine leaves.
        kube.add_node(home_outs["node_name"])
        started = time.monotonic()
        with dynamic_host(tmp_path) as host:
            host.Configure(proto.ConfigureRequest(args=struct(config)), timeout=30)
            host.Delete(proto.DeleteRequest(id=home_created.id, properties=struct(home_outs)), timeout=60)
        assert time.monotonic() - started >= 0.5
        assert [n["pool_id"] for n in kosmos.live_nodes()] == [civo_pool.id]
        assert home_pool.size == 0
        assert f"/api/v1/nodes/{home_outs['node_name']}" in kube.paths("PATCH")  # cordoned before the delete
        assert home.run(render_leave(inputs(home_pool))).returncode == 0

        # Joining again registers a new node, which a new registration finds.
        rejoined = home.run("", stdin=render(inputs(home_pool), HOME_KEY, "script").text)
        new_id = node_id_from_join_output(rejoined.stdout)
        assert new_id and new_id != home_node_id
        provider = NodeRegistrationProvider()
        provider.configure(ConfigureRequest(config=Config(raw_config=config, project_name="kosmos")))
        again = provider.create({**home_in, "match_node_id": new_id})
        assert again.id == new_id
