"""Cordon and drain one Kubernetes node with the official `kubernetes` Python client, as `kubectl drain
--ignore-daemonsets --delete-emptydir-data` would: evictions (policy/v1 Eviction), so PodDisruptionBudgets are
respected (the API answers 429 while a budget forbids an eviction), retried until the node is empty or the deadline.

The kubeconfig is only ever held in memory. The cluster CA (public) is written to a temporary directory that is
removed on return; the token never touches a file.
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import time
from typing import Callable

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # static pods: the kubelet owns them, evictions cannot remove them
MAX_RETRY_SECONDS = 10.0


class DrainError(Exception):
    pass


_INLINE_FILES = {
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key")),
}


def _detach_inline_files(config: dict, directory: str) -> dict:
    """`config` with each inline `<key>-data` (base64) written to a file in `directory` and named by `<key>`.

    The client would write them itself, but kubernetes 31.0.0 (config/kube_config.py,
    _create_temp_file_with_content) caches the file by content for the life of the process: a second drain in the
    same process (the dynamic provider host deleting two nodes of one cluster) was handed the file removed with the
    first drain's directory and failed with "File does not exist" (kubernetes-client/python#1782; the cache only
    recreates a missing file after 31.0.0, #2441). A `<key>` file path is used as given, with no cache.
    """
    config = dict(config)
    count = 0
    for section, (inner, keys) in _INLINE_FILES.items():
        entries = []
        for entry in config.get(section) or []:
            body = dict((entry or {}).get(inner) or {})
            for key in keys:
                data = body.pop(f"{key}-data", None)
                if data and not body.get(key):
                    count += 1
                    path = os.path.join(directory, f"{section}-{count}-{key}")
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as handle:
                        handle.write(base64.standard_b64decode(data))
                    body[key] = path
            entries.append({**entry, inner: body})
        if section in config:
            config[section] = entries
    return config


def _evictable(pod) -> bool:
    """kubectl drain's filters: DaemonSet pods (their controller ignores unschedulable), mirror pods and finished
    pods are left alone."""
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return False
    annotations = (pod.metadata.annotations or {}) if pod.metadata else {}
    if MIRROR_ANNOTATION in annotations:
        return False
    return not any(ref.kind == "DaemonSet" for ref in (pod.metadata.owner_references or []))


def drain_node(
    kubeconfig: str,
    node_name: str,
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    retry_seconds: float = 2.0,
) -> int:
    """Cordon `node_name`, evict its pods, wait until none is left. Returns how many pods were evicted.

    Raises DrainError when the deadline passes first, naming the pods still there (and the budgets in the way).
    """
    import yaml
    from kubernetes import client
    from kubernetes import config as kube_config
    from kubernetes.client.rest import ApiException

    with tempfile.TemporaryDirectory(prefix="kosmos-drain-") as tmp:
        configuration = client.Configuration()
        kube_config.load_kube_config_from_dict(
            _detach_inline_files(yaml.safe_load(kubeconfig), tmp), client_configuration=configuration,
            temp_file_path=tmp,
        )
        with client.ApiClient(configuration) as api_client:
            core = client.CoreV1Api(api_client)
            try:
                core.patch_node(node_name, {"spec": {"unschedulable": True}})
            except ApiException as exc:
                if exc.status == 404:
                    return 0  # not (or no longer) a Kubernetes node: nothing runs there
                raise DrainError(f"cordoning node {node_name} failed: HTTP {exc.status} {exc.reason}") from None
            evicted: set[tuple[str, str]] = set()
            delay = retry_seconds
            while True:
                pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}").items
                remaining = [p for p in pods if _evictable(p)]
                if not remaining:
                    return len(evicted)
                blocked = []
                for pod in remaining:
                    key = (pod.metadata.namespace, pod.metadata.name)
                    if key in evicted:
                        continue  # evicted, still terminating
                    body = client.V1Eviction(
                        metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace)
                    )
                    try:
                        core.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
                        evicted.add(key)
                    except ApiException as exc:
                        if exc.status == 404:
                            evicted.add(key)  # already gone
                        elif exc.status == 429:
                            blocked.append(f"{key[0]}/{key[1]}")  # a PodDisruptionBudget forbids it for now
                        else:
                            raise DrainError(
                                f"evicting {key[0]}/{key[1]} from node {node_name} failed: HTTP {exc.status} {exc.reason}"
                            ) from None
                if clock() + delay > deadline:
                    names = ", ".join(f"{p.metadata.namespace}/{p.metadata.name}" for p in remaining)
                    why = f"; PodDisruptionBudgets refuse evicting {', '.join(blocked)}" if blocked else ""
                    raise DrainError(f"node {node_name} still runs {names} at the deadline{why}")
                if blocked:
                    print(f"kosmos: draining {node_name}: waiting for budgets of {', '.join(blocked)}", file=sys.stderr)
                sleep(delay)
                delay = min(delay * 1.5, MAX_RETRY_SECONDS)
