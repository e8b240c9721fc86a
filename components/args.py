"""Typed arguments of MulticloudCluster, in exactly the stack-config shape (`kosmos:*` keys, camelCase).

GENERATED from components/model.py by tools/argsgen.py (`make schema`); do not edit: change the model.

These TypedDicts are what Pulumi's component-package analyzer reads to infer the `kosmos` package schema (pulumi
`provider/experimental/analyzer.py`): no unions, `Literal` or `Annotated` (so the per-cloud pool fields share one
`ExternalPoolConfig` with `provider` as an enum), attribute docstrings as descriptions. Keys are camelCase: the
analyzer camel-cases names for the schema, so these map to themselves, and a value from any language is the mapping
a stack file holds. `spec.parse_spec` validates every value with the model.

No `from __future__ import annotations`: the analyzer reads annotations without evaluating strings.
"""

from enum import Enum
from typing import Required, TypedDict

import pulumi

from .outputs import NodeSummary, PoolNodes, PoolUserdata, to_config  # noqa: F401 (the component's other types)


class ExternalPoolProvider(str, Enum):
    """Which kind of machines the pool runs on."""

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
    """Day of the week the control plane may be upgraded: `any` or monday..sunday. One of: any, monday, tuesday,
    wednesday, thursday, friday, saturday, sunday. Default: any."""
    startHour: int
    """Hour (0-23, UTC) the maintenance window opens. Default: 0."""


class AutoUpgradeConfig(TypedDict, total=False):
    """Patch-release auto-upgrades of the control plane."""

    enabled: Required[bool]
    """Let Scaleway upgrade the patch version inside the maintenance window (the version must then be a minor)."""
    maintenanceWindow: MaintenanceWindowConfig
    """When upgrades may happen."""


class ClusterConfig(TypedDict, total=False):
    """The Kosmos control plane."""

    name: str
    """Scaleway cluster name: lowercase letters, digits and '-' (default `kosmos-<stack>`)."""
    region: Required[str]
    """Scaleway region of the control plane. One of: fr-par, nl-ams, pl-waw, it-mil."""
    version: Required[str]
    """Kubernetes minor ("1.31") or patch ("1.31.2") version. Quote it: YAML reads an unquoted 1.30 as 1.3. Checked
    against Scaleway's versions and end-of-life dates on every plan (warnings)."""
    type: str
    """Kosmos control-plane offer. The stack's node count (Scaleway pools at maxSize when autoscaled, plus every
    external machine) must fit its limit: 150, 250, 500, 500 nodes (Scaleway's control-plane offers page). One of:
    multicloud, multicloud-dedicated-4, multicloud-dedicated-8, multicloud-dedicated-16. Default: multicloud."""
    cni: str
    """Always `kilo`, the only CNI a multicloud cluster takes: anything else is refused. Default: kilo."""
    autoUpgrade: AutoUpgradeConfig
    """Patch auto-upgrades of the control plane (default off)."""
    tags: list[str]
    """Scaleway tags."""
    deleteAdditionalResources: bool
    """Delete the volumes and load balancers the cluster created when it is deleted. Default: false."""
    protect: bool
    """Pulumi `protect` on the cluster resource. Default: false."""


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
    """Pool name, unique across all pools."""
    nodeType: Required[str]
    """Scaleway Instance type, e.g. DEV1-M (DEV1-S, PLAY2-PICO and STARDUST* are refused: too little memory)."""
    size: Required[int]
    """Number of nodes (0 only with autoscale), between minSize and maxSize."""
    zone: str
    """Zone the nodes run in, any Scaleway zone (default `<region>-1`). One of: fr-par-1, fr-par-2, fr-par-3, nl-ams-1,
    nl-ams-2, nl-ams-3, pl-waw-1, pl-waw-2, pl-waw-3, it-mil-1."""
    minSize: int
    """Autoscaling lower bound."""
    maxSize: int
    """Autoscaling upper bound."""
    autoscale: bool
    """Let Scaleway scale the pool between minSize and maxSize. Default: false."""
    labels: dict[str, str]
    """Node labels; `cloud=scaleway` and `cloud-region=<the zone's region>` are added and reserved."""
    taints: list[TaintConfig]
    """Node taints."""
    tags: list[str]
    """Scaleway tags."""


class RegistrationConfig(TypedDict, total=False):
    """How `pulumi up` waits for each machine's node, and how the node leaves."""

    wait: bool
    """Wait, on create, until each machine's node is registered and Ready. Default: true."""
    timeoutMinutes: float
    """How long to wait for a node before failing the update (minutes). Default: 15."""
    skipDrain: bool
    """Delete the node without draining it first when its machine goes away. Default: false."""


class UpgradeConfig(TypedDict, total=False):
    """How a change of the join (Kubernetes or agent version, template) rolls through the pool's machines."""

    maxSurge: int
    """Boot-time pools (civo, scaleway-elastic-metal, equinix-metal): at most this many replacement machines are created
    per `pulumi up` when the join changes (default: all); the rest keep the old version until the next `pulumi up`
    (README, Upgrading). Set on an on-prem pool, it is an error."""
    maxUnavailable: int
    """On-prem pools: how many hosts re-join (cordoned and drained) at once when the join changes (default 1). Set on
    another kind of pool, it is an error."""


class OnPremHostConfig(TypedDict, total=False):
    """A machine of an on-prem pool, joined over SSH."""

    name: Required[str]
    """Machine name in kosmos, unique within its pool; not the node's name: the join reports Scaleway's node id and
    name."""
    address: Required[str]
    """Address reached over SSH (IP or DNS name); address and port are unique across pools."""
    user: str
    """SSH user; another user than root needs passwordless sudo (commands run with `sudo -n`). Default: root."""
    port: int
    """SSH port. Default: 22."""
    arch: str
    """amd64 or arm64 (default: detected at boot)."""
    hostKey: str
    """Pinned SSH host public key (ssh-keyscan's line without the host column); required unless
    insecureSkipHostKeyCheck."""
    insecureSkipHostKeyCheck: bool
    """Accept any SSH host key instead of pinning one (warned on every plan, reported by the policy pack). Default:
    false."""


class ExternalPoolConfig(TypedDict, total=False):
    """Fields every external pool has; `provider` selects the rest."""

    name: Required[str]
    """Pool name, unique across all pools, at most 52 characters (hostnames are `<pool>-<n>-<6 hex>`)."""
    provider: Required[ExternalPoolProvider]
    """Which kind of machines the pool runs on."""
    labels: dict[str, str]
    """Node labels (Kubernetes syntax); `cloud`, `cloud-region` and `topology.kubernetes.io/region` are reserved."""
    taints: list[TaintConfig]
    """Node taints."""
    tags: list[str]
    """Scaleway tags on the pool."""
    registration: RegistrationConfig
    """Waiting for the nodes and removing them."""
    upgrade: UpgradeConfig
    """How a change of the join (Kubernetes or agent version, template) rolls through the machines."""
    region: str
    """civo: Civo region, e.g. LON1."""
    size: str
    """civo: Civo instance size with at least kosmos:join.minMemoryMiB of RAM: smaller ones (g3.xsmall, 1 GiB, at the
    default) are refused. One of: g3.xsmall, g3.small, g3.medium, g3.large, g3.xlarge, g3.2xlarge, g4s.xsmall,
    g4s.small, g4s.medium, g4s.large, g4s.xlarge, g4s.2xlarge."""
    image: str
    """civo: Ubuntu or Debian disk image name, resolved to its id in the pool's region (civo.get_disk_image). Default:
    ubuntu-jammy."""
    count: int
    """civo: Number of instances. scaleway-elastic-metal: Number of servers. equinix-metal: Number of devices."""
    sshKeyId: str
    """civo: Civo SSH key id put on the instances."""
    sshAllowedCidrs: list[str]
    """civo: CIDRs allowed to reach SSH (closed by default; 0.0.0.0/0 needs kosmos:allowPublicSsh)."""
    zone: str
    """scaleway-elastic-metal: Elastic Metal zone. One of: fr-par-1, fr-par-2, nl-ams-1, nl-ams-2, pl-waw-2,
    pl-waw-3."""
    offer: str
    """scaleway-elastic-metal: Offer name, e.g. EM-A115X-SSD, resolved with elasticmetal.get_offer."""
    os: str
    """scaleway-elastic-metal: OS name, resolved with elasticmetal.get_os (with osVersion); a change replaces the
    server. One of: Ubuntu, Debian. Default: Ubuntu. equinix-metal: OS slug. One of: ubuntu_20_04, ubuntu_22_04,
    ubuntu_24_04, debian_11, debian_12. Default: ubuntu_22_04."""
    osVersion: str
    """scaleway-elastic-metal: OS version exactly as Scaleway lists it, e.g. "22.04 LTS (Jammy Jellyfish)". Required:
    the OS look-up matches name and version exactly, and an unset version matches no OS (terraform-provider-scaleway
    internal/services/baremetal/os_data_source.go), which would only fail once the server is being created. A change
    replaces the server."""
    sshKeyIds: list[str]
    """scaleway-elastic-metal: Scaleway SSH key ids (UUIDs: terraform-provider-scaleway
    internal/services/baremetal/server.go validates each with verify.IsUUID, so another value would fail only in the
    provider)."""
    arch: str
    """scaleway-elastic-metal: amd64 or arm64, for the summary only (default: detected at boot)."""
    hosts: list[OnPremHostConfig]
    """on-prem: The machines, reached over SSH."""
    site: str
    """on-prem: Value of the `cloud-region` label (default: the pool name)."""
    metro: str
    """equinix-metal: Equinix Metal metro, e.g. da."""
    plan: str
    """equinix-metal: Equinix Metal plan, e.g. c3.small.x86."""


class AgentSha256Config(TypedDict, total=False):
    """Pinned sha256 of the k8s-agent binary per architecture."""

    amd64: str
    """sha256 of k8s-agent_linux_amd64."""
    arm64: str
    """sha256 of k8s-agent_linux_arm64."""


class JoinConfig(TypedDict, total=False):
    """How the join script fetches and checks the node agent (k8s-agent)."""

    agentVersion: str
    """k8s-agent release tag (github.com/scaleway/k8s-agent). Default: v0.1.5."""
    agentBaseUrl: str
    """Directory holding k8s-agent_linux_amd64, k8s-agent_linux_arm64 and checksums.txt, for mirrors and air-gapped
    sites (default: the region's release bucket for agentVersion). A non-https URL needs agentSha256 for both arches."""
    agentSha256: AgentSha256Config
    """Pinned sha256 per arch, verified before the agent runs (required for an http agentBaseUrl); unpinned, the
    release's checksums.txt decides."""
    apiUrl: str
    """Scaleway API URL the agent registers with, its SCW_API_URL (default: scaleway:apiUrl, else Scaleway's)."""
    allowedOs: list[str]
    """OSes the join script accepts, `<ID>:<VERSION_ID>` of /etc/os-release."""
    minMemoryMiB: int
    """Memory a machine needs to join (MiB): checked by the join script, and against Civo sizes in the config. Default:
    2048."""


class LatencyProbeConfig(TypedDict, total=False):
    """An opt-in RTT probe on every node (`make latency` reads it)."""

    enabled: bool
    """Deploy the probe DaemonSet (off by default: without it kosmos runs no workload in the cluster). Default:
    false."""
    intervalSeconds: int
    """Seconds between two measuring rounds of one probe. Default: 30."""
    image: str
    """Multi-arch image with a python3, by tag or digest. Default:
    docker.io/library/python:3.13-alpine@sha256:79e7a9b9ff1cbceff819f856fb374477792a5967759d94df266de7b7b4120e6f."""


class MulticloudClusterArgs(TypedDict, total=False):
    """Every `kosmos:*` key of a stack, without the namespace."""

    cluster: Required[ClusterConfig]
    """The Kosmos control plane."""
    scalewayPools: list[ScalewayPoolConfig]
    """Scaleway-managed pools."""
    externalPools: list[ExternalPoolConfig]
    """Machines outside Scaleway joined to the cluster; `provider` selects the fields."""
    join: JoinConfig
    """How external machines join: the k8s-agent release, pins, accepted OSes."""
    equinixProjectId: str
    """Equinix Metal project UUID (required with an equinix-metal pool)."""
    sshPrivateKey: pulumi.Input[str]
    """SSH private key for on-prem hosts (required with an on-prem pool), a secret: refused unless set with `pulumi
    config set --secret kosmos:sshPrivateKey < key`."""
    joinKeyExpiresAt: str
    """Ignored (warned): kosmos no longer makes a join key (README, Node identity and threat model). Remove it."""
    joinKeyValidDays: int
    """Ignored (warned): kosmos no longer makes a join key (README, Node identity and threat model). Remove it."""
    allowPublicSsh: bool
    """Allow 0.0.0.0/0 in Civo sshAllowedCidrs. Default: false."""
    latencyProbe: LatencyProbeConfig
    """An opt-in RTT probe on every node."""
