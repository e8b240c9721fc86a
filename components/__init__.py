"""kosmos components: compose a Scaleway Kosmos multicloud cluster from any Pulumi Python program.

    from components import MulticloudCluster
    MulticloudCluster("kosmos", {"cluster": {"region": "fr-par", "version": "1.31"}, "scalewayPools": [...]})
"""

from .cluster import KosmosCluster
from .clouds import CivoNodes, ElasticMetalNodes, EquinixMetalNodes, OnPremNodes
from .external_pool import ExternalPool, ExternalPoolArgs
from .join_key import JoinKey
from .latency_probe import LatencyProbe, LatencyProbeArgs
from .multicloud import MulticloudCluster
from .registration import NodeRegistration, NodeRegistrationArgs, NodeRegistrationProvider
from .scaleway_pool import ScalewayPool
from .spec import MulticloudSpec, SpecError, parse_spec

__all__ = [
    "CivoNodes",
    "ElasticMetalNodes",
    "EquinixMetalNodes",
    "ExternalPool",
    "ExternalPoolArgs",
    "JoinKey",
    "KosmosCluster",
    "LatencyProbe",
    "LatencyProbeArgs",
    "MulticloudCluster",
    "MulticloudSpec",
    "NodeRegistration",
    "NodeRegistrationArgs",
    "NodeRegistrationProvider",
    "OnPremNodes",
    "ScalewayPool",
    "SpecError",
    "parse_spec",
]
