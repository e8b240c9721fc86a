"""MulticloudCluster: the whole Kosmos cluster from one spec."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Union

import pulumi

from .cluster import KosmosCluster
from .external_pool import ExternalPool, ExternalPoolArgs
from .join_key import JoinKey
from .scaleway_pool import ScalewayPool
from .clouds import MACHINE_SETS
from .spec import NAMESPACE, MulticloudSpec, SpecError, parse_spec


class MulticloudCluster(pulumi.ComponentResource):
    """A Kosmos control plane, its Scaleway pools and its external pools.

    `spec` is a MulticloudSpec or a plain mapping in the stack-config shape
    (`{"cluster": {...}, "scalewayPools": [...], "externalPools": [...], ...}`); a mapping is validated first, so a bad
    one raises SpecError before any resource is registered.
    """

    def __init__(
        self,
        name: str,
        spec: Union[MulticloudSpec, Mapping[str, Any]],
        opts: Optional[pulumi.ResourceOptions] = None,
        *,
        scaleway_access_key: Optional[pulumi.Input[str]] = None,
        scaleway_secret_key: Optional[pulumi.Input[str]] = None,
        scaleway_api_url: Optional[str] = None,
    ):
        spec = parse_spec(spec, stack=pulumi.get_stack()) if not isinstance(spec, MulticloudSpec) else spec
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

        self.join_key: Optional[JoinKey] = None
        self.external_pools: dict[str, ExternalPool] = {}
        if spec.external_pools:
            self.join_key = JoinKey(
                f"{name}-join",
                cluster_name=spec.cluster.name,
                project_id=self.cluster.project_id,
                expires_at=spec.join_key_expires_at,
                valid_days=spec.join_key_valid_days,
                opts=child,
            )
            ssh_key = pulumi.Output.secret(spec.ssh_private_key) if spec.ssh_private_key is not None else None
            for pool in spec.external_pools:
                self.external_pools[pool.name] = ExternalPool(
                    f"{name}-{pool.name}",
                    ExternalPoolArgs(
                        spec=pool,
                        cluster_id=self.cluster.cluster_id,
                        region=region,
                        join_secret=self.join_key.secret_key,
                        k8s_provider=self.cluster.provider,
                        join=spec.join,
                        equinix_project_id=spec.equinix_project_id,
                        ssh_private_key=ssh_key,
                        scaleway_access_key=scaleway_access_key,
                        scaleway_secret_key=scaleway_secret_key,
                        scaleway_api_url=scaleway_api_url,
                    ),
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
