"""Cordon and drain one Kubernetes node with the official `kubernetes` Python client, as `kubectl drain
--ignore-daemonsets --delete-emptydir-data` would: evictions (policy/v1 Eviction), so PodDisruptionBudgets are
respected (the API answers 429 while a budget forbids an eviction), retried until the node is empty or the deadline.

Pods that declare no controller (no ownerReference with `controller: true`) are not evicted: `kubectl drain`
refuses them without `--force` (kubernetes/kubectl pkg/drain/filters.go, unreplicatedFilter). kosmos drains only
because the node is deleted next, and those pods go with it whatever the drain does, so refusing would block a
`pulumi destroy` without saving them: they are skipped, named in kubectl's words, and the drain proceeds.

The kubeconfig text is only held in memory. Its inline files are written, 0600, to a private temporary directory
(0700) removed on return: the cluster CA (`certificate-authority-data`, public) and, should a kubeconfig authenticate
with a client certificate, `client-certificate-data` and `client-key-data` (a secret). A token never touches a file.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

MIRROR_ANNOTATION = "kubernetes.io/config.mirror"  # static pods: the kubelet owns them, evictions cannot remove them
MAX_RETRY_SECONDS = 10.0


class DrainError(Exception):
    pass


# Inline kubeconfig data the client can only read from files; client-key is a secret (0600, removed on return).
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


def kube_api_client(kubeconfig: str, directory: str, retries: Optional[int] = None):
    """A `kubernetes` ApiClient (a context manager) for the kubeconfig text; its inline files go to `directory`,
    which the caller creates private and removes. `retries`: urllib3's per request (None: its default, 3)."""
    import yaml
    from kubernetes import client
    from kubernetes import config as kube_config

    configuration = client.Configuration()
    kube_config.load_kube_config_from_dict(
        _detach_inline_files(yaml.safe_load(kubeconfig), directory), client_configuration=configuration,
        temp_file_path=directory,
    )
    configuration.retries = retries  # read when the ApiClient builds its pool (kubernetes client/rest.py)
    return client.ApiClient(configuration)


@contextlib.contextmanager
def kube_core(kubeconfig: str) -> Iterator:
    """A CoreV1Api for the kubeconfig text, its inline files in a private temporary directory removed on exit."""
    from kubernetes import client

    with tempfile.TemporaryDirectory(prefix="kosmos-kube-") as tmp:
        with kube_api_client(kubeconfig, tmp) as api_client:
            yield client.CoreV1Api(api_client)


UNMANAGED = "Pods that declare no controller"  # kubectl pkg/drain/filters.go unmanagedFatal / unmanagedWarning


@dataclass
class Drained:
    evicted: int = 0
    unmanaged: list[str] = field(default_factory=list)
    """namespace/name of the pods left in place because no controller would recreate them."""


def _controller(pod):
    """metav1.GetControllerOf: the ownerReference with controller: true."""
    refs = (pod.metadata.owner_references or []) if pod.metadata else []
    return next((ref for ref in refs if ref.controller), None)


def _drain_filter(pod) -> str:
    """kubectl drain --ignore-daemonsets --delete-emptydir-data, without --force (kubectl pkg/drain/filters.go):
    "evict", "skip" (finished, mirror and DaemonSet pods: their controller ignores unschedulable) or "unmanaged"."""
    if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
        return "skip"
    annotations = (pod.metadata.annotations or {}) if pod.metadata else {}
    if MIRROR_ANNOTATION in annotations:
        return "skip"
    controller = _controller(pod)
    if controller is None:
        return "unmanaged"
    return "skip" if (controller.kind, controller.api_version) == ("DaemonSet", "apps/v1") else "evict"


def drain_node(
    kubeconfig: str,
    node_name: str,
    *,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    retry_seconds: float = 2.0,
    policy=None,
) -> Drained:
    """Cordon `node_name`, evict its pods, wait until none is left. Returns how many pods were evicted and which
    were left because they declare no controller.

    Raises DrainError when the deadline passes first, naming the pods still there (and the budgets in the way).
    Every API call retries 429/5xx/no answer within the deadline (components/retry.py, `policy` or one on
    clock/sleep); an eviction's 429 is a budget, left to the loop below.
    """
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from .retry import RetryExhausted, RetryPolicy, retrying_kubernetes

    policy = policy or RetryPolicy(clock=clock, sleep=sleep)
    call = retrying_kubernetes(policy, deadline)
    evict = retrying_kubernetes(policy, deadline, retry_429=False)

    with tempfile.TemporaryDirectory(prefix="kosmos-drain-") as tmp:
        with kube_api_client(kubeconfig, tmp) as api_client:
            core = client.CoreV1Api(api_client)
            try:
                return _drain(core, client, ApiException, call, evict, node_name, deadline, clock, sleep,
                              retry_seconds)
            except RetryExhausted as exc:
                raise DrainError(str(exc)) from None


def _drain(core, client, ApiException, call, evict, node_name, deadline, clock, sleep, retry_seconds) -> Drained:
    """drain_node's body, with its client and retrying callers (see drain_node)."""
    try:
        call(f"cordoning node {node_name}", core.patch_node, node_name, {"spec": {"unschedulable": True}})
    except ApiException as exc:
        if exc.status == 404:
            return Drained()  # not (or no longer) a Kubernetes node: nothing runs there
        raise DrainError(f"cordoning node {node_name} failed: HTTP {exc.status} {exc.reason}") from None
    evicted: set[tuple[str, str]] = set()
    unmanaged: list[str] = []
    delay = retry_seconds
    while True:
        pods = call(f"listing the pods of node {node_name}", core.list_pod_for_all_namespaces,
                    field_selector=f"spec.nodeName={node_name}").items
        remaining = []
        for pod in pods:
            verdict = _drain_filter(pod)
            if verdict == "evict":
                remaining.append(pod)
            elif verdict == "unmanaged":
                name = f"{pod.metadata.namespace}/{pod.metadata.name}"
                if name not in unmanaged:
                    unmanaged.append(name)
                    print(f"kosmos: draining {node_name}: WARNING: not evicting {UNMANAGED}: {name} "
                          "(kubectl drain refuses it without --force; it stops when the node is deleted)",
                          file=sys.stderr)
        if not remaining:
            return Drained(len(evicted), unmanaged)
        blocked = []
        for pod in remaining:
            key = (pod.metadata.namespace, pod.metadata.name)
            if key in evicted:
                continue  # evicted, still terminating
            body = client.V1Eviction(
                metadata=client.V1ObjectMeta(name=pod.metadata.name, namespace=pod.metadata.namespace)
            )
            try:
                evict(f"evicting {key[0]}/{key[1]}", core.create_namespaced_pod_eviction,
                      pod.metadata.name, pod.metadata.namespace, body)
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
