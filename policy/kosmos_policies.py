"""The kosmos policies, as plain validate functions wrapped in CrossGuard policy objects.

Tests call the validate functions with real ResourceValidationArgs; only __main__.py builds
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
)
from pulumi_policy.proxy import UnknownValueError


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
NODE_IDENTITY = "pulumi-python:dynamic/kosmos:NodeIdentity"
# What a NodeIdentity outputs that lets its holder act as that node (components/identity.py).
NODE_SECRET_OUTPUTS = ("metadata_url", "node_secret_key")
CIVO_INSTANCE = "civo:index/instance:Instance"
CIVO_FIREWALL = "civo:index/firewall:Firewall"
EQUINIX_DEVICE = "equinix-metal:index/device:Device"
EM_SERVER = "scaleway:elasticmetal/server:Server"
REMOTE_COMMAND = "command:remote:Command"
# Machine type -> the input that carries join userdata (with the machine's node credentials).
USERDATA_PROPERTY = {
    CIVO_INSTANCE: "script",
    EQUINIX_DEVICE: "userData",
    EM_SERVER: "cloudInit",
    REMOTE_COMMAND: "stdin",
}


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


def no_key_can_register_nodes(args: ResourceValidationArgs, report_violation) -> None:
    # kosmos registers every node itself with the operator's credentials (components/identity.py): a key with this
    # permission set is one that, handed to a machine, registers as many nodes as its holder likes.
    if args.resource_type != IAM_POLICY:
        return
    granted = {p for rule in args.props.get("rules") or [] for p in (rule.get("permissionSetNames") or [])}
    if catalog.JOIN_PERMISSION_SET in granted:
        report_violation(
            f"This IAM policy grants {catalog.JOIN_PERMISSION_SET}: kosmos needs no join key (each machine gets only "
            "its own node's credentials), and a key that can register nodes must not reach a machine."
        )


def node_credentials_are_secret(args: ResourceValidationArgs, report_violation) -> None:
    if args.resource_type != NODE_IDENTITY:
        return
    missing = [o for o in NODE_SECRET_OUTPUTS if o not in (args.opts.additional_secret_outputs or [])]
    if missing:
        report_violation(f"The node identity's {', '.join(missing)} must be secret outputs (additional_secret_outputs).")


def join_userdata_is_secret(args: ResourceValidationArgs, report_violation) -> None:
    prop = USERDATA_PROPERTY.get(args.resource_type)
    if prop is None or (args.resource_type == REMOTE_COMMAND and not _is_kosmos_join_command(args)):
        return
    if prop not in (args.opts.additional_secret_outputs or []):
        report_violation(
            f"{prop!r} carries a node's credentials: it must be a secret (additional_secret_outputs does not list it)."
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
    # connection.go: ssh.InsecureIgnoreHostKey), so the node's credentials go to whatever answers on the address.
    if args.resource_type != REMOTE_COMMAND or not _is_kosmos_join_command(args):
        return
    connection = args.props.get("connection") or {}
    if not connection.get("hostKey"):
        report_violation(
            f"SSH host key of {connection.get('host')!r} is not pinned (insecureSkipHostKeyCheck): the node's "
            "credentials go to whichever machine answers on that address. Set hostKey (README: pinning the SSH host key)."
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
        name="kosmos-no-node-register-key",
        description=f"No IAM policy of the stack grants {catalog.JOIN_PERMISSION_SET} (kosmos registers nodes itself).",
        validate=no_key_can_register_nodes,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-node-credentials-secret",
        description="A node identity's metadata URL and node secret are secret outputs.",
        validate=node_credentials_are_secret,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="kosmos-join-userdata-secret",
        description="Machine inputs that carry the join userdata (a node's credentials) are secrets.",
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
]
