"""MulticloudCluster: the whole Kosmos cluster from one spec."""

# No `from __future__ import annotations`: Pulumi's component-package analyzer reads this class's annotations
# (`args` and the outputs below) as objects.
import inspect
from typing import Optional

import pulumi

from .args import MulticloudClusterArgs, PoolNodes, PoolUserdata, to_config
from .cluster import KosmosCluster
from .external_pool import ExternalPool, ExternalPoolArgs
from .latency_probe import LatencyProbe, LatencyProbeArgs
from .scaleway_pool import ScalewayPool
from .clouds import MACHINE_SETS
from .spec import NAMESPACE, MulticloudSpec, SpecError, parse_spec


class MulticloudCluster(pulumi.ComponentResource):
    """A Scaleway Kosmos multicloud Kubernetes cluster: the control plane, its Scaleway pools and its external pools
    (Civo, Scaleway Elastic Metal, on-prem), each machine joined with rendered userdata and waited for until its
    node is Ready.

    The inputs are the `kosmos:*` stack-config keys. They are validated before any resource is registered, and every
    problem is reported at once with its key path.
    """

    # Outputs (also the component package's outputs, read by the analyzer).
    cluster_id: pulumi.Output[str]
    """Kosmos cluster id (`<region>/<uuid>`)."""
    apiserver_url: pulumi.Output[str]
    """URL of the Kubernetes API server."""
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig (secret)."""
    pool_ids: pulumi.Output[dict[str, str]]
    """Scaleway pool id of every pool, by pool name."""
    nodes: pulumi.Output[dict[str, PoolNodes]]
    """Every external pool's facts and machines, by pool name."""
    userdata: pulumi.Output[dict[str, PoolUserdata]]
    """Every external pool's redacted join userdata and its sha256, by pool name."""

    # What a host constructing this component for programs in other languages supplies for `scaleway_api_url`,
    # which the package schema does not take (provider/__main__.py: the calling stack's `scaleway:apiUrl`). The
    # component itself reads no config. Not annotated: the schema analyzer would take it for an output.
    host_scaleway_api_url = None

    def __init__(
        self,
        name: str,
        # Typed for the component package's schema; a MulticloudSpec or any stack-shaped mapping is accepted too.
        args: MulticloudClusterArgs,
        opts: Optional[pulumi.ResourceOptions] = None,
        *,
        scaleway_api_url: Optional[str] = None,
    ):
        """`args` is a mapping in the stack-config shape (`{"cluster": {...}, "scalewayPools": [...],
        "externalPools": [...], ...}`, see MulticloudClusterArgs) or an already validated MulticloudSpec. A mapping is
        validated first (with the per-cloud preflight look-ups), so a bad one raises SpecError before any resource is
        registered. `scaleway_api_url` is the Scaleway API the node identities, the readiness and the agent use
        (`scaleway:apiUrl`).
        """
        if scaleway_api_url is None and MulticloudCluster.host_scaleway_api_url is not None:
            scaleway_api_url = MulticloudCluster.host_scaleway_api_url()
        spec = args if isinstance(args, MulticloudSpec) else parse_spec(to_config(args), stack=pulumi.get_stack())
        preflight = [
            problem
            for i, pool in enumerate(spec.external_pools)
            for problem in MACHINE_SETS[pool.provider].preflight(pool, f"{NAMESPACE}:externalPools[{i}]")
        ]
        if preflight:  # still nothing registered
            raise SpecError(preflight)
        super().__init__("kosmos:index:MulticloudCluster", name, None, opts)
        self.spec = spec
        for warning in spec.warnings():
            pulumi.log.warn(warning, resource=self)
        child = pulumi.ResourceOptions(parent=self)
        region = spec.cluster.region

        self.cluster = KosmosCluster(f"{name}-cluster", spec.cluster, opts=child)
        self.scaleway_pools = {
            pool.name: ScalewayPool(
                f"{name}-{pool.name}", pool, cluster_id=self.cluster.cluster_id, region=region, opts=child
            )
            for pool in spec.scaleway_pools
        }

        # No join key: every machine's node is registered by kosmos itself with the operator's credentials
        # (NodeIdentity), and a machine receives only its own node's credentials (README, Node identity and threat model).
        self.external_pools: dict[str, ExternalPool] = {}
        if spec.external_pools:
            ssh_key = pulumi.Output.secret(spec.ssh_private_key) if spec.ssh_private_key is not None else None
            for pool in spec.external_pools:
                self.external_pools[pool.name] = ExternalPool(
                    f"{name}-{pool.name}",
                    ExternalPoolArgs(
                        spec=pool,
                        cluster_id=self.cluster.cluster_id,
                        region=region,
                        k8s_provider=self.cluster.provider,
                        join=spec.join,
                        equinix_project_id=spec.equinix_project_id,
                        ssh_private_key=ssh_key,
                        scaleway_api_url=scaleway_api_url,
                        kubernetes_version=spec.cluster.version,
                    ),
                    opts=child,
                )

        # Opt-in (`kosmos:latencyProbe.enabled`): without it kosmos runs no workload in the cluster.
        self.latency_probe: Optional[LatencyProbe] = None
        if spec.latency_probe.enabled:
            self.latency_probe = LatencyProbe(
                f"{name}-latency",
                LatencyProbeArgs(spec=spec.latency_probe, k8s_provider=self.cluster.provider),
                opts=child,
            )

        self.cluster_id = self.cluster.cluster_id
        self.apiserver_url = self.cluster.apiserver_url
        self.kubeconfig = self.cluster.kubeconfig
        self.pool_ids = {
            **{n: p.pool_id for n, p in self.scaleway_pools.items()},
            **{n: p.pool_id for n, p in self.external_pools.items()},
        }
        # Grouped by pool, never one flat list: Output.all unions dependency sets pairwise, so a flat list of a
        # thousand Output-bearing summaries costs quadratic time (see README, Performance).
        self.nodes = {name: pool.nodes for name, pool in self.external_pools.items()}
        self.userdata = {
            n: {"redacted": p.userdata.redacted, "sha256": p.userdata.sha256} for n, p in self.external_pools.items()
        }
        # Node summaries are registered once, by each pool's machine set, and exported once by the program: not
        # copied into every ancestor's state (with a thousand nodes that was four copies and ~5% of the run time).
        self.register_outputs(
            {
                "cluster_id": self.cluster_id,
                "apiserver_url": self.apiserver_url,
                "kubeconfig": self.kubeconfig,
                "pool_ids": self.pool_ids,
                "userdata": self.userdata,
            }
        )


# The component package's description is this docstring: dedented here so it is the same on every Python (3.13
# dedents docstrings itself, 3.11 keeps the indentation).
MulticloudCluster.__doc__ = inspect.cleandoc(MulticloudCluster.__doc__ or "")
