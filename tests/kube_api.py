"""The local stand-in of the Kubernetes API, shared by every test that talks to a cluster: the latency probe and
`make latency` (nodes, EndpointSlices, DaemonSet, pods, pod proxy) and the drain before a node is deleted (cordon,
pods by node, evictions).

Paths, methods and query parameters come from the official client's generated API (kubernetes-client/python 31.0.0,
`kubernetes/client/api/`):
  core_v1_api.py        list_node                 GET   /api/v1/nodes  (limit, continue)
                        read_node                 GET   /api/v1/nodes/{name}
                        patch_node                PATCH /api/v1/nodes/{name}  (strategic merge patch; drain cordons
                                                        with {"spec": {"unschedulable": true}})
                        list_pod_for_all_namespaces
                                                  GET   /api/v1/pods  (fieldSelector spec.nodeName=<node>)
                        list_namespaced_pod       GET   /api/v1/namespaces/{namespace}/pods  (labelSelector)
                        create_namespaced_pod_eviction
                                                  POST  /api/v1/namespaces/{namespace}/pods/{name}/eviction
                                                        (policy/v1 Eviction)
                        connect_get_namespaced_pod_proxy_with_path
                                                  GET   /api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}
                        (path parameters are percent-encoded with no safe characters: `pod:9100` -> `pod%3A9100`)
  apps_v1_api.py        read_namespaced_daemon_set
                                                  GET   /apis/apps/v1/namespaces/{namespace}/daemonsets/{name}
  discovery_v1_api.py   list_namespaced_endpoint_slice
                                                  GET   /apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices
Every request needs the bearer token (TOKEN). Failures are shaped like the API server's `Status` objects
(kubernetes/apimachinery, pkg/api/errors/errors.go: NewNotFound -> 404 `<resource> "<name>" not found`,
NewUnauthorized -> 401, NewTooManyRequests -> 429; an unknown path, or a verb no route has, is answered by
apiserver pkg/server/handler.go serviceErrorHandler with NewGenericServerResponse: 404 "the server could not find the
requested resource", 405 "the server does not allow this method on the requested resource"). An eviction a
PodDisruptionBudget forbids is answered 429 "Cannot evict pod as it would violate the pod's disruption budget." and
an evicted pod disappears. A pod proxy that cannot dial its pod
answers 503 ServiceUnavailable "error trying to reach service: <dial error>" (apimachinery pkg/util/proxy/
transport.go, RoundTrip). The pod proxy really forwards to the pod's address, so tests scrape real processes.
Served over plain HTTP or, with `tls=True`, HTTPS with the loopback certificate; `kubeconfig()` always carries that
CA inline, as Scaleway's kubeconfig does (the client writes it to a temporary file).
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from loopback import LoopbackServer, loopback_certificate

TOKEN = "kosmos-test-token"
PROBE_NAMESPACE = "kosmos-latency"
PROBE_NAME = "kosmos-latency-probe"
PROBE_LABELS = {"app.kubernetes.io/name": PROBE_NAME}
"""The probe DaemonSet's pod labels, which its headless Service selects (components/latency_probe.py)."""


@dataclass
class Node:
    name: str
    labels: dict = field(default_factory=dict)
    spec: dict = field(default_factory=dict)
    """patch_node merges into it: a cordon sets spec["unschedulable"] = True."""
    ready: Optional[str] = None
    """The Ready condition's status, "True", "False" or "Unknown" (what the node lifecycle controller sets, reason
    NodeStatusUnknown, once the kubelet stopped posting: kubernetes pkg/controller/nodelifecycle); None: no status."""
    kubelet_version: str = "v1.31.2"
    annotations: dict = field(default_factory=dict)
    """patch_node merges into it; a null value removes the key (strategic merge patch / JSON merge patch)."""
    patches: list = field(default_factory=list)
    """(time.monotonic(), patch body) of every PATCH, in order."""

    def to_api(self) -> dict:
        node = {"kind": "Node", "apiVersion": "v1",
                "metadata": {"name": self.name, "labels": self.labels, "annotations": self.annotations},
                "spec": self.spec}
        if self.ready is not None:
            # k8s.io/api core/v1 types.go NodeSystemInfo: every field is a plain string without omitempty (the
            # client refuses a missing one); the Ready condition's status is "True"/"False"/"Unknown".
            info = dict.fromkeys(("architecture", "bootID", "containerRuntimeVersion", "kernelVersion", "machineID",
                                  "operatingSystem", "osImage", "systemUUID"), "x")
            node["status"] = {
                "conditions": [{"type": "Ready", "status": self.ready, "reason": {
                    "True": "KubeletReady", "False": "KubeletNotReady"}.get(self.ready, "NodeStatusUnknown")}],
                "nodeInfo": {**info, "kubeletVersion": self.kubelet_version, "kubeProxyVersion": ""},
            }
        return node


@dataclass
class Pod:
    name: str
    node: str
    namespace: str = "default"
    owner: Optional[str] = "ReplicaSet"
    """The controller's kind (ownerReferences): a drain leaves DaemonSet pods alone."""
    labels: dict = field(default_factory=dict)
    phase: str = "Running"
    ip: Optional[str] = None
    port: Optional[int] = None
    """Where this pod really listens: every pod is on 127.0.0.1 here, so each gets its own port (in a cluster each
    has its own IP and the same port). EndpointSlices carry it, as they carry the resolved target port."""
    container_port: Optional[int] = None
    """The port the manifest declares: the pod proxy maps `<pod>:<container_port>` to `port`."""
    controller: bool = True
    """The owner's `controller` flag: an owner that is not the controller leaves the pod unmanaged for a drain
    (kubectl pkg/drain/filters.go, metav1.GetControllerOf)."""

    def to_api(self) -> dict:
        metadata = {"name": self.name, "namespace": self.namespace, "labels": self.labels}
        if self.owner:
            metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": self.owner, "name": f"{self.name}-owner",
                                            "uid": f"uid-{self.name}", "controller": self.controller}]
        container = {"name": "c", "image": "busybox"}
        if self.container_port is not None:
            container["ports"] = [{"containerPort": self.container_port}]
        status = {"phase": self.phase}
        if self.ip:
            status["podIP"] = self.ip
        return {"kind": "Pod", "apiVersion": "v1", "metadata": metadata,
                "spec": {"nodeName": self.node, "containers": [container]}, "status": status}


def pod(name: str, node: str, namespace: str = "default", owner: str = "ReplicaSet") -> Pod:
    """A workload pod (what a drain evicts)."""
    return Pod(name, node, namespace, owner)


def probe_pod(name: str, node: str, port: int, ip: str = "127.0.0.1") -> Pod:
    """A latency probe pod (DaemonSet-owned, selected by the probe Service), really listening on ip:port."""
    return Pod(name, node, PROBE_NAMESPACE, "DaemonSet", dict(PROBE_LABELS), ip=ip, port=port, container_port=9100)


def nodes(labels_by_name: dict) -> dict:
    """{name: labels} -> Cluster.nodes."""
    return {name: Node(name, dict(labels)) for name, labels in labels_by_name.items()}


@dataclass
class Cluster:
    namespace: str = PROBE_NAMESPACE
    daemonset: str = PROBE_NAME
    service: str = PROBE_NAME
    nodes: dict = field(default_factory=dict)
    """node name -> Node"""
    pods: list = field(default_factory=list)
    pdb_blocks: dict = field(default_factory=dict)
    """pod name -> how many more evictions a budget refuses (429) before allowing one."""
    desired: Optional[int] = None
    """DaemonSet status.desiredNumberScheduled (default: one per node)."""
    requests: list = field(default_factory=list)
    """Every request, authorized or not: (method, raw path as sent, query dict)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_node(self, name: str, labels: Optional[dict] = None, **status) -> Node:
        """status: Node.ready, Node.kubelet_version."""
        self.nodes[name] = Node(name, dict(labels or {}), **status)
        return self.nodes[name]

    def paths(self, method: Optional[str] = None) -> list[str]:
        """The raw paths requested (with one method only, if given), in order."""
        return [p for m, p, _ in self.requests if method is None or m == method]

    def _probe_pods(self) -> list[Pod]:
        return [p for p in self.pods if p.namespace == self.namespace and p.port is not None
                and all(p.labels.get(k) == v for k, v in PROBE_LABELS.items())]

    def endpoint_slices(self) -> dict:
        # One slice per distinct port: the EndpointSlice controller groups endpoints by their resolved ports.
        by_port: dict[int, list] = {}
        for p in self._probe_pods():
            by_port.setdefault(p.port, []).append(p)
        items = []
        for port, pods in sorted(by_port.items()):
            items.append({
                "metadata": {"name": f"{self.service}-{port}", "namespace": self.namespace,
                             "labels": {"kubernetes.io/service-name": self.service}},
                "addressType": "IPv4",
                "ports": [{"name": "probe", "port": port, "protocol": "TCP"}],
                "endpoints": [
                    {"addresses": [p.ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                     "nodeName": p.node, "targetRef": {"kind": "Pod", "name": p.name, "namespace": self.namespace}}
                    for p in pods
                ],
            })
        return {"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {}, "items": items}

    def daemonset_object(self) -> dict:
        desired = len(self.nodes) if self.desired is None else self.desired
        scheduled = len(self._probe_pods())
        return {"kind": "DaemonSet", "apiVersion": "apps/v1",
                "metadata": {"name": self.daemonset, "namespace": self.namespace},
                # The four counts are plain int32 without omitempty in k8s.io/api apps/v1 types.go: always
                # present (the client refuses a missing one).
                "status": {"currentNumberScheduled": scheduled, "desiredNumberScheduled": desired,
                           "numberMisscheduled": 0, "numberReady": scheduled}}

    def find_pod(self, namespace: str, name: str) -> Optional[Pod]:
        return next((p for p in self.pods if p.name == name and p.namespace == namespace), None)


def _status(code: int, reason: str, message: str, details: Optional[dict] = None) -> tuple[int, dict]:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details is not None:  # metav1.StatusDetails: a pointer (absent when nil), its fields omitempty
        body["details"] = {k: v for k, v in details.items() if v}
    return code, body


def _not_found(resource: str, name: str, group: str = "") -> tuple[int, dict]:
    qualified = f"{resource}.{group}" if group else resource
    return _status(404, "NotFound", f'{qualified} "{name}" not found', {"name": name, "group": group, "kind": resource})


def _no_route(code: int = 404) -> tuple[int, dict]:
    """What the API server answers when no route has this path (404) or this verb on it (405)."""
    if code == 405:
        return _status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
    return _status(404, "NotFound", "the server could not find the requested resource", {})


def _selector_matches(selector: str, labels: dict) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _list(kind: str, items: list) -> dict:
    return {"kind": kind, "apiVersion": "v1", "metadata": {}, "items": items}


def handle(cluster: Cluster, method: str, path: str, query: dict, body) -> tuple[int, dict]:
    """One API request, with the cluster's lock held. (The pod proxy is answered by the HTTP handler itself.)"""
    ns_ = r"/namespaces/([^/]+)"
    if m := re.fullmatch(r"/api/v1/nodes/([^/]+)", path):
        node = cluster.nodes.get(m.group(1))
        if method not in ("GET", "PATCH"):
            return _no_route(405)
        if node is None:
            return _not_found("nodes", m.group(1))
        if method == "PATCH":
            patch = body or {}
            node.patches.append((time.monotonic(), patch))
            node.spec.update(patch.get("spec") or {})
            node.labels.update((patch.get("metadata") or {}).get("labels") or {})
            for key, value in ((patch.get("metadata") or {}).get("annotations") or {}).items():
                if value is None:
                    node.annotations.pop(key, None)
                else:
                    node.annotations[key] = value
        return 200, node.to_api()
    if path == "/api/v1/nodes":  # list_node; `limit` and `continue` page it as the API server does
        if method != "GET":
            return _no_route(405)
        items = [n.to_api() for _, n in sorted(cluster.nodes.items())]
        start, limit = int(query.get("continue") or 0), int(query.get("limit") or 0) or len(items)
        metadata = {"continue": str(start + limit)} if start + limit < len(items) else {}
        return 200, {**_list("NodeList", items[start:start + limit]), "metadata": metadata}
    if path == "/api/v1/pods":
        if method != "GET":
            return _no_route(405)
        selector = query.get("fieldSelector", "")
        node = selector.split("=", 1)[1] if selector.startswith("spec.nodeName=") else None
        return 200, _list("PodList", [p.to_api() for p in cluster.pods if node is None or p.node == node])
    if m := re.fullmatch(rf"/api/v1{ns_}/pods", path):
        if method != "GET":
            return _no_route(405)
        selector = query.get("labelSelector", "")
        return 200, _list("PodList", [p.to_api() for p in cluster.pods
                                      if p.namespace == m.group(1) and _selector_matches(selector, p.labels)])
    if m := re.fullmatch(rf"/api/v1{ns_}/pods/([^/]+)/eviction", path):
        if method != "POST":
            return _no_route(405)
        namespace, name = m.groups()
        target = cluster.find_pod(namespace, name)
        if target is None:
            return _not_found("pods", name)
        if cluster.pdb_blocks.get(name, 0) > 0:
            cluster.pdb_blocks[name] -= 1
            return _status(429, "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                           {"retryAfterSeconds": 0})
        cluster.pods.remove(target)
        return 201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    if m := re.fullmatch(rf"/apis/discovery\.k8s\.io/v1{ns_}/endpointslices", path):
        if method != "GET":
            return _no_route(405)
        if m.group(1) != cluster.namespace or \
                query.get("labelSelector") != f"kubernetes.io/service-name={cluster.service}":
            return 200, {"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": {}, "items": []}
        return 200, cluster.endpoint_slices()
    if m := re.fullmatch(rf"/apis/apps/v1{ns_}/daemonsets/([^/]+)", path):
        if method != "GET":
            return _no_route(405)
        if m.groups() != (cluster.namespace, cluster.daemonset):
            return _not_found("daemonsets", m.group(2), "apps")
        return 200, cluster.daemonset_object()
    return _no_route()


class KubeApi(LoopbackServer):
    """The stand-in serving `cluster` on 127.0.0.1 (HTTPS with the loopback certificate when tls=True)."""

    def __init__(self, cluster: Optional[Cluster] = None, tls: bool = False):
        self.cluster = cluster = cluster if cluster is not None else Cluster()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if server.fault(self, method, url.path):
                    return
                with cluster.lock:
                    cluster.requests.append((method, url.path, query))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._json(*_status(401, "Unauthorized", "Unauthorized"))
                path = "/".join(urllib.parse.unquote(p) for p in url.path.split("/"))
                if proxy := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/proxy(/.*)?", path):
                    if method != "GET":
                        return self._json(*_no_route(405))
                    return self._proxy(proxy.group(1), proxy.group(2), proxy.group(3) or "/")
                try:
                    body = json.loads(raw) if raw else None
                except ValueError as err:
                    return self._json(*_status(400, "BadRequest", f"the body of the request was in an unknown "
                                                                  f"format: {err}"))
                with cluster.lock:
                    code, payload = handle(cluster, method, path, query, body)
                self._json(code, payload)

            def _json(self, code: int, obj: dict) -> None:
                self._send(code, json.dumps(obj).encode())

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

            def do_PUT(self):  # noqa: N802
                self._handle("PUT")

            def do_DELETE(self):  # noqa: N802
                self._handle("DELETE")

            def _proxy(self, namespace: str, name_port: str, path: str) -> None:
                name, _, port = name_port.partition(":")
                with cluster.lock:
                    target = cluster.find_pod(namespace, name)
                if target is None:
                    return self._json(*_not_found("pods", name))
                if target.ip is None:  # a workload pod here has no address to dial
                    return self._json(*_status(503, "ServiceUnavailable", "error trying to reach service: no pod IP"))
                # `<pod>:<declared port>` (or no port) goes where the pod really listens; another port as asked.
                asked = int(port) if port else target.container_port
                target_port = target.port if asked == target.container_port and target.port else asked
                try:
                    conn = http.client.HTTPConnection(target.ip, target_port, timeout=2)
                    conn.request("GET", path)
                    response = conn.getresponse()
                    answer = response.read()
                    conn.close()
                except OSError as err:
                    message = f"error trying to reach service: dial tcp {target.ip}:{target_port}: connect: {err}"
                    return self._json(*_status(503, "ServiceUnavailable", message))
                self._send(response.status, answer, response.getheader("Content-Type", "text/plain"))

            def log_message(self, *args):
                pass

        super().__init__(Handler, tls=tls)

    def error_body(self, status: int) -> tuple[str, bytes]:
        """A fault (`self.faults`, tests/loopback.py) as the API server answers it. 429: the max-in-flight filter
        (kubernetes apiserver pkg/server/filters/maxinflight.go tooManyRequests: `Retry-After: 1`, plain-text
        http.Error "Too many requests, please try again later."); anything else a Status (NewServiceUnavailable /
        NewInternalError shape)."""
        if status == 429:
            return "text/plain; charset=utf-8", b"Too many requests, please try again later.\n"
        reason = {503: "ServiceUnavailable", 500: "InternalError", 403: "Forbidden"}.get(status, "InternalError")
        code, body = _status(status, reason, f"{reason}: injected by the test")
        return "application/json", json.dumps(body).encode()


def kubeconfig(url: str) -> dict:
    """A kubeconfig for the stand-in, in the shape Scaleway's kubeconfig has: token user, CA inline (the loopback
    certificate, which an https stand-in serves)."""
    ca = base64.b64encode(open(loopback_certificate()[0], "rb").read()).decode()
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "admin@kosmos",
        "clusters": [{"name": "kosmos", "cluster": {"server": url, "certificate-authority-data": ca}}],
        "contexts": [{"name": "admin@kosmos", "context": {"cluster": "kosmos", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": TOKEN}}],
    }
