"""Run the real kosmos program on the Pulumi SDK's in-process mock engine, offline.

No Pulumi CLI, no credentials, no cloud: the SDK's MockMonitor stands in for the engine, our mocks answer with
deterministic, realistic provider outputs, and every RegisterResourceRequest is recorded as the engine would see it
(inputs with secret markers, dependencies, parent, replace options). Each run gets a fresh event loop.
"""

from __future__ import annotations

import asyncio
import importlib
import concurrent.futures
import datetime as dt
import json
import logging
import pathlib
import re
import runpy
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi
import yaml
from google.protobuf import json_format

from . import sdk
from .sdk import MockMonitor

REPO = pathlib.Path(__file__).resolve().parent.parent
MAIN = REPO / "__main__.py"
STACKS = REPO / "stacks"
SECRET = "[secret]"
SECRET_PLACEHOLDER_PREFIX = "[secret:offline-plan:"
KNOWN_AFTER_APPLY = "(known after apply)"
"""What the plan shows instead of a value the mocks invented for a provider-computed output (Terraform's and Pulumi's
wording for the same thing)."""
_NS = uuid.UUID("5b0c7e4e-8d9a-4c55-9a3c-4b0f5c0f6d21")
PROJECT = "kosmos"


def fake_uuid(*parts: str) -> str:
    """Deterministic ids: the same plan twice gives the same ids (golden files stay stable)."""
    return str(uuid.uuid5(_NS, "/".join(parts)))


def fake_ipv4(prefix: str, *parts: str) -> str:
    """Addresses from the RFC 5737 documentation ranges: strings only, never contacted."""
    return f"{prefix}.{int(fake_uuid(*parts)[:4], 16) % 250 + 1}"


# ---------------------------------------------------------------------------------------------------------------
# Stack files
# ---------------------------------------------------------------------------------------------------------------


class StackFileError(pulumi.RunError, ValueError):
    """A stack file that cannot be read as a stack file: names the file, and the line when YAML says where."""


def load_stack_config(stack: str, path: Optional[pathlib.Path] = None) -> tuple[dict[str, str], list[str]]:
    """Read stacks/Pulumi.<stack>.yaml into the engine's flat config map.

    Structured values become JSON strings (as the CLI passes them); `secure:` values are opaque ciphertext that is
    never decrypted here: they become placeholders and are marked secret.
    """
    path = path or STACKS / f"Pulumi.{stack}.yaml"
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(shown)
        what = " ".join(str(x) for x in (err.context, err.problem) if x)
        raise StackFileError(f"{where}: not valid YAML: {what}") from None
    except yaml.YAMLError as err:
        raise StackFileError(f"{shown}: not valid YAML: {err}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise StackFileError(f"{shown}: expected a mapping with a `config:` key; got {type(doc).__name__}")
    raw = doc.get("config")
    if raw is None:  # `config:` with nothing under it, or no `config:` at all
        raw = {}
    if not isinstance(raw, dict):  # `config: []` too, not only a non-empty list
        raise StackFileError(f"{shown}: `config` must be a mapping of `namespace:key` to value")
    return flatten_config(raw)


def _holds_secure(value: Any) -> bool:
    """A `secure:` value, or an object/list with one anywhere inside (`pulumi config set --path --secret`)."""
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_holds_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_secure(v) for v in value)
    return False


def flatten_config(raw: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        key = str(key)
        if ":" not in key:
            key = f"{PROJECT}:{key}"  # the CLI's rule: unqualified keys belong to the project
        if _holds_secure(value):
            # The CLI makes a whole object secret when any value in it is (pulumi/pulumi sdk/go/common/resource/config
            # value.go, NewSecureObjectValue): the program gets the key in its secret keys, never the ciphertext.
            config[key] = f"{SECRET_PLACEHOLDER_PREFIX}{key}]"
            secret_keys.append(key)
        elif isinstance(value, str):
            config[key] = value
        else:
            config[key] = json.dumps(value, default=str)
    return config, secret_keys


# ---------------------------------------------------------------------------------------------------------------
# Mocks
# ---------------------------------------------------------------------------------------------------------------


def _rfc3339(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Civo disk images the mock knows, in every region (a stand-in list, not Civo's catalog: unverified).
CIVO_IMAGES = ("ubuntu-focal", "ubuntu-jammy", "ubuntu-noble", "debian-11", "debian-12")


def _versions_module():
    """The planned checkout's components.versions, imported late like tools/plan.py does (with --repo, the checkout
    on sys.path decides which components package the program imports); None for a checkout that predates it."""
    try:
        return importlib.import_module("components.versions")
    except ImportError:
        return None


def utc_today() -> dt.datetime:
    """The real clock, to the day: the offline plan of a stack is the same all day long (the real provider reads
    the clock to the second when it creates the resource; a preview shows the value as unknown)."""
    now = dt.datetime.now(dt.timezone.utc)
    return dt.datetime(now.year, now.month, now.day, tzinfo=dt.timezone.utc)


class KosmosMocks(pulumi.runtime.Mocks):
    """Deterministic provider answers shaped like the real providers' outputs (wire names: camelCase).

    Every value invented for a provider-computed output (ids, addresses, keys, node names) is recorded in `invented`
    (per resource) or `lookups` (data-source answers), so the plan can show "(known after apply)" instead of a fake
    value. `scoped` values (e.g. a node name that equals the machine's hostname here) are only marked in inputs
    that depend on the resource that produced them. `clock` is the time the time provider would read when creating
    a resource (default: the real clock).
    """

    def __init__(self, clock: Callable[[], dt.datetime] = utc_today) -> None:
        super().__init__()
        self.clock = clock
        self.invented: dict[tuple[str, str], dict[str, tuple[str, bool]]] = {}
        """(type, name) -> {value: (label, scoped)}"""
        self.lookups: dict[str, str] = {}
        """value -> label, for invoke (data source) answers: known at a real preview, never offline."""

    def _invent(self, t: str, name: str, value: Any, label: str = KNOWN_AFTER_APPLY, scoped: bool = False) -> None:
        if isinstance(value, str) and value:
            self.invented.setdefault((t, name), {})[value] = (label, scoped)

    def new_resource(self, args):  # type: ignore[override]
        rid, state = self._new_resource(args)
        t, name = args.typ, args.name
        if args.custom:
            self._invent(t, name, rid)
            for key in ("apiserverUrl", "projectId", "organizationId", "wildcardDns", "accessKey", "publicIp",
                        "accessPublicIpv4", "node_id"):
                if state.get(key) != args.inputs.get(key):  # computed here, not an echo of an input
                    self._invent(t, name, state.get(key))
            for ip in state.get("ipv4s") or []:
                self._invent(t, name, ip.get("address"))
                self._invent(t, name, ip.get("id"))
            if t == "command:remote:Command":
                self._invent(t, name, state["stdout"])
            if t.endswith("NodeIdentity"):
                # Registered by kosmos at apply (components/identity.py): id and name are Scaleway's.
                self._invent(t, name, state.get("node_name"))
        return rid, state

    def _new_resource(self, args):
        inputs = dict(args.inputs)
        t, name = args.typ, args.name
        if not args.custom:
            return "", {}
        rid = fake_uuid(t, name)
        state: dict[str, Any] = dict(inputs)
        if t == "scaleway:kubernetes/cluster:Cluster":
            region = inputs.get("region", "fr-par")
            rid = f"{region}/{rid}"
            host = f"https://{fake_uuid(name)}.api.k8s.{region}.scw.cloud:6443"
            state.update(
                apiserverUrl=host,
                projectId=fake_uuid("project"),
                organizationId=fake_uuid("organization"),
                status="ready",
                wildcardDns=f"*.{fake_uuid(name)}.nodes.k8s.{region}.scw.cloud",
                kubeconfigs=[
                    {
                        "configFile": (
                            "apiVersion: v1\nkind: Config\nclusters:\n- name: kosmos\n  cluster:\n"
                            f"    server: {host}\nusers:\n- name: admin\n  user:\n    token: mock-admin-token\n"
                            "contexts:\n- name: kosmos\n  context: {cluster: kosmos, user: admin}\n"
                            "current-context: kosmos\n"
                        ),
                        "host": host,
                        "clusterCaCertificate": "bW9jay1jYQ==",
                        "token": "mock-admin-token",
                    }
                ],
            )
        elif t == "scaleway:kubernetes/pool:Pool":
            rid = f"{inputs.get('region', 'fr-par')}/{rid}"
            state.update(status="ready", currentSize=inputs.get("size"), nodes=[], version="1.31.2")
        elif t == "scaleway:iam/apiKey:ApiKey":
            rid = "SCW" + fake_uuid(name).replace("-", "")[:17].upper()
            state.update(accessKey=rid, secretKey=fake_uuid("secret", name))
        elif t == "time:index/rotating:Rotating":
            # terraform-provider-time v0.12.1 resource_time_rotating.go: Create takes the clock's now (or `rfc3339`)
            # as the base and adds the rotation_* durations (setRotationValues); RFC 3339 to the second, UTC.
            base = self.clock()
            if inputs.get("rfc3339"):
                base = dt.datetime.fromisoformat(inputs["rfc3339"].replace("Z", "+00:00"))
            rotation = base + dt.timedelta(
                days=inputs.get("rotationDays") or 0,
                hours=inputs.get("rotationHours") or 0,
                minutes=inputs.get("rotationMinutes") or 0,
            )
            rid = _rfc3339(base)
            state.update(rfc3339=_rfc3339(base), rotationRfc3339=_rfc3339(rotation), unix=int(base.timestamp()),
                         year=base.year, month=base.month, day=base.day, hour=base.hour, minute=base.minute,
                         second=base.second)
        elif t in _CLOUD_RESOURCES:
            rid = _CLOUD_RESOURCES[t](name, inputs, state) or rid
        elif t.startswith("pulumi-python:dynamic") and t.endswith("NodeIdentity"):
            state.pop("__provider", None)
            node_id = fake_uuid("node", name)
            state.update(
                node_id=node_id,
                # Scaleway's naming (scw-<cluster>-<pool>-<hex>), never the hostname.
                node_name=f"scw-kosmos-{inputs.get('pool_name')}-{node_id.replace('-', '')[:22]}",
                metadata_url=f"https://api.scaleway.com/k8s/v1/regions/{inputs.get('region')}/node-metadata",
                node_secret_key=fake_uuid("node-secret", name),
                stale="",
            )
        elif t.startswith("pulumi-python:dynamic") and t.endswith("PoolNodes"):
            state.pop("__provider", None)
            wait = inputs.get("wait", True)
            state.update(statuses={m.get("node_id"): "ready" if wait else "not-waited"
                                   for m in inputs.get("members") or [] if isinstance(m, dict)})
        return rid, state

    def call(self, args):  # type: ignore[override]
        invoke = _CLOUD_INVOKES.get(args.token)
        return (invoke(self, dict(args.args)), []) if invoke else ({}, [])


# -- each cloud's offline mock: what its provider answers for the resources and look-ups its machine set makes -----

def _civo_instance(name: str, inputs: dict, state: dict) -> None:
    state.update(publicIp=fake_ipv4("203.0.113", name), status="ACTIVE", ramMb=4096)


def _civo_disk_image(mocks: KosmosMocks, a: dict) -> dict:
    # Like the provider: an exact-match filter that matches nothing is an empty list, not an error
    # (civo/terraform-provider-civo, civo/disk/datasource_disk_image.go over internal/datalist/schema.go).
    wanted = a["filters"][0]["values"]

    def lookup_image(name: str) -> str:
        image = fake_uuid("image", name)
        mocks.lookups[image] = f"(id of image {name}, looked up at preview)"
        return image

    return {
        "id": fake_uuid("image-lookup", *wanted),
        "region": a.get("region"),
        "diskimages": [
            {"id": image, "name": name, "label": name, "version": "22.04"}
            for name, image in ((n, lookup_image(n)) for n in CIVO_IMAGES if n in wanted)
        ],
    }


def _equinix_device(name: str, inputs: dict, state: dict) -> None:
    state.update(accessPublicIpv4=fake_ipv4("198.51.100", name), state="active")


def _elastic_metal_server(name: str, inputs: dict, state: dict) -> str:
    state.update(ipv4s=[{"address": fake_ipv4("192.0.2", name), "id": fake_uuid("ip", name), "reverse": "",
                         "version": "IPv4"}])
    return f"{inputs.get('zone', 'fr-par-2')}/{fake_uuid('scaleway:elasticmetal/server:Server', name)}"


def _elastic_metal_offer(mocks: KosmosMocks, a: dict) -> dict:
    oid = f"{a.get('zone')}/{fake_uuid('offer', a.get('name', ''))}"
    mocks.lookups[oid] = f"(id of offer {a.get('name')} in {a.get('zone')}, looked up at preview)"
    return {"id": oid, "offerId": oid, "name": a.get("name"), "zone": a.get("zone")}


def _elastic_metal_os(mocks: KosmosMocks, a: dict) -> dict:
    oid = fake_uuid("os", str(a.get("name")), str(a.get("version")))
    mocks.lookups[oid] = f"(id of OS {a.get('name')} {a.get('version') or 'latest'}, looked up at preview)"
    return {"id": oid, "osId": oid, "name": a.get("name"), "version": a.get("version")}


def _onprem_command(name: str, inputs: dict, state: dict) -> None:
    host_name = name.rsplit("-nodes-", 1)[-1]
    # What the join prints once the host is its node (templates/join/join.sh.j2); nothing reads it back.
    state.update(stdout=f"kosmos-join: joined {host_name}\n", stderr="")


@dataclass(frozen=True)
class CloudMock:
    resources: dict[str, Callable[[str, dict, dict], Optional[str]]]
    """type -> fills the state of a new resource from (name, inputs); may return the id (default: a fake UUID)."""
    invokes: dict[str, Callable[[KosmosMocks, dict], dict]] = field(default_factory=dict)
    """invoke token -> its answer (values the plan shows as looked up at preview go to mocks.lookups)."""


CLOUD_MOCKS: dict[str, CloudMock] = {
    "civo": CloudMock({"civo:index/instance:Instance": _civo_instance, "civo:index/firewall:Firewall": lambda *_: None},
                      {"civo:index/getDiskImage:getDiskImage": _civo_disk_image}),
    "equinix-metal": CloudMock({"equinix-metal:index/device:Device": _equinix_device}),
    "scaleway-elastic-metal": CloudMock({"scaleway:elasticmetal/server:Server": _elastic_metal_server},
                                        {"scaleway:elasticmetal/getOffer:getOffer": _elastic_metal_offer,
                                         "scaleway:elasticmetal/getOs:getOs": _elastic_metal_os}),
    "on-prem": CloudMock({"command:remote:Command": _onprem_command}),
}
"""Each cloud's part of the mock engine, keyed like components/clouds MACHINE_SETS (tests/test_clouds.py)."""
_CLOUD_RESOURCES = {t: fn for mock in CLOUD_MOCKS.values() for t, fn in mock.resources.items()}
_CLOUD_INVOKES = {t: fn for mock in CLOUD_MOCKS.values() for t, fn in mock.invokes.items()}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class Unknowns:
    """Marks the values the mocks invented, wherever they flowed: what a real preview could not know yet.

    Invented ids, addresses and keys are distinctive, so they are replaced wherever they appear, also inside
    derived strings (the bare pool UUID in a join script). Scoped values are replaced only in inputs that depend on
    their producer. `mark` records, per path, which resource produced the value (the diff needs it: an output of a
    resource being created or replaced is unknown again).
    """

    def __init__(self, by_urn: dict[str, dict[str, tuple[str, bool]]], lookups: dict[str, str]):
        self.by_urn = by_urn
        self.exact: dict[str, tuple[str, str]] = {v: (label, "") for v, label in lookups.items()}
        for urn, values in by_urn.items():
            for value, (label, scoped) in values.items():
                if not scoped:
                    self.exact[value] = (label, urn)
        self.fragments: dict[str, tuple[str, str]] = {}
        for value, hit in self.exact.items():
            for uuid_ in _UUID.findall(value):
                self.fragments.setdefault(uuid_, hit)
        self._pattern = re.compile("|".join(map(re.escape, sorted(self.fragments)))) if self.fragments else None

    def mark(self, value: Any, deps: Any = (), found: Optional[dict[str, str]] = None, path: str = "") -> Any:
        """A copy of `value` with invented values replaced by their label. `deps` are the URNs the value depends on
        (a list, or a mapping of top-level key -> list); found[path] = the producing URN ("" for a lookup)."""
        found = {} if found is None else found
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                sub = deps.get(k, ()) if isinstance(deps, dict) and not path else deps
                out[k] = self.mark(v, sub, found, f"{path}.{k}" if path else str(k))
            return out
        if isinstance(value, list):
            return [self.mark(v, deps, found, f"{path}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str) or value == SECRET:
            return value
        hit = self.exact.get(value)
        if hit is None:
            for dep in deps if not isinstance(deps, dict) else ():
                scoped = self.by_urn.get(dep, {}).get(value)
                if scoped is not None:
                    hit = (scoped[0], dep)
                    break
        if hit is not None:
            found[path] = hit[1]
            return hit[0]
        if self._pattern is not None:
            producers: list[str] = []

            def label(match: re.Match) -> str:
                text, producer = self.fragments[match.group(0)]
                producers.append(producer)
                return text

            marked = self._pattern.sub(label, value)
            if producers:
                found[path] = producers[0]
                return marked
        return value


# ---------------------------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict
    """Inputs with every secret replaced by "[secret]" (safe to print or write)."""
    raw_inputs: dict
    """Inputs with secrets unwrapped: for assertions in memory only, never written anywhere."""
    secret_paths: list[str]
    """Dotted paths of the inputs that were secrets."""
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    replace_on_changes: list[str]
    ignore_changes: list[str]
    replacement_trigger: Any
    """The replacement_trigger option's value (None when unset)."""
    delete_before_replace: bool
    protect: bool
    provider: str
    additional_secret_outputs: list[str]
    state: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "parent": self.parent,
            "custom": self.custom,
            "inputs": self.inputs,
            "secretInputs": sorted(self.secret_paths),
            "dependencies": sorted(self.dependencies),
            "replaceOnChanges": self.replace_on_changes,
            "ignoreChanges": self.ignore_changes,
            "replacementTrigger": self.replacement_trigger,
            "deleteBeforeReplace": self.delete_before_replace,
            "protect": self.protect,
            "provider": self.provider,
        }


def _redact(value: Any, path: str, secret_paths: list[str]) -> tuple[Any, Any]:
    """Returns (redacted, unwrapped) copies, recording where secrets were."""
    if sdk.is_rpc_secret(value):
        secret_paths.append(path)
        _, raw = _redact(sdk.unwrap_rpc_secret(value), path, [])
        return SECRET, raw
    if isinstance(value, dict):
        red, raw = {}, {}
        for k, v in value.items():
            red[k], raw[k] = _redact(v, f"{path}.{k}" if path else k, secret_paths)
        return red, raw
    if isinstance(value, list):
        pairs = [_redact(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if isinstance(value, float) and value.is_integer():
        return int(value), int(value)  # protobuf carries every number as a double
    if isinstance(value, str) and value.startswith(SECRET_PLACEHOLDER_PREFIX):
        secret_paths.append(path)
        return SECRET, value
    return value, value


def _trigger_value(request) -> Any:
    if not request.HasField("replacement_trigger"):
        return None
    return json_format.MessageToDict(request.replacement_trigger)


@dataclass
class RegisteredOutputs:
    """A RegisterResourceOutputs request as the engine would store it in state."""

    outputs: dict
    """Redacted: secrets replaced by "[secret]"."""
    secret_paths: list[str]


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.invented: dict[str, dict[str, tuple[str, bool]]] = {}
        """URN -> the values the mocks invented for it (KosmosMocks.invented)."""
        self.registrations: list[Registration] = []
        self.outputs: dict[str, RegisteredOutputs] = {}
        """Latest registered outputs per URN (components, and the stack's exports under its own URN)."""

    def RegisterResourceOutputs(self, request):  # noqa: N802 - gRPC method name
        secret_paths: list[str] = []
        redacted, _ = _redact(sdk.deserialize(request.outputs, keep_unknowns=True), "", secret_paths)
        self.outputs[request.urn] = RegisteredOutputs(redacted, secret_paths)
        return super().RegisterResourceOutputs(request)

    def RegisterResource(self, request):  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        props = sdk.deserialize(request.object)
        secret_paths: list[str] = []
        redacted, raw = _redact(props, "", secret_paths)
        if "__provider" in redacted:
            redacted["__provider"] = "[serialized dynamic provider]"
        urn = response.urn
        invented = getattr(self.mocks, "invented", {}).pop((request.type, request.name), None)
        if invented:
            self.invented[urn] = invented
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=request.parent,
                custom=bool(request.custom),
                inputs=redacted,
                raw_inputs=raw,
                secret_paths=secret_paths,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                replace_on_changes=list(request.replaceOnChanges),
                ignore_changes=list(request.ignoreChanges),
                replacement_trigger=_trigger_value(request),
                delete_before_replace=bool(request.deleteBeforeReplace),
                protect=bool(request.protect),
                provider=request.provider,
                additional_secret_outputs=list(request.additionalSecretOutputs),
                state=self.resources[urn].state if urn in self.resources else {},
            )
        )
        return response


# ---------------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Export:
    value: Any
    secret: bool
    known: bool


@dataclass
class ProgramRun:
    stack: str
    registrations: list[Registration]
    exports: dict[str, Export]
    warnings: list[str]
    error: Optional[BaseException] = None
    registered_outputs: dict[str, RegisteredOutputs] = field(default_factory=dict)
    """What reached the engine through RegisterResourceOutputs, per URN (recording runs only)."""
    unknowns: Unknowns = field(default_factory=lambda: Unknowns({}, {}))
    """The values the mocks invented (recording runs only): what the plan shows as "(known after apply)"."""

    def stack_outputs(self) -> RegisteredOutputs:
        """The stack's exports as the engine stores them (massaged and serialised by the SDK, secrets marked)."""
        [urn] = [u for u in self.registered_outputs if "::pulumi:pulumi:Stack::" in u]
        return self.registered_outputs[urn]

    def by_type(self, type_: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_]

    def custom(self) -> list[Registration]:
        return [r for r in self.registrations if r.custom]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.registrations}

    def export_value(self, name: str) -> Any:
        return self.exports[name].value


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _run_in_stack(program: pathlib.Path) -> None:
    """The program, then what the CLI's entrypoint (run_in_stack) does after it: massage the stack exports and
    register them as the root's outputs. set_mocks registered the root's outputs up front (empty), so without this
    the exports would never be serialised and their cost would be missing from the benchmark."""
    runpy.run_path(str(program), run_name="__main__")
    sdk.finish_stack()


def _new_loop() -> tuple[asyncio.AbstractEventLoop, list[asyncio.AbstractEventLoop]]:
    """The run's loop, with its own executor whose threads each get a loop that the run closes.

    The SDK makes its monitor calls in the default executor, and the mock monitor there uses `_sync_await`, which
    creates an event loop for each worker thread (pulumi/runtime/sync_await.py, `_ensure_event_loop`) and never
    closes it. Those loops were garbage-collected at interpreter exit, where closing one can fail: "Exception
    ignored in: <function BaseEventLoop.__del__>" after a successful `make plan`.
    """
    loop = asyncio.new_event_loop()
    thread_loops: list[asyncio.AbstractEventLoop] = []

    def own_loop() -> None:
        thread_loop = asyncio.new_event_loop()
        asyncio.set_event_loop(thread_loop)
        thread_loops.append(thread_loop)

    loop.set_default_executor(
        concurrent.futures.ThreadPoolExecutor(thread_name_prefix="kosmos-engine", initializer=own_loop)
    )
    return loop, thread_loops


def _close_loop(loop: asyncio.AbstractEventLoop, thread_loops: list[asyncio.AbstractEventLoop]) -> None:
    """Close everything the way asyncio.run does: cancel what is still pending (after a program error, the SDK's
    RPC tasks; otherwise "Task was destroyed but it is pending!"), let the cancellations run, shut down async
    generators and the executor, then close the worker threads' loops and the run's loop."""
    try:
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        for thread_loop in thread_loops:
            thread_loop.close()
        loop.close()


def run_program(
    stack: str = "dev",
    *,
    config: Optional[dict[str, str]] = None,
    secret_keys: Optional[list[str]] = None,
    program: Optional[pathlib.Path] = None,
    raise_errors: bool = True,
    record: bool = True,
    clock: Callable[[], dt.datetime] = utc_today,
) -> ProgramRun:
    """Run `program` (default: the real __main__.py) for `stack` on the mock engine in a fresh event loop.

    `config` defaults to stacks/Pulumi.<stack>.yaml. With raise_errors=False a program error is returned in
    `ProgramRun.error` together with whatever was registered before it (for "nothing was registered" checks).
    record=False uses the SDK's plain MockMonitor (no registrations recorded): the benchmark times that.
    `clock` is what the mocked time provider reads as "now".
    """
    if config is None:
        config, secret_keys = load_stack_config(stack)
    program = program or MAIN
    loop, thread_loops = _new_loop()
    asyncio.set_event_loop(loop)
    collector = _WarningCollector()
    logger = logging.getLogger(f"kosmos.offline.{id(collector)}")
    logger.propagate = False
    logger.addHandler(collector)
    mocks = KosmosMocks(clock)
    monitor = RecordingMonitor(mocks) if record else MockMonitor(mocks)
    error: Optional[BaseException] = None
    exports: dict[str, Export] = {}
    sys_path_added = str(program.parent) not in sys.path
    if sys_path_added:
        sys.path.insert(0, str(program.parent))
    versions = _versions_module()
    if versions is not None:
        versions.CLOCK = clock  # the plan's version warnings are dated by the same clock
    try:
        sdk.reset()
        sdk.set_mocks(mocks, project=PROJECT, stack=stack, monitor=monitor, logger=logger)
        sdk.set_config(config, list(secret_keys or []))
        try:
            loop.run_until_complete(sdk.run(lambda: _run_in_stack(program)))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            error = exc
        if error is None and record:
            root = sdk.root_resource()
            for name, out in dict(getattr(root, "outputs", {}) or {}).items():
                out = pulumi.Output.from_input(out)
                exports[name] = Export(
                    value=loop.run_until_complete(out.future(with_unknowns=True)),
                    secret=loop.run_until_complete(out.is_secret()),
                    known=loop.run_until_complete(out.is_known()),
                )
    finally:
        if versions is not None:
            versions.CLOCK = None
        sdk.set_config({}, [])
        _close_loop(loop, thread_loops)
        asyncio.set_event_loop(None)
        if sys_path_added:
            sys.path.remove(str(program.parent))
    # Warnings arrive in asyncio order: sort them so plans and golden files are stable.
    run = ProgramRun(stack, getattr(monitor, "registrations", []), exports, sorted(set(collector.messages)), error,
                     getattr(monitor, "outputs", {}), Unknowns(getattr(monitor, "invented", {}), mocks.lookups))
    if error is not None and raise_errors:
        raise error
    return run
