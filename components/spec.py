"""Validation of a multicloud cluster's config: `parse_spec`, and the rules across values.

`parse_spec(mapping)` validates the stack-config shape (the `kosmos:*` keys without the namespace) with the typed
model (components/model.py), which is also the spec the components read: there is no second description of a key.
It never touches Pulumi resources: every problem is collected with its key path and raised together as one
`SpecError`, so a bad stack file fails before anything is registered. The structure (types, keys, choices, bounds,
patterns) is the model's; the rules across values are here (`rules`), run by the model's validator with a `Context`
(stack name, clock) and, when part of the config is invalid, on every part that is valid by itself, so errors in one
section never hide the others.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as _dt
import difflib
import ipaddress
import json
import re
from typing import Any, Mapping, Optional, Sequence

try:  # validation and the join renderer also run where Pulumi is not installed (`kosmos.userdata`)
    from pulumi.errors import RunError
except ImportError:  # exercised by tests/test_package.py in a Pulumi-less interpreter

    class RunError(Exception):  # type: ignore[no-redef]
        """Stands in for pulumi.RunError where Pulumi is not installed."""

from . import catalog, model, versions
from .model import NAMESPACE

# ----------------------------------------------------------------------------------------------------------------
# The spec is the model: these names are what the components import
# ----------------------------------------------------------------------------------------------------------------

MulticloudSpec = model.KosmosConfig
ClusterSpec = model.ClusterModel
AutoUpgrade = model.AutoUpgradeModel
MaintenanceWindow = model.MaintenanceWindowModel
Taint = model.TaintModel
ScalewayPoolSpec = model.ScalewayPoolModel
RegistrationSpec = model.RegistrationModel
UpgradeSpec = model.UpgradeModel
ExternalPoolSpec = model.ExternalPoolModel
"""Fields common to every external pool; one subclass per cloud."""
CivoPoolSpec = model.CivoPoolModel
EquinixMetalPoolSpec = model.EquinixMetalPoolModel
ElasticMetalPoolSpec = model.ElasticMetalPoolModel
OnPremPoolSpec = model.OnPremPoolModel
OnPremHost = model.OnPremHostModel
JoinSpec = model.JoinModel
LatencyProbeSpec = model.LatencyProbeModel


def warnings(spec: MulticloudSpec, now: Optional[_dt.datetime] = None) -> list[str]:
    """MulticloudSpec.warnings: non-fatal findings a user should see on every plan/preview."""
    version = spec.cluster.version
    out = [
        f"{NAMESPACE}:{key} is ignored and can be removed: kosmos no longer makes a join key (every machine's "
        "node is registered by kosmos with your credentials and the machine gets only that node's credentials; "
        "README, Node identity and threat model). The next `pulumi up` deletes the old join key's IAM application."
        for key in spec.obsolete_keys
    ]
    out += versions.findings(version, now)
    if version.count(".") == 1 and not (spec.cluster.auto_upgrade and spec.cluster.auto_upgrade.enabled):
        # terraform-provider-scaleway internal/services/k8s/cluster.go, CustomizeDiff: "minor version x.y must
        # only be used with auto upgrade enabled". Warned, not refused: README, Upgrading.
        known = versions.release(version)
        out.append(
            f'{NAMESPACE}:cluster.version: "{version}" is a minor without autoUpgrade.enabled, which Scaleway\'s '
            f'provider refuses at preview; pin a patch ("{known.patch if known else version + ".0"}") or enable '
            "autoUpgrade"
        )
    # (The Equinix Metal shutdown warning is emitted by EquinixMetalNodes itself, wherever it is composed.)
    for pool in spec.external_pools:
        if isinstance(pool, OnPremPoolSpec):
            for host in pool.hosts:
                if host.insecure_skip_host_key_check:
                    out.append(
                        f"{NAMESPACE}:externalPools[{pool.name}].hosts[{host.name}].insecureSkipHostKeyCheck is "
                        "true: any machine answering on its address gets that host's node credentials."
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


PROVIDERS = model.PROVIDERS
TOP_LEVEL_KEYS = model.aliases(model.KosmosConfig)
JOIN_KEYS = model.aliases(model.JoinModel)
_COMMON_EXTERNAL_KEYS = model.aliases(model.ExternalPoolModel)
_PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    provider: tuple(k for k in model.aliases(m) if k not in _COMMON_EXTERNAL_KEYS)
    for provider, m in model.PROVIDER_MODELS.items()
}
# Keys that must be Pulumi secrets in stack config (`pulumi config set --secret`).
SECRET_KEYS = ("sshPrivateKey",)
_q = model.q
# The order problems are listed in: the order of the stack-file sections, then the pools' and hosts' positions.
_SECTION_ORDER = ("cluster", "scalewayPools", "join", "allowPublicSsh", "externalPools", "equinixProjectId",
                  "sshPrivateKey", "joinKeyExpiresAt", "joinKeyValidDays", "latencyProbe")


class _Problems:
    """Collects (key path, message) pairs: pydantic's, translated (components/model.py), and the domain checks'."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __len__(self) -> int:
        return len(self.items)

    def lines(self) -> list[str]:
        def order(item: tuple[str, str]) -> tuple:
            head = re.match(rf"{NAMESPACE}:([A-Za-z0-9]+)", item[0])
            section = _SECTION_ORDER.index(head[1]) if head and head[1] in _SECTION_ORDER else -1
            return section, [int(n) for n in re.findall(r"\[(\d+)\]", item[0])]

        return [f"{path}: {message}" for path, message in sorted(self.items, key=order)]


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


@dataclasses.dataclass
class Context:
    """The validation context of KosmosConfig's rules: what they need besides the config, and where their problems
    go (so that one rule's problem never hides another's)."""

    stack: str = "dev"
    """Names the default cluster (`kosmos-<stack>`)."""
    now: Optional[_dt.datetime] = None
    """The clock (None: the system's), for rules that date a value."""
    raw: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """The config as given, for rules about what the stack file sets (secrets, unique names by position)."""
    problems: _Problems = dataclasses.field(default_factory=lambda: _Problems())


def parse_spec(
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    now: Optional[_dt.datetime] = None,
) -> MulticloudSpec:
    """Validate a config mapping (`{"cluster": {...}, "scalewayPools": [...], ...}`) into a MulticloudSpec.

    Structure and types are the model's (components/model.py); the rules across values are checked by its validator,
    or, when parts of the config are invalid, on every part that is valid by itself. Raises SpecError listing every
    problem, each prefixed with its `kosmos:` key path.
    """
    if isinstance(config, MulticloudSpec):
        return config
    if isinstance(config, Mapping) and isinstance(config.get("joinKeyExpiresAt"), _dt.datetime):
        # YAML parses an unquoted timestamp
        when = config["joinKeyExpiresAt"].astimezone(_dt.timezone.utc)
        config = {**config, "joinKeyExpiresAt": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    ctx = Context(stack=stack, now=now, raw=config if isinstance(config, Mapping) else {})
    try:
        spec = model.KosmosConfig.model_validate(config, context=ctx)
    except model.ValidationError as err:
        spec = None
        ctx.problems = _Problems()  # the valid parts' rules run again below, once
        for path, message in model.problems(err.errors(include_url=False)):
            ctx.problems.error(path, message)
        rules(_parts(config, ctx), ctx)
    if ctx.problems.items:
        raise SpecError(ctx.problems.lines())
    assert spec is not None
    return spec


def rules(parts: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """The rules across values, on the top-level fields (by Python name; None for a part that is itself invalid):
    each problem goes to `ctx.problems`; returns the fields with the defaults that depend on other values filled."""
    c = ctx.problems
    ns = NAMESPACE
    cluster = _cluster(c, parts["cluster"], ctx.stack) if parts["cluster"] is not None else None
    region = cluster.region if cluster else None
    scw_pools = _scaleway_pools(c, parts["scaleway_pools"] or [], region)
    join = _join(c, parts["join"])
    allow_public_ssh = bool(parts["allow_public_ssh"])
    ext_pools = _external_pools(c, parts["external_pools"] or [], join, allow_public_ssh)
    top = ctx.raw

    _check_unique_names(c, scw_pools, ext_pools, top)
    if cluster is not None:
        _check_node_limit(c, cluster, scw_pools, ext_pools)
        _check_userdata_size(c, join, cluster.region, ext_pools)

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
    return {"cluster": cluster, "scaleway_pools": scw_pools, "join": join, "external_pools": ext_pools}


def _parts(config: Any, ctx: Context) -> dict[str, Any]:
    """The value of each top-level field (by its Python name) that is valid by itself, else None; a pool list holds
    None for each bad pool. Called once pydantic has reported the config's errors."""
    if not isinstance(config, Mapping):
        return {name: None for name in model.KosmosConfig.model_fields}
    out: dict[str, Any] = {}
    for name, f in model.KosmosConfig.model_fields.items():
        key = f.alias
        if key not in config:
            out[name] = None if f.is_required() else f.get_default(call_default_factory=True)
            continue
        try:
            out[name] = model.adapter(key).validate_python(config[key])
        except model.ValidationError:
            out[name] = None
            if isinstance(config[key], list) and key in ("scalewayPools", "externalPools"):
                item = model.adapter(f"{key}[]")
                out[name] = [_valid_or_none(item, v) for v in config[key]]
    return out


def _valid_or_none(adapter, value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except model.ValidationError:
        return None


def _cluster(c: _Problems, m: model.ClusterModel, stack: str) -> Optional[ClusterSpec]:
    p = f"{NAMESPACE}:cluster"
    before = len(c)
    name = m.name
    if name is None:
        name = f"kosmos-{stack}"  # the default is a name like any other: a stack name may not make a valid one
        if not re.fullmatch(model.DNS_LABEL, name):
            c.error(f"{p}.name", f"{_q(name)} is not {model.CLUSTER_NAME_EXPECTED}")
    if m.auto_upgrade and m.auto_upgrade.enabled and m.version.count(".") == 2:
        c.error(
            f"{p}.version",
            f"{_q(m.version)} pins a patch release, but autoUpgrade.enabled upgrades patches; use the minor "
            f'"{m.version.rsplit(".", 1)[0]}"',
        )
    if len(c) != before:
        return None
    return m.model_copy(update={"name": name})


def _scaleway_pools(c: _Problems, models: list, region: Optional[str]) -> list[ScalewayPoolSpec]:
    pools = []
    for i, m in enumerate(models):
        if m is None:
            continue
        pp = f"{NAMESPACE}:scalewayPools[{i}]"
        before = len(c)
        upper = m.node_type.upper()
        if upper == catalog.EXTERNAL_NODE_TYPE.upper():
            c.error(f"{pp}.nodeType", '"external" is for external pools; declare it under kosmos:externalPools')
        elif any(upper.startswith(prefix) for prefix in catalog.LOW_MEMORY_NODE_TYPE_PREFIXES):
            c.error(
                f"{pp}.nodeType",
                f"{_q(m.node_type)} has too little memory for a Kubernetes node (Scaleway refuses "
                f"{', '.join(catalog.LOW_MEMORY_NODE_TYPE_PREFIXES)}*); use DEV1-M or larger",
            )
        if m.size == 0 and not m.autoscale:
            c.error(f"{pp}.size", "0 is only allowed with autoscale: true; remove the pool to delete it")
        if m.min_size is not None and m.max_size is not None and m.min_size > m.max_size:
            c.error(f"{pp}.minSize", f"{m.min_size} is greater than maxSize {m.max_size}")
        elif m.min_size is not None and m.size < m.min_size:
            c.error(f"{pp}.size", f"{m.size} is below minSize {m.min_size}")
        elif m.max_size is not None and m.size > m.max_size:
            c.error(f"{pp}.size", f"{m.size} is above maxSize {m.max_size}")
        _labels(c, f"{pp}.labels", m.labels)
        _taints(c, f"{pp}.taints", m.taints)
        if len(c) == before and region is not None:
            pools.append(m.model_copy(update={"zone": m.zone or f"{region}-1"}))
    return pools


def _labels(c: _Problems, path: str, labels: Mapping[str, str]) -> None:
    for key in labels:
        _label_key(c, f"{path}.{key}", key)


def _label_key(c: _Problems, path: str, key: str) -> bool:
    if key in catalog.RESERVED_LABELS:
        c.error(
            path,
            f"{_q(key)} is set by kosmos and cannot be overridden "
            "(cloud/cloud-region come from the pool; topology.kubernetes.io/region is Kilo's mesh location)",
        )
        return False
    prefix, _, name = key.rpartition("/")
    valid = (
        0 < len(name) <= 63
        and re.fullmatch(model.LABEL_NAME, name) is not None
        and (not prefix or (len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None))
    )
    if not valid:
        c.error(path, model.LABEL_KEY_MESSAGE.format(q=_q(key)))
    return valid


_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _taints(c: _Problems, path: str, taints: Sequence[model.TaintModel]) -> None:
    for i, t in enumerate(taints):
        _label_key(c, f"{path}[{i}].key", t.key)




def _join(c: _Problems, m: Optional[model.JoinModel]) -> JoinSpec:
    if m is None:
        return JoinSpec()
    p = f"{NAMESPACE}:join"
    base = m.agent_base_url
    if base and not base.startswith("https://"):
        # Without https the checksums.txt that vouches for the binary could be forged along with it.
        unpinned = [a for a in catalog.ARCHES if a not in m.agent_sha256]
        if unpinned:
            c.error(
                f"{p}.agentBaseUrl",
                f"{_q(base)} is not https, so the agent must be pinned: set kosmos:join.agentSha256."
                f"{' and kosmos:join.agentSha256.'.join(unpinned)} (or use an https URL)",
            )
    return m.model_copy(update={"agent_base_url": base.rstrip("/")}) if base else m


def _external_pools(c: _Problems, models: list, join: JoinSpec, allow_public_ssh: bool) -> list[ExternalPoolSpec]:
    pools: list[ExternalPoolSpec] = []
    indexed: list[tuple[int, ExternalPoolSpec]] = []
    for i, m in enumerate(models):
        if m is None:
            continue
        pp = f"{NAMESPACE}:externalPools[{i}]"
        before = len(c)
        _labels(c, f"{pp}.labels", m.labels)
        _taints(c, f"{pp}.taints", m.taints)
        update = {"upgrade": _upgrade(c, f"{pp}.upgrade", m)}
        update.update(_EXTERNAL_RULES[m.provider](c, pp, m, join, allow_public_ssh))
        if len(c) == before:
            pool = m.model_copy(update=update)
            pools.append(pool)
            indexed.append((i, pool))
    _check_machines_across_pools(c, indexed)
    return pools


def _upgrade(c: _Problems, path: str, m: model.ExternalPoolModel) -> UpgradeSpec:
    """maxUnavailable rolls hosts kept in place (on-prem); maxSurge bounds new machines (every other cloud)."""
    u = m.upgrade
    onprem = m.provider == "on-prem"
    if onprem and u.max_surge is not None:
        c.error(f"{path}.maxSurge", "applies to machines that are replaced (civo, scaleway-elastic-metal, "
                "equinix-metal); on-prem hosts are upgraded in place: use maxUnavailable")
    if not onprem and u.max_unavailable is not None:
        c.error(f"{path}.maxUnavailable", f"applies to on-prem hosts, upgraded in place; {m.provider} machines are "
                "replaced create-before-delete, so none is unavailable: use maxSurge to bound the new machines")
    return u.model_copy(update={"max_unavailable": u.max_unavailable or 1})


def _civo(c, pp, m: model.CivoPoolModel, join, allow_public_ssh) -> dict:
    if catalog.CIVO_SIZES_MIB[m.size] < join.min_memory_mib:
        big_enough = [s for s, mib in catalog.CIVO_SIZES_MIB.items() if mib >= join.min_memory_mib]
        c.error(
            f"{pp}.size",
            f"{_q(m.size)} has {catalog.CIVO_SIZES_MIB[m.size]} MiB of RAM; a Kosmos node needs at least "
            f"{join.min_memory_mib} MiB (kosmos:join.minMemoryMiB); use one of {', '.join(big_enough)}",
        )
    cidrs = [_cidr(c, f"{pp}.sshAllowedCidrs[{j}]", v, allow_public_ssh) for j, v in enumerate(m.ssh_allowed_cidrs)]
    return {"ssh_allowed_cidrs": [cidr for cidr in cidrs if cidr]}


def _cidr(c: _Problems, path: str, value: str, allow_public_ssh: bool) -> Optional[str]:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        c.error(path, f"{_q(value)} is not a CIDR like 203.0.113.4/32")
        return None
    if net.prefixlen == 0 and not allow_public_ssh:
        c.error(path, f"{_q(value)} opens SSH to the whole internet; set kosmos:allowPublicSsh: true if you mean it")
        return None
    return str(net)




def _equinix(c, pp, m: model.EquinixMetalPoolModel, join, allow_public_ssh) -> dict:
    if catalog.EQUINIX_OS[m.os] not in join.allowed_os:
        c.error(f"{pp}.os", f"{_q(m.os)} is not in kosmos:join.allowedOs ({', '.join(join.allowed_os)})")
    return {}


def _elastic_metal(c, pp, m: model.ElasticMetalPoolModel, join, allow_public_ssh) -> dict:
    return {}


def _onprem(c, pp, m: model.OnPremPoolModel, join, allow_public_ssh) -> dict:
    hosts = []
    for j, h in enumerate(m.hosts):
        hp = f"{pp}.hosts[{j}]"
        address = _address(c, f"{hp}.address", h.address)
        if h.host_key is not None:
            _host_key(c, f"{hp}.hostKey", h.host_key)
        skip = h.insecure_skip_host_key_check
        if h.host_key is None and not skip:
            c.error(
                f"{hp}.hostKey",
                "is required: without it the host's node credentials go to whoever answers on this address. Pin the host's SSH "
                "key (`ssh-keyscan -t ed25519 <address>`, then check its fingerprint out of band; README, on-prem), "
                "or set insecureSkipHostKeyCheck: true to accept any key",
            )
        elif h.host_key is not None and skip:
            c.error(f"{hp}.insecureSkipHostKeyCheck", "contradicts hostKey; remove one of them")
        if address:
            hosts.append(h)
    seen: dict[str, int] = {}
    for j, host in enumerate(hosts):
        if host.name in seen:
            c.error(f"{pp}.hosts[{j}].name", f"{_q(host.name)} is already used by hosts[{seen[host.name]}]")
        seen.setdefault(host.name, j)
    return {"hosts": hosts}


_EXTERNAL_RULES = {
    "civo": _civo,
    "equinix-metal": _equinix,
    "scaleway-elastic-metal": _elastic_metal,
    "on-prem": _onprem,
}


def _check_machines_across_pools(c: _Problems, indexed: list[tuple[int, ExternalPoolSpec]]) -> None:
    """What must not repeat across pools: Pulumi resource names and SSH targets. Host names may: node names are
    Scaleway's (`scw-<cluster>-<pool>-<id>`), and resources are named `<pool>-<host>`.

    Every machine's label patch is named `<prefix>-<pool>-<machine key>` under the same parent type, so pool `a`'s host `1-0` and pool `a-1`'s machine 0 would get one URN, which the engine refuses in the
    middle of a deployment.
    """
    p = f"{NAMESPACE}:externalPools"
    resource_names: dict[str, str] = {}
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
                    f"(<cluster>-{resource_name}-labels, …: <pool>-<machine>), so the same URNs, which Pulumi "
                    "refuses in the middle of an update; rename the pool or the host",
                )
                if not onprem:
                    break  # once per cloud pool
            resource_names.setdefault(resource_name, where)
        if not onprem:
            continue
        for j, host in enumerate(pool.hosts):
            where = f"{p}[{i}].hosts[{j}]"
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
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")


def _host_key(c: _Problems, path: str, text: str) -> Optional[str]:
    """`<type> <base64>[ comment]`, as ssh-keyscan prints after the host column; the blob must decode and name the
    same key type (SSH wire format: a length-prefixed type string first), so a truncated paste is caught here."""
    m = _HOST_KEY_LINE.fullmatch(text)
    if m is None or m["type"] not in _HOST_KEY_TYPES:
        c.error(path, f"{_q(text)} is not {model.HOST_KEY_EXPECTED}")
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


def _address(c: _Problems, path: str, value: str) -> Optional[str]:
    if not value:
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


def _check_node_limit(c: _Problems, cluster, scw_pools, ext_pools) -> None:
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


def _check_unique_names(c: _Problems, scw_pools, ext_pools, top) -> None:
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
# A node's credentials as long as Scaleway's: the metadata URL of the default API and a UUID secret.
_SIZE_SECRET = json.dumps({"metadata_url": "https://api.scaleway.com/k8s/v1/regions/nl-ams/node-metadata",
                           "node_secret_key": "00000000-0000-4000-8000-000000000000"})
_SIZE_API_URL = "https://api.scaleway.com"


def _check_userdata_size(c: _Problems, join: JoinSpec, region: str, ext_pools) -> None:
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
