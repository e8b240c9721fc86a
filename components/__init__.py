"""kosmos components: compose a Scaleway Kosmos multicloud cluster from any Pulumi Python program.

    from kosmos import MulticloudCluster          # the installed distribution (pip install <repo>)
    from components import MulticloudCluster      # inside this repository
    MulticloudCluster("kosmos", {"cluster": {"region": "fr-par", "version": "1.36.1"}, "scalewayPools": [...]})

The names below are imported on first use (PEP 562), so `from kosmos.userdata import render` (and `catalog`,
`spec`) work without Pulumi installed.
"""

import importlib

__version__ = "0.1.0"

# name -> submodule that defines it
_EXPORTS = {
    "CivoNodes": "clouds",
    "ElasticMetalNodes": "clouds",
    "EquinixMetalNodes": "clouds",
    "OnPremNodes": "clouds",
    "ExternalPool": "external_pool",
    "ExternalPoolArgs": "external_pool",
    "KosmosCluster": "cluster",
    "LatencyProbe": "latency_probe",
    "LatencyProbeArgs": "latency_probe",
    "MulticloudCluster": "multicloud",
    "MulticloudClusterArgs": "args",
    "ExternalPoolProvider": "args",
    "NodeIdentity": "identity",
    "NodeIdentityArgs": "identity",
    "NodeIdentityProvider": "identity",
    "PoolNodes": "pool_nodes",
    "PoolNodesArgs": "pool_nodes",
    "PoolNodesProvider": "pool_nodes",
    "ScalewayPool": "scaleway_pool",
    "MulticloudSpec": "spec",
    "SpecError": "spec",
    "parse_spec": "spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
