"""The benchmark's floor: registers exactly the resources the kosmos program registered (same types through the same
provider SDK classes, same count, same parent tree) with trivial inputs and no logic: the Pulumi SDK's own cost."""

import json
import os

import pulumi
import pulumi_civo as civo
import pulumi_command as command
import pulumi_equinix_metal as metal
import pulumi_kubernetes as k8s
import pulumiverse_scaleway.elasticmetal as em
import pulumiverse_scaleway.iam as iam
import pulumiverse_scaleway.kubernetes as scw_k8s


from components.identity import NodeIdentity, NodeIdentityArgs
from components.pool_nodes import PoolNodes, PoolNodesArgs
from components.pool_version import PoolVersion, PoolVersionArgs
from components.rollout import RolloutGate, RolloutGateArgs


# type token -> constructor with the fewest inputs the class accepts
FACTORIES = {
    "scaleway:kubernetes/cluster:Cluster": lambda n, o: scw_k8s.Cluster(
        n, cni="kilo", version="1.31", delete_additional_resources=False, opts=o),
    "scaleway:kubernetes/pool:Pool": lambda n, o: scw_k8s.Pool(n, cluster_id="c", node_type="t", size=1, opts=o),
    "pulumi:providers:kubernetes": lambda n, o: k8s.Provider(n, opts=o),
    "scaleway:iam/application:Application": lambda n, o: iam.Application(n, opts=o),
    "scaleway:iam/policy:Policy": lambda n, o: iam.Policy(n, rules=[], opts=o),
    "scaleway:iam/apiKey:ApiKey": lambda n, o: iam.ApiKey(n, opts=o),
    "civo:index/firewall:Firewall": lambda n, o: civo.Firewall(n, opts=o),
    "civo:index/instance:Instance": lambda n, o: civo.Instance(n, disk_image="d", firewall_id="f", opts=o),
    "equinix-metal:index/device:Device": lambda n, o: metal.Device(
        n, operating_system="o", plan="p", project_id="p", opts=o),
    "scaleway:elasticmetal/server:Server": lambda n, o: em.Server(n, offer="o", opts=o),
    "command:remote:Command": lambda n, o: command.remote.Command(n, connection={"host": "h"}, opts=o),
    # Same classes (providers serialised once per process: see components/scaleway_api.py), trivial inputs.
    "pulumi-python:dynamic/kosmos:NodeIdentity": lambda n, o: NodeIdentity(
        n, NodeIdentityArgs(region="r", pool_id="p", pool_name="p", machine=n, generation="g"), opts=o),
    "pulumi-python:dynamic/kosmos:PoolNodes": lambda n, o: PoolNodes(
        n, PoolNodesArgs(cluster_id="c", region="r", pool_id="p", pool_name="p", members=[]), opts=o),
    "pulumi-python:dynamic/kosmos:PoolVersion": lambda n, o: PoolVersion(
        n, PoolVersionArgs(pool_id="p", pool_name="p", region="r", kubernetes_version="1.36.1"), opts=o),
    "pulumi-python:dynamic/kosmos:RolloutGate": lambda n, o: RolloutGate(
        n, RolloutGateArgs(cluster_id="c", region="r", pool_name="p", generation="g", kubernetes_version="1.36.1"),
        opts=o),
    "kubernetes:core/v1:NodePatch": lambda n, o: k8s.core.v1.NodePatch(n, opts=o),
}

shape = json.loads(os.environ["KOSMOS_BENCH_FLOOR_SHAPE"])  # [[type, name, custom, parent_index], ...]
made: list = []
for type_, name, custom, parent in shape:
    opts = pulumi.ResourceOptions(parent=made[parent]) if parent >= 0 else None
    if custom:
        made.append(FACTORIES[type_](name, opts))
    else:
        made.append(pulumi.ComponentResource(type_, name, None, opts=opts))
