"""`make status STACK=<stack>` / `kosmos status --stack <stack>`: what runs against what the stack declares.

Three views, joined by the node's identity, never by an address:
- declared: the stack's outputs (`pulumi stack output --json --show-secrets`, or --outputs FILE): per external pool
  the machines with the `nodeId`/`nodeName` of the node kosmos registered for each (NodeIdentity; the shape of
  MachineSet.pool_summary in clouds/base.py), and `poolIds`, `clusterId`, `kubeconfig`. A machine claims its node by
  `nodeId`;
- Scaleway: the nodes of every pool (K8SV1API.list_nodes_all) and the control plane's version (get_cluster), with
  the stack file's `scaleway:apiUrl` and the credentials of SCW_* or the scw config file;
- Kubernetes (when reachable: KUBECONFIG, else the stack's kubeconfig output): each node's Ready condition, kubelet
  version and labels. Kosmos names the Kubernetes node as Scaleway does (the agent takes NodeMetadata.name).

A table per pool, one row per declared machine (and one per node no machine claims), then what needs attention:
orphans, nodes not Ready, kubelets behind the control plane, labels missing, machines with no node. `--reap` deletes
orphans (with `--yes`), never a node a declared machine claims.

Every outside call goes through `Apis`, one small adapter, each request retried and bounded by components/retry.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Optional

from .userdata import bare_id

# A `pulumi up` registers each machine's node (NodeIdentity, before the machine exists), but `pulumi stack output`
# claims it only once Pulumi records the stack's outputs (at the latest when the update ends). From the registration
# that takes the cloud's provisioning (PROVISIONING_MINUTES, unverified: bare metal is the slowest), then the pool's
# readiness update (PoolNodes: Ready wait, drain and delete of the machines it replaces, one deadline of
# registration.timeoutMinutes), then the replaced identities' deletes (the same timeout). An unclaimed node younger
# than that (grace_minutes) is "registering", not an orphan, and is never reaped. A node an interrupted identity
# create left (identity.py) is never claimed: it stays `creating` and is an orphan once older than that.
PROVISIONING_MINUTES = 30


def grace_minutes(config: dict, pool: str) -> float:
    """2 x the pool's registration.timeoutMinutes (stack file; spec default) + PROVISIONING_MINUTES: 60 by default."""
    from .spec import RegistrationSpec

    default = RegistrationSpec.model_fields["timeout_minutes"].default  # the config model's default
    entry = next((p for p in config.get("kosmos:externalPools") or [] if isinstance(p, dict) and p.get("name") == pool),
                 {})
    timeout = (entry.get("registration") or {}).get("timeoutMinutes", default)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):  # `pulumi up` would refuse it anyway
        timeout = default
    return 2 * float(timeout) + PROVISIONING_MINUTES


RECLAIM = "`pulumi up --refresh` (a declared machine claims it: status never deletes it)"
# Scaleway's Kosmos docs: upgrading a pool does not upgrade the external nodes it has (FACTS.md, Kubernetes versions).
# Replacing the machine alone would boot a second machine with the same node's credentials (or, on-prem, run the
# old Command's leave after the new one's join): its node identity is what gets a new node and, with it, replaces or
# re-joins the machine (README, Node identity and threat model: Replacement).
REPLACE = ("set `kosmos:cluster.version` to the control plane's and `pulumi up` (it rolls the pool's machines: README, "
           "Upgrading); if it says so already, `pulumi up --replace <the URN of the machine's node identity>` (a new "
           "node, on the pool's version; never --replace the machine itself)")
UPGRADE = "upgrade the pool (Scaleway replaces its nodes)"
REAP = "`--reap --yes` drains and deletes it"


class StatusError(RuntimeError):
    """A problem the operator can act on (the message says what); exit status 2."""


def _say(message: str) -> None:
    print(f"status: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------------------------


def stack_outputs(stack: str, outputs_file: Optional[str], cwd: pathlib.Path, run: Callable = subprocess.run) -> dict:
    if outputs_file:
        try:
            data = json.loads(pathlib.Path(outputs_file).read_text())
        except (OSError, ValueError) as err:
            raise StatusError(f"--outputs {outputs_file}: {err}") from None
    else:
        command = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
        try:
            result = run(command, capture_output=True, text=True, cwd=cwd, check=False, timeout=120)
        except FileNotFoundError:
            raise StatusError("no `pulumi` CLI: install it, or pass --outputs FILE (the JSON of "
                              "`pulumi stack output --json --show-secrets`)") from None
        except subprocess.TimeoutExpired:
            raise StatusError(f"`{' '.join(command)}` did not answer within 120s") from None
        if result.returncode != 0:
            raise StatusError(f"`{' '.join(command)}` failed: {result.stderr.strip()}")
        try:
            data = json.loads(result.stdout)
        except ValueError as err:
            raise StatusError(f"`{' '.join(command)}` printed no JSON: {err}") from None
    missing = [key for key in ("clusterId", "poolIds") if not isinstance(data, dict) or key not in data]
    if missing:
        raise StatusError(f"the stack outputs have no {', '.join(missing)}: has `pulumi up` run on stack {stack}?")
    return data


def stack_config(stack: str, project_dir: pathlib.Path) -> dict:
    """The stack file's `config:` (Pulumi.yaml's stackConfigDir, as the CLI finds it); {} without one."""
    import yaml

    path = project_dir / "Pulumi.yaml"
    try:
        project = yaml.safe_load(path.read_text()) or {}
        path = project_dir / project.get("stackConfigDir", ".") / f"Pulumi.{stack}.yaml"
        return (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    except (OSError, AttributeError):
        return {}
    except yaml.YAMLError as err:
        raise StatusError(f"{path}: {' '.join(str(err).split())}") from None


def kubeconfig_text(outputs: dict) -> tuple[Optional[str], str]:
    """(kubeconfig, where it came from): the first file of KUBECONFIG, else the stack's kubeconfig output."""
    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    if path:
        try:
            return pathlib.Path(path).read_text(), f"KUBECONFIG={path}"
        except OSError as err:
            return None, f"KUBECONFIG={path}: {err.strerror}"
    if outputs.get("kubeconfig"):
        return outputs["kubeconfig"], "the stack's kubeconfig output"
    return None, "no KUBECONFIG and no kubeconfig output"


# ---------------------------------------------------------------------------------------------------------------
# The adapter: every Scaleway and Kubernetes call
# ---------------------------------------------------------------------------------------------------------------


def _node_dict(node) -> dict:
    created = node.created_at.astimezone(dt.timezone.utc) if node.created_at else None
    return {"id": node.id, "name": node.name, "poolId": node.pool_id, "status": str(getattr(node.status, "value",
            node.status)), "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ") if created else None}


class Apis:
    """Scaleway (official SDK, scaleway/k8s/v1/api.py) and Kubernetes (official client, core_v1_api.py) calls."""

    def __init__(self, region: str, api_url: Optional[str], kubeconfig: Optional[str], request_timeout: float = 30):
        from scaleway import Client
        from scaleway.k8s.v1 import K8SV1API

        client = Client.from_config_file_and_env()  # SCW_* over ~/.config/scw/config.yaml, as the provider reads
        client.default_region = region
        if api_url:
            client.api_url = api_url.rstrip("/")
        from .retry import RetryPolicy, retrying_scaleway

        try:
            scw = K8SV1API(client)  # validates the credentials
        except ValueError as err:
            raise StatusError(f"no usable Scaleway credentials: {err}. Set SCW_ACCESS_KEY and SCW_SECRET_KEY, or "
                              "a profile in ~/.config/scw/config.yaml") from None
        # Each request retries 429/5xx/no answer for up to request_timeout, every attempt bounded in time too (the
        # SDK gives `requests` no timeout: components/retry.py).
        self.retry = RetryPolicy()
        self.scw = retrying_scaleway(scw, deadline=lambda: self.retry.clock() + request_timeout, policy=self.retry)
        self.api_url, self.region, self.timeout = client.api_url, region, request_timeout
        self.kubeconfig = kubeconfig
        self._tmp: Optional[tempfile.TemporaryDirectory] = None
        self._core = None

    def _scaleway(self, what: str, call: Callable[[], Any], missing: Any = StatusError) -> Any:
        """One request, bounded; `missing` is returned for a 404 (raised as an error when left StatusError)."""
        import requests
        from scaleway_core.api import ScalewayException

        from .retry import RetryExhausted

        try:
            return call()
        except RetryExhausted as err:
            raise StatusError(f"Scaleway API {what}: {err}") from None
        except ScalewayException as err:
            if err.status_code == 404 and missing is not StatusError:
                return missing
            raise StatusError(f"Scaleway API {what}: HTTP {err.status_code} {err.response.text.strip()}") from None
        except requests.RequestException as err:
            raise StatusError(f"Scaleway API at {self.api_url} ({what}): {err}") from None

    def cluster_version(self, cluster_id: str) -> str:
        return self._scaleway("get_cluster", lambda: self.scw.get_cluster(cluster_id=cluster_id)).version

    def pool_nodes(self, cluster_id: str, pool_id: str) -> list[dict]:
        """list_nodes_all page by page (its loop: scaleway_core/utils/fetch_all_pages.py, until an empty page), so
        each request is bounded, not the whole list."""
        nodes: list = []
        pages: list[int] = []
        while True:
            page = self._scaleway("list_nodes", lambda: self.scw.list_nodes(
                cluster_id=cluster_id, pool_id=pool_id, page=len(pages) + 1))
            nodes += page.nodes
            pages.append(len(page.nodes))
            if not page.nodes or len(nodes) >= (page.total_count or 0):
                return [_node_dict(n) for n in nodes]

    def node_listed(self, node_id: str) -> bool:
        return self._scaleway("get_node", lambda: self.scw.get_node(node_id=node_id) and True, missing=False)

    def delete_node(self, node_id: str) -> None:
        # skip_drain is "currently inactive" (SDK delete_node docstring): kosmos drains first itself. Gone already
        # (404) is what was asked.
        self._scaleway("delete_node", lambda: self.scw.delete_node(node_id=node_id, skip_drain=False), missing=None)

    def kube_nodes(self) -> dict[str, dict]:
        """name -> {ready: "True"/"False"/"Unknown", kubelet, labels}; StatusError when the API cannot be read."""
        import yaml
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.config.config_exception import ConfigException
        from urllib3.exceptions import HTTPError, MaxRetryError

        from .drain import kube_api_client
        from .retry import RetryExhausted, retrying_kubernetes

        if self.kubeconfig is None:
            raise StatusError("no kubeconfig")
        try:
            if self._core is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="kosmos-status-")
                # One retry: urllib3 would retry a refused or silent connection 3 times, each up to the timeout.
                api = kube_api_client(self.kubeconfig, self._tmp.name, retries=1)
                self._core = client.CoreV1Api(api)
            nodes, token = {}, None
            while True:
                # Retried like every call (components/retry.py), each page within request_timeout.
                page = retrying_kubernetes(self.retry, self.retry.clock() + self.timeout)(
                    "list nodes", self._core.list_node, limit=500, _continue=token)
                for node in page.items:
                    ready = next((c.status for c in (node.status.conditions or []) if c.type == "Ready"), None) \
                        if node.status else None
                    nodes[node.metadata.name] = {
                        "ready": ready or "Unknown",
                        "kubelet": node.status.node_info.kubelet_version if node.status and node.status.node_info
                        else None,
                        "labels": node.metadata.labels or {},
                    }
                token = page.metadata._continue if page.metadata else None
                if not token:
                    return nodes
        except RetryExhausted as err:
            raise StatusError(f"cannot reach {self._core.api_client.configuration.host}: {err}") from None
        except MaxRetryError as err:
            raise StatusError(f"cannot reach {self._core.api_client.configuration.host}: {err.reason}") from None
        except ApiException as err:
            raise StatusError(f"list nodes answered HTTP {err.status} {err.reason}") from None
        except (HTTPError, OSError, ConfigException, ValueError, TypeError, AttributeError, yaml.YAMLError) as err:
            raise StatusError(f"not a usable kubeconfig, or no answer: {' '.join(str(err).split())}") from None

    def drain(self, node_name: str, deadline: float) -> str:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        from .drain import UNMANAGED, DrainError, drain_node

        try:
            drained = drain_node(self.kubeconfig, node_name, deadline=deadline)
        except DrainError as err:
            raise StatusError(f"drain: {err}") from None
        except (ApiException, HTTPError, OSError) as err:
            raise StatusError(f"drain of {node_name}: {' '.join(str(err).split())}") from None
        left = f"; not evicted, {UNMANAGED}: {', '.join(drained.unmanaged)}" if drained.unmanaged else ""
        return f"{drained.evicted} pods evicted{left}"

    def close(self) -> None:
        if self._core is not None:
            self._core.api_client.close()
        if self._tmp is not None:
            self._tmp.cleanup()


# ---------------------------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------------------------


def _version(text: Optional[str]) -> Optional[tuple[int, ...]]:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g or 0) for g in match.groups()) if match else None


def _age_seconds(created: Optional[str], now: dt.datetime) -> Optional[float]:
    if not created:
        return None
    return (now - dt.datetime.fromisoformat(created.replace("Z", "+00:00"))).total_seconds()


def age_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


@dataclasses.dataclass
class Views:
    """What build_report joins: Scaleway's nodes per pool name, the control plane version, Kubernetes' nodes
    (None when the API could not be read, with `kube_note` saying why)."""
    scaleway: dict[str, list[dict]]
    control_plane: Optional[str]
    kube: Optional[dict[str, dict]]
    kube_note: Optional[str] = None


def _new_row(machine: Optional[str], node_name: Optional[str], node_id: Optional[str], **fields) -> dict:
    return {"machine": machine, "nodeName": node_name, "nodeId": node_id, "scaleway": None, "ready": None,
            "kubelet": None, "ageSeconds": None, "labelsMissing": None, "unclaimed": None, **fields}


def _row(pool: str, machine: Optional[str], node: Optional[dict], views: Views, labels: dict, now: dt.datetime,
         attention: list, identity: Optional[dict] = None) -> dict:
    """One table row and the attention items it raises (claimed or Scaleway-managed nodes)."""
    identity = identity or {}
    row = _new_row(machine, (node or {}).get("name") or identity.get("nodeName"),
                   (node or {}).get("id") or identity.get("nodeId"))
    where = {"pool": pool, "machine": machine, "nodeName": row["nodeName"], "nodeId": row["nodeId"]}
    if node is None:
        declared = identity.get("nodeId")
        row["scaleway"] = "gone" if declared else "no node"
        why = ("Scaleway no longer lists its node" if declared
               else "the stack output names no node id for it (written by a kosmos from before node identities)")
        attention.append({"kind": "no-node", **where, "detail": why, "fix": RECLAIM})
        return row
    row["scaleway"], row["ageSeconds"] = node["status"], _age_seconds(node["createdAt"], now)
    problems = [] if node["status"] == "ready" else [f"Scaleway status {node['status']}"]
    kube = None if views.kube is None else views.kube.get(node["name"])
    if views.kube is not None:
        if kube is None:
            row["ready"] = "absent"
            problems.append("no Kubernetes node of that name")
        else:
            row["ready"] = kube["ready"]
            row["kubelet"] = kube["kubelet"]
            if kube["ready"] != "True":
                problems.append(f"Kubernetes Ready {kube['ready']}")
            if labels:
                row["labelsMissing"] = sorted(k for k, v in labels.items() if kube["labels"].get(k) != v)
    if problems:
        # kosmos registers a machine's node before the machine exists: `creating` until its kubelet first reaches
        # the cluster, so a claimed node still `creating` is a machine that never joined.
        why = ("" if not machine else " (its machine never joined: not booted, or its join failed, see "
               "/var/log/kosmos-join.log on it)" if node["status"] == "creating" else
               " (its machine may be gone or stopped)")
        detail = "; ".join(problems) + why
        attention.append({"kind": "not-ready", **where, "detail": detail,
                          "fix": RECLAIM if machine else "Scaleway manages this pool's nodes"})
    kubelet, control = _version(row["kubelet"]), _version(views.control_plane)
    if kubelet and control and kubelet < control:
        attention.append({"kind": "kubelet-behind", **where, "fix": REPLACE if machine else UPGRADE,
                          "detail": f"kubelet {row['kubelet']}, control plane {views.control_plane}"})
    if row["labelsMissing"]:
        attention.append({"kind": "labels-missing", **where, "fix": RECLAIM,
                          "detail": ", ".join(f"{k}={labels[k]}" for k in row["labelsMissing"])})
    return row


def build_report(outputs: dict, views: Views, *, stack: str, grace_seconds: Callable[[str], float],
                 now: dt.datetime) -> dict:
    """`grace_seconds(pool)`: how young an unclaimed node of that pool must be to count as registering."""
    declared = outputs.get("nodes") or {}
    attention: list[dict] = []
    registering: list[dict] = []
    pools = []
    for name, pool_id in sorted(outputs["poolIds"].items()):
        summary = declared.get(name)
        listed = views.scaleway.get(name, [])
        pool = {"name": name, "poolId": pool_id, "managedBy": "kosmos" if summary is not None else "scaleway",
                "cloud": (summary or {}).get("cloud", "scaleway"), "region": (summary or {}).get("region"),
                "rows": []}
        grace = pool["graceSeconds"] = grace_seconds(name) if summary is not None else None
        if summary is None:  # a Scaleway pool: Scaleway owns its nodes, nothing to claim
            pool["rows"] = [_row(name, None, n, views, {}, now, attention) for n in listed]
            pools.append(pool)
            continue
        by_id = {n["id"]: n for n in listed}
        claimed = set()
        # Every machine of this kosmos has its node's id in the outputs (NodeIdentity). One without (outputs written
        # by a kosmos from before node identities) may own any unclaimed node of its pool: none of them is an orphan
        # until `pulumi up` records the ids.
        unknown = [m["machine"] for m in summary.get("machines") or [] if not m.get("nodeId")]
        for machine in summary.get("machines") or []:
            node_id, node_name = machine.get("nodeId"), machine.get("nodeName")
            node = by_id.get(node_id) if node_id else None
            if node is not None:
                claimed.add(node["id"])
            pool["rows"].append(_row(name, machine["machine"], node, views, summary.get("labels") or {}, now,
                                     attention, {"nodeId": node_id, "nodeName": node_name}))
        for node in listed:
            if node["id"] in claimed:
                continue
            age = _age_seconds(node["createdAt"], now)
            row = _new_row(None, node["name"], node["id"], scaleway=node["status"], ageSeconds=age)
            if views.kube is not None and node["name"] in views.kube:
                row["ready"], row["kubelet"] = views.kube[node["name"]]["ready"], views.kube[node["name"]]["kubelet"]
            item = {"pool": name, "machine": None, "nodeName": node["name"], "nodeId": node["id"]}
            if node["status"] == "deleting":
                row["unclaimed"] = "deleting"
                registering.append({**item, "detail": "being deleted"})
            elif unknown:
                row["unclaimed"] = "unmatched"
                registering.append({**item, "detail": f"claimed by no machine, but {', '.join(unknown)} name(s) no "
                                    "node in the stack outputs: not an orphan until `pulumi up` records the ids"})
            elif age is None or age < grace:
                row["unclaimed"] = "registering"
                registering.append({**item, "detail": f"registered {age_text(age)} ago, claimed by no machine yet "
                                    f"(a `pulumi up` may still run); an orphan after {age_text(grace)}"})
            else:
                row["unclaimed"] = "orphan"
                attention.append({"kind": "orphan", **item, "fix": REAP,
                                  "detail": f"registered {age_text(age)} ago; no declared machine claims it"})
            pool["rows"].append(row)
        pools.append(pool)
    notes = [f"{r['pool']}: {r['nodeName']} ({r['nodeId']}): {r['detail']}" for r in registering]
    if views.kube is None:
        notes.insert(0, f"Kubernetes API not read ({views.kube_note}): Ready, kubelet and labels are unknown; the "
                        "Scaleway view decides --exit-code")
    return {"stack": stack, "clusterId": outputs["clusterId"], "controlPlaneVersion": views.control_plane,
            "kubernetesReachable": views.kube is not None,
            "generatedAt": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "pools": pools, "attention": attention,
            "notes": notes}


def collect(outputs: dict, apis: Apis) -> Views:
    cluster_id = bare_id(outputs["clusterId"])
    _say(f"reading cluster {cluster_id} from {apis.api_url}")
    control_plane = apis.cluster_version(cluster_id)
    scaleway = {}
    pools = sorted(outputs["poolIds"].items())
    for i, (name, pool_id) in enumerate(pools, 1):
        scaleway[name] = apis.pool_nodes(cluster_id, bare_id(pool_id))
        _say(f"pool {name}: {len(scaleway[name])} nodes listed by Scaleway ({i}/{len(pools)})")
    kube, note = None, None
    if apis.kubeconfig is None:
        note = "no kubeconfig"
    else:
        try:
            kube = apis.kube_nodes()
            _say(f"{len(kube)} Kubernetes nodes read")
        except StatusError as err:
            note = str(err)
            _say(f"Kubernetes API not read: {note}")
    return Views(scaleway, control_plane, kube, note)


# ---------------------------------------------------------------------------------------------------------------
# Reaping orphans
# ---------------------------------------------------------------------------------------------------------------


def claimed_ids(outputs: dict) -> set[str]:
    return {m["nodeId"] for summary in (outputs.get("nodes") or {}).values() for m in summary.get("machines") or []
            if m.get("nodeId")}


def reap(report: dict, apis: Apis, *, yes: bool, timeout: float, poll: float,
         claimed_now: Callable[[], set[str]] = set,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Orphans only: the claimed nodes are never in this list (build_report decides what is an orphan). Right before
    deleting, `claimed_now()` reads the stack's outputs again: a `pulumi up` that ended meanwhile may claim one."""
    orphans = [a for a in report["attention"] if a["kind"] == "orphan"]
    result = {"orphans": [{"pool": a["pool"], "nodeName": a["nodeName"], "nodeId": a["nodeId"]} for a in orphans],
              "confirmed": yes, "deleted": [], "failed": []}
    if not yes or not orphans:
        return result
    deadline = clock() + timeout
    pending = []
    claimed = claimed_now()
    for orphan in result["orphans"]:
        if orphan["nodeId"] in claimed:
            result["failed"].append({**orphan, "error": "claimed by a machine in the stack outputs read again just "
                                                         "now (a `pulumi up` ended meanwhile): not deleted"})
            continue
        try:
            if report["kubernetesReachable"]:
                _say(f"draining {orphan['nodeName']}")
                _say(f"drained {orphan['nodeName']}: {apis.drain(orphan['nodeName'], deadline)}")
            _say(f"deleting {orphan['nodeName']} ({orphan['nodeId']})")
            apis.delete_node(orphan["nodeId"])
            pending.append(orphan)
        except StatusError as err:
            result["failed"].append({**orphan, "error": str(err)})
    while pending:
        pending = [o for o in pending if apis.node_listed(o["nodeId"]) or result["deleted"].append(o)]
        if not pending:
            break
        if clock() + poll > deadline:
            for orphan in pending:
                result["failed"].append({**orphan, "error": f"still listed by Scaleway after {timeout:.0f}s"})
            break
        _say(f"waiting until Scaleway no longer lists {len(pending)} node(s)")
        sleep(poll)
    return result


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------

COLUMNS = ("machine", "node", "node id", "scaleway", "ready", "kubelet", "age", "labels")


def _cells(row: dict) -> list[str]:
    ready = row["ready"] or "-"
    missing = row["labelsMissing"]
    labels = "-" if missing is None else "ok" if not missing else "missing " + ",".join(missing)
    machine = row["machine"] or f"({row['unclaimed'] or 'scaleway'})"
    return [machine, row["nodeName"] or "-", row["nodeId"] or "-", row["scaleway"] or "-", ready,
            row["kubelet"] or "-", age_text(row["ageSeconds"]), labels]


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in rows]


def render(report: dict) -> str:
    lines = [f"stack {report['stack']}: cluster {report['clusterId']}, control plane "
             f"{report['controlPlaneVersion'] or 'unknown'}"]
    for pool in report["pools"]:
        where = f"{pool['cloud']}/{pool['region']}" if pool["region"] else pool["cloud"]
        owner = "kosmos machines" if pool["managedBy"] == "kosmos" else "managed by Scaleway"
        lines += ["", f"pool {pool['name']} ({where}, {owner}, {pool['poolId']})"]
        if pool["rows"]:
            lines += _table([[c.upper() for c in COLUMNS]] + [_cells(r) for r in pool["rows"]])
        else:
            lines.append("  (no machines, no nodes)")
    attention = report["attention"]
    lines += ["", f"needs attention: {len(attention) or 'nothing'}"]
    if attention:
        lines += _table([[a["kind"], a["pool"], a["machine"] or "-", a["nodeName"] or "-", a["detail"]]
                         for a in attention])
        fixes: dict[str, list[str]] = {}
        for item in attention:
            kinds = fixes.setdefault(item["fix"], [])
            if item["kind"] not in kinds:
                kinds.append(item["kind"])
        lines += [f"fix {', '.join(kinds)}: {fix}" for fix, kinds in fixes.items()]
    for note in report["notes"]:
        lines.append(f"note: {note}")
    if "reap" in report:
        lines += [""] + render_reap(report["reap"])
    return "\n".join(lines)


def render_reap(result: dict) -> list[str]:
    if not result["orphans"]:
        return ["reap: no orphan to delete (nodes a declared machine claims are never deleted here)"]
    names = [f"{o['pool']}/{o['nodeName']} ({o['nodeId']})" for o in result["orphans"]]
    if not result["confirmed"]:
        return ["reap: would drain and delete these orphans; nothing deleted (add --yes):"] + [f"  {n}" for n in names]
    lines = [f"reap: deleted {o['pool']}/{o['nodeName']} ({o['nodeId']})" for o in result["deleted"]]
    lines += [f"reap: FAILED {o['pool']}/{o['nodeName']} ({o['nodeId']}): {o['error']}" for o in result["failed"]]
    return lines + ["reap: nodes a declared machine claims were not touched: `pulumi up --refresh` fixes those"]


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def parser(prog: Optional[str] = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--stack", required=True, help="the stack (its outputs and Pulumi.<stack>.yaml)")
    ap.add_argument("--outputs", metavar="FILE", help="the JSON of `pulumi stack output --json --show-secrets` "
                                                      "(default: run that command)")
    ap.add_argument("--project-dir", type=pathlib.Path, default=pathlib.Path.cwd(),
                    help="where Pulumi.yaml is (default: the current directory)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    ap.add_argument("--exit-code", action="store_true", help="exit 1 when anything needs attention")
    ap.add_argument("--reap", action="store_true", help="list the orphans that --yes would delete")
    ap.add_argument("--yes", action="store_true", help="with --reap: drain, delete and wait until they are gone")
    ap.add_argument("--grace-minutes", type=float,
                    help="an unclaimed node younger than this is registering, not an orphan (default per pool: twice "
                         f"its registration.timeoutMinutes plus {PROVISIONING_MINUTES}, 60 with the default timeout: "
                         "a `pulumi up` claims its nodes only when Pulumi records its outputs)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds for --reap --yes as a whole (default 600)")
    ap.add_argument("--request-timeout", type=float, default=30, help="seconds per API request (default 30)")
    ap.add_argument("--poll", type=float, default=5, help="seconds between two checks while waiting")
    return ap


def main(argv: Optional[list[str]] = None, prog: Optional[str] = None) -> int:
    args = parser(prog).parse_args(argv)
    if args.yes and not args.reap:
        print("status: --yes only confirms --reap", file=sys.stderr)
        return 2
    apis = None
    try:
        outputs = stack_outputs(args.stack, args.outputs, args.project_dir)
        config = stack_config(args.stack, args.project_dir)
        region = outputs["clusterId"].split("/")[0] if "/" in outputs["clusterId"] else \
            (config.get("kosmos:cluster") or {}).get("region")
        kubeconfig, source = kubeconfig_text(outputs)
        apis = Apis(region, config.get("scaleway:apiUrl"), kubeconfig, args.request_timeout)
        views = collect(outputs, apis)
        if kubeconfig is None:
            views.kube_note = source
        elif views.kube is None:
            views.kube_note = f"{source}: {views.kube_note}"
        grace = (lambda pool: args.grace_minutes * 60) if args.grace_minutes is not None else \
            (lambda pool: grace_minutes(config, pool) * 60)
        report = build_report(outputs, views, stack=args.stack, grace_seconds=grace,
                              now=dt.datetime.now(dt.timezone.utc))
        if args.reap:
            report["reap"] = reap(report, apis, yes=args.yes, timeout=args.timeout, poll=args.poll,
                                  claimed_now=lambda: claimed_ids(stack_outputs(args.stack, args.outputs,
                                                                                args.project_dir)))
    except StatusError as err:
        print(f"status: {err}", file=sys.stderr)
        return 2
    finally:
        if apis is not None:
            apis.close()
    print(json.dumps(report, indent=2) if args.json else render(report))
    reaped = {o["nodeId"] for o in report.get("reap", {}).get("deleted", [])}
    unresolved = [a for a in report["attention"] if a["nodeId"] not in reaped or a["kind"] != "orphan"]
    if report.get("reap", {}).get("failed"):
        return 1
    return 1 if args.exit_code and unresolved else 0


def cli() -> int:
    """The `kosmos` console script: `kosmos status --stack <stack> [...]`."""
    argv = sys.argv[1:]
    if argv[:1] != ["status"]:
        print("usage: kosmos status --stack <stack> [--json] [--exit-code] [--reap [--yes]] (kosmos status --help)",
              file=sys.stderr)
        return 2
    return main(argv[1:], prog="kosmos status")


if __name__ == "__main__":
    sys.exit(main())
