"""A local stand-in of the Kubernetes API paths the official Python client (kubernetes 31.0.0,
kubernetes/client/api/core_v1_api.py) calls to drain a node:
- `PATCH /api/v1/nodes/{name}` (patch_node, strategic merge patch) to cordon;
- `GET /api/v1/pods?fieldSelector=spec.nodeName=<name>` (list_pod_for_all_namespaces);
- `POST /api/v1/namespaces/{ns}/pods/{name}/eviction` (create_namespaced_pod_eviction, policy/v1 Eviction).
As the API server does, an eviction a PodDisruptionBudget forbids is answered 429 with a Status
("Cannot evict pod as it would violate the pod's disruption budget."), and an evicted pod disappears.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
import urllib.parse

from loopback import LoopbackServer, loopback_certificate

TOKEN = "kube-admin-token"


def pod(name: str, node: str, namespace: str = "default", owner: str = "ReplicaSet") -> dict:
    return {"metadata": {"name": name, "namespace": namespace,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner, "name": f"{name}-owner",
                                              "uid": f"uid-{name}", "controller": True}]},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}}


class LocalKubeApi(LoopbackServer):
    def __init__(self):
        self.nodes: dict[str, dict] = {}
        self.pods: list[dict] = []
        self.pdb_blocks: dict[str, int] = {}
        """pod name -> how many more evictions a budget refuses (429) before allowing one."""
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        kube = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"kind": "Status", "status": "Failure", "code": 401, "reason": "Unauthorized"})
                url = urllib.parse.urlparse(self.path)
                with kube.lock:
                    kube.calls.append((method, url.path + (f"?{url.query}" if url.query else "")))
                    status, payload = kube.handle(method, url.path, dict(urllib.parse.parse_qsl(url.query)), body)
                self._send(status, payload)

            def do_GET(self):  # noqa: N802
                self._handle("GET")

            def do_POST(self):  # noqa: N802
                self._handle("POST")

            def do_PATCH(self):  # noqa: N802
                self._handle("PATCH")

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    def kubeconfig(self) -> str:
        return json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "admin@kosmos",
            # Like Scaleway's kubeconfig, with the CA inline (the client writes it to a temporary file).
            "clusters": [{"name": "kosmos", "cluster": {"server": self.url, "certificate-authority-data":
                                                        base64.b64encode(open(loopback_certificate()[0], "rb").read()).decode()}}],
            "contexts": [{"name": "admin@kosmos", "context": {"cluster": "kosmos", "user": "admin"}}],
            "users": [{"name": "admin", "user": {"token": TOKEN}}],
        })

    @staticmethod
    def _status(code: int, reason: str, message: str) -> tuple[int, dict]:
        return code, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason,
                      "message": message}

    def handle(self, method: str, path: str, query: dict, body):
        if m := re.fullmatch(r"/api/v1/nodes/([^/]+)", path):
            node = self.nodes.get(m.group(1))
            if node is None:
                return self._status(404, "NotFound", f'nodes "{m.group(1)}" not found')
            if method == "PATCH":
                node.setdefault("spec", {}).update((body or {}).get("spec", {}))
            return 200, node
        if path == "/api/v1/pods" and method == "GET":
            selector = query.get("fieldSelector", "")
            node = selector.split("=", 1)[1] if selector.startswith("spec.nodeName=") else None
            items = [p for p in self.pods if node is None or p["spec"]["nodeName"] == node]
            return 200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items}
        if m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/eviction", path):
            namespace, name = m.groups()
            target = next((p for p in self.pods if p["metadata"]["name"] == name
                           and p["metadata"]["namespace"] == namespace), None)
            if target is None:
                return self._status(404, "NotFound", f'pods "{name}" not found')
            if self.pdb_blocks.get(name, 0) > 0:
                self.pdb_blocks[name] -= 1
                return self._status(429, "TooManyRequests",
                                    "Cannot evict pod as it would violate the pod's disruption budget.")
            self.pods.remove(target)
            return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}
        return self._status(404, "NotFound", f"no route {method} {path}")
