"""LatencyProbe: one RTT probe per node, on every cloud and both architectures, for `make latency`.

Everything goes through the cluster's Kubernetes provider (KosmosCluster.provider). The probe program
(latency_probe_program.py, standard library only) is shipped in a ConfigMap and run by a stock multi-arch `python3`
image, so there is no image of ours to build or trust.
"""

from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from .spec import LatencyProbeSpec

NAMESPACE = "kosmos-latency"
NAME = "kosmos-latency-probe"
"""Name of the ServiceAccount, RBAC objects, ConfigMap, headless Service and DaemonSet (tools/latency.py uses it)."""
PORT = 9100
SELECTOR = {"app.kubernetes.io/name": NAME}
PROGRAM = pathlib.Path(__file__).with_name("latency_probe_program.py")
# Kubernetes' own doc of the field (kubernetes-client/python, client/models/v1_toleration.py): "If the key is empty,
# operator must be Exists; this combination means to match all values and all keys." With no effect it matches
# every effect too: the probe runs on every node, whatever taints pools declare now or later.
TOLERATE_EVERYTHING = {"operator": "Exists"}
# Need: one Python interpreter (the probe measured 24 MiB resident on CPython 3.11, glibc, no peers), a thread pool
# of 8, a few KiB of metrics per peer. The CPU limit is far above the need on purpose: CFS throttling would delay
# the probe's own clock reads and inflate the RTTs it reports.
RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}}


@dataclass
class LatencyProbeArgs:
    spec: LatencyProbeSpec
    """Interval and image (`kosmos:latencyProbe`)."""
    k8s_provider: k8s.Provider
    """The cluster's Kubernetes provider: every object is created in that cluster."""


class LatencyProbe(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    daemonset_name: pulumi.Output[str]

    def __init__(self, name: str, args: LatencyProbeArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("kosmos:index:LatencyProbe", name, None, opts)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.k8s_provider)
        labels = {**SELECTOR, "app.kubernetes.io/part-of": "kosmos", "app.kubernetes.io/managed-by": "pulumi"}
        program = PROGRAM.read_text(encoding="utf-8")

        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            # The probe satisfies the `restricted` Pod Security Standard: enforce it so it stays that way.
            metadata={"name": NAMESPACE, "labels": {**labels, "pod-security.kubernetes.io/enforce": "restricted"}},
            opts=k8s_opts,
        )
        in_ns = {"namespace": ns.metadata.name, "name": NAME, "labels": labels}
        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=in_ns, opts=k8s_opts)
        subject = [{"kind": "ServiceAccount", "name": account.metadata.name, "namespace": ns.metadata.name}]
        # Each probe reads its own Node's labels (cloud, cloud-region): Nodes are cluster-scoped.
        node_reader = k8s.rbac.v1.ClusterRole(
            f"{name}-node-reader",
            metadata={"name": NAME, "labels": labels},
            rules=[{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}],
            opts=k8s_opts,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-node-reader",
            metadata={"name": NAME, "labels": labels},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": node_reader.metadata.name
            },
            subjects=subject,
            opts=k8s_opts,
        )
        # ... and finds its peers in the EndpointSlices of the headless Service, in its own namespace only.
        peer_reader = k8s.rbac.v1.Role(
            f"{name}-peer-reader",
            metadata=in_ns,
            rules=[{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]}],
            opts=k8s_opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-peer-reader",
            metadata=in_ns,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": peer_reader.metadata.name},
            subjects=subject,
            opts=k8s_opts,
        )
        code = k8s.core.v1.ConfigMap(f"{name}-program", metadata=in_ns, data={"probe.py": program}, opts=k8s_opts)
        service = k8s.core.v1.Service(
            f"{name}-peers",
            metadata=in_ns,
            spec={
                "clusterIP": "None",  # headless: no virtual IP, only EndpointSlices listing every probe pod
                "selector": SELECTOR,
                "ports": [{"name": "probe", "port": PORT, "targetPort": "probe", "protocol": "TCP"}],
                # A probe that is not Ready is still a peer to measure: its failures are the signal.
                "publishNotReadyAddresses": True,
            },
            opts=k8s_opts,
        )

        def field_env(var: str, path: str) -> dict:
            return {"name": var, "valueFrom": {"fieldRef": {"fieldPath": path}}}

        container = {
            "name": "probe",
            "image": args.spec.image,
            "command": ["python3", "-u", "/opt/kosmos/probe.py"],
            "env": [
                field_env("NODE_NAME", "spec.nodeName"),
                field_env("POD_NAME", "metadata.name"),
                field_env("POD_NAMESPACE", "metadata.namespace"),
                {"name": "KOSMOS_PROBE_SERVICE", "value": service.metadata.name},
                {"name": "KOSMOS_PROBE_PORT", "value": str(PORT)},
                {"name": "KOSMOS_PROBE_INTERVAL", "value": str(args.spec.interval_seconds)},
                {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},  # the root filesystem is read-only
            ],
            "ports": [{"name": "probe", "containerPort": PORT, "protocol": "TCP"}],
            "resources": RESOURCES,
            "livenessProbe": {"httpGet": {"path": "/healthz", "port": "probe"}, "periodSeconds": 30,
                              "timeoutSeconds": 5, "failureThreshold": 3},
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "volumeMounts": [{"name": "program", "mountPath": "/opt/kosmos", "readOnly": True}],
        }
        self.daemonset = k8s.apps.v1.DaemonSet(
            f"{name}-daemonset",
            metadata=in_ns,
            spec={
                "selector": {"matchLabels": SELECTOR},
                "template": {
                    "metadata": {
                        "labels": labels,
                        # A new program rolls the pods (a ConfigMap update alone would not restart them).
                        "annotations": {"kosmos/program-sha256": hashlib.sha256(program.encode()).hexdigest()},
                    },
                    "spec": {
                        "serviceAccountName": account.metadata.name,
                        "tolerations": [TOLERATE_EVERYTHING],
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "terminationGracePeriodSeconds": 5,
                        "containers": [container],
                        "volumes": [
                            {"name": "program", "configMap": {"name": code.metadata.name, "defaultMode": 0o444}}
                        ],
                    },
                },
            },
            opts=k8s_opts,
        )
        self.namespace = ns.metadata.name
        self.daemonset_name = self.daemonset.metadata.name
        self.register_outputs({"namespace": self.namespace, "daemonset_name": self.daemonset_name})
