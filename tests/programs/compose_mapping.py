"""Another Pulumi program composing MulticloudCluster from a plain mapping: no kosmos stack config at all."""

import pulumi

from components import MulticloudCluster

bad = pulumi.Config("lab").get_bool("bad") or False

lab = MulticloudCluster(
    "lab",
    {
        "cluster": {"name": "lab", "region": "nl-ams", "version": "1.36.1"},
        "scalewayPools": [{"name": "gpu", "nodeType": "L4-1-24G", "size": 1, "zone": "nl-ams" if bad else "nl-ams-2"}],
        "externalPools": [{"name": "edge", "provider": "civo", "region": "FRA1", "size": "g4s.medium", "count": 1}],
    },
)
pulumi.export("clusterName", lab.spec.cluster.name)
pulumi.export("clusterId", lab.cluster_id)
