"""What every kosmos dynamic provider shares: Scaleway credentials from configure(), the K8s API client, node look-ups
by id, one paginated list per pool, and the jittered back-off poll loop.

Pulumi's Python dynamic provider host (pulumi 3.272, pulumi/dynamic/__main__.py) unpickles a provider with dill,
calls `configure()` once with the whole stack config (`scaleway:accessKey`, `scaleway:secretKey`, `scaleway:apiUrl`,
secrets decrypted), then serves CRUD calls from at most 4 worker threads. `create`/`check` get the inputs; `diff`
gets the old *outputs* and the new inputs; `delete` and `read` get the outputs only. So credentials come from
configure() (else SCW_* env / the scw config file), never from inputs: state holds none and a destroy needs none in
the environment.

Every Scaleway call the providers make goes through the functions below (scaleway-sdk-python
scaleway/k8s/v1/api.py), so one retry policy can wrap them all (issue 20, components/retry.py).
"""

from __future__ import annotations

import functools
import json
import random
import time
import urllib.request
from typing import Any, Iterator, Optional

import pulumi
import pulumi.dynamic as dyn
from pulumi.dynamic.dynamic import serialize_provider

from .userdata import bare_id

MAX_POLL_SECONDS = 30.0
JITTER = 0.2
"""Each sleep is the back-off delay times a uniform factor in [1 - JITTER, 1 + JITTER]: pools polled from one host
spread their lists instead of hitting the API in lockstep."""
HTTP_TIMEOUT_SECONDS = 10
"""As the agent's metadata client (k8s-agent metadata.go: `http.Client{Timeout: 10 * time.Second}`)."""
# scaleway.k8s.v1.NodeStatus values of a node on its way out.
GONE_STATUSES = ("deleting", "deleted")


class ScalewayError(Exception):
    """A Scaleway call failed in a way the user must act on; the message says how."""


def unknown() -> str:
    from pulumi.runtime import rpc

    return rpc.UNKNOWN  # how the provider host passes a value the engine does not know yet (preview)


def status_of(node) -> str:
    return str(getattr(node.status, "value", node.status))


class ScalewayProvider(dyn.ResourceProvider):
    """Base of the kosmos dynamic providers: holds only what configure() gave (never pickled: the engine ships the
    provider before configure()) and the injectable clock, sleep and randomness (plain functions pickle by
    reference)."""

    def __init_subclass__(cls, **kwargs) -> None:
        """Every CRUD method of a provider names its resource when a Scaleway call fails for good: the one place
        that turns RetryExhausted / ScalewayApiError (components/retry.py), whose messages name only the call, into
        the error Pulumi prints, "<machine or pool>: <call>: <what the API said>"."""
        super().__init_subclass__(**kwargs)
        for name in ("create", "read", "update", "delete"):
            if name in cls.__dict__:
                setattr(cls, name, _naming_failures(cls.__dict__[name]))

    def subject(self, props: dict[str, Any]) -> str:
        """The resource in words, for error messages (a machine, a pool)."""
        return "a kosmos resource"

    def __init__(self, clock=None, sleep=None, rand=None) -> None:
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._rand = rand or random.random
        self._config: dict[str, Optional[str]] = {}

    def configure(self, req: dyn.ConfigureRequest) -> None:
        """Called once by the provider host with every stack config value (namespaced keys)."""
        self._config = {
            "access_key": req.config.get("scaleway:accessKey"),
            "secret_key": req.config.get("scaleway:secretKey"),
            "api_url": req.config.get("scaleway:apiUrl"),
        }

    def api(self, props: dict[str, Any], what: str):
        """A K8SV1API with the operator's credentials; `what` names the resource in the error."""
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
            raise ScalewayError(
                f"no usable Scaleway credentials for {what}: {exc}. Set them in the stack config "
                "(`pulumi config set scaleway:accessKey …`, `pulumi config set --secret scaleway:secretKey`) or as "
                "SCW_ACCESS_KEY/SCW_SECRET_KEY."
            ) from None
        from .retry import retrying_scaleway

        # Every call retries 429/5xx/no answer within this operation's timeout (the caller's own deadline, taken
        # just after, is the same within milliseconds).
        return retrying_scaleway(api, deadline=self.deadline(props), policy=self.retry_policy())

    def deadline(self, props: dict[str, Any]) -> float:
        """This operation's deadline on the provider's clock: now + the resource's timeout_seconds."""
        return self._clock() + float(props.get("timeout_seconds", 15 * 60))

    def retry_policy(self):
        """The retry policy (components/retry.py) on this provider's clock and sleep."""
        from .retry import RetryPolicy

        return RetryPolicy(clock=self._clock, sleep=self._sleep)

    def polls(self, deadline: float, delay: float) -> Iterator[int]:
        """Yield the poll count, sleeping with back-off (×1.5 up to MAX_POLL_SECONDS, jittered) between polls; stop
        when the next sleep would pass the deadline. The caller raises its own timeout after the loop."""
        polls = 0
        while True:
            polls += 1
            yield polls
            pause = delay * (1 - JITTER + 2 * JITTER * self._rand())
            if self._clock() + pause > deadline:
                return
            self._sleep(pause)
            delay = min(delay * 1.5, MAX_POLL_SECONDS)


def _naming_failures(method):
    @functools.wraps(method)
    def named(self, *args):
        from scaleway_core.api import ScalewayException

        from .retry import RetryExhausted

        try:
            return method(self, *args)
        except (RetryExhausted, ScalewayException) as exc:
            # args[-1]: the props of create(props), read(id, props), delete(id, props), update(id, olds, news).
            raise ScalewayError(f"{self.subject(args[-1])}: {exc}") from exc

    return named


def get_node(api, node_id: str, region: str):
    """The node, or None once Scaleway answers 404."""
    from scaleway_core.api import ScalewayException

    try:
        return api.get_node(node_id=node_id, region=region)
    except ScalewayException as exc:
        if exc.status_code == 404:
            return None
        raise


def pool_nodes(api, cluster_id: str, pool_id: str, region: str) -> dict[str, Any]:
    """Every node Scaleway lists in the pool, by id. Pages until `total_count` (SDK types.py ListNodesResponse) is
    reached, so a pool that fits in the API's default page costs one request. Not list_nodes_all: without a page
    size it always asks for one more, empty page (scaleway_core utils/fetch_all_pages.py), and with one it would
    stop early should the API cap the page below it (the cap is not documented)."""
    nodes: list = []
    page = 1
    while True:
        answer = api.list_nodes(cluster_id=bare_id(cluster_id), region=region, pool_id=bare_id(pool_id), page=page)
        nodes += answer.nodes
        if not answer.nodes or len(nodes) >= (answer.total_count or 0):
            return {n.id: n for n in nodes}
        page += 1


def delete_node(api, node_id: str, region: str, skip_drain: bool = False) -> bool:
    """Delete through the API; False when Scaleway no longer knows the node. skip_drain is "currently inactive" on
    Scaleway's side (SDK docstring): kosmos drains itself before calling this."""
    from scaleway_core.api import ScalewayException

    try:
        api.delete_node(node_id=node_id, region=region, skip_drain=skip_drain)
        return True
    except ScalewayException as exc:
        if exc.status_code == 404:
            return False
        raise


def register_external_node(api, pool_id: str, region: str):
    """A new Kosmos node in the pool, with the caller's credentials: ExternalNodeAuth{metadata_url, node_secret_key}
    (SDK K8SV1API.auth_external_node, "Creates a newer Kosmos node and returns its token"; the same POST k8s-agent
    metadata.go registerKosmosNode makes)."""
    return api.auth_external_node(pool_id=bare_id(pool_id), region=region)


def node_metadata(metadata_url: str, node_secret_key: str, timeout: float = HTTP_TIMEOUT_SECONDS) -> dict:
    """One GET of metadata_url with `X-Auth-Token: <node secret>`, as k8s-agent metadata.go getNodeMetadata does;
    urllib's HTTPError/URLError/OSError as they come, for the caller's retry policy (retry.urllib_fault).

    Not the SDK's get_node_metadata: that builds its URL from the client's API URL and authenticates with the
    client's secret key, which must be an IAM key (Client validates its format); the agent follows `metadata_url`
    as given, so does kosmos."""
    request = urllib.request.Request(metadata_url, method="GET", headers={"X-Auth-Token": node_secret_key})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (an https URL from the API)
        return json.loads(response.read())


def cluster_kubeconfig(api, cluster_id: str, region: str) -> str:
    """The cluster's kubeconfig, fetched with the operator's credentials and held in memory only (SDK
    K8SV1API._get_cluster_kube_config, the method its own docstring shows; content is base64)."""
    import base64

    return base64.b64decode(
        api._get_cluster_kube_config(cluster_id=bare_id(cluster_id), region=region).content
    ).decode()


@functools.lru_cache(maxsize=None)
def serialized(provider_type: type) -> str:
    """A provider as the engine receives it, serialised once per process and class with the SDK's own serializer.

    pulumi.dynamic.Resource serialises its provider for every resource, and each serialize_provider call leaves one
    more wrapper around pickle's _batch_setitems behind (pulumi 3.272): a program with about a thousand dynamic
    resources dies with RecursionError. The providers hold no per-resource state, so one serialisation serves all.
    """
    return serialize_provider(provider_type())


def register_dynamic(resource: dyn.Resource, name: str, props: dict, opts: Optional[pulumi.ResourceOptions],
                     provider_type: type) -> None:
    """What dyn.Resource.__init__ does, minus the per-resource re-serialisation (see `serialized`)."""
    from pulumi.dynamic.dynamic import PROVIDER_KEY

    props = {**props, PROVIDER_KEY: pulumi.Output.secret(serialized(provider_type))}
    pulumi.CustomResource.__init__(resource, f"pulumi-python:{resource._resource_type_name}", name, props, opts)

