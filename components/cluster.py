"""KosmosCluster: the Scaleway multicloud control plane and a Kubernetes provider for talking to it."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumiverse_scaleway.kubernetes as scw_k8s

from .spec import ClusterSpec


class KosmosCluster(pulumi.ComponentResource):
    cluster: scw_k8s.Cluster
    cluster_id: pulumi.Output[str]
    apiserver_url: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    """Admin kubeconfig: secret."""
    project_id: pulumi.Output[str]
    provider: k8s.Provider
    """pulumi-kubernetes provider bound to this cluster (label patches go through it)."""

    def __init__(self, name: str, spec: ClusterSpec, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kosmos:index:KosmosCluster", name, None, opts)
        auto_upgrade = None
        if spec.auto_upgrade is not None:
            auto_upgrade = scw_k8s.ClusterAutoUpgradeArgs(
                enable=spec.auto_upgrade.enabled,
                maintenance_window_day=spec.auto_upgrade.maintenance_window.day,
                maintenance_window_start_hour=spec.auto_upgrade.maintenance_window.start_hour,
            )
        self.cluster = scw_k8s.Cluster(
            f"{name}-k8s",
            name=spec.name,
            region=spec.region,
            version=spec.version,
            type=spec.type,
            cni=spec.cni,
            auto_upgrade=auto_upgrade,
            tags=list(spec.tags) + ["kosmos"],
            delete_additional_resources=spec.delete_additional_resources,
            opts=pulumi.ResourceOptions(parent=self, protect=spec.protect, additional_secret_outputs=["kubeconfigs"]),
        )
        self.cluster_id = self.cluster.id
        self.apiserver_url = self.cluster.apiserver_url
        self.project_id = self.cluster.project_id
        self.kubeconfig = pulumi.Output.secret(self.cluster.kubeconfigs.apply(lambda kcs: kcs[0].config_file))
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "cluster_id": self.cluster_id,
                "apiserver_url": self.apiserver_url,
                "kubeconfig": self.kubeconfig,
                "project_id": self.project_id,
            }
        )
