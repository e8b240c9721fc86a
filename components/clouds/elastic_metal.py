"""Scaleway Elastic Metal servers: the join is handed over as `cloud_init` at install time."""

from __future__ import annotations

import pulumi
import pulumiverse_scaleway.elasticmetal as em

from ..spec import ElasticMetalPoolSpec
from .base import MachineSet, MachineSetArgs


def _first_ipv4(ipv4s) -> str | None:
    return ipv4s[0].address if ipv4s else None


class ElasticMetalNodes(MachineSet):
    TYPE = "kosmos:index:ElasticMetalNodes"
    PROVIDER = "scaleway-elastic-metal"
    CONFIG = ElasticMetalPoolSpec
    USERDATA_VARIANT = "cloud-config"
    USERDATA_PROPERTY = "cloud_init"
    USERDATA_CHANGE_EFFECT = "replaces the server (cloud_init is set at install time)"
    # pulumiverse-scaleway bridges scaleway/terraform-provider-scaleway: internal/services/baremetal/server.go has
    # only `zone` and `project_id` ForceNew, plus `offer` when the offer *name* changes (customDiffOffer,
    # baremetal/helpers.go). `cloud_init` and `os` are updated in place there (os = reinstall): kosmos replaces the
    # server instead, through replacement_trigger (cloud_init) and replaceOnChanges (os).
    FORCE_NEW_INPUTS = {"scaleway:elasticmetal/server:Server": ("zone", "projectId", "offer")}
    # terraform-provider-scaleway internal/services/baremetal/server.go (ResourceServerUpdate): an `os` change
    # reinstalls the server in place (installServer), which keeps the server and its IP, boots the *stored*
    # cloud_init (ignored in diffs: the credentials of the node it already is) on a machine whose node is in use.
    # Replace the server instead, with a new node identity, like every other boot-time change.
    REPLACE_ON_CHANGES = ("os",)

    def replacement_inputs(self) -> tuple:
        return (self.pool.zone, self.pool.offer, self.pool.os, self.pool.os_version)

    def machine_facts(self) -> dict:
        return {"machineType": f"offer {self.pool.offer}", "os": f"{self.pool.os} {self.pool.os_version}"}

    def prepare(self, name: str, args: MachineSetArgs, nodes: list) -> None:
        pool: ElasticMetalPoolSpec = args.pool
        lookup = pulumi.InvokeOutputOptions(parent=self)
        # One offer and one OS lookup per pool.
        self.offer = em.get_offer_output(name=pool.offer, zone=pool.zone, opts=lookup)
        self.os = em.get_os_output(name=pool.os, version=pool.os_version, zone=pool.zone, opts=lookup)

    def create_machine(self, resource_name, index, machine_name, hostname, userdata, args, opts):
        pool: ElasticMetalPoolSpec = args.pool
        server = em.Server(
            resource_name,
            name=hostname,
            hostname=hostname,
            zone=pool.zone,
            offer=self.offer.offer_id,
            os=self.os.os_id,
            ssh_key_ids=list(pool.ssh_key_ids) or None,
            cloud_init=userdata,
            tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
            opts=opts,
        )
        return server, server.id, server.ipv4s.apply(_first_ipv4)
