"""The typed, validated description of a multicloud cluster.

`parse_spec(mapping)` turns the stack-config shape (the `kosmos:*` keys without the namespace) into frozen
dataclasses. It never touches Pulumi resources: every problem is collected with its key path and raised together as
one `SpecError`, so a bad stack file fails before anything is registered.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import difflib
import ipaddress
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence, Union

try:  # validation and the join renderer also run where Pulumi is not installed (`kosmos.userdata`)
    from pulumi.errors import RunError
except ImportError:  # exercised by tests/test_package.py in a Pulumi-less interpreter

    class RunError(Exception):  # type: ignore[no-redef]
        """Stands in for pulumi.RunError where Pulumi is not installed."""

from . import catalog

NAMESPACE = "kosmos"

# ----------------------------------------------------------------------------------------------------------------
# Typed spec
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MaintenanceWindow:
    day: str = "any"
    """Day of the week the control plane may be upgraded (`any` or monday..sunday)."""
    start_hour: int = 0
    """Hour (0-23, UTC) the maintenance window opens."""


@dataclass(frozen=True)
class AutoUpgrade:
    enabled: bool
    """Let Scaleway upgrade the patch version inside the maintenance window."""
    maintenance_window: MaintenanceWindow = MaintenanceWindow()


@dataclass(frozen=True)
class ClusterSpec:
    name: str
    """Scaleway cluster name (default `kosmos-<stack>`)."""
    region: str
    """Scaleway region of the control plane (fr-par, nl-ams, pl-waw, it-mil)."""
    version: str
    """Kubernetes minor (`1.31`) or patch (`1.31.2`) version."""
    type: str = "multicloud"
    """Kosmos control-plane offer: multicloud or multicloud-dedicated-{4,8,16}."""
    cni: str = catalog.MULTICLOUD_CNI
    """Always `kilo`: the only CNI a multicloud cluster takes."""
    auto_upgrade: Optional[AutoUpgrade] = None
    tags: tuple[str, ...] = ()
    delete_additional_resources: bool = False
    """Delete volumes/load balancers the cluster created when the cluster is deleted."""
    protect: bool = False
    """Pulumi `protect` on the cluster resource."""


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class ScalewayPoolSpec:
    name: str
    node_type: str
    """Scaleway Instance type, e.g. DEV1-M."""
    size: int
    zone: str
    """Zone the nodes run in; any Kubernetes zone, the pool itself lives in the cluster's region."""
    min_size: Optional[int] = None
    max_size: Optional[int] = None
    autoscale: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistrationSpec:
    wait: bool = True
    """Wait, on create, until each machine's node is registered and Ready."""
    timeout_minutes: float = 15
    """How long to wait for a node before failing the update."""
    skip_drain: bool = False
    """Delete the node without draining it first when its machine goes away."""


@dataclass(frozen=True)
class ExternalPoolSpec:
    """Fields common to every external pool; one subclass per cloud."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    tags: tuple[str, ...] = ()
    registration: RegistrationSpec = RegistrationSpec()

    provider: str = ""  # set by each subclass; the `provider:` value in stack config

    @property
    def location(self) -> str:
        """Value of the `cloud-region` label: region, metro, zone or site."""
        raise NotImplementedError

    @property
    def machine_count(self) -> int:
        raise NotImplementedError

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


@dataclass(frozen=True)
class CivoPoolSpec(ExternalPoolSpec):
    provider: str = "civo"
    region: str = ""
    """Civo region, e.g. LON1."""
    size: str = "g3.medium"
    image: str = "ubuntu-jammy"
    """Disk image name, resolved to its id with civo.get_disk_image."""
    count: int = 1
    ssh_key_id: Optional[str] = None
    ssh_allowed_cidrs: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        return self.region

    @property
    def machine_count(self) -> int:
        return self.count

    def declared_arch(self, index: int) -> Optional[str]:
        return "amd64"  # Civo instances are x86-64 only


@dataclass(frozen=True)
class EquinixMetalPoolSpec(ExternalPoolSpec):
    provider: str = "equinix-metal"
    metro: str = ""
    plan: str = ""
    os: str = "ubuntu_22_04"
    count: int = 1

    @property
    def location(self) -> str:
        return self.metro

    @property
    def machine_count(self) -> int:
        return self.count

    def declared_arch(self, index: int) -> Optional[str]:
        return catalog.EQUINIX_PLAN_ARCH[self.plan.rsplit(".", 1)[1]]


@dataclass(frozen=True)
class ElasticMetalPoolSpec(ExternalPoolSpec):
    provider: str = "scaleway-elastic-metal"
    zone: str = ""
    offer: str = ""
    """Offer name, e.g. EM-A115X-SSD (resolved with elasticmetal.get_offer)."""
    os: str = "Ubuntu"
    """OS name for elasticmetal.get_os."""
    os_version: Optional[str] = None
    count: int = 1
    ssh_key_ids: tuple[str, ...] = ()
    arch: Optional[str] = None

    @property
    def location(self) -> str:
        return self.zone

    @property
    def machine_count(self) -> int:
        return self.count

    def declared_arch(self, index: int) -> Optional[str]:
        return self.arch


@dataclass(frozen=True)
class OnPremHost:
    name: str
    """Machine name in kosmos (resource names, messages). Not the Kubernetes node name: Scaleway names the node and the
    join reports its id (KOSMOS_NODE_ID)."""
    address: str
    """Address kosmos reaches over SSH (IP or DNS name)."""
    user: str = "root"
    port: int = 22
    arch: Optional[str] = None
    host_key: Optional[str] = None
    """Pinned SSH host public key (`ssh-ed25519 AAAA…`): required unless insecure_skip_host_key_check."""
    insecure_skip_host_key_check: bool = False
    """Accept whatever key answers on `address` (pulumi-command then ignores host keys): an explicit opt-out."""


@dataclass(frozen=True)
class OnPremPoolSpec(ExternalPoolSpec):
    provider: str = "on-prem"
    hosts: tuple[OnPremHost, ...] = ()
    site: Optional[str] = None
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


@dataclass(frozen=True)
class JoinSpec:
    agent_version: str = catalog.DEFAULT_AGENT_VERSION
    """k8s-agent release tag (github.com/scaleway/k8s-agent), e.g. `v0.1.5`."""
    agent_base_url: Optional[str] = None
    """Directory holding `k8s-agent_linux_<arch>` and `checksums.txt`; None: the cluster region's release bucket."""
    agent_sha256: Mapping[str, str] = field(default_factory=dict)
    """Pinned sha256 per arch (amd64/arm64); else the release's checksums.txt decides. Verified before it runs."""
    api_url: Optional[str] = None
    """Scaleway API URL the agent registers with (SCW_API_URL); None: `scaleway:apiUrl`, else Scaleway's default."""
    allowed_os: tuple[str, ...] = catalog.DEFAULT_ALLOWED_OS
    min_memory_mib: int = catalog.DEFAULT_MIN_MEMORY_MIB


ExternalPool = Union[CivoPoolSpec, EquinixMetalPoolSpec, ElasticMetalPoolSpec, OnPremPoolSpec]


@dataclass(frozen=True)
class LatencyProbeSpec:
    """`kosmos:latencyProbe`: an opt-in RTT probe on every node (components/latency_probe.py)."""

    enabled: bool = False
    """Deploy the probe DaemonSet. Off by default: without it kosmos runs no workload in the cluster."""
    interval_seconds: int = 30
    """Seconds between two measuring rounds of one probe (each round measures every peer)."""
    image: str = catalog.LATENCY_PROBE_IMAGE
    """Multi-arch image with a `python3` (the probe program itself is shipped in a ConfigMap)."""


@dataclass(frozen=True)
class MulticloudSpec:
    cluster: ClusterSpec
    scaleway_pools: tuple[ScalewayPoolSpec, ...] = ()
    external_pools: tuple[ExternalPool, ...] = ()
    join: JoinSpec = JoinSpec()
    equinix_project_id: Optional[str] = None
    join_key_expires_at: Optional[str] = None
    """Fixed expiry of the join key (RFC 3339 UTC), checked against the clock at plan time."""
    join_key_valid_days: Optional[int] = None
    """Rotate the join key every N days (a pulumiverse-time Rotating resource keeps the date stable between runs)."""
    ssh_private_key: Any = None
    """Secret SSH key for on-prem hosts: a pulumi Output (secret) or a str (wrapped as a secret)."""
    allow_public_ssh: bool = False
    """Allow `0.0.0.0/0` in Civo `sshAllowedCidrs` (refused otherwise)."""
    latency_probe: LatencyProbeSpec = LatencyProbeSpec()

    def warnings(self) -> list[str]:
        """Non-fatal findings a user should see on every plan/preview."""
        out = []
        # (The Equinix Metal shutdown warning is emitted by EquinixMetalNodes itself, wherever it is composed.)
        for pool in self.external_pools:
            if isinstance(pool, OnPremPoolSpec):
                for host in pool.hosts:
                    if host.insecure_skip_host_key_check:
                        out.append(
                            f"{NAMESPACE}:externalPools[{pool.name}].hosts[{host.name}].insecureSkipHostKeyCheck is "
                            "true: any machine answering on its address gets the join key."
                        )
        return out


# ----------------------------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------------------------


class SpecError(RunError, ValueError):
    """Every problem found in a configuration, each naming its key path.

    A `pulumi.RunError`: the Python language host prints its message and no traceback (pulumi/pulumi,
    sdk/python/cmd/pulumi-language-python-exec: `except pulumi.RunError as e: pulumi.log.error(str(e))`).
    """

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        plural = "s" if len(self.problems) != 1 else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid kosmos configuration ({len(self.problems)} problem{plural}):\n{lines}")


_MISSING = object()
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_VERSION = re.compile(r"^1\.[0-9]{2}(\.[0-9]+)?$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_NODE_TYPE = re.compile(r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$")
_CIVO_REGION = re.compile(r"^[A-Z]{3}[0-9]$")
_METRO = re.compile(r"^[a-z]{2}$")
_EM_OFFER = re.compile(r"^EM-[A-Z0-9]+(-[A-Z0-9]+)*$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_OS_ENTRY = re.compile(r"^(ubuntu|debian):[0-9]+(\.[0-9]+)?$")
_DAYS = ("any", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
PROVIDERS = ("civo", "equinix-metal", "scaleway-elastic-metal", "on-prem")
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
_QUOTE_LIMIT = 100


def _q(value: Any) -> str:
    """A value quoted for a message, cut short: an error must not echo a megabyte of config back."""
    if isinstance(value, str):
        # A trailing newline or a tab must be visible in the message: escape what is not printable.
        text = f'"{value}"' if value.isprintable() else json.dumps(value, ensure_ascii=False)
    else:
        text = repr(value)
    return text if len(text) <= _QUOTE_LIMIT else f"{text[:_QUOTE_LIMIT - 2]}…{text[-1]} ({len(str(value))} characters)"


class _Checker:
    """Collects problems with their key paths while reading untyped config."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, path: str, value: Any, allowed: Sequence[str], required: Sequence[str] = ()) -> Optional[dict]:
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping with keys {', '.join(allowed)}; got {type(value).__name__}")
            return None
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                did_you_mean = f' (did you mean "{hint[0]}"?)' if hint else ""
                self.error(f"{path}.{key}", f"unknown key{did_you_mean}; allowed keys: {', '.join(allowed)}")
        for key in required:
            if value.get(key) is None:
                self.error(f"{path}.{key}", "is required")
        return dict(value)

    def string(
        self,
        path: str,
        value: Any,
        *,
        pattern: Optional[re.Pattern] = None,
        expected: str = "",
        choices: Sequence[str] = (),
        max_length: int = MAX_STRING,
    ) -> Optional[str]:
        if not isinstance(value, str):
            self.error(path, f"expected a string{' (' + expected + ')' if expected else ''}; got {_q(value)}")
            return None
        if len(value) > max_length:
            self.error(path, f"{_q(value)} is too long; at most {max_length} characters are allowed")
            return None
        if choices and value not in choices:
            hint = difflib.get_close_matches(value, choices, n=1)
            did_you_mean = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.error(path, f"{_q(value)} is not allowed{did_you_mean}; expected one of {', '.join(choices)}")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error(path, f"{_q(value)} is not {expected}")
            return None
        if not value.isprintable():  # free strings: a newline or a NUL in a tag or an id is never meant
            self.error(path, f"{_q(value)} contains a control character (newline, tab, …)")
            return None
        return value

    def integer(self, path: str, value: Any, *, minimum: int = 0, maximum: Optional[int] = None) -> Optional[int]:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"expected a whole number; got {_q(value)}")
            return None
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and {maximum}" if maximum is not None else ""
            bound = f"between {minimum}{upper}" if maximum is not None else f"at least {minimum}"
            self.error(path, f"{value} is out of range; expected {bound}")
            return None
        return value

    def number(self, path: str, value: Any, *, minimum: float, maximum: float) -> Optional[float]:
        # nan compares false with everything and inf never times out: both are refused explicitly.
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not minimum <= value <= maximum
        ):
            self.error(path, f"expected a number between {minimum} and {maximum}; got {_q(value)}")
            return None
        return value

    def boolean(self, path: str, value: Any) -> Optional[bool]:
        if not isinstance(value, bool):
            self.error(path, f"expected true or false; got {_q(value)}")
            return None
        return value

    def strings(
        self, path: str, value: Any, *, item: Optional[Callable[[str, Any], Any]] = None, max_items: int = MAX_LIST
    ) -> tuple:
        if not isinstance(value, (list, tuple)):
            self.error(path, f"expected a list; got {_q(value)}")
            return ()
        if len(value) > max_items:
            self.error(path, f"has {len(value)} entries; at most {max_items} are allowed")
            return ()
        out = []
        for i, entry in enumerate(value):
            checked = item(f"{path}[{i}]", entry) if item else self.string(f"{path}[{i}]", entry)
            if checked is not None:
                out.append(checked)
        return tuple(out)

    def labels(self, path: str, value: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping of label key to value; got {_q(value)}")
            return {}
        out = {}
        for key, val in value.items():
            key_ok = self.label_key(f"{path}.{key}", key)
            if not isinstance(val, str) or (val and (len(val) > 63 or not _LABEL_NAME.fullmatch(val))):
                self.error(
                    f"{path}.{key}",
                    f"value {_q(val)} is not a valid Kubernetes label value (a string of at most 63 characters: "
                    "letters, digits, '-', '_', '.', starting and ending with a letter or digit)",
                )
            elif key_ok:
                out[key] = val
        return out

    def label_key(self, path: str, key: Any) -> bool:
        if key in catalog.RESERVED_LABELS:
            self.error(
                path,
                f"{_q(key)} is set by kosmos and cannot be overridden "
                "(cloud/cloud-region come from the pool; topology.kubernetes.io/region is Kilo's mesh location)",
            )
            return False
        text = str(key)
        prefix, _, name = text.rpartition("/")
        valid = (
            isinstance(key, str)
            and 0 < len(name) <= 63
            and _LABEL_NAME.fullmatch(name) is not None
            and (not prefix or (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None))
        )
        if not valid:
            self.error(
                path,
                f"{_q(key)} is not a valid Kubernetes label key (optional DNS-subdomain prefix and '/', then a name "
                "of at most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)",
            )
        return valid

    def taints(self, path: str, value: Any) -> tuple[Taint, ...]:
        if not isinstance(value, (list, tuple)):
            self.error(path, f"expected a list of {{key, value, effect}}; got {_q(value)}")
            return ()
        out = []
        for i, raw in enumerate(value):
            p = f"{path}[{i}]"
            entry = self.mapping(p, raw, ("key", "value", "effect"), required=("key", "effect"))
            if entry is None:
                continue
            key_ok = entry.get("key") is not None and self.label_key(f"{p}.key", entry["key"])
            val = entry.get("value", "")
            if not isinstance(val, str) or (val and (len(val) > 63 or not _LABEL_NAME.fullmatch(val))):
                self.error(f"{p}.value", f"{_q(val)} is not a valid taint value")
                val = None
            effect = None
            if entry.get("effect") is not None:
                effect = self.string(f"{p}.effect", entry["effect"], choices=_TAINT_EFFECTS)
            if key_ok and val is not None and effect:
                out.append(Taint(entry["key"], val, effect))
        return tuple(out)


# ----------------------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------------------

TOP_LEVEL_KEYS = (
    "cluster",
    "scalewayPools",
    "externalPools",
    "join",
    "equinixProjectId",
    "sshPrivateKey",
    "joinKeyExpiresAt",
    "joinKeyValidDays",
    "allowPublicSsh",
    "latencyProbe",
)
MAX_JOIN_KEY_VALID_DAYS = 3650
"""kosmos' bound (ten years); Scaleway's own maximum for an API key's expiry is not documented (unverified)."""
# Keys that must be Pulumi secrets in stack config (`pulumi config set --secret`).
SECRET_KEYS = ("sshPrivateKey",)


def namespace_typos(keys: Sequence[str]) -> list[str]:
    """Config keys whose namespace is one typo away from `kosmos` (`kosmo:externalPools`, `Kosmos:cluster`).

    Pulumi hands a program every namespace, and a key in any other namespace is not ours, so such a key would be
    ignored without a word: a stack that plans zero nodes. Other programs' and providers' namespaces (scaleway,
    civo, command, ...) are far from `kosmos` and never match.
    """
    problems = []
    for full_key in sorted(keys):
        namespace, sep, key = str(full_key).partition(":")
        if not sep or namespace == NAMESPACE:
            continue
        if difflib.SequenceMatcher(None, namespace.lower(), NAMESPACE).ratio() >= 0.75:
            problems.append(
                f"{full_key}: namespace {_q(namespace)} is not {_q(NAMESPACE)} (did you mean "
                f'"{NAMESPACE}:{key}"?); kosmos reads only {NAMESPACE}:* keys, so this one would be ignored'
            )
    return problems


def parse_spec(
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    now: Optional[_dt.datetime] = None,
) -> MulticloudSpec:
    """Validate a config mapping (`{"cluster": {...}, "scalewayPools": [...], ...}`) into a MulticloudSpec.

    Raises SpecError listing every problem, each prefixed with its `kosmos:` key path.
    """
    if isinstance(config, MulticloudSpec):
        return config
    c = _Checker()
    ns = NAMESPACE
    top = c.mapping(ns, config, TOP_LEVEL_KEYS) or {}
    # Unknown top-level keys are reported as `kosmos:<key>` (the form users type in stack files).
    c.problems = [p.replace(f"{ns}.", f"{ns}:", 1) if p.startswith(f"{ns}.") else p for p in c.problems]

    cluster = _parse_cluster(c, top.get("cluster", _MISSING), stack)
    region = cluster.region if cluster else None
    scw_pools = _parse_scaleway_pools(c, top.get("scalewayPools", []), region)
    join = _parse_join(c, top.get("join", {}))
    allow_public_ssh = bool(c.boolean(f"{ns}:allowPublicSsh", top.get("allowPublicSsh", False)))
    ext_pools = _parse_external_pools(c, top.get("externalPools", []), join, allow_public_ssh)

    _check_unique_names(c, scw_pools, ext_pools, top)
    if cluster is not None:
        _check_node_limit(c, cluster, scw_pools, ext_pools)
        _check_userdata_size(c, join, cluster.region, ext_pools)

    equinix_project_id = None
    if top.get("equinixProjectId") is not None:
        equinix_project_id = c.string(
            f"{ns}:equinixProjectId", top["equinixProjectId"], pattern=_UUID, expected="a project UUID"
        )
    if any(isinstance(p, EquinixMetalPoolSpec) for p in ext_pools) and top.get("equinixProjectId") is None:
        c.error(f"{ns}:equinixProjectId", "is required when an equinix-metal external pool is declared")

    ssh_private_key = top.get("sshPrivateKey")
    if any(isinstance(p, OnPremPoolSpec) for p in ext_pools) and ssh_private_key is None:
        c.error(
            f"{ns}:sshPrivateKey",
            "is required when an on-prem external pool is declared; set it with "
            "`pulumi config set --secret kosmos:sshPrivateKey < ~/.ssh/id_ed25519`",
        )
    if isinstance(ssh_private_key, str) and "PRIVATE KEY" not in ssh_private_key and not ssh_private_key.startswith(
        "[secret"
    ):
        c.error(f"{ns}:sshPrivateKey", "does not look like a PEM/OpenSSH private key (no 'PRIVATE KEY' header)")

    expires_at = None
    if top.get("joinKeyExpiresAt") is not None:
        expires_at = _parse_expiry(c, top["joinKeyExpiresAt"], now)
    valid_days = None
    if top.get("joinKeyValidDays") is not None:
        valid_days = c.integer(
            f"{ns}:joinKeyValidDays", top["joinKeyValidDays"], minimum=1, maximum=MAX_JOIN_KEY_VALID_DAYS
        )
        if top.get("joinKeyExpiresAt") is not None:
            c.error(f"{ns}:joinKeyValidDays", "contradicts kosmos:joinKeyExpiresAt; set one of them")

    latency_probe = _parse_latency_probe(c, top.get("latencyProbe", {}))

    if c.problems:
        raise SpecError(c.problems)
    assert cluster is not None
    return MulticloudSpec(
        cluster=cluster,
        scaleway_pools=tuple(scw_pools),
        external_pools=tuple(ext_pools),
        join=join,
        equinix_project_id=equinix_project_id,
        join_key_expires_at=expires_at,
        join_key_valid_days=valid_days,
        ssh_private_key=ssh_private_key,
        allow_public_ssh=allow_public_ssh,
        latency_probe=latency_probe,
    )


# An image reference: [registry/]repository[:tag][@sha256:digest], with a tag or a digest (never implicit latest).
_IMAGE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*"
    r"((:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$"
)


def _parse_latency_probe(c: _Checker, raw: Any) -> LatencyProbeSpec:
    p = f"{NAMESPACE}:latencyProbe"
    m = c.mapping(p, raw, ("enabled", "intervalSeconds", "image"))
    if m is None:
        return LatencyProbeSpec()
    enabled = c.boolean(f"{p}.enabled", m.get("enabled", False))
    interval = c.integer(f"{p}.intervalSeconds", m.get("intervalSeconds", 30), minimum=5, maximum=3600)
    image = c.string(
        f"{p}.image",
        m.get("image", catalog.LATENCY_PROBE_IMAGE),
        pattern=_IMAGE,
        expected="an image reference with a tag or a digest, like python:3.13-alpine or python@sha256:<64 hex>",
    )
    return LatencyProbeSpec(
        enabled=bool(enabled), interval_seconds=interval or 30, image=image or catalog.LATENCY_PROBE_IMAGE
    )


def _parse_cluster(c: _Checker, raw: Any, stack: str) -> Optional[ClusterSpec]:
    p = f"{NAMESPACE}:cluster"
    if raw is _MISSING:
        c.error(p, "is required (at least `region` and `version`)")
        return None
    allowed = (
        "name",
        "region",
        "version",
        "type",
        "cni",
        "autoUpgrade",
        "tags",
        "deleteAdditionalResources",
        "protect",
        "privateNetworkId",
    )
    m = c.mapping(p, raw, allowed, required=("region", "version"))
    if m is None:
        return None
    before = len(c.problems)
    name = c.string(
        f"{p}.name", m.get("name", f"kosmos-{stack}"), pattern=_DNS_LABEL, expected="a name of lowercase letters, "
        "digits and '-' (at most 63 characters)"
    )
    region = None
    if m.get("region") is not None:
        region = c.string(f"{p}.region", m["region"], choices=catalog.SCALEWAY_REGIONS)
    version = None
    if isinstance(m.get("version"), (int, float)) and not isinstance(m.get("version"), bool):
        # YAML reads an unquoted 1.30 as the number 1.3: say so instead of "not a string".
        c.error(f"{p}.version", f'{m["version"]} is a number; quote the version, e.g. version: "1.31"')
    elif m.get("version") is not None:
        version = c.string(
            f"{p}.version", m["version"], pattern=_VERSION, expected='a Kubernetes version like "1.31" or "1.31.2"'
        )
    ctype = c.string(f"{p}.type", m.get("type", "multicloud"), choices=catalog.CLUSTER_TYPES)
    cni = m.get("cni", catalog.MULTICLOUD_CNI)
    if cni != catalog.MULTICLOUD_CNI:
        c.error(f"{p}.cni", f"{_q(cni)} is not allowed; a multicloud (Kosmos) cluster only runs the kilo CNI")
    if m.get("privateNetworkId") is not None:
        c.error(f"{p}.privateNetworkId", "a multicloud (Kosmos) cluster cannot be attached to a private network")
    auto_upgrade = None
    if "autoUpgrade" in m:
        auto_upgrade = _parse_auto_upgrade(c, f"{p}.autoUpgrade", m["autoUpgrade"])
        if auto_upgrade and auto_upgrade.enabled and version and version.count(".") == 2:
            c.error(
                f"{p}.version",
                f"{_q(version)} pins a patch release, but autoUpgrade.enabled upgrades patches; use the minor "
                f'"{version.rsplit(".", 1)[0]}"',
            )
    tags = c.strings(f"{p}.tags", m.get("tags", []))
    dar = c.boolean(f"{p}.deleteAdditionalResources", m.get("deleteAdditionalResources", False))
    protect = c.boolean(f"{p}.protect", m.get("protect", False))
    if len(c.problems) != before:
        return None
    return ClusterSpec(
        name=name,
        region=region,
        version=version,
        type=ctype,
        auto_upgrade=auto_upgrade,
        tags=tags,
        delete_additional_resources=bool(dar),
        protect=bool(protect),
    )


def _parse_auto_upgrade(c: _Checker, p: str, raw: Any) -> Optional[AutoUpgrade]:
    m = c.mapping(p, raw, ("enabled", "maintenanceWindow"), required=("enabled",))
    if m is None:
        return None
    enabled = c.boolean(f"{p}.enabled", m.get("enabled")) if m.get("enabled") is not None else None
    window = MaintenanceWindow()
    if "maintenanceWindow" in m:
        w = c.mapping(f"{p}.maintenanceWindow", m["maintenanceWindow"], ("day", "startHour"))
        if w is not None:
            day = c.string(f"{p}.maintenanceWindow.day", w.get("day", "any"), choices=_DAYS)
            hour = c.integer(f"{p}.maintenanceWindow.startHour", w.get("startHour", 0), minimum=0, maximum=23)
            window = MaintenanceWindow(day or "any", hour or 0)
    if enabled is None:
        return None
    return AutoUpgrade(enabled=enabled, maintenance_window=window)


def _parse_scaleway_pools(c: _Checker, raw: Any, region: Optional[str]) -> list[ScalewayPoolSpec]:
    p = f"{NAMESPACE}:scalewayPools"
    if not isinstance(raw, (list, tuple)):
        c.error(p, f"expected a list of pools; got {_q(raw)}")
        return []
    allowed = ("name", "nodeType", "size", "zone", "minSize", "maxSize", "autoscale", "labels", "taints", "tags")
    pools = []
    for i, entry in enumerate(raw):
        pp = f"{p}[{i}]"
        m = c.mapping(pp, entry, allowed, required=("name", "nodeType", "size"))
        if m is None:
            continue
        before = len(c.problems)
        name = _pool_name(c, f"{pp}.name", m.get("name"))
        node_type = None
        if m.get("nodeType") is not None:
            node_type = c.string(
                f"{pp}.nodeType", m["nodeType"], pattern=_NODE_TYPE, expected="a Scaleway Instance type like DEV1-M"
            )
        if node_type:
            upper = node_type.upper()
            if upper == catalog.EXTERNAL_NODE_TYPE.upper():
                c.error(f"{pp}.nodeType", '"external" is for external pools; declare it under kosmos:externalPools')
            elif any(upper.startswith(prefix) for prefix in catalog.LOW_MEMORY_NODE_TYPE_PREFIXES):
                c.error(
                    f"{pp}.nodeType",
                    f"{_q(node_type)} has too little memory for a Kubernetes node (Scaleway refuses "
                    f"{', '.join(catalog.LOW_MEMORY_NODE_TYPE_PREFIXES)}*); use DEV1-M or larger",
                )
        autoscale = c.boolean(f"{pp}.autoscale", m.get("autoscale", False))
        size = (
            c.integer(f"{pp}.size", m["size"], minimum=0, maximum=catalog.MAX_CLUSTER_NODES)
            if m.get("size") is not None
            else None
        )
        min_size = (
            c.integer(f"{pp}.minSize", m["minSize"], minimum=0, maximum=catalog.MAX_CLUSTER_NODES)
            if m.get("minSize") is not None
            else None
        )
        max_size = (
            c.integer(f"{pp}.maxSize", m["maxSize"], minimum=1, maximum=catalog.MAX_CLUSTER_NODES)
            if m.get("maxSize") is not None
            else None
        )
        if size == 0 and not autoscale:
            c.error(f"{pp}.size", "0 is only allowed with autoscale: true; remove the pool to delete it")
        if min_size is not None and max_size is not None and min_size > max_size:
            c.error(f"{pp}.minSize", f"{min_size} is greater than maxSize {max_size}")
        elif size is not None and min_size is not None and size < min_size:
            c.error(f"{pp}.size", f"{size} is below minSize {min_size}")
        elif size is not None and max_size is not None and size > max_size:
            c.error(f"{pp}.size", f"{size} is above maxSize {max_size}")
        zone = None
        if region is not None or m.get("zone") is not None:  # an explicit zone is checked even if region is bad
            zone = c.string(f"{pp}.zone", m.get("zone", f"{region}-1"), choices=catalog.ALL_SCALEWAY_ZONES)
            if zone is None and isinstance(m.get("zone"), str):
                # Replace the generic message with the one that says what a zone looks like.
                c.problems[-1] = (
                    f"{pp}.zone: {_q(m['zone'])} is not a zone; expected one of {', '.join(catalog.ALL_SCALEWAY_ZONES)}"
                )
        labels = c.labels(f"{pp}.labels", m.get("labels", {}))
        taints = c.taints(f"{pp}.taints", m.get("taints", []))
        tags = c.strings(f"{pp}.tags", m.get("tags", []))
        if len(c.problems) == before and region is not None:
            pools.append(
                ScalewayPoolSpec(
                    name=name,
                    node_type=node_type,
                    size=size,
                    zone=zone,
                    min_size=min_size,
                    max_size=max_size,
                    autoscale=bool(autoscale),
                    labels=labels,
                    taints=taints,
                    tags=tags,
                )
            )
    return pools


def _pool_name(c: _Checker, path: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    return c.string(
        path, value, pattern=_DNS_LABEL, expected="a pool name of lowercase letters, digits and '-' (at most 63)"
    )


_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]+)?(/[A-Za-z0-9._~\-/]*)?$")
_AGENT_VERSION = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+$")
JOIN_KEYS = ("agentVersion", "agentBaseUrl", "agentSha256", "apiUrl", "allowedOs", "minMemoryMiB")


def _parse_join(c: _Checker, raw: Any) -> JoinSpec:
    p = f"{NAMESPACE}:join"
    m = c.mapping(p, raw, JOIN_KEYS)
    if m is None:
        return JoinSpec()
    version = c.string(
        f"{p}.agentVersion",
        m.get("agentVersion", catalog.DEFAULT_AGENT_VERSION),
        pattern=_AGENT_VERSION,
        expected="a k8s-agent release tag like v0.1.5 (github.com/scaleway/k8s-agent tags)",
    )
    base = None
    if m.get("agentBaseUrl") is not None:
        base = c.string(f"{p}.agentBaseUrl", m["agentBaseUrl"], pattern=_URL, expected="an http(s) URL without query or fragment")
    sha: dict[str, str] = {}
    if "agentSha256" in m:
        raw_sha = c.mapping(f"{p}.agentSha256", m["agentSha256"], catalog.ARCHES)
        for arch, value in (raw_sha or {}).items():
            if arch in catalog.ARCHES:
                checked = c.string(
                    f"{p}.agentSha256.{arch}", value, pattern=_SHA256, expected="64 lowercase hex characters"
                )
                if checked:
                    sha[arch] = checked
    if base and not base.startswith("https://"):
        # Without https the checksums.txt that vouches for the binary could be forged along with it.
        unpinned = [a for a in catalog.ARCHES if a not in sha]
        if unpinned:
            c.error(
                f"{p}.agentBaseUrl",
                f"{_q(base)} is not https, so the agent must be pinned: set kosmos:join.agentSha256."
                f"{' and kosmos:join.agentSha256.'.join(unpinned)} (or use an https URL)",
            )
    api_url = None
    if m.get("apiUrl") is not None:
        api_url = c.string(
            f"{p}.apiUrl", m["apiUrl"], pattern=re.compile(r"^https://[A-Za-z0-9.\-]+(:[0-9]+)?$"),
            expected="an https URL without a path, like https://api.scaleway.com",
        )
    allowed_os = catalog.DEFAULT_ALLOWED_OS
    if "allowedOs" in m:
        allowed_os = c.strings(
            f"{p}.allowedOs",
            m["allowedOs"],
            item=lambda path, v: c.string(path, v, pattern=_OS_ENTRY, expected='"<ubuntu|debian>:<VERSION_ID>"'),
        )
        if not allowed_os and isinstance(m["allowedOs"], list):
            c.error(f"{p}.allowedOs", "must list at least one OS")
    min_mem = c.integer(
        f"{p}.minMemoryMiB", m.get("minMemoryMiB", catalog.DEFAULT_MIN_MEMORY_MIB), minimum=1024,
        maximum=MAX_MIN_MEMORY_MIB,
    )
    return JoinSpec(
        agent_version=version or catalog.DEFAULT_AGENT_VERSION,
        agent_base_url=base.rstrip("/") if base else None,
        agent_sha256=sha,
        api_url=api_url,
        allowed_os=tuple(allowed_os),
        min_memory_mib=min_mem or catalog.DEFAULT_MIN_MEMORY_MIB,
    )


_COMMON_EXTERNAL_KEYS = ("name", "provider", "labels", "taints", "tags", "registration")
_PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "civo": ("region", "size", "image", "count", "sshKeyId", "sshAllowedCidrs"),
    "equinix-metal": ("metro", "plan", "os", "count"),
    "scaleway-elastic-metal": ("zone", "offer", "os", "osVersion", "count", "sshKeyIds", "arch"),
    "on-prem": ("hosts", "site"),
}
_PROVIDER_REQUIRED: dict[str, tuple[str, ...]] = {
    "civo": ("region", "size", "count"),
    "equinix-metal": ("metro", "plan", "count"),
    "scaleway-elastic-metal": ("zone", "offer", "count"),
    "on-prem": ("hosts",),
}


def _parse_external_pools(c: _Checker, raw: Any, join: JoinSpec, allow_public_ssh: bool) -> list[ExternalPool]:
    p = f"{NAMESPACE}:externalPools"
    if not isinstance(raw, (list, tuple)):
        c.error(p, f"expected a list of pools; got {_q(raw)}")
        return []
    pools: list[ExternalPool] = []
    indexed: list[tuple[int, ExternalPool]] = []
    for i, entry in enumerate(raw):
        pp = f"{p}[{i}]"
        provider = entry.get("provider") if isinstance(entry, Mapping) else None
        if provider is None:
            if isinstance(entry, Mapping):
                c.error(f"{pp}.provider", f"is required; expected one of {', '.join(PROVIDERS)}")
            else:
                c.error(pp, f"expected a mapping; got {_q(entry)}")
            continue
        if c.string(f"{pp}.provider", provider, choices=PROVIDERS) is None:
            continue
        m = c.mapping(
            pp,
            entry,
            _COMMON_EXTERNAL_KEYS + _PROVIDER_KEYS[provider],
            required=("name",) + _PROVIDER_REQUIRED[provider],
        )
        before = len(c.problems)
        if isinstance(m.get("name"), str) and len(m["name"]) > MAX_EXTERNAL_POOL_NAME:
            c.error(
                f"{pp}.name",
                f"{_q(m['name'])} is too long: machines are named <pool>-<n>-<6 hex> and a hostname has at most 63 "
                f"characters, so an external pool name has at most {MAX_EXTERNAL_POOL_NAME}",
            )
        common = dict(
            name=_pool_name(c, f"{pp}.name", m.get("name")),
            labels=c.labels(f"{pp}.labels", m.get("labels", {})),
            taints=c.taints(f"{pp}.taints", m.get("taints", [])),
            tags=c.strings(f"{pp}.tags", m.get("tags", [])),
            registration=_parse_registration(c, f"{pp}.registration", m.get("registration", {})),
        )
        pool = _EXTERNAL_PARSERS[provider](c, pp, m, common, join, allow_public_ssh)
        if pool is not None and len(c.problems) == before:
            pools.append(pool)
            indexed.append((i, pool))
    _check_machines_across_pools(c, indexed)
    return pools


def _check_machines_across_pools(c: _Checker, indexed: list[tuple[int, ExternalPool]]) -> None:
    """What must not repeat across pools: Pulumi resource names, node names, SSH targets.

    Every machine's registration and label patch is named `<prefix>-<pool>-<machine key>` under the same parent
    type, so pool `a`'s host `1-0` and pool `a-1`'s machine 0 would get one URN, which the engine refuses in the
    middle of a deployment.
    """
    p = f"{NAMESPACE}:externalPools"
    resource_names: dict[str, str] = {}
    host_names: dict[str, str] = {}
    targets: dict[tuple[str, int], str] = {}
    for i, pool in indexed:
        onprem = isinstance(pool, OnPremPoolSpec)
        for j, key in enumerate(pool.machine_keys()):
            where = f"{p}[{i}].hosts[{j}]" if onprem else f"{p}[{i}] machine {j}"
            resource_name = f"{pool.name}-{key}"
            if resource_name in resource_names:
                path = f"{p}[{i}].hosts[{j}].name" if onprem else f"{p}[{i}].name"
                c.error(
                    path,
                    f"{where} and {resource_names[resource_name]} would give their resources the same names "
                    f"(<cluster>-{resource_name}-registration, …: <pool>-<machine>), so the same URNs, which Pulumi "
                    "refuses in the middle of an update; rename the pool or the host",
                )
                if not onprem:
                    break  # once per cloud pool
            resource_names.setdefault(resource_name, where)
        if not onprem:
            continue
        for j, host in enumerate(pool.hosts):
            where = f"{p}[{i}].hosts[{j}]"
            if host.name in host_names and not host_names[host.name].startswith(f"{p}[{i}]."):
                c.error(
                    f"{where}.name",
                    f"{_q(host.name)} is already the name of {host_names[host.name]}; a host name is its node name, "
                    "unique in the cluster",
                )
            host_names.setdefault(host.name, where)
            target = (_canonical_address(host.address), host.port)
            if target in targets:
                c.error(
                    f"{where}.address",
                    f"{host.address} port {host.port} is already {targets[target]}; a machine joins once",
                )
            targets.setdefault(target, where)


def _canonical_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address.lower().rstrip(".")


def _parse_registration(c: _Checker, p: str, raw: Any) -> RegistrationSpec:
    m = c.mapping(p, raw, ("wait", "timeoutMinutes", "skipDrain"))
    if m is None:
        return RegistrationSpec()
    wait = c.boolean(f"{p}.wait", m.get("wait", True))
    timeout = c.number(
        f"{p}.timeoutMinutes", m.get("timeoutMinutes", 15), minimum=0.01, maximum=MAX_REGISTRATION_TIMEOUT_MINUTES
    )
    skip = c.boolean(f"{p}.skipDrain", m.get("skipDrain", False))
    return RegistrationSpec(
        wait=True if wait is None else wait, timeout_minutes=timeout or 15, skip_drain=bool(skip)
    )


def _count(c: _Checker, path: str, value: Any) -> int:
    if value is None:
        return 0
    return c.integer(path, value, minimum=1, maximum=catalog.MAX_CLUSTER_NODES) or 0


def _arch(c: _Checker, path: str, value: Any) -> Optional[str]:
    return None if value is None else c.string(path, value, choices=catalog.ARCHES)


def _parse_civo(c, pp, m, common, join, allow_public_ssh) -> Optional[CivoPoolSpec]:
    region = None
    if m.get("region") is not None:
        region = c.string(f"{pp}.region", m["region"], pattern=_CIVO_REGION, expected="a Civo region like LON1, NYC1")
    size = None
    if m.get("size") is not None:
        size = c.string(f"{pp}.size", m["size"], choices=tuple(catalog.CIVO_SIZES_MIB))
        if size and catalog.CIVO_SIZES_MIB[size] < join.min_memory_mib:
            big_enough = [s for s, mib in catalog.CIVO_SIZES_MIB.items() if mib >= join.min_memory_mib]
            c.error(
                f"{pp}.size",
                f"{_q(size)} has {catalog.CIVO_SIZES_MIB[size]} MiB of RAM; a Kosmos node needs at least "
                f"{join.min_memory_mib} MiB (kosmos:join.minMemoryMiB); use one of {', '.join(big_enough)}",
            )
    image = c.string(
        f"{pp}.image",
        m.get("image", "ubuntu-jammy"),
        pattern=re.compile(r"^(ubuntu|debian)-[a-z0-9.\-]+$"),
        expected="an Ubuntu or Debian Civo disk image name like ubuntu-jammy or debian-12",
    )
    ssh_key_id = None if m.get("sshKeyId") is None else c.string(f"{pp}.sshKeyId", m["sshKeyId"])
    cidrs = c.strings(
        f"{pp}.sshAllowedCidrs", m.get("sshAllowedCidrs", []), item=lambda p, v: _cidr(c, p, v, allow_public_ssh)
    )
    return CivoPoolSpec(
        **common,
        region=region,
        size=size,
        image=image,
        count=_count(c, f"{pp}.count", m.get("count")),
        ssh_key_id=ssh_key_id,
        ssh_allowed_cidrs=cidrs,
    )


def _cidr(c: _Checker, path: str, value: Any, allow_public_ssh: bool) -> Optional[str]:
    if not isinstance(value, str):
        c.error(path, f"expected a CIDR string like 203.0.113.4/32; got {_q(value)}")
        return None
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        c.error(path, f"{_q(value)} is not a CIDR like 203.0.113.4/32")
        return None
    if net.prefixlen == 0 and not allow_public_ssh:
        c.error(path, f"{_q(value)} opens SSH to the whole internet; set kosmos:allowPublicSsh: true if you mean it")
        return None
    return str(net)


def _parse_equinix(c, pp, m, common, join, allow_public_ssh) -> Optional[EquinixMetalPoolSpec]:
    metro = None
    if m.get("metro") is not None:
        metro = c.string(f"{pp}.metro", m["metro"], pattern=_METRO, expected="a two-letter metro code like da, am")
    plan = None
    if m.get("plan") is not None:
        plan = c.string(
            f"{pp}.plan",
            m["plan"],
            pattern=re.compile(catalog.EQUINIX_PLAN_PATTERN),
            expected="an Equinix Metal plan like c3.small.x86 or c3.large.arm64 (<class>.<size>.<x86|arm64>)",
        )
    os = c.string(f"{pp}.os", m.get("os", "ubuntu_22_04"), choices=tuple(catalog.EQUINIX_OS))
    if os and catalog.EQUINIX_OS[os] not in join.allowed_os:
        c.error(f"{pp}.os", f"{_q(os)} is not in kosmos:join.allowedOs ({', '.join(join.allowed_os)})")
    return EquinixMetalPoolSpec(
        **common, metro=metro, plan=plan, os=os or "ubuntu_22_04", count=_count(c, f"{pp}.count", m.get("count"))
    )


def _parse_elastic_metal(c, pp, m, common, join, allow_public_ssh) -> Optional[ElasticMetalPoolSpec]:
    zone = None
    if m.get("zone") is not None:
        zone = c.string(f"{pp}.zone", m["zone"], choices=catalog.ELASTIC_METAL_ZONES)
    offer = None
    if m.get("offer") is not None:
        offer = c.string(
            f"{pp}.offer", m["offer"], pattern=_EM_OFFER, expected="an Elastic Metal offer name like EM-A115X-SSD"
        )
    os = c.string(f"{pp}.os", m.get("os", "Ubuntu"), choices=("Ubuntu", "Debian"))
    os_version = None if m.get("osVersion") is None else c.string(f"{pp}.osVersion", m["osVersion"])
    return ElasticMetalPoolSpec(
        **common,
        zone=zone,
        offer=offer,
        os=os or "Ubuntu",
        os_version=os_version,
        count=_count(c, f"{pp}.count", m.get("count")),
        ssh_key_ids=c.strings(f"{pp}.sshKeyIds", m.get("sshKeyIds", [])),
        arch=_arch(c, f"{pp}.arch", m.get("arch")),
    )


def _parse_onprem(c, pp, m, common, join, allow_public_ssh) -> Optional[OnPremPoolSpec]:
    raw_hosts = m.get("hosts")
    hosts = []
    if raw_hosts is not None and (not isinstance(raw_hosts, (list, tuple)) or not raw_hosts):
        c.error(f"{pp}.hosts", "expected a non-empty list of {name, address, user, port}")
        raw_hosts = []
    elif raw_hosts is not None and len(raw_hosts) > catalog.MAX_CLUSTER_NODES:
        c.error(f"{pp}.hosts", f"has {len(raw_hosts)} hosts; a cluster has at most {catalog.MAX_CLUSTER_NODES} nodes")
        raw_hosts = []
    for j, raw in enumerate(raw_hosts or []):
        hp = f"{pp}.hosts[{j}]"
        h = c.mapping(hp, raw, _HOST_KEYS, required=("name", "address"))
        if h is None:
            continue
        name = None if h.get("name") is None else c.string(
            f"{hp}.name", h["name"], pattern=_DNS_LABEL, expected="a host name of lowercase letters, digits and '-'"
        )
        address = None
        if h.get("address") is not None:
            address = _address(c, f"{hp}.address", h["address"])
        user = c.string(
            f"{hp}.user",
            h.get("user", "root"),
            pattern=re.compile(r"[a-z_][a-z0-9_\-]*"),
            expected="a Unix user",
            max_length=MAX_UNIX_USER,
        )
        port = c.integer(f"{hp}.port", h.get("port", 22), minimum=1, maximum=65535)
        arch = _arch(c, f"{hp}.arch", h.get("arch"))
        host_key = None
        if h.get("hostKey") is not None:
            host_key = _host_key(c, f"{hp}.hostKey", h["hostKey"])
        skip = bool(c.boolean(f"{hp}.insecureSkipHostKeyCheck", h.get("insecureSkipHostKeyCheck", False)))
        if h.get("hostKey") is None and not skip:
            c.error(
                f"{hp}.hostKey",
                "is required: without it the join key goes to whoever answers on this address. Pin the host's SSH "
                "key (`ssh-keyscan -t ed25519 <address>`, then check its fingerprint out of band; README, on-prem), "
                "or set insecureSkipHostKeyCheck: true to accept any key",
            )
        elif h.get("hostKey") is not None and skip:
            c.error(f"{hp}.insecureSkipHostKeyCheck", "contradicts hostKey; remove one of them")
        if name and address and user and port:
            hosts.append(OnPremHost(name, address, user, port, arch, host_key, skip))
    seen: dict[str, int] = {}
    for j, host in enumerate(hosts):
        if host.name in seen:
            c.error(f"{pp}.hosts[{j}].name", f"{_q(host.name)} is already used by hosts[{seen[host.name]}]")
        seen.setdefault(host.name, j)
    site = None
    if m.get("site") is not None:
        site = c.string(
            f"{pp}.site", m["site"], pattern=_LABEL_NAME, expected="a label value (letters, digits, -_.)", max_length=63
        )
    return OnPremPoolSpec(**common, hosts=tuple(hosts), site=site)


_HOST_KEYS = ("name", "address", "user", "port", "arch", "hostKey", "insecureSkipHostKeyCheck")
# Key types golang.org/x/crypto/ssh ParseAuthorizedKey reads, which pulumi-command uses for `hostKey`
# (pulumi/pulumi-command, provider/pkg/provider/remote/connection.go: ssh.FixedHostKey).
_HOST_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_HOST_KEY_LINE = re.compile(r"(?P<type>[a-z0-9@.\-]+) (?P<blob>[A-Za-z0-9+/]+={0,2})( [^\n]*)?")


def _host_key(c: _Checker, path: str, value: Any) -> Optional[str]:
    """`<type> <base64>[ comment]`, as ssh-keyscan prints after the host column; the blob must decode and name the
    same key type (SSH wire format: a length-prefixed type string first), so a truncated paste is caught here."""
    expected = "an SSH public host key like 'ssh-ed25519 AAAA…' (ssh-keyscan's output without the host column)"
    text = c.string(path, value, max_length=MAX_HOST_KEY, expected=expected)
    if text is None:
        return None
    m = _HOST_KEY_LINE.fullmatch(text)
    if m is None or m["type"] not in _HOST_KEY_TYPES:
        c.error(path, f"{_q(text)} is not {expected}")
        return None
    try:
        fields = _ssh_wire_strings(base64.b64decode(m["blob"], validate=True))
    except (binascii.Error, ValueError):
        fields = []
    complete = len(fields) >= 2 and (m["type"] != "ssh-ed25519" or len(fields[1]) == 32)
    if not complete or fields[0] != m["type"].encode():
        c.error(path, f"the key data does not decode to a {m['type']} key; copy the whole line again")
        return None
    return text


def _ssh_wire_strings(blob: bytes) -> list[bytes]:
    """A public key blob is a sequence of uint32-length-prefixed strings (RFC 4253 section 6.6); a cut blob leaves
    a length that overruns the data."""
    out, i = [], 0
    while i < len(blob):
        if i + 4 > len(blob):
            raise ValueError("truncated length")
        size = int.from_bytes(blob[i : i + 4], "big")
        if i + 4 + size > len(blob):
            raise ValueError("truncated field")
        out.append(blob[i + 4 : i + 4 + size])
        i += 4 + size
    return out


def _address(c: _Checker, path: str, value: Any) -> Optional[str]:
    if not isinstance(value, str) or not value:
        c.error(path, f"expected an IP address or DNS name; got {_q(value)}")
        return None
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if len(value) <= 253 and _HOSTNAME.fullmatch(value) and not re.fullmatch(r"[0-9.]+", value):
        return value
    c.error(path, f"{_q(value)} is not an IP address or DNS name")
    return None


_EXTERNAL_PARSERS = {
    "civo": _parse_civo,
    "equinix-metal": _parse_equinix,
    "scaleway-elastic-metal": _parse_elastic_metal,
    "on-prem": _parse_onprem,
}


def _check_node_limit(c: _Checker, cluster, scw_pools, ext_pools) -> None:
    """The most nodes the stack can have (autoscaled pools at their maxSize) against the control plane's limit."""
    limit = catalog.CLUSTER_NODE_LIMITS.get(cluster.type)
    if limit is None:
        return
    scaleway = sum(max(p.size, p.max_size or 0) if p.autoscale else p.size for p in scw_pools)
    external = sum(p.machine_count for p in ext_pools)
    if scaleway + external > limit:
        bigger = [f"{t} ({n})" for t, n in catalog.CLUSTER_NODE_LIMITS.items() if n >= scaleway + external]
        c.error(
            f"{NAMESPACE}:cluster.type",
            f"{_q(cluster.type)} takes at most {limit} nodes, but the stack declares {scaleway + external} "
            f"({scaleway} in kosmos:scalewayPools, counting autoscaled pools at maxSize, {external} in "
            f"kosmos:externalPools); "
            + (f"use {' or '.join(bigger)}" if bigger else "split the nodes over several clusters"),
        )


def _check_unique_names(c: _Checker, scw_pools, ext_pools, top) -> None:
    """Pool names share one namespace: they become Scaleway pool names and Pulumi resource names."""
    seen: dict[str, str] = {}
    raw_scw = top.get("scalewayPools") if isinstance(top.get("scalewayPools"), list) else []
    raw_ext = top.get("externalPools") if isinstance(top.get("externalPools"), list) else []
    entries = [("scalewayPools", i, e) for i, e in enumerate(raw_scw)] + [
        ("externalPools", i, e) for i, e in enumerate(raw_ext)
    ]
    for key, i, entry in entries:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if not isinstance(name, str):
            continue
        path = f"{NAMESPACE}:{key}[{i}].name"
        if name in seen:
            c.error(path, f'"{name}" is already used by {seen[name]}; pool names must be unique across all pools')
        else:
            seen[name] = f"{NAMESPACE}:{key}[{i}]"


# Placeholders as long as the real values, so the measured size is the size of the real rendering: a pool id is
# `<region>/<uuid>` and a Scaleway secret key is a UUID (36 characters).
_SIZE_POOL_ID = "xx-xxx/00000000-0000-0000-0000-000000000000"
_SIZE_SECRET = "00000000-0000-0000-0000-000000000000"
_SIZE_API_URL = "https://api.scaleway.com"


def _check_userdata_size(c: _Checker, join: JoinSpec, region: str, ext_pools) -> None:
    """Render each userdata variant the pools use, as the program will: over the limit, it fails here and not inside
    an Output once the cluster and pools already exist."""
    from . import userdata
    from .clouds import MACHINE_SETS  # imported late: the cloud modules import this one

    inputs = userdata.JoinInputs(
        pool_id=_SIZE_POOL_ID,
        region=region,
        agent_version=join.agent_version,
        agent_base_url=join.agent_base_url,
        agent_sha256=dict(join.agent_sha256),
        # `scaleway:apiUrl` is not known here: measure with an API URL set, the longer rendering.
        api_url=join.api_url or _SIZE_API_URL,
        allowed_os=tuple(join.allowed_os),
        min_memory_mib=join.min_memory_mib,
    )
    seen: set[str] = set()
    for pool in ext_pools:
        variant = MACHINE_SETS[pool.provider].USERDATA_VARIANT
        if variant in seen:
            continue
        seen.add(variant)
        try:
            userdata.render(inputs, _SIZE_SECRET, variant)
        except userdata.UserdataError as err:
            c.error(
                f"{NAMESPACE}:join",
                f"the {variant} join userdata of {pool.provider} pools (pool {_q(pool.name)}) cannot be rendered: "
                f"{err}; shorten kosmos:join.agentBaseUrl or kosmos:join.allowedOs",
            )


def _parse_expiry(c: _Checker, value: Any, now: Optional[_dt.datetime]) -> Optional[str]:
    p = f"{NAMESPACE}:joinKeyExpiresAt"
    if isinstance(value, _dt.datetime):  # YAML parses unquoted timestamps
        value = value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not isinstance(value, str) or not _RFC3339_UTC.fullmatch(value):
        c.error(p, f'{_q(value)} is not an RFC 3339 UTC time like "2027-06-30T00:00:00Z"')
        return None
    try:
        when = _dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        c.error(p, f"{_q(value)} is not a real date and time")
        return None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if when <= now:
        c.error(p, f"{_q(value)} is in the past; new machines could not join with an expired key")
        return None
    return value

