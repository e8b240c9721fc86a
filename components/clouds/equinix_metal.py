"""Equinix Metal devices. Equinix Metal was SHUT DOWN on 2026-06-30: kept so existing stacks can still be planned
and destroyed; every declaration warns. Use Scaleway Elastic Metal instead."""

from __future__ import annotations

import pulumi
import pulumi_equinix_metal as metal

from .. import catalog
from ..spec import EquinixMetalPoolSpec
from .base import MachineSet, MachineSetArgs


class EquinixMetalNodes(MachineSet):
    TYPE = "kosmos:index:EquinixMetalNodes"
    PROVIDER = "equinix-metal"
    CONFIG = EquinixMetalPoolSpec
    USERDATA_VARIANT = "cloud-config"
    USERDATA_PROPERTY = "user_data"
    USERDATA_CHANGE_EFFECT = "replaces the device (user_data forces a new device)"
    # unverified: the provider is archived with the service; none listed.
    FORCE_NEW_INPUTS = {}

    def replacement_inputs(self) -> tuple:
        return (self.pool.metro, self.pool.plan, self.pool.os)

    def machine_facts(self) -> dict:
        return {"machineType": f"plan {self.pool.plan}", "os": self.pool.os}

    def prepare(self, name: str, args: MachineSetArgs, nodes: list) -> None:
        pulumi.log.warn(catalog.EQUINIX_SHUTDOWN_WARNING.format(pool=args.pool.name), resource=self)

    def create_machine(self, resource_name, index, machine_name, hostname, userdata, args, opts):
        pool: EquinixMetalPoolSpec = args.pool
        device = metal.Device(
            resource_name,
            hostname=hostname,
            plan=pool.plan,
            metro=pool.metro,
            operating_system=pool.os,
            billing_cycle="hourly",
            project_id=args.equinix_project_id,
            user_data=userdata,
            tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
            opts=opts,
        )
        return device, device.id, device.access_public_ipv4
