"""Scaleway Elastic Metal servers: the join is handed over as `cloud_init` at install time."""

from __future__ import annotations

import pulumi
import pulumiverse_scaleway.elasticmetal as em

from ..spec import ElasticMetalPoolSpec
from .base import Machine, MachineSet, MachineSetArgs


def _first_ipv4(ipv4s) -> str | None:
    return ipv4s[0].address if ipv4s else None


class ElasticMetalNodes(MachineSet):
    TYPE = "kosmos:index:ElasticMetalNodes"
    USERDATA_VARIANT = "cloud-config"
    USERDATA_PROPERTY = "cloud_init"
    # terraform-provider-scaleway internal/services/baremetal/server.go (ResourceServerUpdate): an `os` change
    # reinstalls the server in place (installServer), which keeps the server and its IP, boots the *stored*
    # cloud_init (ignored in diffs: the credentials of the node it already is) on a machine whose node is in use.
    # Replace the server instead, with a new node identity, like every other boot-time change.
    REPLACE_ON_CHANGES = ("os",)

    def replacement_inputs(self) -> tuple:
        return (self.pool.zone, self.pool.offer, self.pool.os, self.pool.os_version)

    def machine_facts(self) -> dict:
        return {"machineType": f"offer {self.pool.offer}", "os": f"{self.pool.os} {self.pool.os_version}"}

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        pool: ElasticMetalPoolSpec = args.pool
        lookup = pulumi.InvokeOutputOptions(parent=self)
        # One offer and one OS lookup per pool.
        offer = em.get_offer_output(name=pool.offer, zone=pool.zone, opts=lookup)
        os = em.get_os_output(name=pool.os, version=pool.os_version, zone=pool.zone, opts=lookup)
        machines = []
        for index, machine_name in enumerate(pool.machine_names()):
            hostname = self.hostname(machine_name)
            identity, userdata = self.join_for(args, str(index), machine_name)
            server = em.Server(
                f"{name}-{index}",
                name=hostname,
                hostname=hostname,
                zone=pool.zone,
                offer=offer.offer_id,
                os=os.os_id,
                ssh_key_ids=list(pool.ssh_key_ids) or None,
                cloud_init=userdata,
                tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
                opts=self.machine_options(args, identity),
            )
            machines.append(
                Machine(str(index), machine_name, server, server.id, server.ipv4s.apply(_first_ipv4),
                        self.arch_of(index), hostname, identity)
            )
        return machines
