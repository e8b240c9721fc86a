"""On-prem machines, reached over SSH with pulumi-command.

The join script (with this host's node credentials inside, never a key that could register another node) travels on
the SSH session's stdin: remote `environment` depends on sshd's AcceptEnv and is silently dropped, and a command line
is visible in the process list. The host's node is registered by kosmos before the join (NodeIdentity), so nothing is
read back from the join's output.

When the join changes (Kubernetes or agent version, template), the hosts re-join in place through the pool's rollout
gates (components/rollout.py): host k's Command depends on gate k, gate k on gate k-1 only, and the tail gate on every
Command. The gates know each host's node name before its Command runs, from the host's NodeIdentity.
"""

from __future__ import annotations

import ipaddress
import shlex

import pulumi
import pulumi_command as command

from .. import rollout
from ..spec import OnPremHost, OnPremPoolSpec
from ..userdata import JoinInputs, render_leave
from .base import MachineSet, MachineSetArgs


def as_root(host: OnPremHost, command_line: str) -> str:
    """Prefix with non-interactive sudo unless we log in as root."""
    return command_line if host.user == "root" else f"sudo -n {command_line}"


def join_command(host: OnPremHost, userdata_sha256: str) -> str:
    """Runs the script read from stdin. The redacted userdata hash rides along as an (ignored) script argument so
    that a template change is a visible, in-place change of this command."""
    return as_root(host, f"bash -s -- userdata-sha256={userdata_sha256}")


def rejoin_command(host: OnPremHost, userdata_sha256: str) -> str:
    """Runs on userdata changes (an update): the same script, forced past the 'already joined' check."""
    return as_root(host, f"env KOSMOS_JOIN_FORCE=1 bash -s -- userdata-sha256={userdata_sha256}")


def leave_command(host: OnPremHost, leave_script: str) -> str:
    """The leave script is on the command line (it holds no secret), so the delete never reads stdin."""
    return as_root(host, f"bash -c {shlex.quote(leave_script)}")


def _ipv4(address: str) -> str | None:
    try:
        return address if ipaddress.ip_address(address).version == 4 else None
    except ValueError:
        return None


class OnPremNodes(MachineSet):
    TYPE = "kosmos:index:OnPremNodes"
    PROVIDER = "on-prem"
    CONFIG = OnPremPoolSpec
    USERDATA_VARIANT = "script"
    USERDATA_PROPERTY = "stdin"
    REPLACE_ON_USERDATA_CHANGE = False  # the host is kept: a new rendering re-runs the join (update)
    USERDATA_CHANGE_EFFECT = "re-runs the join over SSH (the machine is kept)"
    # pulumi-command 1.2.1: only `triggers` (provider/pkg/provider/common/inputs.go, `provider:"replaceOnChanges"`);
    # the SDK also sends it as replaceOnChanges, so it shows either way.
    FORCE_NEW_INPUTS = {"command:remote:Command": ("triggers",)}

    def machine_facts(self) -> dict:
        return {"machineType": "existing host", "os": "as installed (checked against kosmos:join.allowedOs)"}

    def prepare(self, name: str, args: MachineSetArgs, nodes: list) -> None:
        # Per host, naming its node: a host renamed in its pool joins as its new node before the old Command's
        # leave runs (deletes come last), and that leave must spare it.
        self.leave_scripts = {
            machine_name: pulumi.Output.all(args.pool_id, identity.node_id).apply(
                lambda ids: render_leave(JoinInputs(pool_id=ids[0], region=args.region), node_id=ids[1]))
            for machine_name, identity in nodes
        }
        self.hosts = [(machine_name, identity.node_name) for machine_name, identity in nodes]
        self.gates, self.gate_inputs = self.rollout_gates(name, args, self.hosts)

    def create_machine(self, resource_name, index, machine_name, hostname, userdata, args, opts):
        host: OnPremHost = args.pool.hosts[index]
        connection = command.remote.ConnectionArgs(
            host=host.address,
            port=host.port,
            user=host.user,
            private_key=args.ssh_private_key,
            host_key=host.host_key,
            dial_error_limit=10,
            per_dial_timeout=15,
        )
        join = command.remote.Command(
            resource_name,
            connection=connection,
            # No `triggers`: pulumi-command replaces on trigger changes, and create-before-delete would run the
            # old command's leave *after* the re-join. The hash inside create/update makes a template change an
            # in-place update instead, which re-runs the join (forced); the machine and its node are kept.
            create=args.userdata.sha256.apply(lambda sha: join_command(host, sha)),
            update=args.userdata.sha256.apply(lambda sha: rejoin_command(host, sha)),
            delete=self.leave_scripts[machine_name].apply(lambda script: leave_command(host, script)),
            # A new identity (or rendering) changes stdin: an update, which re-runs the join (forced) and installs
            # the host as its new node; the old one is drained and deleted by the pool's PoolNodes.
            stdin=userdata,
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(depends_on=[self.gates[host.name]] if self.gates else None)
            ),
        )
        return join, join.id, _ipv4(host.address)

    def finish(self, name: str, args: MachineSetArgs, machines: list) -> None:
        self.rollout_done = None
        if self.gates:
            self.rollout_done = rollout.tail_gate(name, self.hosts, args.pool.upgrade.max_unavailable,
                                                  self.gate_inputs, [m.resource for m in machines],
                                                  pulumi.ResourceOptions(parent=self))

    def rollout_gates(self, name: str, args: MachineSetArgs, hosts: list) -> tuple[dict, dict]:
        """The pool's chained gates (none without a cluster to read nodes from, e.g. a MachineSet used alone). Their
        generation is the redacted userdata hash: it moves with the Kubernetes and agent versions and the template,
        never with a node's credentials, so a host keeps its node across re-joins."""
        if args.cluster_id is None or not args.pool.hosts:
            return {}, {}
        reg = args.pool.registration
        common = dict(cluster_id=args.cluster_id, region=args.region, pool_name=args.pool.name,
                      generation=args.userdata.sha256, kubernetes_version=args.kubernetes_version,
                      timeout_seconds=reg.timeout_minutes * 60, skip_drain=reg.skip_drain,
                      api_url=args.scaleway_api_url)
        return rollout.gates(name, hosts, args.pool.upgrade.max_unavailable, common,
                             pulumi.ResourceOptions(parent=self)), common
