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
# Most nodes a cluster of each type takes ("Max cluster size", Scaleway docs: kubernetes/reference-content/
# kubernetes-control-plane-offers: Mutualized 150, Dedicated 4 250, Dedicated 8 and 16 500). The whole stack is
# checked against it (spec.py).
CLUSTER_NODE_LIMITS: dict[str, int] = {
    "multicloud": 150,
    "multicloud-dedicated-4": 250,
    "multicloud-dedicated-8": 500,
    "multicloud-dedicated-16": 500,
}
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

# Scaleway's node installer, k8s-agent (github.com/scaleway/k8s-agent). Its flag parser (main.go) knows only
# `-kosmos` and `-version`; in Kosmos mode it reads POOL_ID, POOL_REGION, SCW_SECRET_KEY and optional SCW_API_URL
# (metadata.go). Bump DEFAULT_AGENT_VERSION to a newer tag of that repository (README: "Bumping the agent").
DEFAULT_AGENT_VERSION = "v0.1.5"  # newest tag (2026-04-02); Kosmos mode exits after installing since v0.1.4
AGENT_FLAGS: tuple[str, ...] = ("-kosmos",)
AGENT_BINARY = "k8s-agent_linux_{arch}"  # .goreleaser-prod.yml: binary '{{ .ProjectName }}_{{ .Os }}_{{ .Arch }}'
AGENT_CHECKSUMS = "checksums.txt"  # .goreleaser-prod.yml: checksum name_template, lines `<sha256>  <file>`
# .goreleaser-prod.yml (v0.1.5) publishes every release to one public bucket per region,
# `scw-<region>-k8s-agent` at https://s3.<region>.scw.cloud, directory `agent/<version without the v>`.
AGENT_BUCKET_REGIONS: tuple[str, ...] = ("fr-par", "nl-ams", "pl-waw", "it-mil")
# The agent's own files (metadata.go: registration cache; versions.go: installed component versions).
AGENT_USERDATA_CACHE = "/etc/scw-k8s-userdata"
AGENT_VERSIONS_FILE = "/etc/scw-k8s-versions.json"


def agent_release_url(region: str, version: str = DEFAULT_AGENT_VERSION) -> str:
    """The region's release bucket directory holding k8s-agent_linux_<arch> and checksums.txt for `version`."""
    bucket_region = region if region in AGENT_BUCKET_REGIONS else AGENT_BUCKET_REGIONS[0]
    return f"https://scw-{bucket_region}-k8s-agent.s3.{bucket_region}.scw.cloud/agent/{version.removeprefix('v')}"


DEFAULT_ALLOWED_OS: tuple[str, ...] = ("ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04", "debian:11", "debian:12")
DEFAULT_MIN_MEMORY_MIB = 2048
ARCHES: tuple[str, ...] = ("amd64", "arm64")

# Labels kosmos sets itself on every node. `topology.kubernetes.io/region` is Kilo's mesh location: never ours.
CLOUD_LABEL = "cloud"
CLOUD_REGION_LABEL = "cloud-region"
RESERVED_LABELS: tuple[str, ...] = (CLOUD_LABEL, CLOUD_REGION_LABEL, "topology.kubernetes.io/region")

# The latency probe's image: the official Docker `python` image, Alpine variant (~17 MB compressed), a multi-arch
# index (linux/amd64 and linux/arm64 among its platforms), pinned by the index digest so every node of every arch
# runs the same bits. Source: docker-library/repo-info, repos/python/remote/3.13-alpine.md (Python 3.13.15 on
# Alpine 3.24.2): "docker pull python@sha256:79e7a9b9…". The tag is kept for readers; the runtime uses the digest.
LATENCY_PROBE_IMAGE = (
    "docker.io/library/python:3.13-alpine@sha256:79e7a9b9ff1cbceff819f856fb374477792a5967759d94df266de7b7b4120e6f"
)

# Inputs whose change makes the provider replace the resource instead of updating it (Pulumi wire names), per
# resource type: what `make diff` gives as the reason of a replacement (each cloud's own resources: its MachineSet's
# FORCE_NEW_INPUTS, components/clouds). Read from the providers' source:
# - scaleway (pulumiverse-scaleway bridges scaleway/terraform-provider-scaleway): `ForceNew: true` in
#   internal/services/k8s/cluster.go, k8s/pool.go, iam/api_key.go; `region`/`zone` come from
#   internal/locality/regional/schemas.go / zonal/schemas.go (ForceNew).
#   The cluster's `type` is ForceNew only when the API lists no in-place upgrade path (cluster.go CustomizeDiff):
#   not knowable offline, so not listed.
# - pulumi-kubernetes: Patch resources replace on `.metadata.name` / `.metadata.namespace` and update everything else
#   in place (provider/pkg/provider/provider.go, Diff).
FORCE_NEW_INPUTS: dict[str, tuple[str, ...]] = {
    "scaleway:kubernetes/cluster:Cluster": ("region", "cni", "podCidr", "serviceCidr", "serviceDnsIp", "projectId"),
    "scaleway:kubernetes/pool:Pool": (
        "region", "zone", "clusterId", "name", "nodeType", "containerRuntime", "placementGroupId", "rootVolumeType",
        "rootVolumeSizeInGb", "publicIpDisabled",
    ),
    "scaleway:iam/apiKey:ApiKey": ("applicationId", "expiresAt", "defaultProjectId"),
    "kubernetes:core/v1:NodePatch": ("metadata.name", "metadata.namespace"),
}

# The largest cluster any offer takes: the upper bound of every size, count and host list.
MAX_CLUSTER_NODES = max(CLUSTER_NODE_LIMITS.values())
