"""Civo instances: the join runs as the instance's boot `script`."""

from __future__ import annotations

import pulumi
import pulumi_civo as civo

from .. import catalog
from ..spec import CivoPoolSpec
from .base import Machine, MachineSet, MachineSetArgs

_ANYWHERE = ["0.0.0.0/0"]


class CivoNodes(MachineSet):
    TYPE = "kosmos:index:CivoNodes"
    USERDATA_VARIANT = "script"
    USERDATA_PROPERTY = "script"

    def replacement_inputs(self) -> tuple:
        return (self.pool.region, self.pool.image)

    def machine_facts(self) -> dict:
        return {"machineType": self.pool.size, "os": f"image {self.pool.image}"}

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        pool: CivoPoolSpec = args.pool
        # One image lookup per pool, not per machine.
        image_id = civo.get_disk_image_output(
            filters=[civo.GetDiskImageFilterArgs(key="name", values=[pool.image])],
            region=pool.region,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).diskimages[0].id
        ingress = [
            civo.FirewallIngressRuleArgs(
                label="kilo-wireguard",
                protocol="udp",
                port_range=str(catalog.KILO_UDP_PORT),
                cidrs=_ANYWHERE,
                action="allow",
            )
        ]
        if pool.ssh_allowed_cidrs:
            ingress.append(
                civo.FirewallIngressRuleArgs(
                    label="ssh", protocol="tcp", port_range="22", cidrs=list(pool.ssh_allowed_cidrs), action="allow"
                )
            )
        # create_default_rules=False: Civo's defaults open SSH and more to the world.
        self.firewall = civo.Firewall(
            f"{name}-firewall",
            name=f"kosmos-{pool.name}",
            region=pool.region,
            create_default_rules=False,
            ingress_rules=ingress,
            egress_rules=[
                civo.FirewallEgressRuleArgs(label=f"all-{proto}", protocol=proto, port_range="1-65535",
                                            cidrs=_ANYWHERE, action="allow")
                for proto in ("tcp", "udp")
            ] + [civo.FirewallEgressRuleArgs(label="all-icmp", protocol="icmp", cidrs=_ANYWHERE, action="allow")],
            opts=pulumi.ResourceOptions(parent=self),
        )
        machines = []
        for index, machine_name in enumerate(pool.machine_names()):
            hostname = self.hostname(machine_name)
            instance = civo.Instance(
                f"{name}-{index}",
                hostname=hostname,
                region=pool.region,
                size=pool.size,
                disk_image=image_id,
                firewall_id=self.firewall.id,
                script=args.userdata.script,
                sshkey_id=pool.ssh_key_id,
                tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
                notes=f"kosmos external node of pool {pool.name}",
                opts=self.machine_options(args),
            )
            machines.append(
                Machine(str(index), machine_name, instance, instance.id, instance.public_ip, self.arch_of(index),
                        hostname)
            )
        return machines
