"""One module per cloud. Adding a cloud = one module here + one entry below + one pool type in spec.py."""

from .base import ARCH_DETECTED_AT_BOOT, Machine, MachineSet, MachineSetArgs
from .civo import CivoNodes
from .elastic_metal import ElasticMetalNodes
from .equinix_metal import EquinixMetalNodes
from .onprem import OnPremNodes

MACHINE_SETS: dict[str, type[MachineSet]] = {
    "civo": CivoNodes,
    "equinix-metal": EquinixMetalNodes,
    "scaleway-elastic-metal": ElasticMetalNodes,
    "on-prem": OnPremNodes,
}

__all__ = [
    "ARCH_DETECTED_AT_BOOT",
    "MACHINE_SETS",
    "CivoNodes",
    "ElasticMetalNodes",
    "EquinixMetalNodes",
    "Machine",
    "MachineSet",
    "MachineSetArgs",
    "OnPremNodes",
]
