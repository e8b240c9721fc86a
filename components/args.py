"""Typed arguments of MulticloudCluster, in exactly the stack-config shape (`kosmos:*` keys, camelCase).

These TypedDicts are what Pulumi's component-package analyzer reads to infer the `kosmos` package schema
(pulumi `provider/experimental/analyzer.py`): plain classes whose annotations it follows, attribute docstrings as
descriptions, `Required`/`NotRequired` for optional inputs, no unions (so the per-cloud pool fields share one
`ExternalPoolConfig` with `provider` as an enum). Keys are camelCase on purpose: the analyzer camel-cases Python
names for the schema, so these map to themselves, and a value arriving from any language is the same mapping a
stack file holds. Only typing lives here: the typed config model (components/model.py) is the one source of the
stack shape and `spec.parse_spec` validates every value with it, so the ranges and choices below are descriptions,
not checks. tests/test_component_package.py checks these classes have exactly the model's keys, required keys and
value kinds.

No `from __future__ import annotations` in this module or in multicloud.py: the analyzer reads annotations with
`inspect.get_annotations` without evaluating strings.
"""

from enum import Enum
from typing import Any, Mapping, NotRequired, Optional, Required, TypedDict, get_args, get_origin, is_typeddict

import pulumi


class ExternalPoolProvider(str, Enum):
    """Which kind of machines an external pool runs on."""

    CIVO = "civo"
    """Civo instances; the join runs as the instance's boot script."""
    SCALEWAY_ELASTIC_METAL = "scaleway-elastic-metal"
    """Scaleway Elastic Metal servers; the join runs from cloud-init."""
    ON_PREM = "on-prem"
    """Existing machines reached over SSH."""
    EQUINIX_METAL = "equinix-metal"
    """Equinix Metal devices. The service was shut down on 2026-06-30: kept so existing stacks can be destroyed."""


class MaintenanceWindowConfig(TypedDict, total=False):
    """When Scaleway may upgrade the control plane."""

    day: str
    """`any` (default) or monday..sunday."""
    startHour: int
    """Hour (0-23, UTC) the window opens (default 0)."""


class AutoUpgradeConfig(TypedDict, total=False):
    """Patch-release auto-upgrades of the control plane."""

    enabled: Required[bool]
    """Let Scaleway upgrade the patch version inside the maintenance window (the version must then be a minor)."""
    maintenanceWindow: MaintenanceWindowConfig
    """When upgrades may happen."""


class ClusterConfig(TypedDict, total=False):
    """The Kosmos control plane."""

    name: str
    """Cluster name: lowercase letters, digits and '-' (default `kosmos-<stack>`)."""
    region: Required[str]
    """Scaleway region of the control plane: fr-par, nl-ams, pl-waw or it-mil."""
    version: Required[str]
    """Kubernetes version, a minor ("1.31") or a patch ("1.31.2")."""
    type: str
    """Kosmos offer: multicloud (default) or multicloud-dedicated-4, -8, -16."""
    cni: str
    """Always `kilo`, the only CNI a multicloud cluster takes (anything else is refused)."""
    autoUpgrade: AutoUpgradeConfig
    """Patch auto-upgrades (default off)."""
    tags: list[str]
    """Scaleway tags."""
    deleteAdditionalResources: bool
    """Delete the volumes and load balancers the cluster created when it is deleted (default false)."""
    protect: bool
    """Pulumi `protect` on the cluster resource (default false)."""


class TaintConfig(TypedDict, total=False):
    """A Kubernetes taint put on every node of a pool."""

    key: Required[str]
    """Taint key (Kubernetes label-key syntax)."""
    value: str
    """Taint value (default empty)."""
    effect: Required[str]
    """NoSchedule, PreferNoSchedule or NoExecute."""


class ScalewayPoolConfig(TypedDict, total=False):
    """A Scaleway-managed pool of the cluster."""

    name: Required[str]
    """Pool name, unique across all pools: lowercase letters, digits and '-'."""
    nodeType: Required[str]
    """Scaleway Instance type, e.g. DEV1-M (DEV1-S, PLAY2-PICO and STARDUST* are refused: too little memory)."""
    size: Required[int]
    """Number of nodes (0 only with autoscale), between minSize and maxSize."""
    zone: str
    """Zone the nodes run in, any Scaleway zone (default `<region>-1`)."""
    minSize: int
    """Autoscaling lower bound."""
    maxSize: int
    """Autoscaling upper bound."""
    autoscale: bool
    """Let Scaleway scale the pool between minSize and maxSize (default false)."""
    labels: dict[str, str]
    """Node labels; `cloud` and `cloud-region` are added and reserved."""
    taints: list[TaintConfig]
    """Node taints."""
    tags: list[str]
    """Scaleway tags."""


class RegistrationConfig(TypedDict, total=False):
    """How `pulumi up` waits for each machine's node, and how the node leaves."""

    wait: bool
    """Wait, on create, until each machine's node is registered and Ready (default true)."""
    timeoutMinutes: float
    """How long to wait for a node before failing the update (default 15)."""
    skipDrain: bool
    """Delete the node without draining it first when its machine goes away (default false)."""


class UpgradeConfig(TypedDict, total=False):
    """How a change of the join (Kubernetes or agent version, template) rolls through the pool's machines."""

    maxSurge: int
    """Boot-time pools: at most this many replacement machines per `pulumi up` (default: all)."""
    maxUnavailable: int
    """On-prem pools: hosts that re-join (cordoned and drained) at once (default 1)."""


class OnPremHostConfig(TypedDict, total=False):
    """A machine of an on-prem pool, joined over SSH."""

    name: Required[str]
    """Machine name in kosmos, unique within its pool (the Kubernetes node name is Scaleway's, reported by the join)."""
    address: Required[str]
    """Address reached over SSH (IP or DNS name)."""
    user: str
    """SSH user (default root; another user needs passwordless sudo)."""
    port: int
    """SSH port (default 22)."""
    arch: str
    """amd64 or arm64 (default: detected at boot)."""
    hostKey: str
    """Pinned SSH host public key (`ssh-ed25519 AAAA…`, from ssh-keyscan, fingerprint checked out of band); required
    unless insecureSkipHostKeyCheck."""
    insecureSkipHostKeyCheck: bool
    """Accept any SSH host key instead of pinning one (default false; warned and reported by the policy pack)."""


class ExternalPoolConfig(TypedDict, total=False):
    """An external pool: machines outside Scaleway joined to the cluster. `provider` selects which fields apply."""

    name: Required[str]
    """Pool name, unique across all pools, at most 52 characters (hostnames are `<pool>-<n>-<6 hex>`)."""
    provider: Required[ExternalPoolProvider]
    """civo, scaleway-elastic-metal, on-prem, or equinix-metal (shut down; existing stacks only)."""
    labels: dict[str, str]
    """Node labels; `cloud`, `cloud-region` and `topology.kubernetes.io/region` are reserved."""
    taints: list[TaintConfig]
    """Node taints."""
    tags: list[str]
    """Scaleway tags on the pool."""
    registration: RegistrationConfig
    """Waiting for the nodes and removing them."""
    upgrade: UpgradeConfig
    """How a change of the join rolls through the machines: maxSurge (boot-time pools), maxUnavailable (on-prem)."""
    region: str
    """civo: Civo region, e.g. LON1."""
    size: str
    """civo: instance size, e.g. g4s.medium."""
    image: str
    """civo: Ubuntu/Debian disk image name (default ubuntu-jammy)."""
    count: int
    """civo, scaleway-elastic-metal, equinix-metal: number of machines."""
    sshKeyId: str
    """civo: SSH key id put on the instances."""
    sshAllowedCidrs: list[str]
    """civo: CIDRs allowed to reach SSH (closed by default; 0.0.0.0/0 needs allowPublicSsh)."""
    zone: str
    """scaleway-elastic-metal: Elastic Metal zone, e.g. fr-par-2."""
    offer: str
    """scaleway-elastic-metal: offer name, e.g. EM-A115X-SSD."""
    os: str
    """scaleway-elastic-metal: OS name (default Ubuntu); equinix-metal: OS slug (default ubuntu_22_04)."""
    osVersion: str
    """scaleway-elastic-metal: OS version exactly as Scaleway lists it, e.g. "22.04 LTS (Jammy Jellyfish)" (required:
    the OS look-up matches name and version exactly)."""
    sshKeyIds: list[str]
    """scaleway-elastic-metal: Scaleway SSH key ids."""
    arch: str
    """scaleway-elastic-metal: amd64 or arm64, for the summary only (default: detected at boot)."""
    metro: str
    """equinix-metal: metro code, e.g. da."""
    plan: str
    """equinix-metal: plan, e.g. c3.large.arm64."""
    hosts: list[OnPremHostConfig]
    """on-prem: the machines."""
    site: str
    """on-prem: value of the `cloud-region` label (default: the pool name)."""


class AgentSha256Config(TypedDict, total=False):
    """Pinned sha256 of the node agent per architecture."""

    amd64: str
    """sha256 (64 lowercase hex) of node-agent_linux_amd64."""
    arm64: str
    """sha256 (64 lowercase hex) of node-agent_linux_arm64."""


class JoinConfig(TypedDict, total=False):
    """How the join script fetches and checks the node agent."""

    agentVersion: str
    """Scaleway k8s-agent release tag, e.g. v0.1.5 (default: the version kosmos pins)."""
    agentBaseUrl: str
    """Directory holding `k8s-agent_linux_{amd64,arm64}` and `checksums.txt` (default: the cluster region's release
    bucket for agentVersion). Plain http needs agentSha256 for both arches."""
    agentSha256: AgentSha256Config
    """Pinned sha256 per arch; without it the release's checksums.txt is used. Verified before the agent runs."""
    apiUrl: str
    """Scaleway API URL the agent registers with (default: `scaleway:apiUrl` when set, else Scaleway's)."""
    allowedOs: list[str]
    """Allowed `<ubuntu|debian>:<VERSION_ID>` values of /etc/os-release."""
    minMemoryMiB: int
    """Minimum RAM in MiB, at least 1024 (default 2048)."""


class LatencyProbeConfig(TypedDict, total=False):
    """An opt-in RTT probe on every node (`make latency` reads it)."""

    enabled: bool
    """Deploy the probe DaemonSet (default false: kosmos then runs no workload in the cluster)."""
    intervalSeconds: int
    """Seconds between two measuring rounds of one probe, 5-3600 (default 30)."""
    image: str
    """Multi-arch image with python3, with a tag or digest (default: a pinned python:3.13-alpine)."""


class MulticloudClusterArgs(TypedDict, total=False):
    """Everything a MulticloudCluster is made of: the `kosmos:*` stack-config keys, without the namespace."""

    cluster: Required[ClusterConfig]
    """The Kosmos control plane."""
    scalewayPools: list[ScalewayPoolConfig]
    """Scaleway-managed pools."""
    externalPools: list[ExternalPoolConfig]
    """Pools of machines on Civo, Elastic Metal, on-prem (or, for existing stacks, Equinix Metal)."""
    join: JoinConfig
    """Join script settings."""
    equinixProjectId: str
    """Equinix Metal project UUID, required with equinix-metal pools."""
    sshPrivateKey: pulumi.Input[str]
    """SSH private key for on-prem hosts (required with on-prem pools); pass it as a secret."""
    joinKeyValidDays: int
    """Ignored, with a warning: kosmos no longer makes a join key (each machine gets its own node). Remove it."""
    joinKeyExpiresAt: str
    """Ignored, with a warning: kosmos no longer makes a join key (each machine gets its own node). Remove it."""
    allowPublicSsh: bool
    """Allow 0.0.0.0/0 in Civo sshAllowedCidrs (default false)."""
    latencyProbe: LatencyProbeConfig
    """Cross-cloud latency probe (default off)."""


# -- outputs -------------------------------------------------------------------------------------------------------


class PoolUserdata(TypedDict):
    """The join userdata of one external pool, as reviewers see it."""

    redacted: str
    """The pool's rendering, with the node credentials replaced by REDACTED-NODE-CREDENTIALS (the same for every
    machine of the pool)."""
    sha256: str
    """sha256 of `redacted`: changes exactly when the pool's userdata (not a machine's node) changes."""


class NodeSummary(TypedDict):
    """One machine of an external pool."""

    machine: str
    """Machine name, stable across replacements."""
    hostname: str
    """The machine's hostname (its node name)."""
    arch: str
    """amd64, arm64, or detected-at-boot."""
    machineId: Optional[str]
    """The cloud's id of the machine."""
    publicIp: Optional[str]
    """Public IPv4 as the cloud reports it (informational: nodes are known by id, never matched on an address)."""
    nodeId: str
    """The Scaleway node kosmos registered for this machine (known after apply)."""
    nodeName: str
    """That node's Kubernetes name, Scaleway's (`scw-<cluster>-<pool>-<id>`; known after apply)."""


class PoolNodes(TypedDict):
    """An external pool's shared facts and its machines."""

    cloud: str
    """The pool's provider (the `cloud` label)."""
    region: str
    """Region, zone, metro or site (the `cloud-region` label)."""
    labels: dict[str, str]
    """Labels every node of the pool carries."""
    userdataSha256: str
    """sha256 of the redacted userdata."""
    onUserdataChange: str
    """What a userdata change does to the pool's machines."""
    machineType: str
    """Machine size, offer or plan ("" for on-prem)."""
    os: str
    """Operating system the machines are installed with ("" when the machine brings its own)."""
    machines: list[NodeSummary]
    """The pool's machines."""


def to_config(value: Any, typ: Any = MulticloudClusterArgs) -> Any:
    """The plain stack-config mapping parse_spec reads, from args typed as above.

    A component provider hands the args over with enum members for enums and, for integers, the doubles every
    number travels as on the wire (pulumi 3.272 ComponentProvider.map_input_properties converts them to int, then
    stores the original value again): so enums become their values and whole numbers in int fields become ints.
    Anything else is left for parse_spec to judge.
    """
    while get_origin(typ) in (Required, NotRequired):
        typ = get_args(typ)[0]
    if isinstance(value, Enum):
        return value.value
    if is_typeddict(typ) and isinstance(value, Mapping):
        fields = typ.__annotations__
        return {key: to_config(item, fields.get(key, Any)) for key, item in value.items()}
    if get_origin(typ) is list and isinstance(value, (list, tuple)):
        (item_type,) = get_args(typ)
        return [to_config(item, item_type) for item in value]
    if typ is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value
