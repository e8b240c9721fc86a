"""ExternalPool: a Kosmos pool whose machines live on another cloud (or on-prem).

Declares the Scaleway `external` pool, waits until it runs the declared Kubernetes version (PoolVersion), renders the
join userdata once for the pool, lets the cloud module make the machines (each after its own NodeIdentity: a node
registered by kosmos, whose credentials only that machine gets, taken from the pool once it runs the version),
then one PoolNodes for the pool (wait for every node Ready on create; drain and delete nodes that left, or all on
destroy) and per machine a server-side-apply NodePatch that puts the pool's labels on the Node object (labels only:
see the patch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_scaleway.kubernetes as scw_k8s

from . import catalog
from .clouds import MACHINE_SETS, MachineSet, MachineSetArgs
from .pool_nodes import PoolNodes, PoolNodesArgs
from .pool_version import PoolVersion, PoolVersionArgs
from .scaleway_pool import taint_args
from .spec import ExternalPoolSpec
from .spec import JoinSpec
from .userdata import render_output


@dataclass
class ExternalPoolArgs:
    spec: ExternalPoolSpec
    """The validated pool (CivoPoolSpec, EquinixMetalPoolSpec, ElasticMetalPoolSpec or OnPremPoolSpec)."""
    cluster_id: pulumi.Input[str]
    region: str
    """The cluster's region: the pool lives there, and it is the node-agent's POOL_REGION."""
    k8s_provider: Optional[k8s.Provider] = None
    """Kubernetes provider of the cluster; label patches need it."""
    join: JoinSpec = JoinSpec()
    join_depends_on: tuple = ()
    """Extra resources machines wait for before booting."""
    equinix_project_id: Optional[str] = None
    ssh_private_key: Optional[pulumi.Input[str]] = None
    kubernetes_version: str = ""
    """kosmos:cluster.version, rendered into the join: a version change rolls the pool's machines (README,
    Upgrading)."""
    scaleway_api_url: Optional[str] = None
    """`scaleway:apiUrl`: the node identities' and PoolNodes' API calls and the agent's SCW_API_URL (unless
    kosmos:join.apiUrl). Their credentials come from the stack config through the providers' configure(), never
    inputs."""


def external_pool_max_size(machine_count: int) -> int:
    """max_size of an external pool: room for every machine and its create-before-delete replacement."""
    return max(1, 2 * machine_count)


class ExternalPool(pulumi.ComponentResource):
    pool: scw_k8s.Pool
    pool_id: pulumi.Output[str]
    machine_set: MachineSet
    readiness: PoolNodes
    label_patches: list[k8s.core.v1.NodePatch]

    def __init__(self, name: str, args: ExternalPoolArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kosmos:index:ExternalPool", name, None, opts)
        spec = args.spec
        count = spec.machine_count
        labels = spec.node_labels()
        self.pool = scw_k8s.Pool(
            f"{name}-pool",
            cluster_id=args.cluster_id,
            name=spec.name,
            region=args.region,
            node_type=catalog.EXTERNAL_NODE_TYPE,
            # The machines decide the node count, not Scaleway: every node registration adds a node and every
            # delete lowers `size` by one (SDK K8SV1API.delete_node). `size` starts at the machine count (>= 1: a
            # non-dedicated cluster refuses pools of size 0 unless another pool has a node, terraform-provider-scaleway
            # pool.go validatePoolSize) and is then Scaleway's to change, so it is ignored in diffs below.
            # min 0 lets deletes lower it to nothing; max leaves room for a create-before-delete replacement of
            # every machine (max_size >= 1, validatePoolSize). No autoscaling or autohealing: Scaleway neither buys
            # nor reboots machines it does not own.
            size=count,
            min_size=0,
            max_size=external_pool_max_size(count),
            autoscaling=False,
            autohealing=False,
            # The nodes join only after this pool exists: waiting for "ready" here would deadlock the update.
            wait_for_pool_ready=False,
            labels=labels,
            taints=taint_args(spec.taints),
            tags=list(spec.tags) + ["kosmos", f"cloud-{spec.provider}"],
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["size"]),
        )
        self.pool_id = self.pool.id
        # Identities (so machines and on-prem re-joins) take the pool id from PoolVersion: none registers before the
        # pool runs the declared version, which a join checks (templates/join). On creation it answers at once; on
        # a version move it waits for Scaleway's pool upgrade (pool_version.py). The rendering keeps the pool's own
        # id, so a preview's userdata diff stays known.
        self.pool_version = None
        member_pool_id = None
        if args.kubernetes_version:
            self.pool_version = PoolVersion(
                f"{name}-version",
                PoolVersionArgs(pool_id=self.pool.id, pool_name=spec.name, region=args.region,
                                kubernetes_version=args.kubernetes_version,
                                timeout_seconds=spec.registration.timeout_minutes * 60,
                                api_url=args.scaleway_api_url),
                opts=pulumi.ResourceOptions(parent=self),
            )
            member_pool_id = self.pool_version.pool_id
        machine_set_type = MACHINE_SETS[spec.provider]
        self.userdata = render_output(
            self.pool.id,
            region=args.region,
            variant=machine_set_type.USERDATA_VARIANT,
            agent_version=args.join.agent_version,
            agent_base_url=args.join.agent_base_url,
            agent_sha256=args.join.agent_sha256,
            api_url=args.join.api_url or args.scaleway_api_url,
            allowed_os=args.join.allowed_os,
            min_memory_mib=args.join.min_memory_mib,
            kubernetes_version=args.kubernetes_version,
        )
        self.machine_set = machine_set_type(
            f"{name}-nodes",
            MachineSetArgs(
                pool=spec,
                userdata=self.userdata,
                pool_id=self.pool.id,
                registration_pool_id=member_pool_id,
                region=args.region,
                depends_on=tuple(args.join_depends_on),
                equinix_project_id=args.equinix_project_id,
                ssh_private_key=args.ssh_private_key,
                scaleway_api_url=args.scaleway_api_url,
                cluster_id=args.cluster_id,
                kubernetes_version=args.kubernetes_version,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.label_patches = []
        reg = spec.registration
        machines = self.machine_set.machines
        # One readiness resource for the whole pool, after all its machines (pool_nodes.py: the dynamic provider host
        # runs 4 calls at once, so one blocking call per machine would not scale). depends_on the machines: on
        # destroy its delete (drain, delete, wait until gone) runs before any machine goes.
        self.readiness = PoolNodes(
            f"{name}-readiness",
            PoolNodesArgs(
                cluster_id=args.cluster_id,
                region=args.region,
                pool_id=self.pool.id,
                pool_name=spec.name,
                members=[{"machine": m.name, "node_id": m.identity.node_id, "node_name": m.identity.node_name}
                         for m in machines],
                wait=reg.wait,
                timeout_seconds=reg.timeout_minutes * 60,
                skip_drain=reg.skip_drain,
                api_url=args.scaleway_api_url,
                kubernetes_version=args.kubernetes_version,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[m.resource for m in machines]),
        )
        for machine in machines:
            if reg.wait and args.k8s_provider is not None:
                # Whether Scaleway reconciles pool labels onto external nodes is unconfirmed: put them there.
                # Plain mappings rather than ObjectMetaPatchArgs: the SDK would serialise every declared field of
                # the Args class (about fifteen, all unset) for every node.
                # Labels only, never taints. Node.spec.taints is `+listType=atomic` (kubernetes/api core/v1/types.go),
                # so an applied list owns the whole list: it conflicts with the manager that set the node's taints
                # (kubelet, the node lifecycle controller's not-ready/unreachable), and forced (pulumi-kubernetes
                # await.go patchForce: the pulumi.com/patchForce annotation or enablePatchForce) it would strip
                # theirs. The pool's taints reach the node through the Scaleway pool (`taints` above): the agent gets
                # them as NodeMetadata.node_taints (scaleway/k8s-agent metadata.go) for its kubelet templates.
                self.label_patches.append(
                    k8s.core.v1.NodePatch(
                        f"{name}-{machine.key}-labels",
                        metadata={"name": machine.identity.node_name, "labels": labels},
                        # Applied once the pool's nodes are Ready (the Node object exists only then).
                        opts=pulumi.ResourceOptions(parent=self, provider=args.k8s_provider,
                                                    depends_on=[self.readiness]),
                    )
                )
        self.nodes = self.machine_set.summary
        """Pool facts and per-node summary (MulticloudCluster.nodes; the program exports it as `nodes`)."""
        self.register_outputs(
            {
                "pool_id": self.pool_id,
                "userdata_redacted": self.userdata.redacted,
                "userdata_sha256": self.userdata.sha256,
                "node_names": [m.identity.node_name for m in machines],
            }
        )
