"""One module per cloud: its machine set (a MachineSet subclass) declares everything the cloud contributes.

Adding a cloud is its pool model plus its machine set:
1. components/model.py: the pool model (its keys, checks, descriptions: the stack JSON Schema and the component's
   args are generated from it), added to the `provider` union; cross-value rules, if any, in spec.py's
   `_EXTERNAL_RULES`.
2. A module here with its MachineSet subclass: PROVIDER, CONFIG (that model), USERDATA_VARIANT, USERDATA_PROPERTY,
   USERDATA_CHANGE_EFFECT, FORCE_NEW_INPUTS / UPDATE_REFUSED_INPUTS of its provider, `prepare` (what the pool's
   machines share) and `create_machine` (one machine with its userdata; the loop, node identities and options are
   the base class's), listed in MACHINE_SETS below.
3. Its offline mock: the provider outputs the mock engine answers for its resources (tools/engine.py
   CLOUD_MOCKS[provider]).
tests/test_clouds.py checks that every provider of the model has all of these. Facts the policy pack checks (sizes,
shutdown dates) live in components/catalog.py, which it can load without the provider SDKs.
"""

from .base import ARCH_DETECTED_AT_BOOT, Machine, MachineSet, MachineSetArgs
from .civo import CivoNodes
from .elastic_metal import ElasticMetalNodes
from .equinix_metal import EquinixMetalNodes
from .onprem import OnPremNodes

MACHINE_SETS: dict[str, type[MachineSet]] = {
    cls.PROVIDER: cls for cls in (CivoNodes, EquinixMetalNodes, ElasticMetalNodes, OnPremNodes)
}
FORCE_NEW_INPUTS: dict[str, tuple[str, ...]] = {t: v for cls in MACHINE_SETS.values() for t, v in cls.FORCE_NEW_INPUTS.items()}
"""The clouds' part of what `make diff` gives as the reason of a replacement (catalog.FORCE_NEW_INPUTS: the rest)."""
UPDATE_REFUSED_INPUTS: dict[str, tuple[str, ...]] = {
    t: v for cls in MACHINE_SETS.values() for t, v in cls.UPDATE_REFUSED_INPUTS.items()
}

__all__ = [
    "ARCH_DETECTED_AT_BOOT",
    "FORCE_NEW_INPUTS",
    "MACHINE_SETS",
    "UPDATE_REFUSED_INPUTS",
    "CivoNodes",
    "ElasticMetalNodes",
    "EquinixMetalNodes",
    "Machine",
    "MachineSet",
    "MachineSetArgs",
    "OnPremNodes",
]
