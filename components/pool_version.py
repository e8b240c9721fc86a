"""PoolVersion: `pulumi up` waits until an external pool runs the declared Kubernetes version before any of its
machines joins (a dynamic resource, one per external pool: ExternalPool's node identities take the pool id from its
`pool_id` output instead of the pool's, so no node registers, no machine boots and no on-prem host re-joins before).

Why: when `kosmos:cluster.version` moves, terraform-provider-scaleway upgrades the cluster with `upgrade_pools`
(default true) and waits for the cluster, but on a multicloud cluster not for its pools ("we do not have the
guarantee that a pool will be created in Scaleway", `internal/services/k8s/cluster.go`). A machine joining before
its pool moved would get the old `pool_version` in its metadata, and the join refuses that (templates/join). This
resource polls `K8SV1API.get_pool` (scaleway-sdk-python `scaleway/k8s/v1/api.py`) until the pool's `version` is
the declared one (a declared minor matches its patches). It waits on Scaleway only, never on another dynamic call,
so it cannot starve what it waits for (the dynamic provider host runs at most 4 calls at once).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

import pulumi
import pulumi.dynamic as dyn

from . import scaleway_api as scw
from .userdata import bare_id

INPUT_FIELDS = ("pool_id", "pool_name", "region", "api_url", "kubernetes_version", "timeout_seconds", "poll_seconds")


class PoolVersionError(Exception):
    pass


def matches(actual: str, declared: str) -> bool:
    return actual == declared or actual.startswith(declared + ".")


class PoolVersionProvider(scw.ScalewayProvider):
    def subject(self, props: dict[str, Any]) -> str:
        """For error messages (scaleway_api.ScalewayProvider)."""
        return f"the version of pool {props.get('pool_name')!r}"

    def _wait(self, props: dict[str, Any]) -> dict[str, Any]:
        api = self.api(props, self.subject(props))
        declared, version = props["kubernetes_version"], "unknown"
        deadline = self._clock() + float(props["timeout_seconds"])
        for _ in self.polls(deadline, float(props.get("poll_seconds", 5))):
            version = api.get_pool(pool_id=bare_id(props["pool_id"]), region=props["region"]).version
            if matches(version, declared):
                return {**{k: props.get(k) for k in INPUT_FIELDS}, "version": version}
            print(f"kosmos: pool {props['pool_name']!r} runs Kubernetes {version}; waiting for {declared}",
                  file=sys.stderr)
        raise PoolVersionError(
            f"pool {props['pool_name']!r} ({bare_id(props['pool_id'])}) still runs Kubernetes {version} after "
            f"{props['timeout_seconds']}s, not kosmos:cluster.version {declared}; no machine of it was touched. Check "
            "`scw k8s pool get` and the cluster's upgrade, then run `pulumi up` again."
        )

    def create(self, props: dict[str, Any]) -> dyn.CreateResult:
        return dyn.CreateResult(id_=bare_id(props["pool_id"]), outs=self._wait(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.DiffResult:
        changed = [k for k in INPUT_FIELDS if olds.get(k) != news.get(k)]
        return dyn.DiffResult(changes=bool(changed), replaces=["pool_id"] if "pool_id" in changed else [],
                              delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dyn.UpdateResult:
        return dyn.UpdateResult(outs=self._wait(news))

    def read(self, id_: str, props: dict[str, Any]) -> dyn.ReadResult:
        return dyn.ReadResult(id_=id_, outs=props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        return None


@dataclass
class PoolVersionArgs:
    pool_id: pulumi.Input[str]
    pool_name: str
    region: str
    kubernetes_version: str
    timeout_seconds: float = 30 * 60
    poll_seconds: float = 10
    api_url: Optional[str] = None


class PoolVersion(dyn.Resource, module="kosmos", name="PoolVersion"):
    pool_id: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(self, name: str, args: PoolVersionArgs, opts: Optional[pulumi.ResourceOptions] = None):
        props = {**{k: getattr(args, k) for k in INPUT_FIELDS}, "version": None}
        scw.register_dynamic(self, name, props, opts, PoolVersionProvider)
