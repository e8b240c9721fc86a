"""The kosmos policies, as plain validate functions wrapped in CrossGuard policy objects.

Tests call the validate functions with real ResourceValidationArgs / StackValidationArgs; only __main__.py builds
the PolicyPack (constructing one starts the analyzer server).

Props arrive as the engine sends them to analyzers: input names on the wire (camelCase), secrets unwrapped. So
"this input is a secret" is checked through `opts.additional_secret_outputs`, which kosmos sets on every machine.
"""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import sys

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, UnknownValueError


def _load(name: str):
    # The domain facts live in components/catalog.py and components/versions.py; load those files alone (not the
    # components package, whose imports need the provider SDKs this pack's virtualenv does not have).
    path = pathlib.Path(__file__).resolve().parent.parent / "components" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"kosmos_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there (versions.Release)
    spec.loader.exec_module(module)
    return module


catalog = _load("catalog")
versions = _load("versions")

CLUSTER = "scaleway:kubernetes/cluster:Cluster"
POOL = "scaleway:kubernetes/pool:Pool"
IAM_POLICY = "scaleway:iam/policy:Policy"
API_KEY = "scaleway:iam/apiKey:ApiKey"
CIVO_INSTANCE = "civo:index/instance:Instance"
CIVO_FIREWALL = "civo:index/firewall:Firewall"
EQUINIX_DEVICE = "equinix-metal:index/device:Device"
EM_SERVER = "scaleway:elasticmetal/server:Server"
REMOTE_COMMAND = "command:remote:Command"
# Machine type -> the input that carries join userdata.
USERDATA_PROPERTY = {
    CIVO_INSTANCE: "script",
    EQUINIX_DEVICE: "userData",
    EM_SERVER: "cloudInit",
    REMOTE_COMMAND: "stdin",
}
JOIN_NAME_PREFIX = "kosmos-join-"


def _is_kosmos_join_command(args: ResourceValidationArgs) -> bool:
    return "bash -s -- userdata-sha256=" in str(args.props.get("create", ""))


# --- mandatory ------------------------------------------------------------------------------------------------


def cluster_is_multicloud_with_kilo(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type != CLUSTER:
        return
    ctype, cni = args.props.get("type"), args.props.get("cni")
    if not str(ctype or "").startswith("multicloud"):
        report_violation(f"Kosmos cluster type must be one of {', '.join(catalog.CLUSTER_TYPES)}; got {ctype!r}.")
    if cni != catalog.MULTICLOUD_CNI:
        report_violation(f"A multicloud cluster must use CNI {catalog.MULTICLOUD_CNI!r}; got {cni!r}.")


def machines_have_enough_memory(args: ResourceValidationArgs, report_violation) -> None:
    minimum = catalog.DEFAULT_MIN_MEMORY_MIB
    if args.resource_type == CIVO_INSTANCE:
        size = args.props.get("size")
        mib = catalog.CIVO_SIZES_MIB.get(size)
        if mib is None:
            report_violation(f"Civo size {size!r} is unknown to kosmos; its memory cannot be checked.")
        elif mib < minimum:
            report_violation(f"Civo size {size!r} has {mib} MiB of RAM; a Kosmos node needs at least {minimum} MiB.")
    elif args.resource_type == POOL:
        node_type = str(args.props.get("nodeType", ""))
        if any(node_type.upper().startswith(p) for p in catalog.LOW_MEMORY_NODE_TYPE_PREFIXES):
            report_violation(f"Scaleway node type {node_type!r} has too little memory for a Kubernetes node.")


def join_key_grants_only_external_node_register(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type != IAM_POLICY or not str(args.props.get("name", "")).startswith(JOIN_NAME_PREFIX):
        return
    rules = args.props.get("rules") or []
    granted = sorted({p for rule in rules for p in (rule.get("permissionSetNames") or [])})
    if granted != [catalog.JOIN_PERMISSION_SET] or len(rules) != 1:
        report_violation(
            f"The join key's policy must grant exactly one rule with only {catalog.JOIN_PERMISSION_SET}; "
            f"it grants {granted or 'nothing'} in {len(rules)} rule(s)."
        )
    for rule in rules:
        if rule.get("organizationId") or not rule.get("projectIds"):
            report_violation("The join key's policy must be scoped to the cluster's project, not the organization.")


def join_userdata_is_secret(args: ResourceValidationArgs, report_violation) -> None:
    prop = USERDATA_PROPERTY.get(args.resource_type)
    if prop is None or (args.resource_type == REMOTE_COMMAND and not _is_kosmos_join_command(args)):
        return
    if prop not in (args.opts.additional_secret_outputs or []):
        report_violation(
            f"{prop!r} carries the join key: it must be a secret (additional_secret_outputs does not list it)."
        )


def civo_ssh_is_not_public(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type != CIVO_FIREWALL:
        return
    if (args.get_config() or {}).get("allowPublicSsh"):
        return
    for rule in args.props.get("ingressRules") or []:
        ports = str(rule.get("portRange", ""))
        opens_22 = ports == "22" or (ports.count("-") == 1 and int(ports.split("-")[0]) <= 22 <= int(ports.split("-")[1]))
        if opens_22 and "0.0.0.0/0" in (rule.get("cidrs") or []):
            report_violation(
                "Civo firewall opens SSH (22) to 0.0.0.0/0; list your addresses in sshAllowedCidrs, or set "
                "allowPublicSsh in the policy config if you mean it."
            )


# --- advisory -------------------------------------------------------------------------------------------------


def equinix_metal_is_shut_down(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type == EQUINIX_DEVICE:
        report_violation(
            f"Equinix Metal was shut down on {catalog.EQUINIX_SHUTDOWN_DATE}: this device cannot be provisioned. "
            "Move the pool to provider: scaleway-elastic-metal."
        )


def cluster_version_is_supported(args: ResourceValidationArgs, report_violation) -> None:
    """The plan's version warnings (components/versions.py), for `pulumi preview --policy-pack policy`. The policy
    config's `today` (YYYY-MM-DD) dates the check; default: the clock."""
    if args.resource_type != CLUSTER:
        return
    try:
        version = args.props.get("version")
    except UnknownValueError:
        return
    today = (args.get_config() or {}).get("today")
    when = datetime.date.fromisoformat(today) if today else None
    for finding in versions.findings(str(version or ""), when):
        report_violation(finding)


def pools_carry_the_cloud_label(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type == POOL and catalog.CLOUD_LABEL not in (args.props.get("labels") or {}):
        report_violation(f"Pool has no {catalog.CLOUD_LABEL!r} label; kosmos labels every node with its cloud.")


def onprem_host_key_is_pinned(args: ResourceValidationArgs, report_violation) -> None:
    # pulumi-command ignores host keys when `connection.hostKey` is empty (provider/pkg/provider/remote/
    # connection.go: ssh.InsecureIgnoreHostKey), so the join key goes to whatever answers on the address.
    if args.resource_type != REMOTE_COMMAND or not _is_kosmos_join_command(args):
        return
    connection = args.props.get("connection") or {}
    if not connection.get("hostKey"):
        report_violation(
            f"SSH host key of {connection.get('host')!r} is not pinned (insecureSkipHostKeyCheck): the join key goes "
            "to whichever machine answers on that address. Set hostKey (README: pinning the SSH host key)."
        )


def join_key_expires(args: StackValidationArgs, report_violation) -> None:
    for resource in args.resources:
        if resource.resource_type == API_KEY and str(resource.props.get("description", "")).startswith("kosmos join"):
            # At preview an expiry from joinKeyValidDays (time.Rotating's rotationRfc3339) is not known yet: the
            # analyzer's props raise UnknownValueError on access (pulumi_policy proxy.py, unknown_checking_proxy),
            # or hold the engine's unknown-string sentinel. Unknown is an expiry to come, not a missing one.
            try:
                expires_at = resource.props.get("expiresAt")
            except UnknownValueError:
                continue
            if expires_at == UNKNOWN_STRING_VALUE:
                continue
            if not expires_at:
                report_violation(
                    "The join API key never expires; set kosmos:joinKeyValidDays to rotate it (README).", resource.urn
                )


POLICIES = [
    ResourceValidationPolicy(
        name="kosmos-cluster-multicloud-kilo",
        description="A Kosmos cluster is of type multicloud* and runs the kilo CNI.",
        validate=cluster_is_multicloud_with_kilo,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-machine-memory",
        description="External machines and Scaleway pool nodes have at least 2 GiB of RAM.",
        validate=machines_have_enough_memory,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-join-key-least-privilege",
        description=f"The join key's IAM policy grants only {catalog.JOIN_PERMISSION_SET} on the cluster's project.",
        validate=join_key_grants_only_external_node_register,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-join-userdata-secret",
        description="Machine inputs that carry the join userdata are secrets.",
        validate=join_userdata_is_secret,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-civo-ssh-not-public",
        description="No Civo firewall opens SSH to 0.0.0.0/0 unless the policy config allows it.",
        validate=civo_ssh_is_not_public,
        enforcement_level=EnforcementLevel.MANDATORY,
        config_schema=PolicyConfigSchema(properties={"allowPublicSsh": {"type": "boolean", "default": False}}),
    ),
    ResourceValidationPolicy(
        name="kosmos-equinix-metal-shut-down",
        description="Equinix Metal was shut down on 2026-06-30.",
        validate=equinix_metal_is_shut_down,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-cluster-version-supported",
        description="The cluster's Kubernetes version is offered by Scaleway and not at (or within 30 days of) its "
        "end of life.",
        validate=cluster_version_is_supported,
        enforcement_level=EnforcementLevel.ADVISORY,
        config_schema=PolicyConfigSchema(properties={"today": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}}),
    ),
    ResourceValidationPolicy(
        name="kosmos-pools-cloud-label",
        description="Every pool carries the `cloud` label.",
        validate=pools_carry_the_cloud_label,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-onprem-host-key-pinned",
        description="On-prem hosts are reached with a pinned SSH host key (not insecureSkipHostKeyCheck).",
        validate=onprem_host_key_is_pinned,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
    StackValidationPolicy(
        name="kosmos-join-key-expiry",
        description="The join API key has an expiry.",
        validate=join_key_expires,
        enforcement_level=EnforcementLevel.ADVISORY,
    ),
]
