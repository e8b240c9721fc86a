"""The wiring components/rollout.py asks for, as the lead is to do it in ExternalPool: gate(k) depends on gate(k-1)
only, host k's Command depends on gate(k), the tail depends on every Command. Node names stand in for the per-machine
identities' outputs (known before the machines)."""

import pulumi
import pulumi_command as command

from components.rollout import gates, tail_gate

HOSTS = [("h0", "scw-node-h0"), ("h1", "scw-node-h1"), ("h2", "scw-node-h2")]
COMMON = dict(cluster_id="fr-par/11111111-1111-4111-8111-111111111111", region="fr-par", pool_name="home",
              generation="sha-of-the-join", kubernetes_version="1.36.1")
opts = pulumi.ResourceOptions()
by_host = gates("lab-home", HOSTS, 2, COMMON, opts)
commands = [
    command.remote.Command(
        f"lab-home-nodes-{host}",
        connection=command.remote.ConnectionArgs(host=f"192.0.2.{i + 10}", user="root"),
        create="true",
        opts=pulumi.ResourceOptions(depends_on=[by_host[host]]),
    )
    for i, (host, _) in enumerate(HOSTS)
]
tail_gate("lab-home", HOSTS, 2, COMMON, commands, opts)
