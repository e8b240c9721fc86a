"""A local stand-in of the Kubernetes API: only the paths the latency probe and `make latency` call.

Paths, methods and query parameters come from the official client's generated API (kubernetes-client/python 31.0.0,
`kubernetes/client/api/`):
  core_v1_api.py        read_node                 GET /api/v1/nodes/{name}
                        list_namespaced_pod       GET /api/v1/namespaces/{namespace}/pods  (labelSelector)
                        connect_get_namespaced_pod_proxy_with_path
                                                  GET /api/v1/namespaces/{namespace}/pods/{name}/proxy/{path}
                        (path parameters are percent-encoded with no safe characters: `pod:9100` -> `pod%3A9100`)
  apps_v1_api.py        read_namespaced_daemon_set
                                                  GET /apis/apps/v1/namespaces/{namespace}/daemonsets/{name}
  discovery_v1_api.py   list_namespaced_endpoint_slice
                                                  GET /apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices
Failures are shaped like the API server's `Status` objects (kubernetes/apimachinery, pkg/api/errors/errors.go:
NewNotFound -> 404 `<resource> "<name>" not found`, NewUnauthorized -> 401) and a pod proxy that cannot dial its pod
answers 503 ServiceUnavailable "error trying to reach service: <dial error>" (apimachinery pkg/util/proxy/
transport.go, RoundTrip). The pod proxy really forwards to the pod's address, so tests scrape real processes.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Optional

from loopback import LoopbackServer

TOKEN = "kosmos-test-token"


@dataclass
class FakePod:
    name: str
    node: str
    ip: str
    port: int
    """Where this pod really listens: every pod is on 127.0.0.1 here, so each gets its own port (in a cluster each
    has its own IP and the same port). EndpointSlices carry it, as they carry the resolved target port."""
    container_port: int = 9100
    """The port the manifest declares (components/latency_probe.PORT): the pod proxy maps `<pod>:9100` to `port`."""
    labels: dict = field(default_factory=lambda: {"app.kubernetes.io/name": "kosmos-latency-probe"})
    phase: str = "Running"


@dataclass
class FakeCluster:
    namespace: str = "kosmos-latency"
    daemonset: str = "kosmos-latency-probe"
    service: str = "kosmos-latency-probe"
    nodes: dict = field(default_factory=dict)
    """node name -> labels"""
    pods: list = field(default_factory=list)
    desired: Optional[int] = None
    """DaemonSet status.desiredNumberScheduled (default: one per node)."""
    requests: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def endpoint_slices(self) -> dict:
        # One slice per distinct port: the EndpointSlice controller groups endpoints by their resolved ports.
        by_port: dict[int, list] = {}
        for pod in self.pods:
            by_port.setdefault(pod.port, []).append(pod)
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

    def pod_list(self) -> dict:
        return {
            "kind": "PodList", "apiVersion": "v1", "metadata": {},
            "items": [
                {"metadata": {"name": p.name, "namespace": self.namespace, "labels": p.labels},
                 "spec": {"nodeName": p.node, "containers": [{"name": "probe", "image": "python",
                                                               "ports": [{"containerPort": p.container_port}]}]},
                 "status": {"phase": p.phase, "podIP": p.ip}}
                for p in self.pods
            ],
        }


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}


def _selector_matches(selector: str, labels: dict) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def serve(cluster: FakeCluster) -> LoopbackServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, code: int, obj: dict) -> None:
            self._send(code, json.dumps(obj).encode())

        def do_GET(self):  # noqa: N802
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
            with cluster.lock:
                cluster.requests.append(url.path)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._json(401, _status(401, "Unauthorized", "Unauthorized"))
            ns = cluster.namespace
            if parts[:3] == ["api", "v1", "nodes"] and len(parts) == 4:
                if parts[3] not in cluster.nodes:
                    return self._json(404, _status(404, "NotFound", f'nodes "{parts[3]}" not found'))
                return self._json(200, {"kind": "Node", "apiVersion": "v1",
                                        "metadata": {"name": parts[3], "labels": cluster.nodes[parts[3]]}})
            if parts == ["apis", "discovery.k8s.io", "v1", "namespaces", ns, "endpointslices"]:
                if query.get("labelSelector") != f"kubernetes.io/service-name={cluster.service}":
                    return self._json(200, {"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1",
                                            "metadata": {}, "items": []})
                return self._json(200, cluster.endpoint_slices())
            if parts == ["apis", "apps", "v1", "namespaces", ns, "daemonsets", cluster.daemonset]:
                desired = len(cluster.nodes) if cluster.desired is None else cluster.desired
                return self._json(200, {"kind": "DaemonSet", "apiVersion": "apps/v1",
                                        "metadata": {"name": cluster.daemonset, "namespace": ns},
                                        # The four counts are plain int32 without omitempty in k8s.io/api
                                        # apps/v1 types.go: always present (the client refuses a missing one).
                                        "status": {"currentNumberScheduled": len(cluster.pods),
                                                   "desiredNumberScheduled": desired, "numberMisscheduled": 0,
                                                   "numberReady": len(cluster.pods)}})
            if parts[:5] == ["apis", "apps", "v1", "namespaces", ns] and len(parts) == 7:
                return self._json(404, _status(404, "NotFound", f'daemonsets.apps "{parts[6]}" not found'))
            if parts == ["api", "v1", "namespaces", ns, "pods"]:
                podlist = cluster.pod_list()
                selector = query.get("labelSelector", "")
                podlist["items"] = [p for p in podlist["items"] if _selector_matches(selector, p["metadata"]["labels"])]
                return self._json(200, podlist)
            if parts[:5] == ["api", "v1", "namespaces", ns, "pods"] and len(parts) >= 7 and parts[6] == "proxy":
                return self._proxy(parts[5], "/" + "/".join(parts[7:]))
            return self._json(404, _status(404, "NotFound", "the server could not find the requested resource"))

        def _proxy(self, name_port: str, path: str) -> None:
            name, _, port = name_port.partition(":")
            pod = next((p for p in cluster.pods if p.name == name), None)
            if pod is None:
                return self._json(404, _status(404, "NotFound", f'pods "{name}" not found'))
            target_port = pod.port if int(port or pod.container_port) == pod.container_port else int(port)
            try:
                conn = http.client.HTTPConnection(pod.ip, target_port, timeout=2)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                conn.close()
            except OSError as err:
                message = f"error trying to reach service: dial tcp {pod.ip}:{target_port}: connect: {err}"
                return self._json(503, _status(503, "ServiceUnavailable", message))
            self._send(response.status, body, response.getheader("Content-Type", "text/plain"))

        def log_message(self, *args):
            pass

    return LoopbackServer(Handler)


def kubeconfig(url: str) -> dict:
    """A kubeconfig for the stand-in, in the shape Scaleway's kubeconfig has (token user)."""
    return {
        "apiVersion": "v1", "kind": "Config", "current-context": "standin",
        "clusters": [{"name": "standin", "cluster": {"server": url}}],
        "users": [{"name": "admin", "user": {"token": TOKEN}}],
        "contexts": [{"name": "standin", "context": {"cluster": "standin", "user": "admin"}}],
    }
