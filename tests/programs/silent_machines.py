"""A cloud module whose machines report nothing the pool's readiness reads (no IP, no id in its inputs): the
readiness must still depend on every machine explicitly, so a destroy drains and deletes the nodes before any machine
goes. Swaps the on-prem machine set for one whose machines carry a configured address only."""

import pulumi

from components import MulticloudCluster
from components.clouds import MACHINE_SETS
from components.clouds.onprem import OnPremNodes


class SilentOnPremNodes(OnPremNodes):
    def create_machines(self, name, args):
        machines = super().create_machines(name, args)
        for machine in machines:
            machine.public_ip = "192.0.2.10"  # configured, not reported
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
