"""A cloud module whose machines report neither IP nor node id (both come from config): the registration must then
depend on the machine explicitly. Swaps the on-prem machine set for one whose join output is ignored."""

import pulumi

from components import MulticloudCluster
from components.clouds import MACHINE_SETS
from components.clouds.onprem import OnPremNodes


class SilentOnPremNodes(OnPremNodes):
    def create_machines(self, name, args):
        machines = super().create_machines(name, args)
        for machine in machines:
            machine.node_id = None  # nothing reported: match on the configured address only
            machine.public_ip = "192.0.2.10"
        return machines


MACHINE_SETS["on-prem"] = SilentOnPremNodes
try:
    lab = MulticloudCluster(
        "lab",
        {
            "cluster": {"name": "lab", "region": "fr-par", "version": "1.31"},
            "externalPools": [
                {"name": "rack", "provider": "on-prem", "hosts": [{"name": "h1", "address": "192.0.2.10",
                                                                        "insecureSkipHostKeyCheck": True}]},
            ],
            "sshPrivateKey": pulumi.Output.secret("-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n"),
        },
    )
finally:
    MACHINE_SETS["on-prem"] = OnPremNodes
