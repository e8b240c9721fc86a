"""Civo instances: the join runs as the instance's boot `script`."""

from __future__ import annotations

import pulumi
import pulumi_civo as civo

from .. import catalog
from ..spec import CivoPoolSpec
from .base import MachineSet, MachineSetArgs

_ANYWHERE = ["0.0.0.0/0"]


def _raise(error: Exception):
    raise error


def _image_filter(pool: CivoPoolSpec) -> list:
    return [civo.GetDiskImageFilterArgs(key="name", values=[pool.image])]


def _no_image(pool: CivoPoolSpec) -> str:
    return f"no Civo disk image is named {pool.image!r} in region {pool.region}; use a name Civo lists for that region"


class CivoNodes(MachineSet):
    TYPE = "kosmos:index:CivoNodes"
    PROVIDER = "civo"
    CONFIG = CivoPoolSpec
    USERDATA_VARIANT = "script"
    USERDATA_PROPERTY = "script"
    USERDATA_CHANGE_EFFECT = "replaces the instance (Civo refuses in-place script changes)"
    # pulumi-civo 2.4.8 bridges civo/terraform-provider-civo v1.1.4: civo/instances/resource_instance.go (ForceNew:
    # region, network_id, disk_image, private_ipv4), civo/firewall/resource_firewall.go (network_id,
    # create_default_rules).
    FORCE_NEW_INPUTS = {
        "civo:index/instance:Instance": ("region", "networkId", "diskImage", "privateIpv4"),
        "civo:index/firewall:Firewall": ("networkId", "createDefaultRules"),
    }
    # resource_instance.go returns "updating sshkey_id is not supported" / "updating initial_user is not supported",
    # and its CustomizeDiff "the 'script' field is immutable" (kosmos ignores `script` changes and replaces through
    # replacement_trigger).
    UPDATE_REFUSED_INPUTS = {"civo:index/instance:Instance": ("sshkeyId", "initialUser", "script")}

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

    def prepare(self, name: str, args: MachineSetArgs, nodes: list) -> None:
        pool: CivoPoolSpec = args.pool
        # One image lookup per pool, not per machine.
        self.image_id = civo.get_disk_image_output(
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

    def create_machine(self, resource_name, index, machine_name, hostname, userdata, args, opts):
        pool: CivoPoolSpec = args.pool
        instance = civo.Instance(
            resource_name,
            hostname=hostname,
            region=pool.region,
            size=pool.size,
            disk_image=self.image_id,
            firewall_id=self.firewall.id,
            script=userdata,
            sshkey_id=pool.ssh_key_id,
            tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
            notes=f"kosmos external node of pool {pool.name}",
            opts=opts,
        )
        return instance, instance.id, instance.public_ip
