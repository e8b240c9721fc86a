"""NodeIdentity: one machine's Kosmos node, registered by the program before the machine exists.

create: `auth_external_node(pool_id)` with the operator's credentials (the POST k8s-agent makes itself when it has no
cache, metadata.go registerKosmosNode) -> `{metadata_url, node_secret_key}`, then `GET metadata_url` with
`X-Auth-Token: <node_secret_key>` (metadata.go getNodeMetadata) -> the node's `id` and `name`. The machine then gets
only that pair, as the agent's cache file, so nothing on it can register another node.

delete: delete the node if Scaleway still lists it (a machine that never came up leaves no orphan), then wait until
Scaleway no longer lists it. The pool's readiness resource (pool_nodes.py) has normally drained and deleted it
already; then this is one 404.

Replacement: `generation` is the fingerprint of everything that replaces the machine (clouds/base.py); a new
generation is a new node, and the machine is replaced with its identity (its replacement_trigger is the node id).
After a refresh that found the node NotReady or gone (its machine deleted outside Pulumi), `stale` is set and the
next diff replaces the identity, hence the machine: the new machine never shares the old node.

Interrupted create: `auth_external_node` succeeded but the process died (or the metadata GET failed for good: a
4xx, or transient faults past the identity's timeout, components/retry.py) before Pulumi recorded the identity.
Scaleway then lists a node in `creating` that no machine holds and nobody has the secret of; kosmos cannot know its
id, so the error names the pool and how to remove it (`make status --reap` once it is past the grace period, or
`scw k8s node list pool-id=… status=creating`; README, "An interrupted run").
"""

from __future__ import annotations

import http.client
import sys
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi.dynamic as dyn

from . import scaleway_api as scw
from .userdata import bare_id

# A change of any of these is a different node.
IDENTITY_FIELDS = ("region", "pool_id", "machine", "generation")
OUTPUT_FIELDS = ("node_id", "node_name", "metadata_url", "node_secret_key", "stale")
SECRET_OUTPUTS = ["metadata_url", "node_secret_key"]
# Statuses a refresh takes as "this node's machine is gone": its kubelet stopped reporting (not_ready), or Scaleway
# no longer lists the node (absent). See README, "A machine deleted outside Pulumi".
STALE_STATUSES = ("not_ready", "absent", "deleting", "deleted")


class NodeIdentityProvider(scw.ScalewayProvider):
    def _describe(self, props: dict[str, Any]) -> str:
        return f"machine {props['machine']!r} in pool {props['pool_name']!r} ({bare_id(props['pool_id'])})"

    @staticmethod
    def _inputs(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if not k.startswith("__") and k not in OUTPUT_FIELDS}

    def subject(self, props: dict[str, Any]) -> str:
        return f"node identity of {self._describe(props)}"

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        from .retry import RetryExhausted, urllib_fault

        api = self.api(props, f"the node identity of {self._describe(props)}")
        auth = scw.register_external_node(api, props["pool_id"], props["region"])
        # The metadata GET retries like every API call (429/5xx/no answer, each attempt bounded), within the
        # identity's deadline; a 401/403/404 is final. Either way the node exists now and only this create knows it.
        policy, deadline = self.retry_policy(), self.deadline(props)
        try:
            metadata = policy.call(
                "GET node metadata",
                lambda: scw.node_metadata(auth.metadata_url, auth.node_secret_key,
                                          timeout=policy.attempt_timeout(deadline)[1]),
                deadline=deadline, transient=lambda exc: urllib_fault(exc, now=policy.now))
            if not isinstance(metadata, dict) or not metadata.get("id"):
                raise ValueError(f"no node id in the answer: {str(metadata)[:200]}")
        except (RetryExhausted, OSError, ValueError, http.client.HTTPException) as error:
            raise scw.ScalewayError(
                f"registered a node for {self._describe(props)} but could not read its metadata ({error}). Scaleway "
                f"lists it in `creating` with no machine: remove it with `scw k8s node list pool-id="
                f"{bare_id(props['pool_id'])} status=creating` and `scw k8s node delete <id>`, or `make status "
                f"STATUS_ARGS=\"--reap --yes\"` once it is older than the grace period (README, An interrupted run)."
            ) from error
        outs = {**self._inputs(props), "node_id": metadata["id"], "node_name": metadata.get("name", ""),
                "metadata_url": auth.metadata_url, "node_secret_key": auth.node_secret_key, "stale": ""}
        print(f"kosmos: registered node {outs['node_name']} ({outs['node_id']}) for {self._describe(props)}",
              file=sys.stderr)
        return dyn.CreateResult(id_=metadata["id"], outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        old_in, new_in = self._inputs(olds), self._inputs(news)
        changed = sorted(k for k in set(old_in) | set(new_in) if old_in.get(k) != new_in.get(k))
        replaces = [k for k in IDENTITY_FIELDS if k in changed]
        if olds.get("stale"):
            # A refresh found the node NotReady or gone: its machine is presumed lost, a new machine gets a new node.
            replaces.append("stale")
        return dyn.DiffResult(changes=bool(changed or replaces), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        # Settings only (API URL, timeouts, the pool's display name): the node stays.
        return dyn.UpdateResult(outs={**self._inputs(news), **{k: olds.get(k, "") for k in OUTPUT_FIELDS}})

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        """Refresh: marks the identity stale when Scaleway reports its node NotReady or no longer lists it."""
        api = self.api(props, f"the node identity of {self._describe(props)}")
        node = scw.get_node(api, id_, props["region"])
        status = scw.status_of(node) if node is not None else "absent"
        outs = {**props, "stale": status if status in STALE_STATUSES else ""}
        outs.pop("__provider", None)
        return dyn.ReadResult(id_=id_, outs=outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        api = self.api(props, f"the node identity of {self._describe(props)}")
        region = props["region"]
        deadline = self._clock() + float(props.get("timeout_seconds", 15 * 60))
        node = scw.get_node(api, id_, region)
        if node is None:
            return
        if scw.status_of(node) not in scw.GONE_STATUSES and not scw.delete_node(api, id_, region):
            return
        for _ in self.polls(deadline, float(props.get("poll_seconds", 5))):
            node = scw.get_node(api, id_, region)
            if node is None:
                return
        raise scw.ScalewayError(
            f"node {props.get('node_name')} ({id_}) of {self._describe(props)} is still listed by Scaleway (status "
            f"{scw.status_of(node)}) after {props.get('timeout_seconds')}s. Run the command again once it is gone."
        )


@dataclass
class NodeIdentityArgs:
    region: str
    pool_id: pulumi.Input[str]
    pool_name: str
    machine: str
    """Machine name (stable across replacements)."""
    generation: pulumi.Input[str]
    """Fingerprint of everything that replaces the machine: a new one is a new node."""
    api_url: Optional[str] = None
    timeout_seconds: float = 15 * 60
    """Bounds the wait until gone on delete."""
    poll_seconds: float = 5


class NodeIdentity(dyn.Resource, module="kosmos", name="NodeIdentity"):
    node_id: pulumi.Output[str]
    node_name: pulumi.Output[str]
    metadata_url: pulumi.Output[str]
    """Secret."""
    node_secret_key: pulumi.Output[str]
    """Secret: the agent's credential for this one node (k8s-agent uses it as the node's API token)."""

    def __init__(self, name: str, args: NodeIdentityArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {
            "region": args.region,
            "pool_id": args.pool_id,
            "pool_name": args.pool_name,
            "machine": args.machine,
            "generation": args.generation,
            "api_url": args.api_url,
            "timeout_seconds": args.timeout_seconds,
            "poll_seconds": args.poll_seconds,
            **{k: None for k in OUTPUT_FIELDS},
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        scw.register_dynamic(self, name, props, opts, NodeIdentityProvider)
