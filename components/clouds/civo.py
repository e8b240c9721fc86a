"""Civo instances: the join runs as the instance's boot `script`."""

from __future__ import annotations

import pulumi
import pulumi_civo as civo

from .. import catalog
from ..spec import CivoPoolSpec
from .base import Machine, MachineSet, MachineSetArgs

_ANYWHERE = ["0.0.0.0/0"]


def _raise(error: Exception):
    raise error


def _image_filter(pool: CivoPoolSpec) -> list:
    return [civo.GetDiskImageFilterArgs(key="name", values=[pool.image])]


def _no_image(pool: CivoPoolSpec) -> str:
    return f"no Civo disk image is named {pool.image!r} in region {pool.region}; use a name Civo lists for that region"


class CivoNodes(MachineSet):
    TYPE = "kosmos:index:CivoNodes"
    USERDATA_VARIANT = "script"
    USERDATA_PROPERTY = "script"

    @classmethod
    def preflight(cls, pool: CivoPoolSpec, path: str) -> list[str]:
        # A name that matches nothing is an empty `diskimages` list, not an error (civo/terraform-provider-civo,
        # civo/disk/datasource_disk_image.go over internal/datalist/schema.go): without this check, indexing it
        # fails inside an Output after the cluster and pools are registered.
        found = civo.get_disk_image(filters=_image_filter(pool), region=pool.region)
        return [] if found.diskimages else [f"{path}.image: {_no_image(pool)}"]

    def replacement_inputs(self) -> tuple:
        return (self.pool.region, self.pool.image)

    def machine_facts(self) -> dict:
        return {"machineType": self.pool.size, "os": f"image {self.pool.image}"}

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        pool: CivoPoolSpec = args.pool
        # One image lookup per pool, not per machine.
        image_id = civo.get_disk_image_output(
            filters=_image_filter(pool),
            region=pool.region,
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).diskimages.apply(lambda images: images[0].id if images else _raise(ValueError(_no_image(pool))))
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
            identity, userdata = self.join_for(args, str(index), machine_name)
            instance = civo.Instance(
                f"{name}-{index}",
                hostname=hostname,
                region=pool.region,
                size=pool.size,
                disk_image=image_id,
                firewall_id=self.firewall.id,
                script=userdata,
                sshkey_id=pool.ssh_key_id,
                tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
                notes=f"kosmos external node of pool {pool.name}",
                opts=self.machine_options(args, identity),
            )
            machines.append(
                Machine(str(index), machine_name, instance, instance.id, instance.public_ip, self.arch_of(index),
                        hostname, identity)
            )
        return machines
