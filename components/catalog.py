"""Domain facts about Scaleway Kosmos and the external clouds, kept in one place.

Everything here is data; validation (spec.py), the policy pack and the planner read it, so a fact changes once.
"""

from __future__ import annotations

# Scaleway regions that offer Kubernetes (Kapsule/Kosmos) and their zones.
SCALEWAY_ZONES: dict[str, tuple[str, ...]] = {
    "fr-par": ("fr-par-1", "fr-par-2", "fr-par-3"),
    "nl-ams": ("nl-ams-1", "nl-ams-2", "nl-ams-3"),
    "pl-waw": ("pl-waw-1", "pl-waw-2", "pl-waw-3"),
    "it-mil": ("it-mil-1",),
}
SCALEWAY_REGIONS: tuple[str, ...] = tuple(SCALEWAY_ZONES)
ALL_SCALEWAY_ZONES: tuple[str, ...] = tuple(z for zones in SCALEWAY_ZONES.values() for z in zones)

# Zones where Elastic Metal (bare metal) servers can be ordered.
ELASTIC_METAL_ZONES: tuple[str, ...] = ("fr-par-1", "fr-par-2", "nl-ams-1", "nl-ams-2", "pl-waw-2", "pl-waw-3")

# Kosmos cluster types: only the multicloud family can take external nodes.
CLUSTER_TYPES: tuple[str, ...] = (
    "multicloud",
    "multicloud-dedicated-4",
    "multicloud-dedicated-8",
    "multicloud-dedicated-16",
)
# Kilo is the only CNI a multicloud cluster accepts (it builds the WireGuard mesh between locations).
MULTICLOUD_CNI = "kilo"
KILO_UDP_PORT = 51820

# Scaleway Instance types that Kubernetes pools reject for low memory (< 4 GiB usable for kubelet + system).
LOW_MEMORY_NODE_TYPE_PREFIXES: tuple[str, ...] = ("DEV1-S", "PLAY2-PICO", "STARDUST")
# `external` is the node type of pools whose nodes live outside Scaleway: it is not a Scaleway pool node type.
EXTERNAL_NODE_TYPE = "external"

# Civo instance sizes -> RAM in MiB (https://www.civo.com/pricing). Unknown sizes are refused so that a typo
# never buys the wrong machine; add new sizes here.
CIVO_SIZES_MIB: dict[str, int] = {
    "g3.xsmall": 1024,
    "g3.small": 2048,
    "g3.medium": 4096,
    "g3.large": 8192,
    "g3.xlarge": 16384,
    "g3.2xlarge": 32768,
    "g4s.xsmall": 1024,
    "g4s.small": 2048,
    "g4s.medium": 4096,
    "g4s.large": 8192,
    "g4s.xlarge": 16384,
    "g4s.2xlarge": 32768,
}

# Equinix Metal device plans look like <class><generation>.<size>.<arch>, e.g. c3.large.arm64, m3.small.x86.
EQUINIX_PLAN_PATTERN = r"^[a-z][0-9]+\.[a-z0-9]+\.(x86|arm64)$"
EQUINIX_PLAN_ARCH = {"x86": "amd64", "arm64": "arm64"}
EQUINIX_SHUTDOWN_DATE = "2026-06-30"
EQUINIX_SHUTDOWN_WARNING = (
    "Equinix Metal was shut down on 2026-06-30: pool {pool!r} cannot be provisioned any more. "
    "Move it to `provider: scaleway-elastic-metal` (README: 'Migrating off Equinix Metal')."
)
# Equinix operating_system slugs -> the os-release pair the join script will see.
EQUINIX_OS: dict[str, str] = {
    "ubuntu_20_04": "ubuntu:20.04",
    "ubuntu_22_04": "ubuntu:22.04",
    "ubuntu_24_04": "ubuntu:24.04",
    "debian_11": "debian:11",
    "debian_12": "debian:12",
}

# The one IAM permission set a join key needs: register external nodes, nothing else.
JOIN_PERMISSION_SET = "KubernetesExternalNodeRegister"

# Where the Scaleway node-agent binaries live (`<base>/node-agent_linux_<arch>`).
DEFAULT_AGENT_BASE_URL = "https://scwcontainermulticloud.s3.fr-par.scw.cloud"
DEFAULT_ALLOWED_OS: tuple[str, ...] = ("ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04", "debian:11", "debian:12")
DEFAULT_MIN_MEMORY_MIB = 2048
ARCHES: tuple[str, ...] = ("amd64", "arm64")

# Labels kosmos sets itself on every node. `topology.kubernetes.io/region` is Kilo's mesh location: never ours.
CLOUD_LABEL = "cloud"
CLOUD_REGION_LABEL = "cloud-region"
RESERVED_LABELS: tuple[str, ...] = (CLOUD_LABEL, CLOUD_REGION_LABEL, "topology.kubernetes.io/region")

# How a userdata change reaches each kind of machine (shown in the plan summary and README).
USERDATA_CHANGE_EFFECT: dict[str, str] = {
    "civo": "replaces the instance (Civo refuses in-place script changes)",
    "equinix-metal": "replaces the device (user_data forces a new device)",
    "scaleway-elastic-metal": "replaces the server (cloud_init is set at install time)",
    "on-prem": "re-runs the join over SSH (the machine is kept)",
}

# Maximum nodes per cluster by control-plane offer (Scaleway docs, Kubernetes control-plane offers; see
# shared FACTS). No pool or cluster can exceed the largest.
CLUSTER_MAX_NODES: dict[str, int] = {
    "multicloud": 150,
    "multicloud-dedicated-4": 250,
    "multicloud-dedicated-8": 500,
    "multicloud-dedicated-16": 500,
}
MAX_CLUSTER_NODES = max(CLUSTER_MAX_NODES.values())
