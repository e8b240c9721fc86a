"""Node registration: `pulumi up` waits until an external machine is a Ready Kosmos node, and `pulumi destroy`
(or a replacement) deletes that node from the cluster before the machine goes away.

A Pulumi dynamic provider (Python), talking to the Scaleway K8s API through the official `scaleway` SDK. The engine
ships the provider by pickling it with dill: the provider object only holds plain settings (no client, no lock), and
the SDK is imported inside the methods, so it loads in the provider host process started from the project
directory.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi.dynamic as dyn
from pulumi.dynamic.dynamic import PROVIDER_KEY, serialize_provider

# Fields that identify which node a registration tracks: a change means a different node (replace).
IDENTITY_FIELDS = ("cluster_id", "region", "pool_id", "machine", "match_ip", "match_name")
JOIN_STATE_HINT = "/var/lib/kosmos/join.state and /var/log/kosmos-join.log"
MAX_POLL_SECONDS = 30.0


class RegistrationError(Exception):
    pass


def _bare(resource_id: str) -> str:
    return resource_id.rsplit("/", 1)[-1]


class NodeRegistrationProvider(dyn.ResourceProvider):
    """CRUD for one machine's Kosmos node. Stateless between calls: every call builds its own API client."""

    def __init__(self, clock=None, sleep=None) -> None:
        # Injectable for tests; default to the real clock. Plain functions pickle by reference.
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep

    # -- helpers ---------------------------------------------------------------------------------------------
    @staticmethod
    def _api(props: dict[str, Any]):
        from scaleway import Client
        from scaleway.k8s.v1 import K8SV1API

        if props.get("access_key") and props.get("secret_key"):
            client = Client(
                access_key=props["access_key"],
                secret_key=props["secret_key"],
                default_region=props["region"],
                api_url=props.get("api_url") or "https://api.scaleway.com",
            )
        else:
            # Same sources the Scaleway Pulumi provider reads: SCW_* env and ~/.config/scw/config.yaml.
            client = Client.from_config_file_and_env()
            client.default_region = client.default_region or props["region"]
            if props.get("api_url"):
                client.api_url = props["api_url"]
        return K8SV1API(client)

    @staticmethod
    def _matches(node, props: dict[str, Any]) -> bool:
        if props.get("match_ip") and node.public_ip_v4 == props["match_ip"]:
            return True
        if props.get("match_name") and (node.name or "").lower() == props["match_name"].lower():
            return True
        return False

    def _find(self, api, props: dict[str, Any]):
        nodes = api.list_nodes_all(
            cluster_id=_bare(props["cluster_id"]), region=props["region"], pool_id=_bare(props["pool_id"])
        )
        return next((n for n in nodes if self._matches(n, props)), None)

    @staticmethod
    def _status(node) -> str:
        status = getattr(node.status, "value", node.status)
        return str(status)

    def _outs(self, props: dict[str, Any], node) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if k not in ("access_key", "secret_key")}
        outs.update(
            node_id=node.id if node else "",
            node_name=node.name if node else "",
            status=self._status(node) if node else "not-waited",
        )
        return outs

    def _describe(self, props: dict[str, Any]) -> str:
        how = " or ".join(
            f"{label} {props[key]}" for key, label in (("match_ip", "public IP"), ("match_name", "name")) if props.get(key)
        )
        return f"machine {props['machine']!r} (node with {how}) in pool {props['pool_name']!r} ({_bare(props['pool_id'])})"

    # -- CRUD ------------------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        if not props.get("wait", True):
            return dyn.CreateResult(id_=f"{_bare(props['pool_id'])}/{props['machine']}", outs=self._outs(props, None))
        node = self._wait_ready(props)
        return dyn.CreateResult(id_=node.id, outs=self._outs(props, node))

    def _wait_ready(self, props: dict[str, Any]):
        api = self._api(props)
        deadline = self._clock() + float(props["timeout_seconds"])
        delay = float(props.get("poll_seconds", 5))
        last_status, last_error, polls = "not registered yet", "", 0
        while True:
            polls += 1
            node = self._find(api, props)
            if node is not None:
                last_status = self._status(node)
                last_error = node.error_message or ""
                if last_status == "ready":
                    return node
                if last_status == "creation_error":
                    raise RegistrationError(
                        f"{self._describe(props)} failed to register: {last_error or 'creation_error'}. "
                        f"On the machine, see {JOIN_STATE_HINT}."
                    )
            print(f"kosmos: waiting for {self._describe(props)}: {last_status}", file=sys.stderr)
            if self._clock() + delay > deadline:
                detail = f" (API error: {last_error})" if last_error else ""
                raise RegistrationError(
                    f"timed out after {props['timeout_seconds']}s and {polls} polls waiting for {self._describe(props)} "
                    f"to be Ready; last status: {last_status}{detail}. On the machine, see {JOIN_STATE_HINT}; "
                    "raise registration.timeoutMinutes or set registration.wait: false to skip waiting."
                )
            self._sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        replaces = [k for k in IDENTITY_FIELDS if olds.get(k) != news.get(k)]
        changed = [k for k in set(olds) | set(news) if k in news and olds.get(k) != news.get(k) and not k.startswith("_")]
        changed = [k for k in changed if k not in ("node_id", "node_name", "status")]
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        # Only settings (wait, timeout, drain, credentials) change in place; the node itself stays.
        outs = {k: v for k, v in news.items() if k not in ("access_key", "secret_key")}
        outs.update(node_id=olds.get("node_id", ""), node_name=olds.get("node_name", ""), status=olds.get("status", ""))
        return dyn.UpdateResult(outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from scaleway_core.api import ScalewayException

        api = self._api(props)
        # Look the node up again: with wait: false no id was recorded, and Scaleway may have re-created the node.
        node = self._find(api, props)
        node_id = node.id if node is not None else props.get("node_id")
        if not node_id:
            return  # never registered, or already gone
        try:
            api.delete_node(node_id=node_id, region=props["region"], skip_drain=bool(props.get("skip_drain", False)))
        except ScalewayException as exc:
            if exc.status_code == 404:
                return  # already gone: the goal is reached
            raise


@dataclass
class NodeRegistrationArgs:
    cluster_id: pulumi.Input[str]
    """Kosmos cluster id (`<region>/<uuid>` or bare)."""
    region: str
    """The cluster's region."""
    pool_id: pulumi.Input[str]
    pool_name: str
    machine: str
    """Machine name (stable across replacements), for messages."""
    match_ip: Optional[pulumi.Input[str]] = None
    """The machine's public IPv4: the node whose public_ip_v4 equals it is this machine's node."""
    match_name: Optional[pulumi.Input[str]] = None
    """Expected node name (on-prem: the hostname the join reported)."""
    wait: bool = True
    timeout_seconds: float = 15 * 60
    skip_drain: bool = False
    access_key: Optional[pulumi.Input[str]] = None
    secret_key: Optional[pulumi.Input[str]] = None
    api_url: Optional[str] = None
    poll_seconds: float = 5


@functools.lru_cache(maxsize=1)
def serialized_provider() -> str:
    """The provider as the engine receives it, serialised once per process with the SDK's own serializer.

    pulumi.dynamic.Resource serialises its provider for every resource, and each serialize_provider call leaves one
    more wrapper around pickle's _batch_setitems behind (pulumi 3.272): a program with about a thousand dynamic
    resources dies with RecursionError. The provider holds no per-resource state, so one serialisation serves all.
    """
    return serialize_provider(NodeRegistrationProvider())


class NodeRegistration(dyn.Resource, module="kosmos", name="NodeRegistration"):
    node_id: pulumi.Output[str]
    node_name: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(self, name: str, args: NodeRegistrationArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {
            "cluster_id": args.cluster_id,
            "region": args.region,
            "pool_id": args.pool_id,
            "pool_name": args.pool_name,
            "machine": args.machine,
            "match_ip": args.match_ip,
            "match_name": args.match_name,
            "wait": args.wait,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            "skip_drain": args.skip_drain,
            "api_url": args.api_url,
            # Credentials are inputs only (never outputs) and always secret.
            "access_key": pulumi.Output.secret(args.access_key) if args.access_key is not None else None,
            "secret_key": pulumi.Output.secret(args.secret_key) if args.secret_key is not None else None,
            "node_id": None,
            "node_name": None,
            "status": None,
            # What dyn.Resource.__init__ would set, minus the per-resource re-serialisation (see serialized_provider).
            PROVIDER_KEY: pulumi.Output.secret(serialized_provider()),
        }
        pulumi.CustomResource.__init__(self, f"pulumi-python:{self._resource_type_name}", name, props, opts)
