"""On-prem for real: the exact create/update/delete commands and stdin that the program gives remote.Command, run
over a real SSH session (OpenSSH client -> sshd on 127.0.0.1) into the join sandbox with the fake agent. The stdin
carries the host's own node credentials (its NodeIdentity); here those of a node really registered in the local
Kosmos by the identity provider stand in for the ones the mock engine invented."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import time

import pytest

from pulumi.dynamic import Config, ConfigureRequest

from components.identity import NodeIdentityProvider
from components.userdata import node_credentials
from conftest import run_config, stack_config
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from loopback import loopback_certificate
from sandbox import Machine
from tools.engine import fake_uuid

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
OPERATOR_SECRET = fake_uuid("operator")
# What the mock engine hands the host's NodeIdentity (tools/engine.py KosmosMocks).
MOCK_CREDENTIALS = node_credentials("https://api.scaleway.com/k8s/v1/regions/fr-par/node-metadata",
                                    fake_uuid("node-secret", "kosmos-home-nodes-lab-identity"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """sshd on 127.0.0.1:<free port>, temporary host + client keys; sessions land in a join sandbox."""
    assert shutil.which("ssh") and shutil.which(SSHD), "make test installs openssh-server/openssh-client"
    d = tmp_path / "ssh"
    d.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / "client_key")], check=True)
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    (d / "authorized_keys").chmod(0o600)
    machine = Machine(tmp_path / "machine")
    port = _free_port()
    (d / "sshd_config").write_text(
        f"""ListenAddress 127.0.0.1
Port {port}
HostKey {d / 'host_key'}
PidFile {d / 'sshd.pid'}
AuthorizedKeysFile {d / 'authorized_keys'}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AcceptEnv none
# The sandbox, set by sshd itself so the commands under test run exactly as given.
SetEnv KOSMOS_JOIN_ROOT={machine.root} PATH={machine.bin} KOSMOS_JOIN_BACKOFF_SECONDS=0 CURL_CA_BUNDLE={loopback_certificate()[0]}
"""
    )
    subprocess.run(["mkdir", "-p", "/run/sshd"], check=True)
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail(f"sshd did not start: {proc.stderr.read() if proc.stderr else ''}")
    known_hosts = d / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {(d / 'host_key.pub').read_text()}")

    def ssh(command: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", "-F", "/dev/null", "-i", str(d / "client_key"), "-p", str(port), "-o", "BatchMode=yes",
             "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=10",
             "root@127.0.0.1", command],
            input=stdin, capture_output=True, text=True, timeout=60,
        )

    try:
        yield ssh, machine, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _keyscan(port: int) -> str:
    """What the README tells users to run: ssh-keyscan, without the host column."""
    out = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(port), "127.0.0.1"], capture_output=True,
                         text=True, timeout=30, check=True).stdout
    [line] = [line for line in out.splitlines() if line and not line.startswith("#")]
    return line.split(" ", 1)[1]


def _onprem_command(release: AgentRelease, kosmos: LocalKosmos, port: int) -> dict:
    """The recorded remote.Command inputs for an on-prem host at 127.0.0.1:<port>, from the real program."""
    raw = stack_config("blog")
    raw["kosmos:externalPools"][4]["hosts"] = [{"name": "lab", "address": "127.0.0.1", "user": "root", "port": port,
                                                "hostKey": _keyscan(port)}]
    raw["kosmos:join"] = {"agentBaseUrl": release.base_url}
    raw["scaleway:apiUrl"] = kosmos.url  # the agent's SCW_API_URL
    run = run_config(raw, stack="blog", raise_errors=True)
    [cmd] = run.by_type("command:remote:Command")
    assert "stdin" in cmd.secret_paths
    return cmd.raw_inputs


def _register(kosmos, pool_id: str, monkeypatch) -> dict:
    """NodeIdentity.create as the program runs it, against the local Kosmos."""
    for name in ("SCW_ACCESS_KEY", "SCW_SECRET_KEY", "SCW_API_URL"):
        monkeypatch.delenv(name, raising=False)
    provider = NodeIdentityProvider()
    provider.configure(ConfigureRequest(config=Config(raw_config={
        "scaleway:accessKey": "SCWABCDEFGHIJKLMNOPQ", "scaleway:secretKey": OPERATOR_SECRET,
        "scaleway:apiUrl": kosmos.url}, project_name="kosmos")))
    return provider.create({"region": "fr-par", "pool_id": pool_id, "pool_name": "home", "machine": "lab",
                            "generation": "g", "api_url": None}).outs


def _with_node(stdin: str, node: dict) -> str:
    """The program's stdin with this node's credentials where the mock identity's are (exactly once)."""
    assert stdin.count(shlex.quote(MOCK_CREDENTIALS)) == 1
    return stdin.replace(shlex.quote(MOCK_CREDENTIALS),
                         shlex.quote(node_credentials(node["metadata_url"], node["node_secret_key"])))


def _joined(machine) -> str:
    return json.loads((machine.root / "var/lib/kosmos/node.json").read_text())["id"]


def test_join_rejoin_as_a_new_node_and_leave_over_a_real_ssh_session(sshd, monkeypatch):
    ssh, machine, port = sshd
    with AgentRelease() as release, LocalKosmos(operator_secret=OPERATOR_SECRET, ready_seconds=0.0) as kosmos:
        cmd = _onprem_command(release, kosmos, port)
        pool_id = re.search(r"^POOL_ID=(\S+)$", cmd["stdin"], re.M).group(1)
        pool = kosmos.add_pool("home")  # no join key: only kosmos registers
        pool.version = "1.35.3"  # the blog stack's kosmos:cluster.version, which the join checks
        kosmos.pools[pool_id] = kosmos.pools.pop(pool.id)
        pool.id = pool_id
        assert (cmd["connection"]["host"], cmd["connection"]["port"], cmd["connection"]["user"]) == (
            "127.0.0.1", port, "root"
        )
        assert cmd["create"].startswith("bash -s -- userdata-sha256=")  # root: no sudo
        # The key ssh-keyscan reported is pinned, and it is the server's own key (the fingerprint users compare).
        host_pub = (machine.root.parent / "ssh" / "host_key.pub").read_text().split()[:2]
        assert cmd["connection"]["hostKey"].split()[:2] == host_pub
        node = _register(kosmos, pool_id, monkeypatch)
        stdin = _with_node(cmd["stdin"], node)
        assert OPERATOR_SECRET not in stdin  # nothing that can register a node goes over SSH

        created = ssh(cmd["create"], stdin)
        assert created.returncode == 0, created.stdout + created.stderr
        assert machine.agent("SCW_SECRET_KEY") == "unused-node-registered-by-kosmos"
        assert machine.agent("used-cache") == "yes" and kosmos.auth_calls() == 1  # the agent registered nothing
        assert machine.agent("POOL_REGION") == "fr-par"
        assert machine.agent("argv").split() == ["-kosmos"]
        assert machine.state() == "ok"
        secret = node["node_secret_key"]
        assert secret not in created.stdout + created.stderr
        assert secret not in machine.log()
        assert secret not in machine.agent("cmdlines")  # never on any process's command line
        assert secret not in machine.all_files_text()  # only in the agent's root-only cache
        [listed] = kosmos.live_nodes()
        assert _joined(machine) == listed["id"] == node["node_id"]  # known before the join; nothing parsed back
        assert listed["status"] == "ready" and listed["public_ip_v4"] is None
        assert listed["name"] != socket.gethostname().lower()

        again = ssh(cmd["create"], stdin)
        assert again.returncode == 0 and "already joined pool" in again.stdout
        assert machine.agent_runs() == 1

        updated = ssh(cmd["update"], stdin)  # a template change: forced re-join in place, same node
        assert updated.returncode == 0, updated.stdout
        assert machine.agent_runs() == 2 and _joined(machine) == node["node_id"]

        # The host's identity replaced (e.g. its node found lost on a refresh): stdin changes, the update re-joins
        # it as the new node; the pool's readiness then drains and deletes the old one.
        renewed = _register(kosmos, pool_id, monkeypatch)
        moved = ssh(cmd["update"], _with_node(cmd["stdin"], renewed))
        assert moved.returncode == 0, moved.stdout
        assert _joined(machine) == renewed["node_id"] != node["node_id"] and kosmos.auth_calls() == 2
        cache = json.loads((machine.root / "etc/scw-k8s-userdata").read_text())
        assert cache["node_secret_key"] == renewed["node_secret_key"]

        # The leave names the host's node (the identity's id, here the mock engine's): the one it is now.
        mock_node_id = re.search(r"not node ([0-9a-f-]{36})", cmd["delete"]).group(1)
        delete = cmd["delete"].replace(mock_node_id, renewed["node_id"])
        stale = ssh(cmd["delete"], stdin)  # an old Command's leave, naming another node: spares this one
        assert stale.returncode == 0 and machine.state() == "ok" and f"not node {mock_node_id}" in stale.stdout
        deleted = ssh(delete, stdin)  # the provider may pass stdin to delete too: it is ignored
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert machine.state() == "left"
        assert not (machine.root / "etc/scw-k8s-userdata").exists()
        assert "disable --now kubelet.service" in (machine.root / "systemctl.calls").read_text()


def test_environment_would_not_have_reached_the_host(sshd):
    # Why the secret rides on stdin: with sshd's default AcceptEnv, a client-sent variable is dropped silently.
    ssh, machine, port = sshd
    d = machine.root.parent / "ssh"
    result = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(d / "client_key"), "-p", str(port), "-o", "BatchMode=yes",
         "-o", f"UserKnownHostsFile={d / 'known_hosts'}", "-o", "SetEnv=SCW_SECRET_KEY=leaked", "root@127.0.0.1",
         "printf '%s' \"${SCW_SECRET_KEY:-unset}\""],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "unset"
