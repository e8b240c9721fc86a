"""The real __main__.py against the real stack files, on the SDK's mock engine (preview=False, fresh loop per run)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import REPO, STACKS, run_config, stack_config
from tools.graph import critical_path, custom_dependencies, reachable
from components.userdata import REDACTED_SECRET
from tools.engine import fake_uuid, run_program
from tools.plan import node_rows

CLUSTER = "scaleway:kubernetes/cluster:Cluster"
POOL = "scaleway:kubernetes/pool:Pool"
K8S_PROVIDER = "pulumi:providers:kubernetes"
APP, POLICY, APIKEY = "scaleway:iam/application:Application", "scaleway:iam/policy:Policy", "scaleway:iam/apiKey:ApiKey"
FIREWALL, INSTANCE = "civo:index/firewall:Firewall", "civo:index/instance:Instance"
DEVICE = "equinix-metal:index/device:Device"
EM_SERVER = "scaleway:elasticmetal/server:Server"
COMMAND = "command:remote:Command"
IDENTITY = "pulumi-python:dynamic/kosmos:NodeIdentity"
READINESS = "pulumi-python:dynamic/kosmos:PoolNodes"
VERSION = "pulumi-python:dynamic/kosmos:PoolVersion"
GATE = "pulumi-python:dynamic/kosmos:RolloutGate"
PATCH = "kubernetes:core/v1:NodePatch"
MACHINE_TYPES = (INSTANCE, DEVICE, EM_SERVER, COMMAND)
USERDATA_INPUT = {INSTANCE: "script", DEVICE: "userData", EM_SERVER: "cloudInit", COMMAND: "stdin"}


def node_secret(identity_name: str) -> str:
    """What the mock engine hands out as a NodeIdentity's node secret (tools/engine.py KosmosMocks)."""
    return fake_uuid("node-secret", identity_name)


def identity_of(run, machine):
    """The NodeIdentity a machine's userdata was made from (`<set>-<key>` machine -> `<set>-<key>-identity`)."""
    return one(run, IDENTITY, f"{machine.name}-identity")


def names(run, type_):
    return sorted(r.name for r in run.by_type(type_))


def one(run, type_, name):
    [reg] = [r for r in run.by_type(type_) if r.name == name]
    return reg


# --------------------------------------------------------------------------------------------------------------
# dev: cluster + one Scaleway pool
# --------------------------------------------------------------------------------------------------------------


def test_dev_registers_exactly_cluster_provider_and_pool(stack_run):
    run = stack_run("dev")
    assert sorted((r.type, r.name) for r in run.custom()) == sorted(
        [(CLUSTER, "kosmos-cluster-k8s"), (K8S_PROVIDER, "kosmos-cluster-provider"), (POOL, "kosmos-default-pool")]
    )
    assert sorted((r.type, r.name) for r in run.registrations if not r.custom) == sorted(
        [
            ("kosmos:index:MulticloudCluster", "kosmos"),
            ("kosmos:index:KosmosCluster", "kosmos-cluster"),
            ("kosmos:index:ScalewayPool", "kosmos-default"),
        ]
    )


def test_dev_cluster_inputs(stack_run):
    cluster = one(stack_run("dev"), CLUSTER, "kosmos-cluster-k8s").inputs
    assert cluster["name"] == "kosmos-dev"  # default name: kosmos-<stack>
    assert (cluster["region"], cluster["version"], cluster["type"], cluster["cni"]) == (
        "fr-par", "1.35", "multicloud", "kilo"
    )
    assert cluster["autoUpgrade"] == {"enable": True, "maintenanceWindowDay": "sunday", "maintenanceWindowStartHour": 3}
    assert cluster["deleteAdditionalResources"] is False
    assert "privateNetworkId" not in cluster


def test_dev_pool_inputs(stack_run):
    run = stack_run("dev")
    pool = one(run, POOL, "kosmos-default-pool")
    assert pool.inputs["nodeType"] == "DEV1-M"
    assert pool.inputs["size"] == 1
    assert pool.inputs["zone"] == "fr-par-1"  # default zone: <region>-1
    assert pool.inputs["region"] == "fr-par"
    assert pool.inputs["labels"] == {"team": "platform", "cloud": "scaleway", "cloud-region": "fr-par"}
    cluster = one(run, CLUSTER, "kosmos-cluster-k8s")
    assert pool.property_dependencies["clusterId"] == [cluster.urn]


def test_stack_exports(any_stack_run):
    run = any_stack_run
    assert run.exports["kubeconfig"].secret is True
    assert "mock-admin-token" in run.export_value("kubeconfig")
    for name in ("clusterId", "apiserverUrl", "poolIds", "nodes", "userdata"):
        assert run.exports[name].secret is False, name
        assert run.exports[name].known is True, name
    assert run.export_value("clusterId").startswith("fr-par/")
    pools = {r.inputs["name"]: r for r in run.by_type(POOL)}
    assert set(run.export_value("poolIds")) == set(pools)


def test_exports_reach_the_engine_with_the_kubeconfig_as_a_secret(any_stack_run):
    # After the program, the SDK massages the exports and registers them as the stack's outputs (what state keeps).
    # tools/engine.py does what the CLI entrypoint does; this is the request the engine would receive.
    run = any_stack_run
    stored = run.stack_outputs()
    assert stored.secret_paths == ["kubeconfig"]
    assert stored.outputs["kubeconfig"] == "[secret]"
    assert set(stored.outputs) == set(run.exports)
    for name in ("clusterId", "apiserverUrl", "poolIds", "nodes", "userdata"):
        assert stored.outputs[name] == run.export_value(name), name
    for identity in run.by_type(IDENTITY):
        assert node_secret(identity.name) not in json.dumps(stored.outputs)


def test_no_plaintext_secret_in_any_export_or_redacted_input(any_stack_run):
    run = any_stack_run
    public = {k: e.value for k, e in run.exports.items() if not e.secret}
    assert "offline-plan" not in json.dumps(public)  # the ssh key placeholder
    secrets = [node_secret(i.name) for i in run.by_type(IDENTITY)]
    for secret in secrets:
        assert secret not in json.dumps(public)
        for reg in run.registrations:
            assert secret not in json.dumps(reg.inputs), reg.name
    for identity in run.by_type(IDENTITY):  # the identity's provider echoes them: secret in state too
        assert set(identity.additional_secret_outputs) == {"metadata_url", "node_secret_key"}


def test_no_resource_deletes_before_replacing(any_stack_run):
    # Userdata changes replace machines create-before-delete: the new machine joins before the old one goes.
    assert [r.name for r in any_stack_run.registrations if r.delete_before_replace] == []


def test_critical_path_is_at_most_seven(any_stack_run):
    # cluster -> pool -> pool version -> node identity -> machine -> pool readiness -> label patch: each needs the
    # one before (on-prem rollout gates do nothing on creation: tools/graph.py FREE_ON_CREATE).
    assert len(critical_path(any_stack_run)) <= 7


# --------------------------------------------------------------------------------------------------------------
# blog: the seed topology
# --------------------------------------------------------------------------------------------------------------

BLOG_POOLS = {"civo-lon1": 2, "civo-nyc1": 1, "metal-x86": 1, "metal-arm": 1, "home": 1}


def test_blog_registers_exactly_the_seed_topology(stack_run):
    run = stack_run("blog")
    expected = {
        (CLUSTER, "kosmos-cluster-k8s"),
        (K8S_PROVIDER, "kosmos-cluster-provider"),
        (POOL, "kosmos-par-pool"),
        (POOL, "kosmos-ams-pool"),
        (FIREWALL, "kosmos-civo-lon1-nodes-firewall"),
        (FIREWALL, "kosmos-civo-nyc1-nodes-firewall"),
        (INSTANCE, "kosmos-civo-lon1-nodes-0"),
        (INSTANCE, "kosmos-civo-lon1-nodes-1"),
        (INSTANCE, "kosmos-civo-nyc1-nodes-0"),
        (DEVICE, "kosmos-metal-x86-nodes-0"),
        (DEVICE, "kosmos-metal-arm-nodes-0"),
        (COMMAND, "kosmos-home-nodes-mac-vm"),
        (GATE, "kosmos-home-nodes-mac-vm-rollout"),  # on-prem hosts re-join through their pool's rollout gates
        (GATE, "kosmos-home-nodes-rollout-done"),
    }
    for pool, count in BLOG_POOLS.items():
        expected.add((POOL, f"kosmos-{pool}-pool"))
        keys = ["mac-vm"] if pool == "home" else [str(i) for i in range(count)]
        expected.add((READINESS, f"kosmos-{pool}-readiness"))  # one per pool, not per machine
        expected.add((VERSION, f"kosmos-{pool}-version"))  # the pool runs kosmos:cluster.version before any join
        for key in keys:
            expected.add((IDENTITY, f"kosmos-{pool}-nodes-{key}-identity"))
            expected.add((PATCH, f"kosmos-{pool}-{key}-labels"))
    assert {(r.type, r.name) for r in run.custom()} == expected


def test_blog_pools_sizes_and_zones(stack_run):
    pools = {r.inputs["name"]: r.inputs for r in stack_run("blog").by_type(POOL)}
    assert (pools["par"]["zone"], pools["ams"]["zone"]) == ("fr-par-1", "nl-ams-1")
    assert pools["ams"]["region"] == "fr-par"  # a pool lives in its cluster's region, its nodes run in nl-ams-1
    for name, count in BLOG_POOLS.items():
        p = pools[name]
        assert p["nodeType"] == "external"
        # Scaleway changes `size` as nodes join and leave (delete_node lowers it by one): ignored in diffs.
        assert (p["size"], p["minSize"], p["maxSize"], p["autoscaling"]) == (count, 0, 2 * count, False)
        assert p["autohealing"] is False
        assert p["waitForPoolReady"] is False  # nodes join after the pool exists: waiting would deadlock
    external = [r for r in stack_run("blog").by_type(POOL) if r.inputs["nodeType"] == "external"]
    assert external and all(r.ignore_changes == ["size"] for r in external)
    assert all(r.ignore_changes == [] for r in stack_run("blog").by_type(POOL) if r.inputs["nodeType"] != "external")


def test_no_join_key_and_no_iam_application(any_stack_run):
    # kosmos registers every node itself with the operator's credentials: no IAM application, policy or API key.
    assert not [r for r in any_stack_run.custom() if r.type in (APP, POLICY, APIKEY)]


@pytest.mark.parametrize("stack", ["blog", "baremetal"])
def test_every_machine_gets_only_its_own_node_credentials_as_a_secret(stack_run, stack):
    run = stack_run(stack)
    machines = [r for r in run.custom() if r.type in MACHINE_TYPES]
    assert len(machines) == len(run.by_type(IDENTITY)) > 0
    secrets = {i.name: node_secret(i.name) for i in run.by_type(IDENTITY)}
    for machine in machines:
        field = USERDATA_INPUT[machine.type]
        assert field in machine.secret_paths, machine.name
        assert machine.inputs[field] == "[secret]"
        own = identity_of(run, machine)
        carried = [name for name, secret in secrets.items() if secret in machine.raw_inputs[field]]
        assert carried == [own.name], machine.name
        assert REDACTED_SECRET not in machine.raw_inputs[field]
        # The identity is made first: the userdata input itself depends on it.
        assert own.urn in machine.property_dependencies[field], machine.name
        for identity in run.by_type(IDENTITY):  # credentials reach the provider through configure(), never inputs
            assert not {"access_key", "secret_key"} & set(identity.inputs)


def _pool_of(machine_name: str) -> str:
    return machine_name.removeprefix("kosmos-").rsplit("-nodes-", 1)[0]


@pytest.mark.parametrize("stack", ["blog", "baremetal"])
def test_boot_time_machines_are_replaced_exactly_when_their_node_identity_is(stack_run, stack):
    # Civo/Equinix/Elastic Metal run userdata only at first boot: a new template needs a new machine, with a new
    # node. The identity's generation covers the redacted hash (and the cloud's force-new inputs), the identity is
    # replaced when it changes, and the machine's replacement_trigger is the identity's node id. The raw userdata is
    # ignored in diffs: only the identity decides.
    run = stack_run(stack)
    boot_time = [r for r in run.custom() if r.type in (INSTANCE, DEVICE, EM_SERVER)]
    assert boot_time
    for machine in boot_time:
        assert machine.ignore_changes == [USERDATA_INPUT[machine.type]], machine.name
        identity = identity_of(run, machine)
        assert machine.replacement_trigger == identity.state["node_id"], machine.name
        assert machine.replacement_trigger == fake_uuid("node", identity.name)
        # Elastic Metal reinstalls in place on an `os` change (see test_diff): kosmos replaces the server instead.
        assert machine.replace_on_changes == (["os"] if machine.type == EM_SERVER else [])
    hashes = {pool: u["sha256"] for pool, u in run.export_value("userdata").items()}
    for cmd in run.by_type(COMMAND):  # on-prem keeps the host: a new rendering is an in-place update
        assert cmd.ignore_changes == [] and cmd.replacement_trigger is None
        assert hashes["home"] in cmd.raw_inputs["create"] and hashes["home"] in cmd.raw_inputs["update"]


def test_a_template_change_is_a_new_generation_of_every_boot_time_identity_but_not_on_prem():
    # The identity's provider replaces on a new generation (components/identity.py IDENTITY_FIELDS), and with it
    # the machine (replacement_trigger). An on-prem host keeps its node across renderings: it re-joins in place.
    raw = stack_config("blog")
    raw["kosmos:join"] = {"minMemoryMiB": 4096}
    changed = run_config(raw, stack="blog", raise_errors=True)
    base = run_program("blog")
    before = {r.name: r.inputs["generation"] for r in base.by_type(IDENTITY)}
    after = {r.name: r.inputs["generation"] for r in changed.by_type(IDENTITY)}
    assert set(before) == set(after)
    assert [n for n in before if before[n] == after[n]] == ["kosmos-home-nodes-mac-vm-identity"]


def test_blog_civo_firewalls_close_ssh_unless_listed(stack_run):
    run = stack_run("blog")
    lon = one(run, FIREWALL, "kosmos-civo-lon1-nodes-firewall").inputs
    nyc = one(run, FIREWALL, "kosmos-civo-nyc1-nodes-firewall").inputs
    for fw in (lon, nyc):
        assert fw["createDefaultRules"] is False
        assert {"label": "kilo-wireguard", "protocol": "udp", "portRange": "51820", "cidrs": ["0.0.0.0/0"],
                "action": "allow"} in fw["ingressRules"]
    assert [r for r in nyc["ingressRules"] if r["portRange"] == "22"] == []
    [ssh] = [r for r in lon["ingressRules"] if r["portRange"] == "22"]
    assert ssh["cidrs"] == ["203.0.113.10/32"]
    for inst in run.by_type(INSTANCE):
        fw = lon if "lon1" in inst.name else nyc
        assert inst.inputs["region"] == fw["region"]
        assert inst.inputs["size"] == "g3.medium"


def test_blog_equinix_devices(stack_run):
    run = stack_run("blog")
    x86 = one(run, DEVICE, "kosmos-metal-x86-nodes-0").inputs
    arm = one(run, DEVICE, "kosmos-metal-arm-nodes-0").inputs
    assert (x86["plan"], arm["plan"]) == ("c3.small.x86", "c3.large.arm64")
    for d in (x86, arm):
        assert (d["metro"], d["operatingSystem"], d["billingCycle"]) == ("da", "ubuntu_22_04", "hourly")
        assert d["projectId"] == "6f1c4b1e-3c2a-4d5e-9f60-7a8b9c0d1e2f"
        assert d["userData"].startswith("[secret") and d["userData"] == "[secret]"
    raw = one(run, DEVICE, "kosmos-metal-arm-nodes-0").raw_inputs["userData"]
    assert raw.startswith("#cloud-config\n")  # one template family, cloud-init form for cloud-init clouds


def test_blog_warns_loudly_about_equinix_metal(stack_run):
    warnings = [w for w in stack_run("blog").warnings if "Equinix Metal was shut down on 2026-06-30" in w]
    assert len(warnings) == 2  # one per equinix-metal pool
    assert not [w for w in stack_run("baremetal").warnings if "Equinix" in w]


def test_blog_onprem_secret_travels_only_on_stdin(stack_run):
    run = stack_run("blog")
    cmd = one(run, COMMAND, "kosmos-home-nodes-mac-vm")
    assert "stdin" in cmd.secret_paths
    secret = node_secret("kosmos-home-nodes-mac-vm-identity")
    assert secret in cmd.raw_inputs["stdin"]
    assert "environment" not in cmd.inputs  # AcceptEnv would silently drop it
    for field in ("create", "update", "delete"):
        text = cmd.raw_inputs[field]
        assert secret not in text and "offline-plan" not in text, field
    assert cmd.raw_inputs["create"].startswith("sudo -n bash -s -- userdata-sha256=")
    assert cmd.raw_inputs["update"].startswith("sudo -n env KOSMOS_JOIN_FORCE=1 bash -s -- userdata-sha256=")
    assert "kosmos leave" in cmd.raw_inputs["delete"]
    conn = cmd.raw_inputs["connection"]
    assert (conn["host"], conn["user"], conn["port"]) == ("192.168.64.5", "ubuntu", 22)
    assert conn["privateKey"] == "[secret:offline-plan:kosmos:sshPrivateKey]"
    assert "connection" in cmd.secret_paths


def test_blog_labels_per_node(stack_run):
    run = stack_run("blog")
    expected = {
        "kosmos-civo-lon1-0-labels": {"team": "web", "cloud": "civo", "cloud-region": "LON1"},
        "kosmos-civo-lon1-1-labels": {"team": "web", "cloud": "civo", "cloud-region": "LON1"},
        "kosmos-civo-nyc1-0-labels": {"cloud": "civo", "cloud-region": "NYC1"},
        "kosmos-metal-x86-0-labels": {"cloud": "equinix-metal", "cloud-region": "da"},
        "kosmos-metal-arm-0-labels": {"workload": "arm", "cloud": "equinix-metal", "cloud-region": "da"},
        "kosmos-home-mac-vm-labels": {"cloud": "on-prem", "cloud-region": "home"},
    }
    patches = {r.name: r for r in run.by_type(PATCH)}
    assert {n: p.inputs["metadata"]["labels"] for n, p in patches.items()} == expected
    provider = one(run, K8S_PROVIDER, "kosmos-cluster-provider")
    for patch in patches.values():
        assert patch.provider.startswith(provider.urn + "::")
        assert "topology.kubernetes.io/region" not in patch.inputs["metadata"]["labels"]
    # The patch targets the machine's node: Scaleway's node name, not the machine's hostname.
    home = one(run, IDENTITY, "kosmos-home-nodes-mac-vm-identity")
    assert patches["kosmos-home-mac-vm-labels"].inputs["metadata"]["name"] == home.state["node_name"]
    assert home.state["node_name"].startswith("scw-kosmos-home-")
    pools = {r.inputs["name"]: r.inputs["labels"] for r in run.by_type(POOL)}
    assert pools["civo-lon1"] == expected["kosmos-civo-lon1-0-labels"]
    assert pools["par"]["cloud"] == "scaleway"


def _node_key(name: str) -> str:
    """kosmos-<pool>-nodes-<key>[-identity] / kosmos-<pool>-<key>-labels -> <pool>-<key>"""
    return name.removeprefix("kosmos-").replace("-nodes-", "-").removesuffix("-identity").removesuffix("-labels")


@pytest.mark.parametrize("stack", ["blog", "baremetal"])
def test_each_pool_waits_once_for_all_its_machines_and_each_patch_follows_the_wait(stack_run, stack):
    # Destroy order depends on these edges: the readiness (drain, delete, wait until gone) before every machine of
    # its pool; each machine before its identity; each label patch after the pool's readiness.
    run = stack_run(stack)
    machines = {_node_key(r.name): r for r in run.custom() if r.type in MACHINE_TYPES}
    identities = {_node_key(r.name): r for r in run.by_type(IDENTITY)}
    patches = {_node_key(r.name): r for r in run.by_type(PATCH)}
    assert machines and set(identities) == set(machines) == set(patches)
    for readiness in run.by_type(READINESS):
        pool = readiness.name.removeprefix("kosmos-").removesuffix("-readiness")
        members = {k: m for k, m in machines.items() if _pool_of(m.name) == pool}
        assert members and {m.urn for m in members.values()} <= set(readiness.dependencies), pool
        # Members are keyed by node id, read from the identities' outputs: never an IP.
        raw = sorted(readiness.raw_inputs["members"], key=lambda m: m["machine"])
        assert raw == sorted(({"machine": identities[k].inputs["machine"], "node_id": identities[k].state["node_id"],
                               "node_name": identities[k].state["node_name"]} for k in members),
                             key=lambda m: m["machine"])
        assert not {"match_ip", "access_key", "secret_key"} & set(readiness.inputs)
        assert (readiness.inputs["wait"], readiness.inputs["timeout_seconds"], readiness.inputs["skip_drain"]) == (
            True, 900, False)
        for key in members:
            assert readiness.urn in patches[key].dependencies, patches[key].name
            assert identities[key].urn in machines[key].dependencies


def test_blog_no_dependency_between_two_machines(stack_run):
    # Machines and their identities never wait for another machine (label patches wait for the pool's readiness).
    run = stack_run("blog")
    graph = custom_dependencies(run)
    per_node = {}
    for reg in run.custom():
        if reg.type in MACHINE_TYPES + (IDENTITY,):
            per_node.setdefault(_node_key(reg.name), set()).add(reg.urn)
    assert len(per_node) == sum(BLOG_POOLS.values())
    for node, urns in per_node.items():
        others = set().union(*(u for n, u in per_node.items() if n != node))
        for urn in urns:
            assert not (reachable(graph, urn) & others), node


def test_blog_node_summary_export(stack_run):
    run = stack_run("blog")
    by_pool = run.export_value("nodes")
    assert list(by_pool) == ["civo-lon1", "civo-nyc1", "metal-x86", "metal-arm", "home"]
    assert [(name, p["cloud"], p["region"]) for name, p in by_pool.items()] == [
        ("civo-lon1", "civo", "LON1"),
        ("civo-nyc1", "civo", "NYC1"),
        ("metal-x86", "equinix-metal", "da"),
        ("metal-arm", "equinix-metal", "da"),
        ("home", "on-prem", "home"),
    ]
    assert [(name, m["machine"], m["arch"]) for name, p in by_pool.items() for m in p["machines"]] == [
        ("civo-lon1", "civo-lon1-0", "amd64"),
        ("civo-lon1", "civo-lon1-1", "amd64"),
        ("civo-nyc1", "civo-nyc1-0", "amd64"),
        ("metal-x86", "metal-x86-0", "amd64"),
        ("metal-arm", "metal-arm-0", "arm64"),
        ("home", "mac-vm", "arm64"),
    ]
    userdata = run.export_value("userdata")
    instances = {r.name: r for r in run.by_type(INSTANCE)}
    for name, pool in by_pool.items():
        assert pool["userdataSha256"] == userdata[name]["sha256"]
        assert REDACTED_SECRET in userdata[name]["redacted"]
        # The labels the pool's nodes get (what the label patches write).
        patch = one(run, PATCH, f"kosmos-{name}-{0 if name != 'home' else 'mac-vm'}-labels")
        assert pool["labels"] == patch.inputs["metadata"]["labels"]
    lon0 = by_pool["civo-lon1"]["machines"][0]
    inst = instances["kosmos-civo-lon1-nodes-0"]
    # The id the mock engine gave the instance (tools/engine.py: fake_uuid(type, name)), and what it reported.
    assert (lon0["machineId"], lon0["publicIp"], lon0["hostname"]) == (
        fake_uuid(INSTANCE, "kosmos-civo-lon1-nodes-0"), inst.state["publicIp"], inst.inputs["hostname"]
    )
    # Each machine's node, from its identity (make status reads these).
    identity = one(run, IDENTITY, "kosmos-civo-lon1-nodes-0-identity")
    assert (lon0["nodeId"], lon0["nodeName"]) == (identity.state["node_id"], identity.state["node_name"])
    assert lon0["nodeName"].startswith("scw-kosmos-civo-lon1-")


def test_wait_false_keeps_cleanup_but_drops_the_wait_and_the_label_patch():
    raw = stack_config("blog")
    raw["kosmos:externalPools"][0]["registration"] = {"wait": False, "skipDrain": True, "timeoutMinutes": 2}
    run = run_config(raw, stack="blog", raise_errors=True)
    lon = one(run, READINESS, "kosmos-civo-lon1-readiness")
    assert (lon.inputs["wait"], lon.inputs["skip_drain"], lon.inputs["timeout_seconds"]) == (False, True, 120)
    assert len(lon.raw_inputs["members"]) == 2  # still deleted (undrained) on destroy
    assert [i.inputs["timeout_seconds"] for i in run.by_type(IDENTITY) if "civo-lon1" in i.name] == [120, 120]
    assert not [p for p in run.by_type(PATCH) if "civo-lon1" in p.name]
    assert len(run.by_type(PATCH)) == 4  # the other pools still wait and label


# --------------------------------------------------------------------------------------------------------------
# baremetal: the Equinix -> Elastic Metal swap
# --------------------------------------------------------------------------------------------------------------


def test_baremetal_elastic_metal_servers(stack_run):
    run = stack_run("baremetal")
    assert run.by_type(DEVICE) == []
    servers = {r.name: r for r in run.by_type(EM_SERVER)}
    assert sorted(servers) == ["kosmos-em-arm-nodes-0", "kosmos-em-x86-nodes-0"]
    for name, server in servers.items():
        assert server.inputs["zone"] == "fr-par-2"
        assert server.ignore_changes == ["cloudInit"] and server.replacement_trigger
        assert "cloudInit" in server.secret_paths
        assert server.raw_inputs["cloudInit"].startswith("#cloud-config\n")
        assert node_secret(f"{name}-identity") in server.raw_inputs["cloudInit"]
        assert "/etc/scw-k8s-userdata" in server.raw_inputs["cloudInit"]
    # Offer and OS names resolved through the provider's lookups (mock ids derived from the names).
    assert servers["kosmos-em-x86-nodes-0"].inputs["offer"] == f"fr-par-2/{fake_uuid('offer', 'EM-A115X-SSD')}"
    assert servers["kosmos-em-arm-nodes-0"].inputs["os"] == fake_uuid("os", "Ubuntu", "22.04 LTS (Jammy Jellyfish)")
    labels = {r.name: r.inputs["metadata"]["labels"] for r in run.by_type(PATCH)}
    assert labels["kosmos-em-arm-0-labels"] == {
        "workload": "arm", "cloud": "scaleway-elastic-metal", "cloud-region": "fr-par-2"
    }
    nodes = {n["machine"]: n for n in node_rows(run)}
    assert nodes["em-arm-0"]["arch"] == "arm64"
    assert nodes["em-x86-0"]["onUserdataChange"].startswith("replaces the server")


def test_baremetal_keeps_the_rest_of_the_seed(stack_run):
    blog, bare = stack_run("blog"), stack_run("baremetal")
    keep = (CLUSTER, INSTANCE, FIREWALL, COMMAND)
    for type_ in keep:
        assert names(blog, type_) == names(bare, type_), type_


# --------------------------------------------------------------------------------------------------------------
# Composition from another program
# --------------------------------------------------------------------------------------------------------------


def test_multicloud_cluster_composes_from_a_plain_mapping_in_another_program():
    run = run_program("lab", config={}, secret_keys=[], program=REPO / "tests" / "programs" / "compose_mapping.py")
    types = sorted((r.type, r.name) for r in run.custom())
    assert (CLUSTER, "lab-cluster-k8s") in types
    assert (POOL, "lab-gpu-pool") in types
    assert (INSTANCE, "lab-edge-nodes-0") in types
    assert run.export_value("clusterName") == "lab"
    cluster = one(run, CLUSTER, "lab-cluster-k8s").inputs
    assert (cluster["region"], cluster["version"]) == ("nl-ams", "1.36.1")


def test_the_pool_readiness_depends_on_machines_that_report_nothing_explicitly():
    run = run_program("lab", config={}, secret_keys=[], program=REPO / "tests" / "programs" / "silent_machines.py")
    command = one(run, COMMAND, "lab-rack-nodes-h1")
    readiness = one(run, READINESS, "lab-rack-readiness")
    # No input of the readiness is an output of the command: only depends_on carries the edge.
    assert not any(command.urn in urns for urns in readiness.property_dependencies.values())
    assert command.urn in readiness.dependencies


def test_a_bad_mapping_in_another_program_fails_before_registering_anything():
    run = run_program(
        "lab", config={"lab:bad": "true"}, secret_keys=[],
        program=REPO / "tests" / "programs" / "compose_mapping.py", raise_errors=False,
    )
    assert run.error is not None
    assert "kosmos:scalewayPools[0].zone" in str(run.error)
    assert run.registrations == []


@pytest.mark.parametrize("stack", STACKS)
def test_each_stack_file_runs(stack):
    # Fresh run (not the cached one): a separate event loop each time must give the same resources.
    again = run_program(stack)
    assert len(again.custom()) > 0


def test_boot_time_machines_get_a_fresh_hostname_per_generation(stack_run):
    # create-before-delete means old and new machine exist together for a while: the hostname carries a fingerprint
    # of everything that replaces the machine. Node names are Scaleway's and never the hostname.
    run = stack_run("blog")
    inst = one(run, INSTANCE, "kosmos-civo-lon1-nodes-0").inputs
    assert re.fullmatch(r"civo-lon1-0-[0-9a-f]{6}", inst["hostname"])
    patch = one(run, PATCH, "kosmos-civo-lon1-0-labels").inputs
    assert patch["metadata"]["name"] != inst["hostname"]
    dev = one(run, DEVICE, "kosmos-metal-arm-nodes-0").inputs
    assert re.fullmatch(r"metal-arm-0-[0-9a-f]{6}", dev["hostname"])
    nodes = {n["machine"]: n for n in node_rows(run)}
    assert nodes["civo-lon1-0"]["hostname"] == inst["hostname"]
    assert nodes["mac-vm"]["hostname"] == "mac-vm"  # on-prem hosts keep their own name

    raw = stack_config("blog")
    raw["kosmos:join"] = {"minMemoryMiB": 4096}  # a template change: new generation, new hostname
    changed = run_config(raw, stack="blog", raise_errors=True)
    assert one(changed, INSTANCE, "kosmos-civo-lon1-nodes-0").inputs["hostname"] != inst["hostname"]
    raw = stack_config("blog")
    raw["kosmos:externalPools"][0]["labels"] = {"team": "api"}  # labels do not replace machines
    relabelled = run_config(raw, stack="blog", raise_errors=True)
    assert one(relabelled, INSTANCE, "kosmos-civo-lon1-nodes-0").inputs["hostname"] == inst["hostname"]


def test_scaleway_api_url_reaches_the_agent_and_the_registrations_and_join_api_url_overrides_it(stack_run):
    raw = stack_config("blog")
    raw["scaleway:apiUrl"] = "https://api.example.test"
    run = run_config(raw, stack="blog", raise_errors=True)
    redacted = run.exports["userdata"].value["civo-lon1"]["redacted"]
    assert "API_URL=https://api.example.test\n" in redacted  # k8s-agent's SCW_API_URL
    dynamic = run.by_type(IDENTITY) + run.by_type(READINESS)
    assert dynamic and all(r.inputs["api_url"] == "https://api.example.test" for r in dynamic)
    raw["kosmos:join"] = {"apiUrl": "https://agents.example.test"}
    run = run_config(raw, stack="blog", raise_errors=True)
    assert "API_URL=https://agents.example.test\n" in run.exports["userdata"].value["civo-lon1"]["redacted"]
    assert "API_URL=''\n" in stack_run("blog").exports["userdata"].value["civo-lon1"]["redacted"]  # agent default


def test_pool_taints_go_to_the_scaleway_pool_and_never_into_the_node_patch():
    # Node.spec.taints is `+listType=atomic` (kubernetes/api core/v1/types.go): an applied list would conflict with
    # the node controller's taints, or, forced, strip them. The agent gets the pool's taints as node_taints
    # (scaleway/k8s-agent metadata.go).
    raw = stack_config("blog")
    taint = {"key": "dedicated", "value": "web", "effect": "NoSchedule"}
    raw["kosmos:externalPools"][0]["taints"] = [taint]
    run = run_config(raw, stack="blog", raise_errors=True)
    pools = {r.inputs["name"]: r.inputs for r in run.by_type(POOL)}
    assert pools["civo-lon1"]["taints"] == [taint]
    patches = run.by_type(PATCH)
    assert {p.name for p in patches} >= {"kosmos-civo-lon1-0-labels", "kosmos-civo-lon1-1-labels"}
    for patch in patches:
        assert "spec" not in patch.inputs, patch.name
        assert patch.inputs["metadata"]["labels"]
