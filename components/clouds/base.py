"""What every cloud module shares: the machine record it returns and the component it is built on.

A cloud module only knows how to make (or reach) machines and hand each one its userdata. Every machine's node
identity (NodeIdentity, registered before the machine) is made here, the same for every cloud; pools, readiness and
labels live in ExternalPool.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

import pulumi

from .. import catalog
from ..spec import ExternalPoolSpec
from ..identity import NodeIdentity, NodeIdentityArgs
from ..userdata import UserdataOutputs, Variant

ARCH_DETECTED_AT_BOOT = "detected-at-boot"


@dataclass
class Machine:
    key: str
    """Short, stable suffix for this machine's resource names (its index, or the on-prem host name)."""
    name: str
    """Machine name; for clouds that boot it, also the base of its hostname. Never the Kubernetes node name: Scaleway
    names nodes itself (`scw-<cluster>-<pool>-<id>`, k8s-agent takes it from NodeMetadata.name)."""
    resource: pulumi.Resource
    """The machine's resource: the pool's readiness depends on it (drained before the machine goes)."""
    machine_id: pulumi.Output
    public_ip: pulumi.Input[Optional[str]]
    """As the cloud reports it (an output of `resource`), or a configured address (on-prem)."""
    arch: str
    """amd64 / arm64 when known before boot, else ARCH_DETECTED_AT_BOOT (the join script picks the binary)."""
    hostname: Optional[pulumi.Input[str]] = None
    """The hostname the machine boots with (see MachineSet.hostname)."""
    identity: Optional[NodeIdentity] = None
    """This machine's node, registered before the machine (MachineSet.join_for)."""


@dataclass
class MachineSetArgs:
    pool: ExternalPoolSpec
    """The validated external pool."""
    userdata: UserdataOutputs
    """The pool's join rendering (redacted text and hash, public); each machine gets a secret copy with its node's
    credentials (MachineSet.join_for)."""
    pool_id: pulumi.Input[str]
    """The Kosmos pool the machines join."""
    region: str
    """The cluster's region."""
    depends_on: Sequence[pulumi.Resource] = ()
    """Extra resources that must exist before any machine boots (the userdata already carries its node identity)."""
    equinix_project_id: Optional[str] = None
    """Equinix Metal project (equinix-metal only)."""
    ssh_private_key: Optional[pulumi.Input[str]] = None
    """Secret SSH key (on-prem only)."""
    scaleway_api_url: Optional[str] = None
    """`scaleway:apiUrl` for the node identities' API calls (credentials come from their provider's configure())."""
    registration_pool_id: Optional[pulumi.Input[str]] = None
    """The pool id the node identities register into (default `pool_id`): ExternalPool passes PoolVersion's, so no
    node registers (and no machine boots) before the pool runs the declared Kubernetes version."""
    cluster_id: Optional[pulumi.Input[str]] = None
    """The cluster (on-prem rollout gates read and cordon its nodes)."""
    kubernetes_version: str = ""
    """kosmos:cluster.version: what an on-prem rollout waits for ("Ready on the new version")."""


class MachineSet(pulumi.ComponentResource):
    """Base of CivoNodes, EquinixMetalNodes, ElasticMetalNodes, OnPremNodes: everything a cloud contributes is
    declared on its subclass (components/clouds/__init__.py lists it); the per-machine loop is here."""

    TYPE: ClassVar[str]
    PROVIDER: ClassVar[str]
    """The `provider:` value of the cloud's pools in stack config."""
    CONFIG: ClassVar[type[ExternalPoolSpec]]
    """The cloud's pool model (components/model.py): its keys, checks and descriptions."""
    USERDATA_CHANGE_EFFECT: ClassVar[str]
    """What a userdata change does to the cloud's machines (plan summary, `nodes` output)."""
    FORCE_NEW_INPUTS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Per resource type the cloud registers: the inputs whose change makes its provider replace the resource (what
    `make diff` gives as the reason of a replacement), read from the provider's source."""
    UPDATE_REFUSED_INPUTS: ClassVar[dict[str, tuple[str, ...]]] = {}
    """Per resource type: inputs the provider refuses to change at all (the update fails)."""
    USERDATA_VARIANT: ClassVar[Variant] = "script"
    """Which rendering of the join the cloud takes: a bash script, or cloud-config."""
    USERDATA_PROPERTY: ClassVar[str]
    """The machine input that carries the join userdata (always a secret, also in the provider's outputs)."""
    REPLACE_ON_USERDATA_CHANGE: ClassVar[bool] = True
    """The userdata only runs at first boot: a new rendering needs a new machine."""
    REPLACE_ON_CHANGES: ClassVar[tuple[str, ...]] = ()
    """Machine inputs the cloud's provider changes in place by reinstalling the machine: kosmos replaces instead
    (a reinstall in place would register a second node under the same machine and leave the first one behind)."""

    machines: list[Machine]

    def __init__(self, name: str, args: MachineSetArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(self.TYPE, name, None, opts)
        self.pool = args.pool
        self._name = name
        fixed = "|".join(str(v) for v in self.replacement_inputs())
        self.generation = args.userdata.sha256.apply(
            lambda sha: hashlib.sha256(f"{sha if self.REPLACE_ON_USERDATA_CHANGE else ''}|{fixed}".encode()
                                       ).hexdigest()[:6]
        )
        """Fingerprint of everything that replaces a machine of this pool (once per pool; see `hostname`). It is
        also each machine's node identity generation: a replaced machine is a new node. A host kept across a new
        rendering (on-prem) keeps its node, so there the userdata is not part of it."""
        self.machines = self.create_machines(name, args)
        self.userdata_redacted = args.userdata.redacted
        self.userdata_sha256 = args.userdata.sha256
        self.summary = self.pool_summary(args)
        # The summary reaches state once, as the program's `nodes` stack output. Registering it here too cost about
        # 3% of a 1,000-node run (make bench) for a copy nobody reads: the component keeps machine names only.
        self.register_outputs(
            {
                "machines": [m.name for m in self.machines],
                "userdata_redacted": self.userdata_redacted,
                "userdata_sha256": self.userdata_sha256,
            }
        )

    @classmethod
    def preflight(cls, pool: ExternalPoolSpec, path: str) -> list[str]:
        """Checks that need the cloud's provider (an invoke), run before anything is registered.

        Returns problems in SpecError form (`<path>.<key>: message`); `path` is the pool's key path.
        """
        return []

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        """Every machine's node identity first, then what the pool's machines share (`prepare`: it may need the
        nodes, as on-prem rollout gates do), then each machine with its node's userdata, then `finish`. A machine's
        resources are named `<set>-<key>` (its index, or the on-prem host name)."""
        keys, names = self.pool.machine_keys(), self.pool.machine_names()
        joins = [self.join_for(args, key, machine_name) for key, machine_name in zip(keys, names)]
        self.prepare(name, args, [(machine_name, identity) for machine_name, (identity, _) in zip(names, joins)])
        machines = []
        for index, (key, machine_name, (identity, userdata)) in enumerate(zip(keys, names, joins)):
            # Boot-time machines get a hostname that changes when they are replaced; on-prem hosts keep theirs.
            hostname = self.hostname(machine_name) if self.REPLACE_ON_USERDATA_CHANGE else None
            resource, machine_id, public_ip = self.create_machine(
                f"{name}-{key}", index, machine_name, hostname, userdata, args, self.machine_options(args, identity)
            )
            machines.append(Machine(key, machine_name, resource, machine_id, public_ip, self.arch_of(index), hostname,
                                    identity))
        self.finish(name, args, machines)
        return machines

    def prepare(self, name: str, args: MachineSetArgs, nodes: list[tuple[str, NodeIdentity]]) -> None:
        """What the pool's machines share, made before them (a firewall, look-ups); `nodes`: (machine name, its node
        identity) in the pool's order."""

    def create_machine(self, resource_name: str, index: int, machine_name: str, hostname: Optional[pulumi.Output],
                       userdata: pulumi.Output, args: MachineSetArgs, opts: pulumi.ResourceOptions
                       ) -> tuple[pulumi.Resource, pulumi.Output, pulumi.Input[Optional[str]]]:
        """One machine booting (or joined) with `userdata`: (its resource, its id, its public IPv4)."""
        raise NotImplementedError

    def finish(self, name: str, args: MachineSetArgs, machines: list[Machine]) -> None:
        """What comes after every machine of the pool."""

    def join_for(self, args: MachineSetArgs, key: str, machine_name: str) -> tuple[NodeIdentity, pulumi.Output]:
        """Registers the machine's node before the machine exists; returns it and the machine's userdata (secret),
        which carries only that node's credentials."""
        reg = self.pool.registration
        pool_id = args.registration_pool_id if args.registration_pool_id is not None else args.pool_id
        identity = NodeIdentity(
            f"{self._name}-{key}-identity",
            NodeIdentityArgs(region=args.region, pool_id=pool_id, pool_name=self.pool.name, machine=machine_name,
                             generation=self.generation, api_url=args.scaleway_api_url,
                             timeout_seconds=reg.timeout_minutes * 60),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return identity, args.userdata.for_node(identity.metadata_url, identity.node_secret_key)

    def machine_options(self, args: MachineSetArgs, identity: NodeIdentity) -> pulumi.ResourceOptions:
        """Options every machine of this cloud gets.

        - Replacement is Pulumi's default create-before-delete: a new machine joins before the old one goes.
        - The userdata is a secret input; additional_secret_outputs keeps the provider's echo of it secret too, and
          is what the policy pack checks (policies see inputs unwrapped).
        - Boot-time userdata (REPLACE_ON_USERDATA_CHANGE): the machine is replaced exactly when its node identity is
          (replacement_trigger: the node id), and the raw userdata is ignored in diffs. The identity's generation
          covers the *redacted* userdata hash and the cloud's force-new inputs, so a template change replaces the
          machine (these clouds cannot change boot userdata in place) with a new node, and a refresh that found the
          node lost replaces it too (identity.py); the old machine never shares the new node.
        """
        boot_time = self.REPLACE_ON_USERDATA_CHANGE
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=list(args.depends_on) or None,
            additional_secret_outputs=[self.USERDATA_PROPERTY],
            ignore_changes=[self.USERDATA_PROPERTY] if boot_time else None,
            replacement_trigger=identity.node_id if boot_time else None,
            replace_on_changes=list(self.REPLACE_ON_CHANGES) or None,
        )

    def replacement_inputs(self) -> tuple:
        """Pool settings whose change makes the cloud replace the machine (besides the userdata)."""
        return ()

    def hostname(self, base_name: str) -> pulumi.Output:
        """`<pool>-<n>-<fingerprint>`: a replaced machine boots under a new name.

        Replacement is create-before-delete, so the new machine exists while the old one still does; distinct
        hostnames keep them apart in the cloud's console and logs (the node names are Scaleway's either way). The
        fingerprint covers everything that replaces the machine: the redacted userdata hash and the cloud's
        force-new inputs.
        """
        return self.generation.apply(lambda generation: f"{base_name}-{generation}")

    def machine_facts(self) -> dict:
        """What the pool's machines are, for reviewers: `machineType` (size / offer / plan) and `os`."""
        return {"machineType": "", "os": ""}

    def arch_of(self, index: int) -> str:
        return self.pool.declared_arch(index) or ARCH_DETECTED_AT_BOOT

    def pool_summary(self, args: MachineSetArgs) -> dict:
        """What operators and reviewers need about this pool's nodes. Facts shared by the pool are stated once, not
        per node: repeating them cost about 2.5% of a 1,000-node run in Output handling and serialisation."""
        return {
            "cloud": self.pool.provider,
            "region": self.pool.location,
            "labels": self.pool.node_labels(),
            "userdataSha256": args.userdata.sha256,
            "onUserdataChange": self.USERDATA_CHANGE_EFFECT,
            **self.machine_facts(),
            "machines": [
                {
                    "machine": m.name,
                    "hostname": m.hostname if m.hostname is not None else m.name,
                    "arch": m.arch,
                    "machineId": m.machine_id,
                    "publicIp": m.public_ip,
                    "nodeId": m.identity.node_id if m.identity is not None else "",
                    "nodeName": m.identity.node_name if m.identity is not None else "",
                }
                for m in self.machines
            ],
        }
