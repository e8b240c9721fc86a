"""PoolNodes: one readiness resource per external pool, after all its machines, keyed by node id.

Why one per pool and not one per machine (issue 20): Pulumi's Python dynamic provider host serves at most 4 calls at
once (pulumi 3.272 pulumi/dynamic/__main__.py, `futures.ThreadPoolExecutor(max_workers=4)`). A per-machine resource
that blocks until its node is Ready (or through drain, delete and wait-until-gone) makes N machines take N/4 times as
long as one. One call per pool waits for all of its nodes at once, and one paginated list per pool per polling round
answers for every member: at N machines a round costs about N/100 requests instead of N lists.

- create: waits until every member's node (by id, from its NodeIdentity) is Ready.
- update: waits until the members not yet Ready (new machines) are, THEN drains and deletes the nodes of members
  that left: a replacement's new node is Ready before the old one goes (create-before-delete, capacity never drops).
- delete: drains (Ready nodes) and deletes every member's node concurrently (a bounded thread pool inside the call),
  then waits until Scaleway lists none of them; only then do the machines go (they are this resource's
  dependencies).
- read (refresh): each member's status (`absent` once Scaleway no longer lists it).
Everything comes from inputs/outputs; matching by IP is gone (`Node.public_ip_v4` is deprecated, FACTS.md).
"""

from __future__ import annotations

import collections
import concurrent.futures
import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import pulumi
import pulumi.dynamic as dyn

from . import scaleway_api as scw
from .userdata import bare_id

REPLACE_FIELDS = ("cluster_id", "region", "pool_id")
OUTPUT_FIELDS = ("statuses",)
JOIN_STATE_HINT = "/var/lib/kosmos/join.state and /var/log/kosmos-join.log"
DRAIN_WORKERS = 16
"""Nodes drained at once inside one delete/update call: each drain is mostly waiting on the Kubernetes API."""


class PoolNodesProvider(scw.ScalewayProvider):
    @staticmethod
    def _inputs(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if not k.startswith("__") and k not in OUTPUT_FIELDS}

    @staticmethod
    def _pool(props: dict[str, Any]) -> str:
        return f"pool {props['pool_name']!r} ({bare_id(props['pool_id'])})"

    def subject(self, props: dict[str, Any]) -> str:
        return f"the nodes of {self._pool(props)}"

    def _api(self, props: dict[str, Any]):
        return self.api(props, f"the nodes of {self._pool(props)}")

    def _statuses(self, api, props: dict[str, Any], members: Sequence[dict]) -> dict[str, str]:
        listed = scw.pool_nodes(api, props["cluster_id"], props["pool_id"], props["region"])
        return {m["node_id"]: scw.status_of(listed[m["node_id"]]) if m["node_id"] in listed else "absent"
                for m in members}

    def _wait_ready(self, api, props: dict[str, Any], members: Sequence[dict]) -> dict[str, str]:
        """One list per round for the whole pool until every member is Ready; creation_error fails at once."""
        if not members:
            return {}
        deadline = self._clock() + float(props["timeout_seconds"])
        statuses: dict[str, str] = {}
        polls = 0
        for polls in self.polls(deadline, float(props.get("poll_seconds", 5))):
            listed = scw.pool_nodes(api, props["cluster_id"], props["pool_id"], props["region"])
            statuses = {}
            for m in members:
                node = listed.get(m["node_id"])
                statuses[m["node_id"]] = scw.status_of(node) if node is not None else "absent"
                if statuses[m["node_id"]] == "creation_error":
                    raise scw.ScalewayError(
                        f"node {m['node_name']} ({m['node_id']}) of machine {m['machine']!r} in {self._pool(props)} "
                        f"failed to register: {node.error_message or 'creation_error'}. On the machine, see "
                        f"{JOIN_STATE_HINT}."
                    )
            if all(s == "ready" for s in statuses.values()):
                return statuses
            counts = collections.Counter(statuses.values())
            print(f"kosmos: {self._pool(props)}: {counts.get('ready', 0)}/{len(members)} nodes Ready ("
                  + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if s != "ready") + ")", file=sys.stderr)
        late = ", ".join(f"{m['machine']} ({m['node_name']}: {statuses.get(m['node_id'])})"
                         for m in members if statuses.get(m["node_id"]) != "ready")
        raise scw.ScalewayError(
            f"timed out after {props['timeout_seconds']}s and {polls} polls waiting for the nodes of "
            f"{self._pool(props)} to be Ready; not Ready: {late}. On those machines, see {JOIN_STATE_HINT}; raise "
            "registration.timeoutMinutes or set registration.wait: false to skip waiting."
        )

    def _remove(self, api, props: dict[str, Any], members: Sequence[dict]) -> None:
        """Drain (unless skip_drain) and delete every member's node concurrently, then wait until none is listed."""
        if not members:
            return
        deadline = self._clock() + float(props["timeout_seconds"])
        region = props["region"]
        kubeconfig = None
        if not props.get("skip_drain"):
            kubeconfig = scw.cluster_kubeconfig(api, props["cluster_id"], region)

        def remove(member: dict) -> Optional[str]:
            node = scw.get_node(api, member["node_id"], region)
            if node is None or scw.status_of(node) in scw.GONE_STATUSES:
                return None
            # Only a Ready node is drained. A NotReady one (its machine gone, or never up) has no kubelet to stop
            # its pods: evicted pods would stay Terminating and the drain would only run into the deadline.
            # Deleting the node lets their controllers place them elsewhere.
            if kubeconfig is not None and scw.status_of(node) == "ready":
                from .drain import UNMANAGED, DrainError, drain_node

                try:
                    drained = drain_node(kubeconfig, member["node_name"], deadline=deadline, clock=self._clock,
                                         sleep=self._sleep,
                                         retry_seconds=min(float(props.get("poll_seconds", 5)), 2.0))
                except DrainError as exc:
                    return f"machine {member['machine']!r}: {exc}"
                left = f"; not evicted, {UNMANAGED}: {', '.join(drained.unmanaged)}" if drained.unmanaged else ""
                print(f"kosmos: drained node {member['node_name']} ({drained.evicted} pods evicted{left})",
                      file=sys.stderr)
            scw.delete_node(api, member["node_id"], region, skip_drain=bool(props.get("skip_drain")))
            return None

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(DRAIN_WORKERS, len(members))) as workers:
            failures = [f for f in workers.map(remove, members) if f]
        if failures:
            raise scw.ScalewayError(
                f"draining nodes of {self._pool(props)} failed: {'; '.join(failures)}. Those nodes and their machines "
                "are kept; raise registration.timeoutMinutes, relax the budgets, or set registration.skipDrain: true."
            )
        ids = {m["node_id"] for m in members}
        still: set[str] = ids
        for _ in self.polls(deadline, min(float(props.get("poll_seconds", 5)), 5.0)):
            listed = scw.pool_nodes(api, props["cluster_id"], props["pool_id"], region)
            still = ids & set(listed)
            if not still:
                return
        names = ", ".join(sorted(m["node_name"] for m in members if m["node_id"] in still))
        raise scw.ScalewayError(
            f"nodes {names} of {self._pool(props)} are still listed by Scaleway after {props['timeout_seconds']}s; "
            "their machines are kept. Run the command again once they are gone."
        )

    def _wait_kubelets(self, api, props: dict[str, Any], members: Sequence[dict]) -> None:
        """With `kubernetes_version` set: until every member's Node is Ready with a kubelet of that version, read
        through the cluster's kubeconfig (one node list per round; rollout.on_version). Scaleway's `ready` says
        nothing of the kubelet's version; a node replaced for a new version must run it before the old ones go."""
        version = props.get("kubernetes_version")
        if not version or not members:
            return
        from kubernetes.client.rest import ApiException

        from .drain import kube_core
        from .retry import RetryExhausted, RetryPolicy, retrying_kubernetes
        from .rollout import on_version

        deadline = self._clock() + float(props["timeout_seconds"])
        call = retrying_kubernetes(RetryPolicy(clock=self._clock, sleep=self._sleep), deadline)
        wanted = {m["node_name"] for m in members}
        late: set[str] = wanted
        try:
            with kube_core(scw.cluster_kubeconfig(api, props["cluster_id"], props["region"])) as core:
                for _ in self.polls(deadline, float(props.get("poll_seconds", 5))):
                    try:
                        nodes = call("listing nodes", core.list_node).items
                    except ApiException as exc:
                        raise scw.ScalewayError(f"listing the nodes of {self._pool(props)} failed: HTTP "
                                                f"{exc.status} {exc.reason}") from None
                    late = wanted - {n.metadata.name for n in nodes if on_version(n, version)}
                    if not late:
                        return
                    print(f"kosmos: {self._pool(props)}: {len(wanted) - len(late)}/{len(wanted)} nodes Ready on "
                          f"Kubernetes {version}", file=sys.stderr)
        except RetryExhausted as exc:
            raise scw.ScalewayError(f"{self._pool(props)}: {exc}") from None
        raise scw.ScalewayError(
            f"nodes {', '.join(sorted(late))} of {self._pool(props)} are not Ready on Kubernetes {version} after "
            f"{props['timeout_seconds']}s (kubectl get nodes -o wide: VERSION). On those machines, see "
            f"{JOIN_STATE_HINT}; the old nodes were kept."
        )

    # -- CRUD ------------------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        members = props.get("members") or []
        if props.get("wait", True):
            statuses = self._wait_ready(self._api(props), props, members)
            self._wait_kubelets(self._api(props), props, members)
        else:
            statuses = {m["node_id"]: "not-waited" for m in members}
        return dyn.CreateResult(id_=bare_id(props["pool_id"]), outs={**self._inputs(props), "statuses": statuses})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        old_in, new_in = self._inputs(olds), self._inputs(news)
        changed = sorted(k for k in set(old_in) | set(new_in) if old_in.get(k) != new_in.get(k))
        return dyn.DiffResult(changes=bool(changed), replaces=[k for k in REPLACE_FIELDS if k in changed],
                              delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        api = self._api(news)
        members = news.get("members") or []
        old_statuses = olds.get("statuses") or {}
        new_ids = {m["node_id"] for m in members}
        statuses = {m["node_id"]: old_statuses.get(m["node_id"], "not-waited") for m in members}
        if news.get("wait", True):
            # New machines (and any member never seen Ready, e.g. created with wait: false) first...
            statuses.update(self._wait_ready(api, news, [m for m in members if statuses[m["node_id"]] != "ready"]))
            self._wait_kubelets(api, news, members)
        # ...then the members that left go: drained, deleted, gone.
        self._remove(api, news, [m for m in olds.get("members") or [] if m["node_id"] not in new_ids])
        return dyn.UpdateResult(outs={**self._inputs(news), "statuses": statuses})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        members = props.get("members") or []
        outs = {**self._inputs(props), "statuses": self._statuses(self._api(props), props, members)}
        return dyn.ReadResult(id_=id_, outs=outs)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        self._remove(self._api(props), props, props.get("members") or [])


@dataclass
class PoolNodesArgs:
    cluster_id: pulumi.Input[str]
    region: str
    pool_id: pulumi.Input[str]
    pool_name: str
    members: Sequence[dict]
    """`{machine, node_id, node_name}` per machine (node id and name from its NodeIdentity)."""
    wait: bool = True
    timeout_seconds: float = 15 * 60
    """Bounds the wait for Ready (create/update), and drain + delete + wait-until-gone (update/delete)."""
    skip_drain: bool = False
    api_url: Optional[str] = None
    poll_seconds: float = 5
    kubernetes_version: str = ""
    """kosmos:cluster.version: when set, "Ready" also means a kubelet of that version (the Kubernetes API's Node)."""


class PoolNodes(dyn.Resource, module="kosmos", name="PoolNodes"):
    statuses: pulumi.Output[dict]

    def __init__(self, name: str, args: PoolNodesArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {
            "cluster_id": args.cluster_id,
            "region": args.region,
            "pool_id": args.pool_id,
            "pool_name": args.pool_name,
            "members": list(args.members),
            "wait": args.wait,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            "skip_drain": args.skip_drain,
            "api_url": args.api_url,
            "kubernetes_version": args.kubernetes_version,
            "statuses": None,
        }
        scw.register_dynamic(self, name, props, opts, PoolNodesProvider)
