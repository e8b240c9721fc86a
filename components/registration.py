"""Node registration: `pulumi up` waits until an external machine is a Ready Kosmos node, and `pulumi destroy`
(or a replacement) drains and deletes that node, and waits until Scaleway no longer lists it, before the machine goes.

A Pulumi dynamic provider (Python), talking to the Scaleway K8s API through the official `scaleway` SDK
(scaleway-sdk-python, scaleway/k8s/v1/api.py). How Pulumi drives it (pulumi 3.272, pulumi/dynamic/__main__.py):
- the provider is unpickled with dill in the provider host process, then `configure()`d once with the whole stack
  config (`scaleway:accessKey`, `scaleway:secretKey`, `scaleway:apiUrl`, secrets decrypted);
- `create`/`check` get the inputs; `diff` gets the old *outputs* and the new inputs; `delete` and `read` get the
  outputs only.
So credentials come from configure() (else SCW_* env / the scw config file), never from inputs: outputs hold none,
a destroy needs none in the environment, and a diff sees nothing that changes between runs.
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

from .userdata import bare_id

# Inputs that identify which node a registration tracks: a change means a different node (replace).
IDENTITY_FIELDS = ("cluster_id", "region", "pool_id", "machine", "match_ip", "match_node_id")
# What the provider adds to the inputs; never part of a diff.
OUTPUT_FIELDS = ("node_id", "node_name", "status")
JOIN_STATE_HINT = "/var/lib/kosmos/join.state and /var/log/kosmos-join.log"
MAX_POLL_SECONDS = 30.0
# scaleway.k8s.v1.NodeStatus values of a node on its way out: not a candidate for a new match.
GONE_STATUSES = ("deleting", "deleted")


class RegistrationError(Exception):
    pass


def _unknown() -> str:
    from pulumi.runtime import rpc

    return rpc.UNKNOWN  # how the provider host passes a value the engine does not know yet (preview)


def _status(node) -> str:
    return str(getattr(node.status, "value", node.status))


class NodeRegistrationProvider(dyn.ResourceProvider):
    """CRUD for one machine's Kosmos node. Every call builds its own API client; the only state is what
    configure() gave (stack config), which is never pickled: the engine ships the provider before configure()."""

    def __init__(self, clock=None, sleep=None) -> None:
        # Injectable for tests; default to the real clock. Plain functions pickle by reference.
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._config: dict[str, Optional[str]] = {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Called once by the provider host with every stack config value (namespaced keys)."""
        self._config = {
            "access_key": req.config.get("scaleway:accessKey"),
            "secret_key": req.config.get("scaleway:secretKey"),
            "api_url": req.config.get("scaleway:apiUrl"),
        }

    # -- Scaleway API ----------------------------------------------------------------------------------------
    def _api(self, props: dict[str, Any]):
        from scaleway import Client
        from scaleway.k8s.v1 import K8SV1API

        config = getattr(self, "_config", {}) or {}
        if config.get("access_key") and config.get("secret_key"):
            client = Client(access_key=config["access_key"], secret_key=config["secret_key"])
        else:
            # What the Scaleway provider falls back to as well: SCW_* env and ~/.config/scw/config.yaml.
            client = Client.from_config_file_and_env()
        client.default_region = props["region"]
        api_url = props.get("api_url") or config.get("api_url")
        if api_url:
            client.api_url = api_url.rstrip("/")
        try:
            api = K8SV1API(client)
        except ValueError as exc:  # the SDK validates credentials here
            raise RegistrationError(
                f"no usable Scaleway credentials for the node registration of machine {props.get('machine')!r}: "
                f"{exc}. Set them in the stack config (`pulumi config set scaleway:accessKey …`, "
                "`pulumi config set --secret scaleway:secretKey`) or as SCW_ACCESS_KEY/SCW_SECRET_KEY."
            ) from None
        from .retry import RetryPolicy, retrying_scaleway

        # Every call retries 429/5xx/no answer within this operation's timeout (the caller's own deadline, taken
        # just after, is the same within milliseconds).
        deadline = self._clock() + float(props.get("timeout_seconds", 15 * 60))
        return retrying_scaleway(api, deadline=deadline, policy=RetryPolicy(clock=self._clock, sleep=self._sleep))

    @staticmethod
    def _get(api, node_id: str, region: str):
        """The node, or None once Scaleway answers 404."""
        from scaleway_core.api import ScalewayException

        try:
            return api.get_node(node_id=node_id, region=region)
        except ScalewayException as exc:
            if exc.status_code == 404:
                return None
            raise

    def _find(self, api, props: dict[str, Any]):
        """This machine's node: by the node id the join reported (on-prem), else by the public IPv4 Scaleway
        reports for it. Two live nodes that both match are an error, never a guess."""
        if props.get("match_node_id"):
            node = self._get(api, props["match_node_id"], props["region"])
            return node if node is not None and bare_id(node.pool_id or "") == bare_id(props["pool_id"]) else None
        if not props.get("match_ip"):
            return None
        nodes = api.list_nodes_all(
            cluster_id=bare_id(props["cluster_id"]), region=props["region"], pool_id=bare_id(props["pool_id"])
        )
        found = [n for n in nodes if n.public_ip_v4 == props["match_ip"] and _status(n) not in GONE_STATUSES]
        if len(found) > 1:
            names = " and ".join(f"{n.name} ({n.id}, {_status(n)})" for n in found)
            raise RegistrationError(
                f"{len(found)} live nodes in pool {props['pool_name']!r} have the public IP {props['match_ip']} of "
                f"machine {props['machine']!r}: {names}. kosmos does not guess: delete the stale one "
                "(`scw k8s node delete <id>`) and run again."
            )
        return found[0] if found else None

    def _describe(self, props: dict[str, Any]) -> str:
        if props.get("match_node_id"):
            how = f"node id {props['match_node_id']}"
        elif props.get("match_ip"):
            how = f"public IP {props['match_ip']}"
        else:
            how = "nothing to match on"
        pool = f"{props['pool_name']!r} ({bare_id(props['pool_id'])})"
        return f"machine {props['machine']!r} (node with {how}) in pool {pool}"

    @staticmethod
    def _outs(props: dict[str, Any], node, status: Optional[str] = None) -> dict[str, Any]:
        outs = {k: v for k, v in props.items() if not k.startswith("__") and k not in OUTPUT_FIELDS}
        outs.update(
            node_id=node.id if node else "",
            node_name=node.name if node else "",
            status=status or (_status(node) if node else "not-waited"),
        )
        return outs

    # -- CRUD ------------------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        if not props.get("wait", True):
            return dyn.CreateResult(id_=f"{bare_id(props['pool_id'])}/{props['machine']}", outs=self._outs(props, None))
        if "match_node_id" in props and not props.get("match_node_id") and not props.get("match_ip"):
            raise RegistrationError(
                f"{self._describe(props)}: the join did not report a node id (no KOSMOS_NODE_ID line in its output). "
                f"On the machine, see {JOIN_STATE_HINT}."
            )
        node = self._wait_ready(props)
        return dyn.CreateResult(id_=node.id, outs=self._outs(props, node))

    def _polls(self, deadline: float, delay: float):
        """Yield the poll count, sleeping with back-off (×1.5 up to MAX_POLL_SECONDS) between polls; stop when the next
        sleep would pass the deadline. The caller raises its own timeout after the loop."""
        polls = 0
        while True:
            polls += 1
            yield polls
            if self._clock() + delay > deadline:
                return
            self._sleep(delay)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)

    def _wait_ready(self, props: dict[str, Any]):
        api = self._api(props)
        deadline = self._clock() + float(props["timeout_seconds"])
        last_status, last_error, polls = "not registered yet", "", 0
        for polls in self._polls(deadline, float(props.get("poll_seconds", 5))):
            node = self._find(api, props)
            if node is not None:
                last_status = _status(node)
                last_error = node.error_message or ""
                if last_status == "ready":
                    return node
                if last_status == "creation_error":
                    raise RegistrationError(
                        f"{self._describe(props)} failed to register: {last_error or 'creation_error'}. "
                        f"On the machine, see {JOIN_STATE_HINT}."
                    )
            print(f"kosmos: waiting for {self._describe(props)}: {last_status}", file=sys.stderr)
        detail = f" (API error: {last_error})" if last_error else ""
        raise RegistrationError(
            f"timed out after {props['timeout_seconds']}s and {polls} polls waiting for {self._describe(props)} "
            f"to be Ready; last status: {last_status}{detail}. On the machine, see {JOIN_STATE_HINT}; "
            "raise registration.timeoutMinutes or set registration.wait: false to skip waiting."
        )

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        # `olds` are the previous outputs: compare inputs only (the provider's own fields and __provider aside).
        def inputs(d):
            return {k: v for k, v in d.items() if not k.startswith("__") and k not in OUTPUT_FIELDS}

        old_in, new_in = inputs(olds), inputs(news)
        changed = sorted(k for k in set(old_in) | set(new_in) if old_in.get(k) != new_in.get(k))
        replaces = [k for k in IDENTITY_FIELDS if k in changed]
        new_node_id = new_in.get("match_node_id")
        if "match_node_id" in replaces and new_node_id and new_node_id in (olds.get("node_id"), _unknown()):
            # The node this registration already tracks (e.g. state written before node ids were reported), or not
            # known before the on-prem join re-runs (preview), which keeps its node: no replacement, whose
            # create-before-delete would otherwise delete the live node. The engine diffs again with the real value.
            replaces.remove("match_node_id")
        return dyn.DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        # Only settings (wait, timeout, drain, API URL) change in place; the node itself stays.
        if news.get("wait", True) and not olds.get("node_id"):
            # Created with `wait: false`, so no node was recorded; waiting is asked for now, and the pool's label
            # patch (registered only with wait) names the node by this registration's node_name: find it first.
            node = self._wait_ready(news)
            return dyn.UpdateResult(outs=self._outs(news, node))
        outs = self._outs(news, None)
        outs.update({k: olds.get(k, "") for k in OUTPUT_FIELDS})
        return dyn.UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: the node's current name and status (`absent` once Scaleway no longer lists it). The
        registration stays in state either way; its delete then has nothing to do."""
        api = self._api(props)
        node = self._get(api, props["node_id"], props["region"]) if props.get("node_id") else self._find(api, props)
        if node is None:
            outs = self._outs(props, None, status="absent")
            outs.update(node_id=props.get("node_id", ""), node_name=props.get("node_name", ""))
            return dyn.ReadResult(id_=id_, outs=outs)
        return dyn.ReadResult(id_=id_, outs=self._outs(props, node))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        """Drain (unless skipDrain), delete through the API, then wait until Scaleway no longer lists the node:
        only then may the machine go. Everything within `timeout_seconds`."""
        from scaleway_core.api import ScalewayException

        api = self._api(props)
        deadline = self._clock() + float(props["timeout_seconds"])
        region = props["region"]
        # The recorded id first; with wait: false none was recorded, so look the node up as create would.
        node = self._get(api, props["node_id"], region) if props.get("node_id") else self._find(api, props)
        if node is None:
            return  # never registered, or already gone
        if _status(node) not in GONE_STATUSES:
            if not props.get("skip_drain"):
                self._drain(api, props, node, deadline)
            try:
                # skip_drain is "currently inactive" on Scaleway's side (SDK docstring): kosmos drains itself above.
                api.delete_node(node_id=node.id, region=region, skip_drain=bool(props.get("skip_drain", False)))
            except ScalewayException as exc:
                if exc.status_code == 404:
                    return
                raise
        self._wait_gone(api, props, node, deadline)

    def _drain(self, api, props: dict[str, Any], node, deadline: float) -> None:
        import base64

        from .drain import UNMANAGED, DrainError, drain_node

        # The cluster's kubeconfig, fetched with the operator's Scaleway credentials and held in memory only
        # (SDK K8SV1API._get_cluster_kube_config, the method its own docstring shows; content is base64).
        kubeconfig = base64.b64decode(
            api._get_cluster_kube_config(cluster_id=bare_id(props["cluster_id"]), region=props["region"]).content
        ).decode()
        try:
            drained = drain_node(kubeconfig, node.name, deadline=deadline, clock=self._clock, sleep=self._sleep,
                                 retry_seconds=min(float(props.get("poll_seconds", 5)), 2.0))
        except DrainError as exc:
            raise RegistrationError(
                f"draining {self._describe(props)} failed: {exc}. The node and its machine are kept; raise "
                "registration.timeoutMinutes, relax the budgets, or set registration.skipDrain: true."
            ) from None
        left = f"; not evicted, {UNMANAGED}: {', '.join(drained.unmanaged)}" if drained.unmanaged else ""
        print(f"kosmos: drained node {node.name} ({drained.evicted} pods evicted{left})", file=sys.stderr)

    def _wait_gone(self, api, props: dict[str, Any], node, deadline: float) -> None:
        current = node
        for _ in self._polls(deadline, min(float(props.get("poll_seconds", 5)), 5.0)):
            current = self._get(api, node.id, props["region"])
            if current is None:
                return
        raise RegistrationError(
            f"node {node.name} ({node.id}) of {self._describe(props)} is still listed by Scaleway "
            f"(status {_status(current)}) after {props['timeout_seconds']}s; its machine is kept. "
            "Run the destroy again once it is gone."
        )


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
    """Machines booted with the userdata: the node whose public_ip_v4 equals this is this machine's node."""
    match_node_id: Optional[pulumi.Input[str]] = None
    """On-prem: the node id the join reported (KOSMOS_NODE_ID), matched exactly."""
    wait: bool = True
    timeout_seconds: float = 15 * 60
    """Bounds the wait for Ready on create, and drain + delete + wait-until-gone on delete."""
    skip_drain: bool = False
    api_url: Optional[str] = None
    """Scaleway API URL (`scaleway:apiUrl`); None: configure()'s, else the SDK's (SCW_API_URL or the default)."""
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
            "match_node_id": args.match_node_id,
            "wait": args.wait,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            "skip_drain": args.skip_drain,
            "api_url": args.api_url,
            "node_id": None,
            "node_name": None,
            "status": None,
            # What dyn.Resource.__init__ would set, minus the per-resource re-serialisation (see serialized_provider).
            PROVIDER_KEY: pulumi.Output.secret(serialized_provider()),
        }
        pulumi.CustomResource.__init__(self, f"pulumi-python:{self._resource_type_name}", name, props, opts)
