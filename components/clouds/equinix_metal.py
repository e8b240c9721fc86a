"""Equinix Metal devices. Equinix Metal was SHUT DOWN on 2026-06-30: kept so existing stacks can still be planned
and destroyed; every declaration warns. Use Scaleway Elastic Metal instead."""

from __future__ import annotations

import pulumi
import pulumi_equinix_metal as metal

from .. import catalog
from ..spec import EquinixMetalPoolSpec
from .base import Machine, MachineSet, MachineSetArgs


class EquinixMetalNodes(MachineSet):
    TYPE = "kosmos:index:EquinixMetalNodes"
    USERDATA_VARIANT = "cloud-config"
    USERDATA_PROPERTY = "user_data"

    def replacement_inputs(self) -> tuple:
        return (self.pool.metro, self.pool.plan, self.pool.os)

    def machine_facts(self) -> dict:
        return {"machineType": f"plan {self.pool.plan}", "os": self.pool.os}

    def create_machines(self, name: str, args: MachineSetArgs) -> list[Machine]:
        pool: EquinixMetalPoolSpec = args.pool
        pulumi.log.warn(catalog.EQUINIX_SHUTDOWN_WARNING.format(pool=pool.name), resource=self)
        machines = []
        for index, machine_name in enumerate(pool.machine_names()):
            hostname = self.hostname(machine_name)
            identity, userdata = self.join_for(args, str(index), machine_name)
            device = metal.Device(
                f"{name}-{index}",
                hostname=hostname,
                plan=pool.plan,
                metro=pool.metro,
                operating_system=pool.os,
                billing_cycle="hourly",
                project_id=args.equinix_project_id,
                user_data=userdata,
                tags=list(pool.tags) + ["kosmos", f"kosmos-pool-{pool.name}"],
                opts=self.machine_options(args, identity),
            )
            machines.append(
                Machine(str(index), machine_name, device, device.id, device.access_public_ipv4, self.arch_of(index),
                        hostname, identity)
            )
        return machines
