"""ScalewayPool: a Kosmos pool of Scaleway Instances, in any Kubernetes zone."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumiverse_scaleway.kubernetes as scw_k8s

from . import catalog
from .spec import ScalewayPoolSpec, Taint


def taint_args(taints: tuple[Taint, ...]) -> list[scw_k8s.PoolTaintArgs]:
    return [scw_k8s.PoolTaintArgs(key=t.key, value=t.value, effect=t.effect) for t in taints]


class ScalewayPool(pulumi.ComponentResource):
    pool: scw_k8s.Pool
    pool_id: pulumi.Output[str]
    labels: dict[str, str]

    def __init__(
        self,
        name: str,
        spec: ScalewayPoolSpec,
        *,
        cluster_id: pulumi.Input[str],
        region: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("kosmos:index:ScalewayPool", name, None, opts)
        zone_region = spec.zone.rsplit("-", 1)[0]
        # Scaleway reconciles pool labels onto its own nodes; `cloud` keeps every node of the cluster queryable alike.
        self.labels = {**spec.labels, catalog.CLOUD_LABEL: "scaleway", catalog.CLOUD_REGION_LABEL: zone_region}
        self.pool = scw_k8s.Pool(
            f"{name}-pool",
            cluster_id=cluster_id,
            name=spec.name,
            region=region,  # a pool lives in its cluster's region ...
            zone=spec.zone,  # ... and runs its nodes in this zone, which may be in another region
            node_type=spec.node_type,
            size=spec.size,
            min_size=spec.min_size,
            max_size=spec.max_size,
            autoscaling=spec.autoscale,
            labels=self.labels,
            taints=taint_args(spec.taints),
            tags=list(spec.tags) + ["kosmos"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.pool_id = self.pool.id
        self.register_outputs({"pool_id": self.pool_id, "labels": self.labels, "zone": spec.zone})
