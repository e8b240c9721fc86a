"""The component's output types, and the conversion of its args to the stack-config mapping.

Hand-written, unlike components/args.py (generated from the config model), which re-exports these names. No `from
__future__ import annotations`: Pulumi's analyzer reads these annotations without evaluating strings.
"""

from enum import Enum
from typing import Any, Mapping, NotRequired, Optional, Required, TypedDict, get_args, get_origin, is_typeddict

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


def to_config(value: Any, typ: Any = None) -> Any:
    """The plain stack-config mapping parse_spec reads, from args typed as above.

    A component provider hands the args over with enum members for enums and, for integers, the doubles every
    number travels as on the wire (pulumi 3.272 ComponentProvider.map_input_properties converts them to int, then
    stores the original value again): so enums become their values and whole numbers in int fields become ints.
    Anything else is left for parse_spec to judge.
    """
    if typ is None:
        from .args import MulticloudClusterArgs  # generated from the model; it re-exports this module's names

        typ = MulticloudClusterArgs
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
