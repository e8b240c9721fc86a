"""`make latency STACK=<stack>`: the cloud-region x cloud-region RTT matrix, as measured by the cluster's own probes.

Needs `kosmos:latencyProbe: {enabled: true}` on the stack (components/latency_probe.py). The kubeconfig comes from
$KUBECONFIG if set, else from `pulumi stack output kubeconfig --show-secrets --stack <stack>`; it is kept in memory
only. Every probe is scraped through the Kubernetes API's pod proxy with the official `kubernetes` client (the
Service proxy would pick one probe at random), until each has completed a measuring round, within --timeout.

Prints median and p95 per pair of locations with the failures, and writes build/<stack>/latency.json and
build/<stack>/latency.png (a heatmap of the medians).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from prometheus_client.parser import text_string_to_metric_families
from urllib3.exceptions import HTTPError, MaxRetryError

from components.latency_probe import NAME, NAMESPACE, PORT, SELECTOR

REPO = pathlib.Path(__file__).resolve().parent.parent
QUANTILES = {"median": 0.5, "p95": 0.95}


class LatencyError(RuntimeError):
    """A problem the operator can act on (message says what)."""


# ---------------------------------------------------------------------------------------------------------------
# Kubeconfig and API client
# ---------------------------------------------------------------------------------------------------------------


def api_client(stack: str, run: Callable = subprocess.run) -> k8s_client.ApiClient:
    path = os.environ.get("KUBECONFIG")
    if path:
        path = path.split(os.pathsep)[0]
        if not os.path.isfile(path):
            raise LatencyError(f"KUBECONFIG={path}: no such file")
        return _client(lambda: k8s_config.new_client_from_config(config_file=path), f"KUBECONFIG={path}")
    command = ["pulumi", "stack", "output", "kubeconfig", "--show-secrets", "--stack", stack]
    try:
        result = run(command, capture_output=True, text=True, cwd=REPO, check=False)
    except FileNotFoundError:
        raise LatencyError("no KUBECONFIG and no `pulumi` CLI: set KUBECONFIG=<file> or install Pulumi") from None
    if result.returncode != 0:
        raise LatencyError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
    return _client(lambda: k8s_config.new_client_from_config_dict(yaml.safe_load(result.stdout)),
                   f"the stack's kubeconfig output (`{' '.join(command)}`)")


def _client(load: Callable[[], k8s_client.ApiClient], source: str) -> k8s_client.ApiClient:
    """The client's loader raises YAML errors, ConfigException or TypeError (a YAML list, an empty file) on a bad
    kubeconfig: one line naming the source instead of a traceback."""
    try:
        return load()
    except (yaml.YAMLError, ConfigException, TypeError, AttributeError) as err:
        reason = " ".join(str(err).split())
        raise LatencyError(f"{source} is not a usable kubeconfig: {reason}") from None


# ---------------------------------------------------------------------------------------------------------------
# Scraping
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Scrape:
    desired: int
    """DaemonSet status.desiredNumberScheduled: one probe per schedulable node."""
    metrics: dict = field(default_factory=dict)
    """pod name -> its /metrics text (only probes that completed at least one round)."""
    silent: dict = field(default_factory=dict)
    """pod name -> why it has not reported yet."""


def _rounds(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "kosmos_probe_rounds":  # the parser strips a counter's _total
            return sum(s.value for s in family.samples if s.name == "kosmos_probe_rounds_total")
    return 0


def scrape_once(core: k8s_client.CoreV1Api, apps: k8s_client.AppsV1Api, scrape: Optional[Scrape],
                request_timeout: float) -> Scrape:
    """One pass: every probe that has not reported yet (all of them when `scrape` is None)."""
    try:
        ds = apps.read_namespaced_daemon_set(NAME, NAMESPACE, _request_timeout=request_timeout)
    except ApiException as err:
        if err.status == 404:
            raise LatencyError(
                f"no DaemonSet {NAMESPACE}/{NAME}: enable the probe with `kosmos:latencyProbe: {{enabled: true}}` "
                "in the stack file and run `pulumi up`"
            ) from None
        raise
    previous = scrape.metrics if scrape else {}
    current = Scrape(desired=(ds.status.desired_number_scheduled or 0) if ds.status else 0)
    selector = ",".join(f"{k}={v}" for k, v in SELECTOR.items())
    pods = core.list_namespaced_pod(NAMESPACE, label_selector=selector, _request_timeout=request_timeout).items
    for pod in pods:
        name = pod.metadata.name
        if name in previous:
            current.metrics[name] = previous[name]
            continue
        if (pod.status.phase if pod.status else None) != "Running":
            current.silent[name] = f"pod is {pod.status.phase if pod.status else 'unknown'}"
            continue
        try:
            # _preload_content=False: the body is Prometheus text, not a JSON model to deserialize.
            response = core.connect_get_namespaced_pod_proxy_with_path(
                f"{name}:{PORT}", NAMESPACE, "metrics", _preload_content=False, _request_timeout=request_timeout
            )
            text = response.data.decode("utf-8")
        except ApiException as err:
            current.silent[name] = f"proxy answered {err.status}: {_status_message(err)}"
            continue
        except HTTPError as err:
            current.silent[name] = f"no answer through the API proxy: {err}"
            continue
        if _rounds(text) >= 1:
            current.metrics[name] = text
        else:
            current.silent[name] = "no measuring round completed yet"
    return current


def _status_message(err: ApiException) -> str:
    try:
        return json.loads(err.body).get("message", err.reason)
    except (TypeError, ValueError):
        return str(err.reason)


def collect(core, apps, *, timeout: float, poll: float, request_timeout: float = 10,
            progress=None, clock=time.monotonic, sleep=time.sleep) -> Scrape:
    """Scrape until every probe has reported once (then once more, all of them, for fresh numbers) or timeout."""
    progress = progress or sys.stderr
    start = clock()
    scrape, passes = None, 0
    while True:
        scrape, passes = scrape_once(core, apps, scrape, request_timeout), passes + 1
        done = len(scrape.metrics)
        expected = max(scrape.desired, done + len(scrape.silent))
        elapsed = clock() - start
        print(f"\rwaiting for the probes: {done}/{expected} reported ({elapsed:.0f}s of {timeout:.0f}s)",
              end="", file=progress, flush=True)
        if expected and done >= expected:
            print(file=progress)
            if passes == 1:
                return scrape
            # Early reporters were scraped minutes ago: take everyone's numbers again. A probe that stopped
            # answering since keeps the numbers it gave.
            fresh = scrape_once(core, apps, None, request_timeout)
            for pod, text in scrape.metrics.items():
                if pod not in fresh.metrics:
                    fresh.metrics[pod] = text
                    fresh.silent.pop(pod, None)
            return fresh
        if elapsed + poll > timeout:
            print(file=progress)
            missing = "; ".join(f"{pod}: {why}" for pod, why in sorted(scrape.silent.items()))
            gap = expected - done - len(scrape.silent)
            if gap > 0:
                missing += f"{'; ' if missing else ''}{gap} probe pod(s) not created yet"
            raise TimeoutError_(scrape, f"{done} of {expected} probes reported within {timeout:.0f}s ({missing})")
        sleep(poll)


class TimeoutError_(LatencyError):
    def __init__(self, scrape: Scrape, message: str):
        super().__init__(message)
        self.scrape = scrape


# ---------------------------------------------------------------------------------------------------------------
# The matrix
# ---------------------------------------------------------------------------------------------------------------


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile over cumulative (upper bound, count) buckets, as Prometheus computes it
    (prometheus/prometheus promql/quantile.go, BucketQuantile): linear interpolation inside the bucket holding the
    rank, a lower bound of 0 for the first bucket, and the highest finite bound if the rank falls in +Inf."""
    buckets = sorted(buckets)
    if len(buckets) < 2 or not math.isinf(buckets[-1][0]):
        return math.nan
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next(i for i, (_, count) in enumerate(buckets) if count >= rank or i == len(buckets) - 1)
    if b == len(buckets) - 1:
        return buckets[-2][0]
    start, end, count = 0.0, buckets[b][0], buckets[b][1]
    if b > 0:
        start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return start + (end - start) * (rank / count)


def location(cloud: str, region: str) -> str:
    return f"{cloud}/{region}"


def matrix(metrics_texts: list[str]) -> dict:
    """Aggregate every probe's histograms per (source location, destination location)."""
    buckets: dict[tuple[str, str], dict[float, float]] = {}
    failures: dict[tuple[str, str], float] = {}
    samples = [s for text in metrics_texts for f in text_string_to_metric_families(text) for s in f.samples]
    # Each probe states its own node's location; a probe that could not ask a peer (it died first) labels it
    # `unknown`, and the peer's own statement fills the gap.
    nodes = {s.labels["node"]: location(s.labels["cloud"], s.labels["cloud_region"])
             for s in samples if s.name == "kosmos_probe_info" and s.labels.get("cloud") != "unknown"}

    def where(labels: dict, side: str) -> str:
        cloud, region = labels[f"{side}_cloud"], labels[f"{side}_cloud_region"]
        if cloud == "unknown":
            return nodes.get(labels[f"{side}_node"], location(cloud, region))
        return location(cloud, region)

    for sample in samples:
        labels = sample.labels
        if sample.name == "kosmos_probe_failures_total":
            key = (where(labels, "source"), where(labels, "destination"))
            failures[key] = failures.get(key, 0) + sample.value
        elif sample.name == "kosmos_probe_rtt_seconds_bucket":
            key = (where(labels, "source"), where(labels, "destination"))
            per_key = buckets.setdefault(key, {})
            bound = float(labels["le"])
            per_key[bound] = per_key.get(bound, 0) + sample.value  # cumulative counts add up bucket by bucket
    cells = []
    for key in sorted(set(buckets) | set(failures)):
        cell_buckets = list(buckets.get(key, {}).items())
        count = max((c for b, c in cell_buckets if math.isinf(b)), default=0)
        cell = {"from": key[0], "to": key[1], "samples": int(count), "failures": int(failures.get(key, 0))}
        for name, q in QUANTILES.items():
            value = bucket_quantile(q, cell_buckets) if count else math.nan
            cell[f"{name}Seconds"] = None if math.isnan(value) else value
        cells.append(cell)
    locations = sorted({c["from"] for c in cells} | {c["to"] for c in cells} | set(nodes.values()))
    return {"locations": locations, "nodes": dict(sorted(nodes.items())), "cells": cells}


def _ms(seconds: Optional[float]) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def render_table(result: dict) -> str:
    locations = result["locations"]
    cells = {(c["from"], c["to"]): c for c in result["cells"]}

    def text(src: str, dst: str) -> str:
        cell = cells.get((src, dst))
        if cell is None:
            return "·"
        out = f"{_ms(cell['medianSeconds'])} / {_ms(cell['p95Seconds'])}"
        return out + (f" ({cell['failures']} failed)" if cell["failures"] else "")

    rows = [["from \\ to"] + locations] + [[src] + [text(src, dst) for dst in locations] for src in locations]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["RTT in ms over the pod network: median / p95 (histogram estimates), failed handshakes in brackets"]
    for row in rows:
        lines.append("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


def write_heatmap(result: dict, path: pathlib.Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    locations = result["locations"]
    index = {loc: i for i, loc in enumerate(locations)}
    grid = [[math.nan] * len(locations) for _ in locations]
    labels = [[""] * len(locations) for _ in locations]
    for cell in result["cells"]:
        i, j = index[cell["from"]], index[cell["to"]]
        if cell["medianSeconds"] is not None:
            grid[i][j] = cell["medianSeconds"] * 1000
        labels[i][j] = f"{_ms(cell['medianSeconds'])}\n{_ms(cell['p95Seconds'])}" + (
            f"\n{cell['failures']} failed" if cell["failures"] else "")
    size = 2 + 1.3 * max(1, len(locations))
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    if not locations:  # no probe reported: still a file, saying so
        ax.text(0.5, 0.5, "no probe has reported yet", ha="center", va="center")
        ax.set_axis_off()
        ax.set_title(title)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return
    # Pairs with no sample (only failures, or not measured) in grey.
    cmap = matplotlib.colormaps["viridis_r"].with_extremes(bad="lightgrey")
    image = ax.imshow(grid, cmap=cmap)
    finite = [v for row in grid for v in row if not math.isnan(v)]
    middle = (min(finite) + max(finite)) / 2 if finite else 0
    fig.colorbar(image, ax=ax, label="median RTT (ms)")
    ax.set_xticks(range(len(locations)), locations, rotation=45, ha="right")
    ax.set_yticks(range(len(locations)), locations)
    ax.set_xlabel("to")
    ax.set_ylabel("from")
    ax.set_title(f"{title}\nmedian / p95 RTT (ms)")
    for i in range(len(locations)):
        for j in range(len(locations)):
            if labels[i][j]:
                dark = not math.isnan(grid[i][j]) and grid[i][j] > middle  # viridis_r: high values are dark
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8, color="white" if dark else "black")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(stack: str, scrape: Scrape, out_dir: pathlib.Path, complete: bool) -> dict:
    result = matrix(list(scrape.metrics.values()))
    result = {
        "stack": stack,
        "generatedAt": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "probes": {"expected": scrape.desired, "reported": len(scrape.metrics), "complete": complete,
                   "silent": dict(sorted(scrape.silent.items()))},
        **result,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latency.json").write_text(json.dumps(result, indent=2) + "\n")
    write_heatmap(result, out_dir / "latency.png", f"kosmos latency: stack {stack}")
    return result


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="cloud-region x cloud-region RTT matrix from the kosmos latency probes")
    ap.add_argument("--stack", default="dev")
    ap.add_argument("--timeout", type=float, default=300, help="seconds to wait for every probe (default 300)")
    ap.add_argument("--poll", type=float, default=5, help="seconds between two scrapes while waiting")
    ap.add_argument("--out", type=pathlib.Path, help="output directory (default build/<stack>)")
    args = ap.parse_args(argv)
    out_dir = args.out or REPO / "build" / args.stack
    try:
        api = api_client(args.stack)
        core, apps = k8s_client.CoreV1Api(api), k8s_client.AppsV1Api(api)
        complete = True
        try:
            scrape = collect(core, apps, timeout=args.timeout, poll=args.poll)
        except TimeoutError_ as err:
            print(f"latency: {err}; the matrix below has the probes that did report", file=sys.stderr)
            scrape, complete = err.scrape, False
        result = report(args.stack, scrape, out_dir, complete)
    except MaxRetryError as err:
        # urllib3's message repeats the URL and the connection object; the host and the reason are what matter.
        print(f"latency: cannot reach the Kubernetes API at {api.configuration.host}: {err.reason}", file=sys.stderr)
        return 1
    except (LatencyError, ApiException, HTTPError, OSError) as err:
        print(f"latency: {err}", file=sys.stderr)
        return 1
    print(render_table(result))
    print(f"wrote {out_dir / 'latency.json'} and {out_dir / 'latency.png'}")
    return 0 if complete else 2


if __name__ == "__main__":
    sys.exit(main())
