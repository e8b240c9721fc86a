"""Rolling in-place upgrades of on-prem hosts: when the join changes (a new Kubernetes or agent version, a template
change), hosts re-join `upgrade.maxUnavailable` at a time, each cordoned and drained first and uncordoned once its
node is Ready on the new version. Creating a pool stays fully parallel: only updates roll.

One `RolloutGate` per host, in the pool's host order, plus one tail gate per pool (a Pulumi dynamic resource, the
same provider). The wiring (README, Upgrading; clouds/onprem.py builds it for every on-prem pool):
- gate(k) depends on gate(k-1) only (the chain orders the gates, nothing else);
- host k's pulumi-command Command depends on gate(k);
- the tail depends on the Commands of the pool (it waits for the last hosts and uncordons them).
A gate's create does nothing and returns at once, so on creation the chain costs a few milliseconds and every host
joins in parallel. Its update, when the rollout `generation` moved, waits until the hosts of `wait_node_names`
(host k-m, m = maxUnavailable) are Ready on `kubernetes_version` and uncordons them, then cordons and drains host k
(`node_name`), and returns: Pulumi then updates host k's Command, which re-runs the join (the agent's cache keeps
the node; k8s-agent component.go swaps the components whose version changed).

Why no call can starve the calls it waits for: the dynamic provider host serves at most 4 calls at once (pulumi
3.272 `pulumi/dynamic/__main__.py`, ThreadPoolExecutor(max_workers=4)). A gate waits for a node's kubelet, which
comes from a Command (the pulumi-command provider, another process) that depends only on earlier gates, all
finished: the chain lets at most one gate per pool wait at a time, and what it waits for never needs a worker of
the dynamic host. With more than four on-prem pools, other dynamic resources wait for a free worker, never forever.

What is Ready "on the version": the Node's Ready condition is True and `status.nodeInfo.kubeletVersion`
(`v1.36.1`, kubernetes/api core/v1 NodeSystemInfo) is the declared version, or a patch of the declared minor.
Only nodes the rollout cordoned are uncordoned: it marks them with the annotation ROLLOUT_ANNOTATION.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import pulumi
import pulumi.dynamic as dyn

from . import scaleway_api as scw

ROLLOUT_ANNOTATION = "kosmos.scaleway.com/rollout-cordoned"
# Inputs whose change is an update of the gate (never a replacement: a gate holds nothing).
INPUT_FIELDS = ("cluster_id", "region", "api_url", "pool_name", "machine", "node_name", "wait_node_names",
                "generation", "kubernetes_version", "timeout_seconds", "poll_seconds", "skip_drain")


class RolloutError(Exception):
    pass


@dataclass(frozen=True)
class Step:
    host: str
    """The host this gate lets through (None for the pool's tail)."""
    waits_for: tuple[str, ...]
    """Hosts that must be Ready on the new version (then uncordoned) before it goes."""


def plan(hosts: Sequence[str], max_unavailable: int = 1) -> list[Step]:
    """Gate k waits for host k-m; the tail (host None) waits for the last m hosts. `make diff` prints this order."""
    m = max(1, max_unavailable)
    steps = [Step(host, (hosts[k - m],) if k >= m else ()) for k, host in enumerate(hosts)]
    steps.append(Step(None, tuple(hosts[-m:]) if hosts else ()))
    return steps


def waves(hosts: Sequence[str], max_unavailable: int = 1) -> list[list[str]]:
    """The hosts grouped as they re-join when every host takes as long: at most `max_unavailable` per wave."""
    m = max(1, max_unavailable)
    return [list(hosts[i:i + m]) for i in range(0, len(hosts), m)]


def on_version(node, version: str) -> bool:
    """Ready, with a kubelet of `version` (`1.36` matches any 1.36 patch, `1.36.1` only itself)."""
    status = node.status
    if status is None or status.node_info is None:
        return False
    kubelet = (status.node_info.kubelet_version or "").removeprefix("v")
    ready = any(c.type == "Ready" and c.status == "True" for c in (status.conditions or []))
    return ready and (kubelet == version or kubelet.startswith(version + "."))


class RolloutGateProvider(scw.ScalewayProvider):
    """Stateless like every kosmos provider (scaleway_api.ScalewayProvider: credentials from configure(); the
    kubeconfig is fetched with the operator's credentials and held in memory only)."""

    def subject(self, props: dict[str, Any]) -> str:
        """For error messages (scaleway_api.ScalewayProvider)."""
        return f"the rollout of pool {props.get('pool_name')!r} ({props.get('machine') or 'tail'})"

    def _kubeconfig(self, props: dict[str, Any]) -> str:
        api = self.api(props, self.subject(props))
        return scw.cluster_kubeconfig(api, props["cluster_id"], props["region"])

    @staticmethod
    def _outs(props: dict[str, Any]) -> dict[str, Any]:
        return {k: props.get(k) for k in INPUT_FIELDS}

    # -- CRUD ------------------------------------------------------------------------------------------------
    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        # Nothing to wait for on creation: every host joins at once.
        return dyn.CreateResult(id_=f"{props['pool_name']}/{props.get('machine') or '*'}", outs=self._outs(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in INPUT_FIELDS if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        if olds.get("generation") == news.get("generation"):
            return dyn.UpdateResult(outs=self._outs(news))
        from .drain import kube_core
        from .retry import RetryExhausted, RetryPolicy, retrying_kubernetes

        deadline = self._clock() + float(news["timeout_seconds"])
        policy = RetryPolicy(clock=self._clock, sleep=self._sleep)
        kubeconfig = self._kubeconfig(news)
        try:
            with kube_core(kubeconfig) as core:
                nodes = _Nodes(core, retrying_kubernetes(policy, deadline))
                for name in news.get("wait_node_names") or []:
                    self._wait_on_version(nodes, news, name, deadline)
                    self._uncordon(nodes, name)
                if news.get("node_name"):
                    self._cordon(nodes, news)
        except RetryExhausted as exc:
            raise RolloutError(f"rollout of pool {news['pool_name']!r}: {exc}") from None
        if news.get("node_name") and not news.get("skip_drain"):
            self._drain(kubeconfig, news, deadline, policy)
        return dyn.UpdateResult(outs=self._outs(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_=id_, outs=self._outs(props))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None  # a gate holds nothing; the host's own removal drains and deletes its node

    # -- Kubernetes ------------------------------------------------------------------------------------------
    def _wait_on_version(self, nodes, props: dict[str, Any], name: str, deadline: float) -> None:
        from kubernetes.client.rest import ApiException

        version, last = props["kubernetes_version"], "not found"
        for _ in self.polls(deadline, float(props.get("poll_seconds", 5))):
            try:
                node = nodes.read_node(name)
                if on_version(node, version):
                    return
                info = node.status.node_info if node.status else None
                last = f"kubelet {getattr(info, 'kubelet_version', None) or 'unknown'}, not Ready on {version}"
            except ApiException as exc:
                if exc.status != 404:
                    raise
            print(f"kosmos: rollout of pool {props['pool_name']!r}: waiting for node {name}: {last}", file=sys.stderr)
        raise RolloutError(
            f"rollout of pool {props['pool_name']!r}: node {name} is not Ready on Kubernetes {version} after "
            f"{props['timeout_seconds']}s ({last}); host {props.get('machine') or '(tail)'} was not started. "
            "See /var/lib/kosmos/join.state on that host; `pulumi up` again resumes the rollout."
        )

    @staticmethod
    def _cordon(nodes, props: dict[str, Any]) -> None:
        """Cordon, marking the node as the rollout's unless someone had cordoned it before (then it stays so)."""
        from kubernetes.client.rest import ApiException

        name = props["node_name"]
        try:
            node = nodes.read_node(name)
        except ApiException as exc:
            if exc.status == 404:
                return  # not a node yet (its first join failed): the re-join makes it one
            raise
        if node.spec is not None and node.spec.unschedulable:
            return
        nodes.patch_node(name, {"metadata": {"annotations": {ROLLOUT_ANNOTATION: props["generation"]}},
                               "spec": {"unschedulable": True}})

    @staticmethod
    def _uncordon(nodes, name: str) -> None:
        node = nodes.read_node(name)
        annotations = (node.metadata.annotations or {}) if node.metadata else {}
        if ROLLOUT_ANNOTATION in annotations:
            nodes.patch_node(name, {"metadata": {"annotations": {ROLLOUT_ANNOTATION: None}},
                                   "spec": {"unschedulable": False}})

    def _drain(self, kubeconfig: str, props: dict[str, Any], deadline: float, policy) -> None:
        from .drain import DrainError, drain_node

        try:
            drain_node(kubeconfig, props["node_name"], deadline=deadline, clock=self._clock, sleep=self._sleep,
                       retry_seconds=min(float(props.get("poll_seconds", 5)), 2.0), policy=policy)
        except DrainError as exc:
            raise RolloutError(
                f"rollout of pool {props['pool_name']!r}: draining host {props['machine']!r} failed: {exc}. It stays "
                "cordoned and was not re-joined; relax the budgets or set registration.skipDrain: true."
            ) from None


class _Nodes:
    """The two Node calls a gate makes, each through the retry helper (components/retry.py: 429/5xx/no answer are
    retried within the gate's deadline)."""

    def __init__(self, core, call) -> None:
        self._core, self._call = core, call

    def read_node(self, name: str):
        return self._call(f"reading node {name}", self._core.read_node, name)

    def patch_node(self, name: str, body: dict):
        return self._call(f"patching node {name}", self._core.patch_node, name, body)


@dataclass
class RolloutGateArgs:
    cluster_id: pulumi.Input[str]
    region: str
    pool_name: str
    generation: pulumi.Input[str]
    """What re-joins the hosts when it changes: the pool's redacted userdata sha256 (it carries the Kubernetes and
    agent versions)."""
    kubernetes_version: str
    """kosmos:cluster.version: what "Ready on the new version" means."""
    machine: Optional[str] = None
    """The host this gate lets through; None for the pool's tail."""
    node_name: Optional[pulumi.Input[str]] = None
    """Its node (cordoned and drained before its Command runs)."""
    wait_node_names: Sequence[pulumi.Input[str]] = field(default_factory=tuple)
    """Nodes that must be Ready on the version first, then uncordoned (host k-maxUnavailable; the tail: the last)."""
    timeout_seconds: float = 15 * 60
    poll_seconds: float = 5
    skip_drain: bool = False
    api_url: Optional[str] = None


class RolloutGate(dyn.Resource, module="kosmos", name="RolloutGate"):
    def __init__(self, name: str, args: RolloutGateArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {
            "cluster_id": args.cluster_id,
            "region": args.region,
            "api_url": args.api_url,
            "pool_name": args.pool_name,
            "machine": args.machine,
            "node_name": args.node_name,
            "wait_node_names": list(args.wait_node_names),
            "generation": args.generation,
            "kubernetes_version": args.kubernetes_version,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            "skip_drain": args.skip_drain,
        }
        scw.register_dynamic(self, name, props, opts, RolloutGateProvider)


def gates(name: str, hosts: Sequence[tuple[str, pulumi.Input[str]]], max_unavailable: int,
          common: dict, opts: pulumi.ResourceOptions) -> dict[str, RolloutGate]:
    """The pool's gates, chained in host order: `hosts` = [(machine key, node name)], `common` = the RolloutGateArgs
    shared by the pool. The caller makes host k's Command depend on gates[k], then builds the tail (`tail_gate`)."""
    names = dict(hosts)
    out: dict[str, RolloutGate] = {}
    previous: Optional[RolloutGate] = None
    for step in plan([h for h, _ in hosts], max_unavailable)[:-1]:
        previous = out[step.host] = RolloutGate(
            f"{name}-{step.host}-rollout",
            RolloutGateArgs(machine=step.host, node_name=names[step.host],
                            wait_node_names=[names[h] for h in step.waits_for], **common),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[previous] if previous else [])),
        )
    return out


def tail_gate(name: str, hosts: Sequence[tuple[str, pulumi.Input[str]]], max_unavailable: int, common: dict,
              commands: Sequence[pulumi.Resource], opts: pulumi.ResourceOptions) -> RolloutGate:
    """The pool's last gate: after every host's Command, it waits for the last `max_unavailable` hosts and
    uncordons them."""
    names = dict(hosts)
    last = plan([h for h, _ in hosts], max_unavailable)[-1]
    return RolloutGate(
        f"{name}-rollout-done",
        RolloutGateArgs(wait_node_names=[names[h] for h in last.waits_for], **common),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(commands))),
    )
