"""A local Kosmos: the Scaleway K8s API paths the node installer and the official SDK call, on 127.0.0.1.

Written from the vendors' source:
- k8s-agent metadata.go (github.com/scaleway/k8s-agent v0.1.5): `POST {api}/k8s/v1/regions/{region}/pools/{pool}/
  external-nodes/auth` with `X-Auth-Token: <join key>` answers `{metadata_url, node_secret_key}`; `GET metadata_url`
  with `X-Auth-Token: <node secret>` answers NodeMetadata (id, name, cluster_url, …, external_ip, repo_uri).
- scaleway-sdk-python scaleway/k8s/v1/api.py + marshalling.py: `GET …/node-metadata` (get_node_metadata, used as the
  metadata_url), `GET …/clusters/{id}/nodes` (list_nodes: page, page_size, pool_id; `{nodes, total_count}`),
  `GET …/nodes/{id}` (get_node), `DELETE …/nodes/{id}?skip_drain=` (delete_node: "Pool size is reduced by 1"),
  `GET …/clusters/{id}/kubeconfig` (ScwFile, base64 content), `GET …/clusters/{id}` (get_cluster: `version`),
  `GET …/pools/{id}` (get_pool). Node and pool fields as unmarshal_Node / unmarshal_Pool read them.
It behaves like Scaleway where the issue and the seed's output say how: node names `scw-<cluster>-<pool>-<hex>`, a
delete goes through `deleting` and is gone `delete_seconds` later. Errors use Scaleway's JSON error shape (`message`,
`type`). `auth_external_node` accepts the operator's key (kosmos registers every machine's node itself) or a pool's
join key (the agent's own path), never a node secret.
A registered node is `creating` until its kubelet first reaches the cluster (the stand-in agent POSTs `cluster_url`
with the node token, as k8s-agent controller.go authenticates with `BearerToken = nodemetadata.Token`), `not_ready`
for `ready_seconds`, then `ready`; `lose(node_id)` stops its kubelet (`not_ready`, a machine deleted behind Pulumi's
back). `public_ip_v4` is deprecated (scaleway-sdk-go api/k8s/v1/k8s_sdk.go) and no source says Scaleway fills it for
external nodes: it stays null unless `report_public_ip` (then it is `nat_ip`, the address the kubelet came from).
`latency_seconds` delays every answer (outside the lock, so concurrent calls overlap, as on a real API).
"""

from __future__ import annotations

import base64
import datetime as _dt
import http.server
import json
import re
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Optional

from loopback import LoopbackServer


@dataclass
class Pool:
    id: str
    name: str
    join_key: Optional[str]
    size: int
    labels: dict = field(default_factory=dict)
    version: Optional[str] = None
    """The pool's Kubernetes version (NodeMetadata.pool_version); None: the cluster's. A test moves it as an upgrade
    of the pool does."""


class LocalKosmos(LoopbackServer):
    def __init__(
        self,
        *,
        operator_secret: str,
        cluster_id: str = "11111111-1111-4111-8111-111111111111",
        cluster_name: str = "multicloud",
        region: str = "fr-par",
        ready_seconds: float = 0.2,
        delete_seconds: float = 1.0,
        default_page_size: int = 2,
        kubeconfig: Optional[str] = None,
        report_public_ip: bool = False,
        latency_seconds: float = 0.0,
    ):
        self.report_public_ip = report_public_ip
        self.latency_seconds = latency_seconds
        self.operator_secret = operator_secret
        self.cluster_id = cluster_id
        self.cluster_name = cluster_name
        self.region = region
        self.ready_seconds = ready_seconds
        self.delete_seconds = delete_seconds
        self.default_page_size = default_page_size
        self.kubeconfig = kubeconfig
        self.version = "1.31.2"
        """The control plane's Kubernetes version (Cluster.version; the metadata's pool_version)."""
        self.pools: dict[str, Pool] = {}
        self.nodes: dict[str, dict] = {}  # id -> node record (API fields plus private `_…` keys)
        self.nat_ip = "192.0.2.1"
        """The public address the next registration comes from (what Scaleway sees, not the SSH address)."""
        self.fail_auth_status: Optional[int] = None
        self.metadata_version: str = "pool"
        """What an existing node's metadata reports as pool_version: "pool" (the pool's current version) or "joined"
        (the version the node registered at). Which one Scaleway does is unverified (README, Upgrading)."""
        self.requests: list[tuple[str, str, dict]] = []
        self.lock = threading.Lock()
        kosmos = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status: int, payload) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if kosmos.fault(self, method, url.path):
                    return
                if kosmos.latency_seconds:
                    time.sleep(kosmos.latency_seconds)
                with kosmos.lock:
                    kosmos.requests.append((method, url.path, query))
                    status, payload = kosmos.handle(method, url.path, query, self.headers.get("X-Auth-Token", ""))
                self._send(status, payload)

            def do_GET(self):  # noqa: N802
                self._route("GET")

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self._route("POST")

            def do_DELETE(self):  # noqa: N802
                self._route("DELETE")

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    # -- test helpers -----------------------------------------------------------------------------------------
    def add_pool(self, name: str, join_key: Optional[str] = None, size: int = 1) -> Pool:
        pool = Pool(str(uuid.uuid4()), name, join_key, size)
        self.pools[pool.id] = pool
        return pool

    def live_nodes(self, pool_id: Optional[str] = None) -> list[dict]:
        with self.lock:
            return [self._public(n) for n in self.nodes.values() if self._visible(n) and pool_id in (None, n["pool_id"])]

    def seed_node(self, pool: Pool, *, ready: bool = True, age_seconds: float = 0,
                  node_id: Optional[str] = None) -> dict:
        """A node registered `age_seconds` ago (through the auth route with the operator's key, as NodeIdentity
        does), Ready unless not (then `creating`: its kubelet never reached the cluster). `node_id`: the id Scaleway
        would have chosen (a test replaying a program's outputs); default a new one."""
        status, payload = self._auth(pool.id, self.operator_secret, node_id)
        assert status == 200, payload
        node = next(n for n in self.nodes.values() if n["_secret"] == payload["node_secret_key"])
        if ready:
            self._kubelet_started(node)
            node["_kubelet_at"] = self._now() - self.ready_seconds
        created = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(seconds=age_seconds)
        node["created_at"] = node["updated_at"] = created.isoformat().replace("+00:00", "Z")
        return self._public(node)

    def auth_calls(self) -> int:
        return sum(1 for m, p, _ in self.requests if m == "POST" and p.endswith("/external-nodes/auth"))

    def count(self, method: str, suffix: str) -> int:
        """Requests so far whose path ends with `suffix` (e.g. ("GET", "/nodes"): lists)."""
        with self.lock:
            return sum(1 for m, p, _ in self.requests if m == method and p.endswith(suffix))

    def boot(self, node_id: str) -> None:
        """The node's kubelet reaches the cluster, as the stand-in agent does after installing (tests without one)."""
        with self.lock:
            self._kubelet_started(self.nodes[node_id])

    def lose(self, node_id: str) -> None:
        """The node's machine is gone: its kubelet stops reporting (NotReady), Scaleway still lists the node."""
        with self.lock:
            self.nodes[node_id]["_lost"] = True

    def _kubelet_started(self, node: dict) -> None:
        if node["_kubelet_at"] is None:
            node["_kubelet_at"] = self._now()
        node["_lost"] = False
        if self.report_public_ip:
            node["public_ip_v4"] = self.nat_ip

    # -- behaviour --------------------------------------------------------------------------------------------
    def error_body(self, status: int) -> tuple[str, bytes]:
        """A fault (`self.faults`, tests/loopback.py) in Scaleway's error shape: JSON `message` + `type`, which every
        error answer has (scaleway-sdk-go scw/errors.go: hasResponseError unmarshals any non-2xx body as JSON, and
        PermissionsDeniedError reads `details[].resource/action`). The 429/5xx wording is unverified."""
        bodies = {
            403: {"message": "insufficient permissions", "type": "permissions_denied",
                  "details": [{"resource": "k8s_node", "action": "read"}]},
            429: {"message": "too many requests", "type": "too_many_requests"},
        }
        body = bodies.get(status, {"message": "service unavailable" if status == 503 else "internal error",
                                   "type": "internal"})
        return "application/json", json.dumps(body).encode()

    def _now(self) -> float:
        return time.monotonic()

    def _status(self, node: dict) -> str:
        if node["_deleted_at"] is not None:
            return "deleting"
        if node["_kubelet_at"] is None:
            return "creating"
        if node["_lost"] or self._now() - node["_kubelet_at"] < self.ready_seconds:
            return "not_ready"
        return "ready"

    def _visible(self, node: dict) -> bool:
        return node["_deleted_at"] is None or self._now() - node["_deleted_at"] < self.delete_seconds

    def _public(self, node: dict) -> dict:
        out = {k: v for k, v in node.items() if not k.startswith("_")}
        out["status"] = self._status(node)
        return out

    @staticmethod
    def _not_found(resource: str, resource_id: str):
        return 404, {"message": "resource is not found", "type": "not_found", "resource": resource,
                     "resource_id": resource_id}

    @staticmethod
    def _denied():
        return 401, {"message": "authentication is denied", "type": "denied_authentication", "method": "api_key",
                     "reason": "invalid_argument"}

    def handle(self, method: str, path: str, query: dict, token: str):
        r = re.escape(self.region)
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/pools/([^/]+)/external-nodes/auth", path):
            if method != "POST":
                return 405, {"message": "method not allowed"}
            return self._auth(m.group(1), token)
        if path == f"/k8s/v1/regions/{self.region}/node-metadata" and method == "GET":
            return self._metadata(token)
        if path == f"/apiserver/{self.cluster_id}/kubelet" and method == "POST":
            node = self._by_secret(token)
            if node is None:
                return self._denied()
            self._kubelet_started(node)
            return 200, {}
        # Everything else is the operator's API: their secret key.
        if token != self.operator_secret:
            return self._denied()
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/clusters/([^/]+)/nodes", path):
            return self._list(m.group(1), query)
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/clusters/([^/]+)", path):  # get_cluster (a subset of Cluster)
            if m.group(1) != self.cluster_id or method != "GET":
                return self._not_found("k8s_cluster", m.group(1))
            return 200, {"id": self.cluster_id, "name": self.cluster_name, "region": self.region,
                         "type": "multicloud", "status": "ready", "version": self.version, "cni": "kilo"}
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/clusters/([^/]+)/kubeconfig", path):
            if m.group(1) != self.cluster_id or self.kubeconfig is None:
                return self._not_found("k8s_cluster", m.group(1))
            content = base64.b64encode(self.kubeconfig.encode()).decode()
            return 200, {"name": "kubeconfig.yaml", "content_type": "application/octet-stream", "content": content}
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/pools/([^/]+)", path):
            pool = self.pools.get(m.group(1))
            if pool is None or method != "GET":
                return self._not_found("k8s_pool", m.group(1))
            return 200, self._pool(pool)
        if m := re.fullmatch(rf"/k8s/v1/regions/{r}/nodes/([^/]+)", path):
            node = self.nodes.get(m.group(1))
            if node is None or not self._visible(node):
                return self._not_found("k8s_node", m.group(1))
            if method == "DELETE":
                if node["_deleted_at"] is None:
                    node["_deleted_at"] = self._now()
                    pool = self.pools[node["pool_id"]]
                    pool.size = max(0, pool.size - 1)  # "Pool size is reduced by 1" (SDK delete_node)
                return 200, self._public(node)
            return 200, self._public(node)
        return 404, {"message": f"no route {method} {path}", "type": "not_found"}

    def _auth(self, pool_id: str, token: str, node_id: Optional[str] = None):
        pool = self.pools.get(pool_id)
        if pool is None:
            return self._not_found("k8s_pool", pool_id)
        if token not in (self.operator_secret, pool.join_key) or not token:
            return self._denied()
        if self.fail_auth_status:
            return self.fail_auth_status, {"message": "internal error", "type": "internal"}
        node_id = node_id or str(uuid.uuid4())
        stamp = _dt.datetime.now(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
        self.nodes[node_id] = {
            "id": node_id,
            "pool_id": pool.id,
            "cluster_id": self.cluster_id,
            "provider_id": "",
            "region": self.region,
            "name": f"scw-{self.cluster_name}-{pool.name}-{node_id.replace('-', '')[:22]}",
            "conditions": {},
            "public_ip_v4": None,
            "public_ip_v6": None,
            "error_message": None,
            "created_at": stamp,
            "updated_at": stamp,
            "_secret": str(uuid.uuid4()),
            "_kubelet_at": None,
            "_lost": False,
            "_deleted_at": None,
            "_joined_version": self.pool_version(pool),
        }
        node = self.nodes[node_id]
        return 200, {
            "metadata_url": f"{self.url}/k8s/v1/regions/{self.region}/node-metadata",
            "node_secret_key": node["_secret"],
        }

    def _by_secret(self, token: str) -> Optional[dict]:
        return next((n for n in self.nodes.values() if token and n["_secret"] == token and n["_deleted_at"] is None),
                    None)

    def _metadata(self, token: str):
        node = self._by_secret(token)
        if node is None:
            return self._denied()
        pool = self.pools[node["pool_id"]]
        return 200, {
            "id": node["id"],
            "name": node["name"],
            # Scaleway's is https://<cluster>.api.k8s.<region>.scw.cloud:6443; here the loopback stand-in of it.
            "cluster_url": f"{self.url}/apiserver/{self.cluster_id}",
            "cluster_ca": base64.b64encode(b"not a real CA").decode(),
            "pool_version": self.pool_version(pool) if self.metadata_version == "pool" else node["_joined_version"],
            "kubelet_config": "",
            # A label named "id" is legal; the join must not take it for the node's id.
            "node_labels": {"id": "label-value", **pool.labels},
            "node_taints": [],
            "provider_id": f"kapsule://{node['id']}",
            "resolvconf_path": "/run/systemd/resolve/resolv.conf",
            "template_args": {},
            "has_gpu": False,
            "external_ip": node["public_ip_v4"] or "",
            "repo_uri": "https://example.invalid/repo.zip",
            "installer_tags": [],
        }

    def pool_version(self, pool: Pool) -> str:
        return pool.version or self.version

    def _pool(self, pool: Pool) -> dict:
        """GET …/pools/{id} (SDK get_pool): every field unmarshal_Pool reads, as an external pool has them."""
        stamp = "2026-12-03T00:00:00Z"
        return {
            "id": pool.id, "cluster_id": self.cluster_id, "name": pool.name, "status": "ready", "version": self.pool_version(pool),
            "node_type": "external", "autoscaling": False, "created_at": stamp, "updated_at": stamp,
            "size": pool.size, "min_size": 0, "max_size": max(1, 2 * pool.size), "container_runtime": "containerd",
            "autohealing": False, "tags": [], "kubelet_args": {}, "zone": f"{self.region}-1",
            "root_volume_type": "default_volume_type", "placement_group_id": None,
            "upgrade_policy": {"max_unavailable": 1, "max_surge": 0}, "root_volume_size": None,
            "public_ip_disabled": False, "security_group_id": "", "labels": pool.labels, "taints": [],
            "startup_taints": [], "region": self.region, "private_network_id": None, "error_message": None,
            "max_termination_grace_period": None,
        }

    def _list(self, cluster_id: str, query: dict):
        if cluster_id != self.cluster_id:
            return self._not_found("k8s_cluster", cluster_id)
        page = int(query.get("page") or 1)
        page_size = int(query.get("page_size") or self.default_page_size)
        nodes = [
            self._public(n)
            for n in self.nodes.values()
            if self._visible(n) and query.get("pool_id") in (None, n["pool_id"])
        ]
        return 200, {"nodes": nodes[(page - 1) * page_size: page * page_size], "total_count": len(nodes)}
