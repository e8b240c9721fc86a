"""kosmos latency probe: one per node, measures the round-trip time to every other probe over the pod network.

Shipped to the cluster in a ConfigMap and run by a stock `python3` image, so it uses the standard library only.

Every `--interval` seconds a round:
  1. discovers its peers from the EndpointSlices of the probes' headless Service (`GET /apis/discovery.k8s.io/v1/
     namespaces/{ns}/endpointslices?labelSelector=kubernetes.io/service-name={svc}`) and its own node's `cloud` /
     `cloud-region` labels (`GET /api/v1/nodes/{node}`), with the pod's service-account token;
  2. learns each new peer's node labels once from the peer itself (`GET /identity`), so N probes never make N×N
     reads of Node objects from the API server;
  3. times `--samples` TCP handshakes to each peer (connect() returns after SYN / SYN-ACK: one round trip, answered
     by the peer's kernel, so the peer's Python never adds to the number), with at most `--workers` in flight and
     every connect bounded by `--timeout`. Peers not reached before the round's deadline are skipped and measured
     first in the next round, so the work per round is bounded whatever the cluster size.

Serves Prometheus text format 0.0.4 on `/metrics`: `kosmos_probe_rtt_seconds` (histogram) and
`kosmos_probe_failures_total`, both labelled with the source and destination node and their `cloud` and
`cloud-region` labels (`source_cloud_region`: Prometheus label names cannot contain '-').
"""

from __future__ import annotations

import argparse
import bisect
import collections
import concurrent.futures
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Upper bounds (seconds). Dense under 20 ms (same site, same metro), then up to transatlantic and beyond.
BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0,
)
LABELS = (
    "source_node", "source_cloud", "source_cloud_region",
    "destination_node", "destination_cloud", "destination_cloud_region",
)
UNKNOWN = "unknown"
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True)
class Identity:
    node: str
    cloud: str = UNKNOWN
    cloud_region: str = UNKNOWN


@dataclass(frozen=True)
class Peer:
    pod: str
    address: str
    port: int
    node: str


# ---------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs) -> str:
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in pairs) + "}"


class Metrics:
    """Counters and histograms in memory, rendered in the Prometheus text format. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rtt: dict[tuple, list] = {}  # label values -> [bucket counts..., sum, count]
        self._failures: collections.Counter = collections.Counter()  # label values + reason -> count
        self.rounds = 0
        self.peers = 0
        self.identity = Identity(UNKNOWN)

    def observe(self, key: tuple, seconds: float) -> None:
        with self._lock:
            entry = self._rtt.setdefault(key, [0] * len(BUCKETS) + [0.0, 0])
            index = bisect.bisect_left(BUCKETS, seconds)  # le: a value equal to a bound falls in that bucket
            if index < len(BUCKETS):
                entry[index] += 1
            entry[-2] += seconds
            entry[-1] += 1

    def fail(self, key: tuple, reason: str) -> None:
        with self._lock:
            self._failures[key + (reason,)] += 1

    def render(self) -> str:
        with self._lock:
            out = [
                "# HELP kosmos_probe_info The node this probe runs on and its cloud labels.",
                "# TYPE kosmos_probe_info gauge",
                "kosmos_probe_info" + _labels((("node", self.identity.node), ("cloud", self.identity.cloud),
                                                ("cloud_region", self.identity.cloud_region))) + " 1",
                "# HELP kosmos_probe_rounds_total Measuring rounds completed by this probe.",
                "# TYPE kosmos_probe_rounds_total counter",
                f"kosmos_probe_rounds_total {self.rounds}",
                "# HELP kosmos_probe_peers Peers found at the last discovery.",
                "# TYPE kosmos_probe_peers gauge",
                f"kosmos_probe_peers {self.peers}",
                "# HELP kosmos_probe_rtt_seconds TCP handshake round-trip time to a peer probe over the pod network.",
                "# TYPE kosmos_probe_rtt_seconds histogram",
            ]
            for key in sorted(self._rtt):
                entry, base = self._rtt[key], tuple(zip(LABELS, key))
                cumulative = 0
                for bound, count in zip(BUCKETS, entry):
                    cumulative += count
                    out.append(f"kosmos_probe_rtt_seconds_bucket{_labels(base + (('le', repr(bound)),))} {cumulative}")
                out.append(f"kosmos_probe_rtt_seconds_bucket{_labels(base + (('le', '+Inf'),))} {entry[-1]}")
                out.append(f"kosmos_probe_rtt_seconds_sum{_labels(base)} {entry[-2]!r}")
                out.append(f"kosmos_probe_rtt_seconds_count{_labels(base)} {entry[-1]}")
            out += [
                "# HELP kosmos_probe_failures_total Handshakes to a peer probe that failed (timeout, refused, ...).",
                "# TYPE kosmos_probe_failures_total counter",
            ]
            for key in sorted(self._failures):
                out.append(f"kosmos_probe_failures_total{_labels(tuple(zip(LABELS + ('reason',), key)))} "
                           f"{self._failures[key]}")
            return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Discovery through the Kubernetes API (or a stand-in of it)
# ---------------------------------------------------------------------------------------------------------------


class KubernetesDiscovery:
    """Reads the probes' EndpointSlices and this node's labels with the pod's service-account token."""

    def __init__(self, api_url: str, namespace: str, service: str, token_file: str, ca_file: str, timeout: float):
        self.api_url = api_url.rstrip("/")
        self.namespace, self.service = namespace, service
        self.token_file, self.timeout = token_file, timeout
        self.context = None
        if self.api_url.startswith("https://"):
            self.context = ssl.create_default_context(cafile=ca_file if os.path.exists(ca_file) else None)

    def _get(self, path: str, query: dict | None = None) -> dict:
        url = self.api_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        # Re-read every time: the kubelet rotates bound service-account tokens in place.
        with open(self.token_file, encoding="utf-8") as handle:
            request.add_header("Authorization", f"Bearer {handle.read().strip()}")
        with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
            return json.load(response)

    def identity(self, node: str) -> Identity:
        labels = self._get(f"/api/v1/nodes/{urllib.parse.quote(node)}").get("metadata", {}).get("labels") or {}
        return Identity(node, labels.get("cloud", UNKNOWN), labels.get("cloud-region", UNKNOWN))

    def peers(self) -> list[Peer]:
        # resourceVersion=0: served from the API server's watch cache, cheap even with one probe per node.
        slices = self._get(
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices",
            {"labelSelector": f"kubernetes.io/service-name={self.service}", "resourceVersion": "0"},
        )
        found = {}
        for item in slices.get("items") or []:
            # A slice's ports apply to all its endpoints; the controller splits endpoints whose port differs.
            ports = [p.get("port") for p in item.get("ports") or [] if p.get("port")]
            if not ports:
                continue
            for endpoint in item.get("endpoints") or []:
                conditions = endpoint.get("conditions") or {}
                addresses = endpoint.get("addresses") or []
                if conditions.get("terminating") or not addresses:
                    continue
                pod = (endpoint.get("targetRef") or {}).get("name") or addresses[0]
                found[pod] = Peer(pod, addresses[0], int(ports[0]), endpoint.get("nodeName") or UNKNOWN)
        return [found[k] for k in sorted(found)]


# ---------------------------------------------------------------------------------------------------------------
# The probe
# ---------------------------------------------------------------------------------------------------------------


class Probe:
    def __init__(self, discovery: KubernetesDiscovery, *, node: str, pod: str, interval: float, timeout: float,
                 samples: int, workers: int, max_peers: int):
        self.discovery, self.node, self.pod = discovery, node, pod
        self.interval, self.timeout, self.samples = interval, timeout, samples
        self.workers, self.max_peers = workers, max_peers
        self.metrics = Metrics()
        self.metrics.identity = Identity(node)
        self._identities: dict[tuple[str, str, int], Identity] = {}
        self._backlog: collections.deque[str] = collections.deque()  # pods skipped at the last deadline
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")

    def _peer_identity(self, peer: Peer) -> Identity:
        key = (peer.pod, peer.address, peer.port)
        if key not in self._identities:
            try:
                url = f"http://{_host(peer.address)}:{peer.port}/identity"
                with urllib.request.urlopen(url, timeout=self.timeout) as response:
                    data = json.load(response)
                found = Identity(peer.node, data.get("cloud", UNKNOWN), data.get("cloudRegion", UNKNOWN))
            except (OSError, ValueError):
                return Identity(peer.node)  # not cached: asked again next round
            if found.cloud == UNKNOWN:  # the peer has not read its own Node yet: ask again next round
                return found
            self._identities[key] = found
        return self._identities[key]

    def _measure(self, peer: Peer, deadline: float) -> None:
        me, them = self.metrics.identity, self._peer_identity(peer)
        key = (me.node, me.cloud, me.cloud_region, them.node, them.cloud, them.cloud_region)
        for _ in range(self.samples):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            start = time.perf_counter()
            try:
                with socket.create_connection((peer.address, peer.port), timeout=min(self.timeout, remaining)):
                    elapsed = time.perf_counter() - start
            except socket.timeout:
                self.metrics.fail(key, "timeout")
                continue
            except ConnectionRefusedError:
                self.metrics.fail(key, "refused")
                continue
            except OSError:
                self.metrics.fail(key, "unreachable")
                continue
            self.metrics.observe(key, elapsed)

    def round(self) -> None:
        deadline = time.monotonic() + self.interval * 0.8
        try:
            # Own labels: at start, until known, then every 10th round (labels rarely change).
            if self.metrics.identity.cloud == UNKNOWN or self.metrics.rounds % 10 == 0:
                self.metrics.identity = self.discovery.identity(self.node)
            peers = [p for p in self.discovery.peers() if p.pod != self.pod][: self.max_peers]
        except (OSError, ValueError) as err:
            print(f"kosmos-probe: discovery failed: {err}", file=sys.stderr, flush=True)
            return
        self.metrics.peers = len(peers)
        # Peers skipped at the last deadline go first, so no peer is starved on a large cluster.
        first = [p for p in peers if p.pod in self._backlog]
        ordered = first + [p for p in peers if p.pod not in self._backlog]
        futures = {self._pool.submit(self._measure, peer, deadline): peer for peer in ordered}
        done, pending = concurrent.futures.wait(futures, timeout=max(0.0, deadline - time.monotonic()) + self.timeout)
        for future in pending:
            future.cancel()
        self._backlog = collections.deque(futures[f].pod for f in pending)
        for future in done:
            if future.exception() is not None:
                print(f"kosmos-probe: {futures[future].pod}: {future.exception()}", file=sys.stderr, flush=True)
        with self.metrics._lock:
            self.metrics.rounds += 1

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            self.round()
            stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
        self._pool.shutdown(wait=False, cancel_futures=True)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def serve(probe: Probe, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            if self.path == "/metrics":
                body, ctype = probe.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8"
            elif self.path == "/identity":
                me = probe.metrics.identity
                body = json.dumps({"node": me.node, "cloud": me.cloud, "cloudRegion": me.cloud_region}).encode()
                ctype = "application/json"
            elif self.path == "/healthz":
                body, ctype = b"ok\n", "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # one line per scrape would drown the pod's log
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    env = os.environ
    default_api = "https://{}:{}".format(
        _host(env.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")), env.get("KUBERNETES_SERVICE_PORT", "443")
    )
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--api-url", default=env.get("KOSMOS_PROBE_API_URL", default_api))
    ap.add_argument("--namespace", default=env.get("POD_NAMESPACE", "kosmos-latency"))
    ap.add_argument("--service", default=env.get("KOSMOS_PROBE_SERVICE", "kosmos-latency-probe"))
    ap.add_argument("--node", default=env.get("NODE_NAME", socket.gethostname()))
    ap.add_argument("--pod", default=env.get("POD_NAME", socket.gethostname()))
    ap.add_argument("--listen", default=env.get("KOSMOS_PROBE_LISTEN", "0.0.0.0"))
    ap.add_argument("--port", type=int, default=int(env.get("KOSMOS_PROBE_PORT", "9100")))
    ap.add_argument("--interval", type=float, default=float(env.get("KOSMOS_PROBE_INTERVAL", "30")))
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds per handshake or HTTP request")
    ap.add_argument("--samples", type=int, default=3, help="handshakes per peer per round")
    ap.add_argument("--workers", type=int, default=8, help="handshakes in flight at once")
    ap.add_argument("--max-peers", type=int, default=500, help="peers measured per round (Kosmos: ≤ 500 nodes)")
    ap.add_argument("--token-file", default=f"{SA_DIR}/token")
    ap.add_argument("--ca-file", default=f"{SA_DIR}/ca.crt")
    ap.add_argument("--exit-after", type=float, default=0, help="stop after this many seconds (0: never)")
    args = ap.parse_args(argv)

    discovery = KubernetesDiscovery(args.api_url, args.namespace, args.service, args.token_file, args.ca_file,
                                    args.timeout)
    probe = Probe(discovery, node=args.node, pod=args.pod, interval=args.interval, timeout=args.timeout,
                  samples=args.samples, workers=args.workers, max_peers=args.max_peers)
    try:  # best effort before serving, so peers asking /identity get the labels from the start
        probe.metrics.identity = discovery.identity(args.node)
    except (OSError, ValueError) as err:
        print(f"kosmos-probe: cannot read node {args.node} yet: {err}", file=sys.stderr, flush=True)
    server = serve(probe, args.listen, args.port)
    stop = threading.Event()
    try:
        import signal

        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    except ValueError:  # not the main thread
        pass
    if args.exit_after:
        timer = threading.Timer(args.exit_after, stop.set)
        timer.daemon = True  # a SIGTERM stop must not wait for it
        timer.start()
    print(f"kosmos-probe: node {args.node}, listening on {args.listen}:{args.port}, every {args.interval:g}s",
          file=sys.stderr, flush=True)
    try:
        probe.run(stop)
    finally:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
