"""The typed model of kosmos' stack config, and the spec the components use: each key is described once, here.

It is the one source for the structural rules (types, unknown keys, required keys, choices, bounds, patterns), for
the JSON Schema of stack files (`stacks/kosmos-config.schema.json`), for the component package's typed args
(components/args.py, generated from it by tools/argsgen.py) and, once validated by `spec.parse_spec`, for what the
components read (`pool.registration.timeout_minutes`, `pool.machine_names()`, ...).

pydantic v2 does the checking; `problems()` turns its errors into kosmos' messages (a `kosmos:` key path, what is
allowed, did-you-mean), from the pydantic error type and the metadata each field declares here (`Hint`). The rules
that need more than one value (zones per region, sizes against memory, reserved labels, names across pools, node
limits, userdata size, secrets) are KosmosConfig's validator, written in components/spec.py, with the stack name and
the clock as validation context; it also fills the defaults that depend on other values (cluster name, pool zone).

Patterns are anchored `^…$` and pydantic-core matches them with Rust's regex crate, where `$` is the end of the
text (Python's `re` would let one trailing newline through): full-match semantics.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime as _dt
import difflib
import functools
import json
import types
import typing
from typing import Annotated, Any, Literal, Mapping, Optional, Union

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from . import catalog

NAMESPACE = "kosmos"

MAX_EXTERNAL_POOL_NAME = 52  # + "-<n up to 499>-<6 hex>" = 63, a DNS label
MAX_REGISTRATION_TIMEOUT_MINUTES = 24 * 60
"""kosmos' bound: a node that has not joined in a day will not; longer only keeps `pulumi up` hanging."""
MAX_MIN_MEMORY_MIB = 4 * 1024 * 1024
"""4 TiB: kosmos' bound, far above any machine, and far from overflowing the script's 64-bit arithmetic."""
MAX_HOST_KEY = 8192
"""An OpenSSH public key line; a 16384-bit RSA key is about 2,800 characters."""
MAX_UNIX_USER = 32
"""A Linux login name fits utmp's `ut_user[UT_NAMESIZE]`, 32 bytes (glibc bits/utmp.h)."""
MAX_STRING = 255
"""Default length bound of a free string (tags, OS versions, ids, ...): kosmos' own bound, not a vendor limit."""
MAX_LIST = 100
"""Default bound on the entries of a list (tags, CIDRs, key ids, ...): kosmos' own bound."""
MAX_JOIN_KEY_VALID_DAYS = 3650
"""kosmos' bound (ten years); Scaleway's own maximum for an API key's expiry is not documented (unverified)."""
PROVIDERS = ("civo", "equinix-metal", "scaleway-elastic-metal", "on-prem")
DAYS = ("any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
LABEL_NAME = r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$"
LABEL_VALUE = r"^(|[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$"  # a label name, or empty
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
RFC3339_UTC = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"
# An image reference: [registry/]repository[:tag][@sha256:digest], with a tag or a digest (never implicit latest).
IMAGE = (
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)
LABEL_KEY_MESSAGE = (
    "{q} is not a valid Kubernetes label key (optional DNS-subdomain prefix and '/', then a name of at most 63 "
    "characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)"
)
_QUOTE_LIMIT = 100


def q(value: Any) -> str:
    """A value quoted for a message, cut short: an error must not echo a megabyte of config back."""
    if isinstance(value, str):
        # A trailing newline or a tab must be visible in the message: escape what is not printable.
        text = f'"{value}"' if value.isprintable() else json.dumps(value, ensure_ascii=False)
    else:
        text = repr(value)
    if len(text) <= _QUOTE_LIMIT:
        return text
    return f"{text[:_QUOTE_LIMIT - 2]}…{text[-1]} ({len(str(value))} characters)"


def did_you_mean(value: Any, choices: typing.Sequence[str]) -> str:
    hint = difflib.get_close_matches(str(value), choices, n=1)
    return f' (did you mean "{hint[0]}"?)' if hint else ""


# ----------------------------------------------------------------------------------------------------------------
# Field metadata for messages
# ----------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Hint:
    """How a field's errors read. `expected` completes "expected a string (…)" and "<value> is not …"; `messages`
    replaces the message of one pydantic error type (`*` for every type), formatted with {q} (the value quoted),
    {v} (the value) and the error's context."""

    expected: str = ""
    messages: tuple[tuple[str, str], ...] = ()  # (error type, template) pairs: hashable, as typing needs


def _m(messages: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(messages.items())


def _printable(value: str) -> str:
    if not value.isprintable():  # free strings: a newline or a NUL in a tag or an id is never meant
        raise PydanticCustomError("control_character", "contains a control character")
    return value


def Str(pattern: Optional[str] = None, expected: str = "", max_length: int = MAX_STRING, **messages: str):
    """A string: at most `max_length` characters, matching `pattern`, printable."""
    return Annotated[
        str,
        Field(pattern=pattern, max_length=max_length),
        AfterValidator(_printable),
        Hint(expected, _m(messages)),
    ]


def Int(lo: int, hi: int):
    return Annotated[int, Field(ge=lo, le=hi)]


def OneOf(choices: typing.Sequence[str], **messages: str):
    return Annotated[Literal[tuple(choices)], Hint("", _m(messages))]


def List(item: Any, max_length: int = MAX_LIST, min_length: int = 0, **messages: str):
    return Annotated[list[item], Field(min_length=min_length, max_length=max_length), Hint("", _m(messages))]


Free = Str()
Strings = List(Free)
LabelValue = Annotated[
    str,
    Field(max_length=63, pattern=LABEL_VALUE),
    Hint(messages=_m({"*": "value {q} is not a valid Kubernetes label value (a string of at most 63 characters: "
                        "letters, digits, '-', '_', '.', starting and ending with a letter or digit)"})),
]
LabelKey = Annotated[str, Hint(messages=_m({"string_type": LABEL_KEY_MESSAGE}))]
Labels = Annotated[
    dict[LabelKey, LabelValue], Hint(messages=_m({"dict_type": "expected a mapping of label key to value; got {q}"}))
]
Arch = OneOf(catalog.ARCHES)
Count = Int(1, catalog.MAX_CLUSTER_NODES)


class _Model(BaseModel):
    # strict: a string is never a number, a number never a bool (YAML's `yes`, an unquoted 1.30, "30s" ...).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        alias_generator=to_camel,
        use_attribute_docstrings=True,
        allow_inf_nan=False,
    )


# ----------------------------------------------------------------------------------------------------------------
# The model, in stack-file order
# ----------------------------------------------------------------------------------------------------------------


class MaintenanceWindowModel(_Model):
    """When Scaleway may upgrade the control plane."""

    day: OneOf(DAYS) = "any"
    """Day of the week the control plane may be upgraded: `any` or monday..sunday."""
    start_hour: Int(0, 23) = 0
    """Hour (0-23, UTC) the maintenance window opens."""


class AutoUpgradeModel(_Model):
    """Patch-release auto-upgrades of the control plane."""

    enabled: bool
    """Let Scaleway upgrade the patch version inside the maintenance window (the version must then be a minor)."""
    maintenance_window: MaintenanceWindowModel = MaintenanceWindowModel()
    """When upgrades may happen."""


CLUSTER_NAME_EXPECTED = "a name of lowercase letters, digits and '-' (at most 63 characters)"


class ClusterModel(_Model):
    """The Kosmos control plane."""

    name: Optional[Str(DNS_LABEL, CLUSTER_NAME_EXPECTED)] = None
    """Scaleway cluster name: lowercase letters, digits and '-' (default `kosmos-<stack>`)."""
    region: OneOf(catalog.SCALEWAY_REGIONS)
    """Scaleway region of the control plane."""
    version: Str(
        r"^1\.[0-9]{2}(\.[0-9]+)?$",
        'a Kubernetes version like "1.31" or "1.31.2"',
        # YAML reads an unquoted 1.30 as the number 1.3: say so instead of "not a string" (numbers only: a list
        # or a bool is not "a number").
        number_type='{v} is a number; quote the version, e.g. version: "1.31"',
    )
    """Kubernetes minor ("1.31") or patch ("1.31.2") version. Quote it: YAML reads an unquoted 1.30 as 1.3. Checked
    against Scaleway's versions and end-of-life dates on every plan (warnings)."""
    type: OneOf(catalog.CLUSTER_TYPES) = "multicloud"
    """Kosmos control-plane offer. The stack's node count (Scaleway pools at maxSize when autoscaled, plus every
    external machine) must fit its limit: 150, 250, 500, 500 nodes (Scaleway's control-plane offers page)."""
    cni: OneOf(
        (catalog.MULTICLOUD_CNI,), **{"*": "{q} is not allowed; a multicloud (Kosmos) cluster only runs the kilo CNI"}
    ) = catalog.MULTICLOUD_CNI
    """Always `kilo`, the only CNI a multicloud cluster takes: anything else is refused."""
    auto_upgrade: Optional[AutoUpgradeModel] = None
    """Patch auto-upgrades of the control plane (default off)."""
    tags: Strings = []
    """Scaleway tags."""
    delete_additional_resources: bool = False
    """Delete the volumes and load balancers the cluster created when it is deleted."""
    protect: bool = False
    """Pulumi `protect` on the cluster resource."""
    private_network_id: Annotated[
        None, Hint(messages=_m({"*": "a multicloud (Kosmos) cluster cannot be attached to a private network"}))
    ] = None
    """Not allowed: a multicloud (Kosmos) cluster cannot be attached to a private network."""


class TaintModel(_Model):
    """A Kubernetes taint put on every node of a pool."""

    key: LabelKey
    """Taint key (Kubernetes label-key syntax)."""
    value: Annotated[
        str,
        Field(max_length=63, pattern=LABEL_VALUE),
        Hint(messages=_m({"*": "{q} is not a valid taint value"})),
    ] = ""
    """Taint value (default empty)."""
    effect: OneOf(TAINT_EFFECTS)
    """NoSchedule, PreferNoSchedule or NoExecute."""


Taints = List(TaintModel, list_type="expected a list of {{key, value, effect}}; got {q}")
PoolName = Str(DNS_LABEL, "a pool name of lowercase letters, digits and '-' (at most 63)")


class ScalewayPoolModel(_Model):
    """A Scaleway-managed pool of the cluster."""

    name: PoolName
    """Pool name, unique across all pools."""
    node_type: Str(r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$", "a Scaleway Instance type like DEV1-M")
    """Scaleway Instance type, e.g. DEV1-M (DEV1-S, PLAY2-PICO and STARDUST* are refused: too little memory)."""
    size: Int(0, catalog.MAX_CLUSTER_NODES)
    """Number of nodes (0 only with autoscale), between minSize and maxSize."""
    zone: Optional[
        OneOf(catalog.ALL_SCALEWAY_ZONES,
              literal_error=f"{{q}} is not a zone; expected one of {', '.join(catalog.ALL_SCALEWAY_ZONES)}")
    ] = None
    """Zone the nodes run in, any Scaleway zone (default `<region>-1`)."""
    min_size: Optional[Int(0, catalog.MAX_CLUSTER_NODES)] = None
    """Autoscaling lower bound."""
    max_size: Optional[Int(1, catalog.MAX_CLUSTER_NODES)] = None
    """Autoscaling upper bound."""
    autoscale: bool = False
    """Let Scaleway scale the pool between minSize and maxSize."""
    labels: Labels = {}
    """Node labels; `cloud=scaleway` and `cloud-region=<the zone's region>` are added and reserved."""
    taints: Taints = []
    """Node taints."""
    tags: Strings = []
    """Scaleway tags."""


class RegistrationModel(_Model):
    """How `pulumi up` waits for each machine's node, and how the node leaves."""

    wait: bool = True
    """Wait, on create, until each machine's node is registered and Ready."""
    timeout_minutes: Annotated[float, Field(ge=0.01, le=MAX_REGISTRATION_TIMEOUT_MINUTES)] = 15
    """How long to wait for a node before failing the update (minutes)."""
    skip_drain: bool = False
    """Delete the node without draining it first when its machine goes away."""


class UpgradeModel(_Model):
    """How a change of the join (Kubernetes or agent version, template) rolls through the pool's machines."""

    max_surge: Optional[Int(1, catalog.MAX_CLUSTER_NODES)] = None
    """Boot-time pools (civo, scaleway-elastic-metal, equinix-metal): at most this many replacement machines are
    created per `pulumi up` when the join changes (default: all); the rest keep the old version until the next
    `pulumi up` (README, Upgrading). Set on an on-prem pool, it is an error."""
    max_unavailable: Optional[Int(1, catalog.MAX_CLUSTER_NODES)] = None
    """On-prem pools: how many hosts re-join (cordoned and drained) at once when the join changes (default 1). Set on
    another kind of pool, it is an error."""


class ExternalPoolModel(_Model):
    """Fields every external pool has; `provider` selects the rest."""

    name: Str(
        DNS_LABEL,
        "a pool name of lowercase letters, digits and '-' (at most 63)",
        MAX_EXTERNAL_POOL_NAME,
        string_too_long="{q} is too long: machines are named <pool>-<n>-<6 hex> and a hostname has at most 63 "
        f"characters, so an external pool name has at most {MAX_EXTERNAL_POOL_NAME}",
    )
    """Pool name, unique across all pools, at most 52 characters (hostnames are `<pool>-<n>-<6 hex>`)."""
    provider: str
    """Which kind of machines the pool runs on."""
    labels: Labels = {}
    """Node labels (Kubernetes syntax); `cloud`, `cloud-region` and `topology.kubernetes.io/region` are reserved."""
    taints: Taints = []
    """Node taints."""
    tags: Strings = []
    """Scaleway tags on the pool."""
    registration: RegistrationModel = RegistrationModel()
    """Waiting for the nodes and removing them."""
    upgrade: UpgradeModel = UpgradeModel()
    """How a change of the join (Kubernetes or agent version, template) rolls through the machines."""

    @property
    def location(self) -> str:
        """Value of the `cloud-region` label: region, metro, zone or site."""
        raise NotImplementedError

    @property
    def machine_count(self) -> int:
        return self.count  # every cloud but on-prem declares a count

    def machine_names(self) -> list[str]:
        """Stable per-machine names (hostnames), `<pool>-<n>` unless the cloud names them."""
        return [f"{self.name}-{i}" for i in range(self.machine_count)]

    def machine_keys(self) -> list[str]:
        """The suffix of each machine's Pulumi resource names (clouds.base.Machine.key): its index."""
        return [str(i) for i in range(self.machine_count)]

    def declared_arch(self, index: int) -> Optional[str]:
        """amd64/arm64 when known before boot; None means the join script detects it."""
        return None

    def node_labels(self) -> dict[str, str]:
        """The labels every node of this pool carries: the user's plus `cloud` and `cloud-region`."""
        return {**self.labels, catalog.CLOUD_LABEL: self.provider, catalog.CLOUD_REGION_LABEL: self.location}


Cidr = Annotated[str, Hint(messages=_m({"string_type": "expected a CIDR string like 203.0.113.4/32; got {q}"}))]


class CivoPoolModel(ExternalPoolModel):
    provider: Literal["civo"]
    """Civo instances; the join runs as the instance's boot script."""
    region: Str(r"^[A-Z]{3}[0-9]$", "a Civo region like LON1, NYC1")
    """Civo region, e.g. LON1."""
    size: OneOf(tuple(catalog.CIVO_SIZES_MIB))
    """Civo instance size with at least kosmos:join.minMemoryMiB of RAM: smaller ones (g3.xsmall, 1 GiB, at the
    default) are refused."""
    image: Str(
        r"^(ubuntu|debian)-[a-z0-9.\-]+$", "an Ubuntu or Debian Civo disk image name like ubuntu-jammy or debian-12"
    ) = "ubuntu-jammy"
    """Ubuntu or Debian disk image name, resolved to its id in the pool's region (civo.get_disk_image)."""
    count: Count
    """Number of instances."""
    ssh_key_id: Optional[Free] = None
    """Civo SSH key id put on the instances."""
    ssh_allowed_cidrs: List(Cidr) = []
    """CIDRs allowed to reach SSH (closed by default; 0.0.0.0/0 needs kosmos:allowPublicSsh)."""

    @property
    def location(self) -> str:
        return self.region

    def declared_arch(self, index: int) -> Optional[str]:
        return "amd64"  # Civo instances are x86-64 only


class EquinixMetalPoolModel(ExternalPoolModel):
    provider: Literal["equinix-metal"]
    """Equinix Metal devices. The service was shut down on 2026-06-30: kept so existing stacks can be destroyed."""
    metro: Str(r"^[a-z]{2}$", "a two-letter metro code like da, am")
    """Equinix Metal metro, e.g. da."""
    plan: Str(
        catalog.EQUINIX_PLAN_PATTERN,
        "an Equinix Metal plan like c3.small.x86 or c3.large.arm64 (<class>.<size>.<x86|arm64>)",
    )
    """Equinix Metal plan, e.g. c3.small.x86."""
    os: OneOf(tuple(catalog.EQUINIX_OS)) = "ubuntu_22_04"
    """OS slug."""
    count: Count
    """Number of devices."""

    @property
    def location(self) -> str:
        return self.metro

    def declared_arch(self, index: int) -> Optional[str]:
        return catalog.EQUINIX_PLAN_ARCH[self.plan.rsplit(".", 1)[1]]


class ElasticMetalPoolModel(ExternalPoolModel):
    provider: Literal["scaleway-elastic-metal"]
    """Scaleway Elastic Metal servers; the join runs from cloud-init."""
    zone: OneOf(catalog.ELASTIC_METAL_ZONES)
    """Elastic Metal zone."""
    offer: Str(r"^EM-[A-Z0-9]+(-[A-Z0-9]+)*$", "an Elastic Metal offer name like EM-A115X-SSD")
    """Offer name, e.g. EM-A115X-SSD, resolved with elasticmetal.get_offer."""
    os: OneOf(("Ubuntu", "Debian")) = "Ubuntu"
    """OS name, resolved with elasticmetal.get_os (with osVersion); a change replaces the server."""
    os_version: Str(
        r"^\S(.*\S)?$",
        'an OS version as Scaleway lists it, like "22.04 LTS (Jammy Jellyfish)" (not blank, no outer spaces)',
    )
    """OS version exactly as Scaleway lists it, e.g. "22.04 LTS (Jammy Jellyfish)". Required: the OS look-up matches
    name and version exactly, and an unset version matches no OS (terraform-provider-scaleway
    internal/services/baremetal/os_data_source.go), which would only fail once the server is being created. A
    change replaces the server."""
    count: Count
    """Number of servers."""
    ssh_key_ids: List(Str(UUID, "a Scaleway SSH key id (a UUID)")) = []
    """Scaleway SSH key ids (UUIDs: terraform-provider-scaleway internal/services/baremetal/server.go validates each
    with verify.IsUUID, so another value would fail only in the provider)."""
    arch: Optional[Arch] = None
    """amd64 or arm64, for the summary only (default: detected at boot)."""

    @property
    def location(self) -> str:
        return self.zone

    def declared_arch(self, index: int) -> Optional[str]:
        return self.arch


HOST_KEY_EXPECTED = "an SSH public host key like 'ssh-ed25519 AAAA…' (ssh-keyscan's output without the host column)"


class OnPremHostModel(_Model):
    """A machine of an on-prem pool, joined over SSH."""

    name: Str(DNS_LABEL, "a host name of lowercase letters, digits and '-'")
    """Machine name in kosmos, unique within its pool; not the node's name: the join reports Scaleway's node id and
    name."""
    address: Annotated[str, Hint(messages=_m({"string_type": "expected an IP address or DNS name; got {q}"}))]
    """Address reached over SSH (IP or DNS name); address and port are unique across pools."""
    user: Str(r"^[a-z_][a-z0-9_\-]*$", "a Unix user", MAX_UNIX_USER) = "root"
    """SSH user; another user than root needs passwordless sudo (commands run with `sudo -n`)."""
    port: Int(1, 65535) = 22
    """SSH port."""
    arch: Optional[Arch] = None
    """amd64 or arm64 (default: detected at boot)."""
    host_key: Optional[Str(None, HOST_KEY_EXPECTED, MAX_HOST_KEY)] = None
    """Pinned SSH host public key (ssh-keyscan's line without the host column); required unless
    insecureSkipHostKeyCheck."""
    insecure_skip_host_key_check: bool = False
    """Accept any SSH host key instead of pinning one (warned on every plan, reported by the policy pack)."""


class OnPremPoolModel(ExternalPoolModel):
    provider: Literal["on-prem"]
    """Existing machines reached over SSH."""
    hosts: List(
        OnPremHostModel,
        catalog.MAX_CLUSTER_NODES,
        1,
        list_type="expected a non-empty list of {{name, address, user, port}}",
        too_short="expected a non-empty list of {{name, address, user, port}}",
        too_long=f"has {{actual_length}} hosts; a cluster has at most {catalog.MAX_CLUSTER_NODES} nodes",
    )
    """The machines, reached over SSH."""
    site: Optional[Str(LABEL_NAME, "a label value (letters, digits, -_.)", 63)] = None
    """Value of the `cloud-region` label (default: the pool name)."""

    @property
    def location(self) -> str:
        return self.site or self.name

    @property
    def machine_count(self) -> int:
        return len(self.hosts)

    def machine_names(self) -> list[str]:
        return [h.name for h in self.hosts]

    def machine_keys(self) -> list[str]:
        return [h.name for h in self.hosts]

    def declared_arch(self, index: int) -> Optional[str]:
        return self.hosts[index].arch


_PROVIDER_LIST = ", ".join(PROVIDERS)
AnyExternalPoolModel = Annotated[
    # The component schema lists the providers in this order: Equinix Metal (shut down) last.
    Union[CivoPoolModel, ElasticMetalPoolModel, OnPremPoolModel, EquinixMetalPoolModel],
    Field(discriminator="provider"),
    Hint(messages=_m({
        "model_attributes_type": "expected a mapping; got {q}",
        "union_tag_not_found": f"is required; expected one of {_PROVIDER_LIST}",
        "union_tag_invalid": f"{{q}} is not allowed{{dym}}; expected one of {_PROVIDER_LIST}",
    })),
]
PROVIDER_MODELS: dict[str, type[ExternalPoolModel]] = {
    m.model_fields["provider"].annotation.__args__[0]: m
    for m in typing.get_args(typing.get_args(AnyExternalPoolModel)[0])
}


# Read as the mapping {arch: sha256} of the pinned arches, what the join renderer takes.
class AgentSha256Model(_Model, collections.abc.Mapping):
    """Pinned sha256 of the k8s-agent binary per architecture."""

    amd64: Optional[Str(r"^[0-9a-f]{64}$", "64 lowercase hex characters")] = None
    """sha256 of k8s-agent_linux_amd64."""
    arm64: Optional[Str(r"^[0-9a-f]{64}$", "64 lowercase hex characters")] = None
    """sha256 of k8s-agent_linux_arm64."""

    def __getitem__(self, arch: str) -> str:
        value = getattr(self, arch, None) if arch in catalog.ARCHES else None
        if value is None:
            raise KeyError(arch)
        return value

    def __iter__(self):  # the pinned arches, not pydantic's (field, value) pairs
        return (arch for arch in catalog.ARCHES if getattr(self, arch) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class JoinModel(_Model):
    """How the join script fetches and checks the node agent (k8s-agent)."""

    agent_version: Str(
        r"^v[0-9]+\.[0-9]+\.[0-9]+$", "a k8s-agent release tag like v0.1.5 (github.com/scaleway/k8s-agent tags)"
    ) = catalog.DEFAULT_AGENT_VERSION
    """k8s-agent release tag (github.com/scaleway/k8s-agent)."""
    agent_base_url: Optional[
        Str(r"^https?://[A-Za-z0-9.\-]+(:[0-9]+)?(/[A-Za-z0-9._~\-/]*)?$", "an http(s) URL without query or fragment")
    ] = None
    """Directory holding k8s-agent_linux_amd64, k8s-agent_linux_arm64 and checksums.txt, for mirrors and air-gapped
    sites (default: the region's release bucket for agentVersion). A non-https URL needs agentSha256 for both
    arches."""
    agent_sha256: AgentSha256Model = AgentSha256Model()
    """Pinned sha256 per arch, verified before the agent runs (required for an http agentBaseUrl); unpinned, the
    release's checksums.txt decides."""
    api_url: Optional[
        Str(r"^https://[A-Za-z0-9.\-]+(:[0-9]+)?$", "an https URL without a path, like https://api.scaleway.com")
    ] = None
    """Scaleway API URL the agent registers with, its SCW_API_URL (default: scaleway:apiUrl, else Scaleway's)."""
    allowed_os: List(
        Str(r"^(ubuntu|debian):[0-9]+(\.[0-9]+)?$", '"<ubuntu|debian>:<VERSION_ID>"'),
        min_length=1,
        too_short="must list at least one OS",
    ) = list(catalog.DEFAULT_ALLOWED_OS)
    """OSes the join script accepts, `<ID>:<VERSION_ID>` of /etc/os-release."""
    min_memory_mib: Annotated[Int(1024, MAX_MIN_MEMORY_MIB), Field(alias="minMemoryMiB")] = (
        catalog.DEFAULT_MIN_MEMORY_MIB
    )
    """Memory a machine needs to join (MiB): checked by the join script, and against Civo sizes in the config."""


class LatencyProbeModel(_Model):
    """An opt-in RTT probe on every node (`make latency` reads it)."""

    enabled: bool = False
    """Deploy the probe DaemonSet (off by default: without it kosmos runs no workload in the cluster)."""
    interval_seconds: Int(5, 3600) = 30
    """Seconds between two measuring rounds of one probe."""
    image: Str(
        IMAGE, "an image reference with a tag or a digest, like python:3.13-alpine or python@sha256:<64 hex>"
    ) = catalog.LATENCY_PROBE_IMAGE
    """Multi-arch image with a python3, by tag or digest."""


SECURE_VALUE = {
    "type": "object",
    "properties": {"secure": {"type": "string", "description": "Ciphertext written by `pulumi config set --secret`."}},
    "required": ["secure"],
    "additionalProperties": False,
}


class KosmosConfig(_Model):
    """Every `kosmos:*` key of a stack, without the namespace."""

    cluster: Annotated[ClusterModel, Hint(messages=_m({"missing": "is required (at least `region` and `version`)"}))]
    """The Kosmos control plane."""
    scaleway_pools: List(
        ScalewayPoolModel, catalog.MAX_CLUSTER_NODES, list_type="expected a list of pools; got {q}"
    ) = []
    """Scaleway-managed pools."""
    external_pools: List(AnyExternalPoolModel, catalog.MAX_CLUSTER_NODES, list_type="expected a list of pools; got {q}") = []
    """Machines outside Scaleway joined to the cluster; `provider` selects the fields."""
    join: JoinModel = JoinModel()
    """How external machines join: the k8s-agent release, pins, accepted OSes."""
    equinix_project_id: Optional[
        Str(UUID, "a project UUID")
    ] = None
    """Equinix Metal project UUID (required with an equinix-metal pool)."""
    ssh_private_key: Annotated[Any, WithJsonSchema(SECURE_VALUE)] = None
    """SSH private key for on-prem hosts (required with an on-prem pool), a secret: refused unless set with
    `pulumi config set --secret kosmos:sshPrivateKey < key`."""
    join_key_expires_at: Optional[
        Str(RFC3339_UTC, **{"*": '{q} is not an RFC 3339 UTC time like "2027-06-30T00:00:00Z"'})
    ] = None
    """Ignored (warned): kosmos no longer makes a join key (README, Node identity and threat model). Remove it."""
    join_key_valid_days: Optional[Int(1, MAX_JOIN_KEY_VALID_DAYS)] = None
    """Ignored (warned): kosmos no longer makes a join key (README, Node identity and threat model). Remove it."""
    allow_public_ssh: bool = False
    """Allow 0.0.0.0/0 in Civo sshAllowedCidrs."""
    latency_probe: LatencyProbeModel = LatencyProbeModel()
    """An opt-in RTT probe on every node."""

    @model_validator(mode="after")
    def _rules_across_values(self, info: ValidationInfo) -> "KosmosConfig":
        """The rules that need more than one value, and the defaults that depend on other values (components/spec.py:
        `rules`). `info.context` is a spec.Context (stack name, clock, where problems are collected); without one,
        a problem fails the validation like any other."""
        from . import spec  # the rules import this module

        ctx = info.context if isinstance(info.context, spec.Context) else spec.Context()
        before = len(ctx.problems)
        resolved = spec.rules({name: getattr(self, name) for name in type(self).model_fields}, ctx)
        if info.context is not ctx and len(ctx.problems) > before:
            raise PydanticCustomError("kosmos_rules", "{problems}", {"problems": "; ".join(ctx.problems.lines())})
        return self.model_copy(update=resolved)

    @property
    def obsolete_keys(self) -> tuple[str, ...]:
        """Stack keys of the removed join key that the stack still sets (joinKeyValidDays, joinKeyExpiresAt): warned."""
        return tuple(k for k, v in (("joinKeyValidDays", self.join_key_valid_days),
                                    ("joinKeyExpiresAt", self.join_key_expires_at)) if v is not None)

    def warnings(self, now: Optional[_dt.datetime] = None) -> list[str]:
        """Non-fatal findings a user should see on every plan/preview; `now` (default: the clock) dates the version
        check (components/versions.py)."""
        from . import spec

        return spec.warnings(self, now)


def aliases(model: type[BaseModel]) -> tuple[str, ...]:
    """The keys a model accepts, in declaration order."""
    return tuple(f.alias or name for name, f in model.model_fields.items())


# ----------------------------------------------------------------------------------------------------------------
# Validation and messages
# ----------------------------------------------------------------------------------------------------------------


def validate(config: Any) -> tuple[Optional[KosmosConfig], list[dict]]:
    """(the model, []) or (None, pydantic's errors)."""
    try:
        return KosmosConfig.model_validate(config), []
    except ValidationError as err:
        return None, err.errors(include_url=False)


@dataclasses.dataclass
class _Node:
    path: str
    type: Any
    hints: list
    constraints: list
    parent: Any = None  # the model holding the key
    required: bool = False  # the key is required in that model


def _unwrap(tp: Any, hints: list, constraints: list) -> Any:
    """The type under Annotated and Optional, collecting their metadata."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            base, *meta = typing.get_args(tp)
            for m in meta:
                _collect(m, hints, constraints)
            tp = base
        elif origin in (Union, types.UnionType):
            arms = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(arms) != 1:
                return tp
            tp = arms[0]
        else:
            return tp


def _collect(meta: Any, hints: list, constraints: list) -> None:
    if isinstance(meta, Hint):
        hints.append(meta)
    elif isinstance(meta, FieldInfo):
        for m in meta.metadata:
            _collect(m, hints, constraints)
    elif isinstance(meta, annotated_types.BaseMetadata):
        constraints.append(meta)


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _walk(loc: tuple) -> _Node:
    """The key path, declared type and metadata of the value at a pydantic error location."""
    tp = KosmosConfig
    node = _Node(NAMESPACE, tp, [], [])
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        hints: list = []
        constraints: list = []
        if _is_model(tp):
            fields = {(f.alias or n): f for n, f in tp.model_fields.items()}
            path = f"{node.path}{':' if node.path == NAMESPACE else '.'}{part}"
            if part not in fields:
                return _Node(path, None, [], [], tp)
            f = fields[part]
            for m in f.metadata:
                _collect(m, hints, constraints)
            node = _Node(path, None, hints, constraints, tp, f.is_required())
            tp = _unwrap(f.annotation, hints, constraints)
        elif typing.get_origin(tp) is list:
            node = _Node(f"{node.path}[{part}]", None, hints, constraints)
            tp = _unwrap(typing.get_args(tp)[0], hints, constraints)
        elif typing.get_origin(tp) is dict:
            key_type, value_type = typing.get_args(tp)
            node = _Node(f"{node.path}.{part}", None, hints, constraints)
            if parts[:1] == ["[key]"]:  # the key itself is wrong
                parts.pop(0)
                tp = _unwrap(key_type, hints, constraints)
            else:
                tp = _unwrap(value_type, hints, constraints)
        elif typing.get_origin(tp) in (Union, types.UnionType):  # the union on `provider`: `part` is the tag
            tp = PROVIDER_MODELS[part]
            continue
        else:
            break
        node.type = tp
    return node


def _bound(constraints: list, kind: type) -> Optional[Any]:
    return next((getattr(c, kind.__name__.lower()) for c in constraints if isinstance(c, kind)), None)


def _message(err: dict, node: _Node) -> tuple[str, str]:
    """(key path, message) of one pydantic error."""
    kind, value = err["type"], err.get("input")
    ctx = dict(err.get("ctx") or {})
    overrides: dict[str, str] = {}
    expected = ""
    for hint in node.hints:
        overrides.update(hint.messages)
        expected = hint.expected or expected
    fmt = dict(ctx, q=q(value), v=value, dym="")
    path = node.path

    if kind == "extra_forbidden":
        allowed = aliases(node.parent)
        key = err["loc"][-1]
        return path, f"unknown key{did_you_mean(key, allowed)}; allowed keys: {', '.join(allowed)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        path = f"{path}.provider"
        fmt.update(q=q(ctx.get("tag")), dym=did_you_mean(ctx.get("tag"), PROVIDERS))
    if value is None and node.required and "*" not in overrides:
        kind = "missing"  # an explicit null is an absent key
    elif kind == "literal_error" and not isinstance(value, str) and "*" not in overrides:
        return path, f"expected a string; got {q(value)}"
    elif kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        kind = "number_type" if "number_type" in overrides else kind
    if kind == "invalid_key":  # a mapping key that is not a string (YAML `7: x`, `null: x`, `true: x`)
        return path, f"key {q(value)} is not a string; quote it, or remove it"
    template = overrides.get(kind) or overrides.get("*")
    if template:
        return path, template.format(**fmt)

    tp = node.type
    if kind == "missing":
        return path, "is required"
    if kind in ("model_type", "model_attributes_type", "dict_type") and _is_model(tp):
        return path, f"expected a mapping with keys {', '.join(aliases(tp))}; got {type(value).__name__}"
    if tp is float:
        lo, hi = _bound(node.constraints, annotated_types.Ge), _bound(node.constraints, annotated_types.Le)
        return path, f"expected a number between {lo} and {hi}; got {q(value)}"
    if kind in ("greater_than_equal", "less_than_equal"):
        lo, hi = _bound(node.constraints, annotated_types.Ge), _bound(node.constraints, annotated_types.Le)
        return path, f"{value} is out of range; expected between {lo} and {hi}"
    if kind == "literal_error":
        choices = [str(c) for c in typing.get_args(tp)]
        return path, f"{q(value)} is not allowed{did_you_mean(value, choices)}; expected one of {', '.join(choices)}"
    simple = {
        "int_type": "expected a whole number; got {q}",
        "bool_type": "expected true or false; got {q}",
        "list_type": "expected a list; got {q}",
        "dict_type": "expected a mapping; got {q}",
        "too_long": "has {actual_length} entries; at most {max_length} are allowed",
        "too_short": "has {actual_length} entries; at least {min_length} are needed",
        "string_type": "expected a string" + (f" ({expected})" if expected else "") + "; got {q}",
        "string_too_long": "{q} is too long; at most {max_length} characters are allowed",
        "string_pattern_mismatch": "{q} is not " + (expected or "allowed"),
        "control_character": "{q} contains a control character (newline, tab, …)",
    }
    if kind in simple:
        return path, simple[kind].format(**fmt)
    return path, f"{q(value)}: {err['msg']}"  # a pydantic error kosmos has no wording for


def problems(errors: list[dict]) -> list[tuple[str, str]]:
    """kosmos' (key path, message) for each pydantic error."""
    return [_message(err, _walk(tuple(err["loc"]))) for err in errors]


@functools.lru_cache(maxsize=None)
def adapter(key: str) -> TypeAdapter:
    """A validator of one top-level key (`externalPools[]`: of one pool), to keep the parts of a config that are
    valid when others are not (the domain checks run on every valid part)."""
    if key.endswith("[]"):
        f = KosmosConfig.model_fields[_field_name(key[:-2])]
        item = typing.get_args(_unwrap(f.annotation, [], []))[0]
        return TypeAdapter(item)
    f = KosmosConfig.model_fields[_field_name(key)]
    return TypeAdapter(Annotated[(f.annotation, *f.metadata)] if f.metadata else f.annotation)


def _field_name(alias: str) -> str:
    return next(n for n, f in KosmosConfig.model_fields.items() if (f.alias or n) == alias)


# ----------------------------------------------------------------------------------------------------------------
# JSON Schema of stack files
# ----------------------------------------------------------------------------------------------------------------

SCHEMA_ID = "kosmos-config.schema.json"


def _untitled(schema: Any) -> Any:
    """The schema without pydantic's generated titles ("Externalpools"): editors show the descriptions."""
    if isinstance(schema, dict):
        return {k: _untitled(v) for k, v in schema.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(schema, list):
        return [_untitled(v) for v in schema]
    return schema


def stack_file_schema() -> dict:
    """JSON Schema of a `stacks/Pulumi.<stack>.yaml` file: `config:` with the `kosmos:*` keys of the model, other
    namespaces (scaleway:, civo:, ...) free. Draft-07, the draft yaml-language-server (the VS Code YAML extension)
    validates with."""
    model = _untitled(
        KosmosConfig.model_json_schema(by_alias=True, mode="validation", ref_template="#/definitions/{model}")
    )
    defs = model.pop("$defs", {})
    props = {f"{NAMESPACE}:{k}": v for k, v in model["properties"].items()}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "kosmos stack file (stacks/Pulumi.<stack>.yaml)",
        "description": "Generated from components/model.py by `make schema`; do not edit.",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "description": model.get("description", ""),
                "properties": props,
                "required": [f"{NAMESPACE}:{k}" for k in model.get("required", [])],
                # An unknown `kosmos:` key is refused; any other namespace belongs to someone else.
                "propertyNames": {"anyOf": [{"enum": sorted(props)}, {"not": {"pattern": f"^{NAMESPACE}:"}}]},
            },
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "encryptionsalt": {"type": "string"},
        },
        "required": ["config"],
        "definitions": defs,
    }
