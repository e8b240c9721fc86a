"""What every cloud module shares: the machine record it returns and the component it is built on.

A cloud module only knows how to make (or reach) machines and hand them the rendered userdata. Pools, join keys,
registration and labels live in ExternalPool, identical for every cloud.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

import pulumi

from .. import catalog
from ..spec import ExternalPoolSpec
from ..userdata import UserdataOutputs, Variant

ARCH_DETECTED_AT_BOOT = "detected-at-boot"


@dataclass
class Machine:
    key: str
    """Short, stable suffix for this machine's resource names (its index, or the on-prem host name)."""
    name: str
    """Machine name; for clouds that boot it, also its hostname (and so its Kubernetes node name)."""
    resource: pulumi.Resource
    """What the node's registration depends on."""
    machine_id: pulumi.Output
    public_ip: pulumi.Input[Optional[str]]
    arch: str
    """amd64 / arm64 when known before boot, else ARCH_DETECTED_AT_BOOT (the join script picks the binary)."""
    hostname: Optional[pulumi.Input[str]] = None
    """The hostname the machine boots with, i.e. the node name it registers under (see MachineSet.hostname)."""
    node_name: Optional[pulumi.Input[str]] = None
    """The Kubernetes node name when reported by the machine itself (on-prem: printed by the join over SSH)."""


@dataclass
class MachineSetArgs:
    pool: ExternalPoolSpec
    """The validated external pool."""
    userdata: UserdataOutputs
    """Rendered join userdata (script secret; redacted text and hash public)."""
    pool_id: pulumi.Input[str]
    """The Kosmos pool the machines join."""
    region: str
    """The cluster's region."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Must exist before any machine boots (the join key's IAM policy)."""
    equinix_project_id: Optional[str] = None
    """Equinix Metal project (equinix-metal only)."""
    ssh_private_key: Optional[pulumi.Input[str]] = None
    """Secret SSH key (on-prem only)."""


class MachineSet(pulumi.ComponentResource):
    """Base of CivoNodes, EquinixMetalNodes, ElasticMetalNodes, OnPremNodes."""

    TYPE: ClassVar[str]
    USERDATA_VARIANT: ClassVar[Variant] = "script"
    """Which rendering of the join the cloud takes: a bash script, or cloud-config."""
    USERDATA_PROPERTY: ClassVar[str]
    """The machine input that carries the join userdata (always a secret, also in the provider's outputs)."""
    REPLACE_ON_USERDATA_CHANGE: ClassVar[bool] = True
    """The userdata only runs at first boot: a new rendering needs a new machine."""

    machines: list[Machine]

    def __init__(self, name: str, args: MachineSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.TYPE, name, None, opts)
        self.pool = args.pool
        self.machines = self.create_machines(name, args)
        self.userdata_redacted = args.userdata.redacted
        self.userdata_sha256 = args.userdata.sha256
        self.summary = [self.machine_summary(m, args) for m in self.machines]
        self.register_outputs(
            {
                "machines": self.summary,
                "userdata_redacted": self.userdata_redacted,
                "userdata_sha256": self.userdata_sha256,
            }
        )

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        raise NotImplementedError

    def machine_options(self, args: MachineSetArgs) -> pulumi.ResourceOptions:
        """Options every machine of this cloud gets.

        - Replacement is Pulumi's default create-before-delete: a new machine joins before the old one goes.
        - The userdata is a secret input; additional_secret_outputs keeps the provider's echo of it secret too, and
          is what the policy pack checks (policies see inputs unwrapped).
        - Boot-time userdata (REPLACE_ON_USERDATA_CHANGE): the machine is replaced when the *redacted* userdata hash
          changes (replacement_trigger), and the raw userdata is ignored in diffs. So a template change replaces
          the machine (these clouds cannot change boot userdata in place) while rotating the join key, which only
          changes the secret, does not replace every machine.
        """
        boot_time = self.REPLACE_ON_USERDATA_CHANGE
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=list(args.depends_on),
            additional_secret_outputs=[self.USERDATA_PROPERTY],
            ignore_changes=[self.USERDATA_PROPERTY] if boot_time else None,
            replacement_trigger=args.userdata.sha256 if boot_time else None,
        )

    def replacement_inputs(self) -> tuple:
        """Pool settings whose change makes the cloud replace the machine (besides the userdata)."""
        return ()

    def hostname(self, args: MachineSetArgs, base_name: str) -> pulumi.Output:
        """`<pool>-<n>-<fingerprint>`: a replaced machine boots under a new name.

        Replacement is create-before-delete, so the new machine joins while the old node still exists; the node
        name comes from the hostname, so the two must differ. The fingerprint covers everything that replaces the
        machine: the redacted userdata hash and the cloud's force-new inputs.
        """
        fixed = "|".join(str(v) for v in self.replacement_inputs())
        return pulumi.Output.from_input(args.userdata.sha256).apply(
            lambda sha: f"{base_name}-{hashlib.sha256(f'{sha}|{fixed}'.encode()).hexdigest()[:6]}"
        )

    def arch_of(self, index: int) -> str:
        return self.pool.declared_arch(index) or ARCH_DETECTED_AT_BOOT

    def machine_summary(self, machine: Machine, args: MachineSetArgs) -> dict:
        return {
            "pool": self.pool.name,
            "machine": machine.name,
            "hostname": machine.hostname if machine.hostname is not None else machine.name,
            "cloud": self.pool.provider,
            "region": self.pool.location,
            "arch": machine.arch,
            "labels": self.pool.node_labels(),
            "machineId": machine.machine_id,
            "publicIp": machine.public_ip,
            "userdataSha256": args.userdata.sha256,
            "onUserdataChange": catalog.USERDATA_CHANGE_EFFECT[self.pool.provider],
        }
