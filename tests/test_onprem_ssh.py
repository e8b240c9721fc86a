"""On-prem for real: the exact create/update/delete commands and stdin that the program gives remote.Command, run
over a real SSH session (OpenSSH client -> sshd on 127.0.0.1) into the join sandbox with the fake agent."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time

import pytest

from components.clouds.onprem import node_id_from_join_output
from conftest import run_config, stack_config
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from loopback import loopback_certificate
from sandbox import Machine
from tools.engine import fake_uuid

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
JOIN_SECRET = fake_uuid("secret", "kosmos-join-key")  # what the mock engine hands out as the join key


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


def test_join_leave_and_rejoin_over_a_real_ssh_session(sshd):
    ssh, machine, port = sshd
    with AgentRelease() as release, LocalKosmos(operator_secret=fake_uuid("operator")) as kosmos:
        cmd = _onprem_command(release, kosmos, port)
        pool_id = re.search(r"^POOL_ID=(\S+)$", cmd["stdin"], re.M).group(1)
        pool = kosmos.add_pool("home", JOIN_SECRET)
        pool.version = "1.35.3"  # the blog stack's kosmos:cluster.version, which the join checks
        kosmos.pools[pool_id] = kosmos.pools.pop(pool.id)
        pool.id = pool_id
        kosmos.nat_ip = "198.51.100.200"  # the NAT address Scaleway sees, not 127.0.0.1
        assert (cmd["connection"]["host"], cmd["connection"]["port"], cmd["connection"]["user"]) == (
            "127.0.0.1", port, "root"
        )
        assert cmd["create"].startswith("bash -s -- userdata-sha256=")  # root: no sudo
        # The key ssh-keyscan reported is pinned, and it is the server's own key (the fingerprint users compare).
        host_pub = (machine.root.parent / "ssh" / "host_key.pub").read_text().split()[:2]
        assert cmd["connection"]["hostKey"].split()[:2] == host_pub

        created = ssh(cmd["create"], cmd["stdin"])
        assert created.returncode == 0, created.stdout + created.stderr
        assert machine.agent("SCW_SECRET_KEY") == JOIN_SECRET  # the join key, not the operator's
        assert machine.agent("POOL_REGION") == "fr-par"
        assert machine.agent("argv").split() == ["-kosmos"]
        assert machine.state() == "ok"
        assert JOIN_SECRET not in created.stdout + created.stderr
        assert JOIN_SECRET not in machine.log()
        assert JOIN_SECRET not in machine.agent("cmdlines")  # never on any process's command line
        [node] = kosmos.live_nodes()
        assert node_id_from_join_output(created.stdout) == node["id"]  # what the program's registration matches
        assert node["public_ip_v4"] == "198.51.100.200" and node["name"] != socket.gethostname().lower()

        again = ssh(cmd["create"], cmd["stdin"])
        assert again.returncode == 0 and "already joined pool" in again.stdout
        assert node_id_from_join_output(again.stdout) == node["id"]
        assert machine.agent_runs() == 1

        updated = ssh(cmd["update"], cmd["stdin"])  # a template change: forced re-join in place, same node
        assert updated.returncode == 0, updated.stdout
        assert machine.agent_runs() == 2 and node_id_from_join_output(updated.stdout) == node["id"]

        deleted = ssh(cmd["delete"], cmd["stdin"])  # the provider may pass stdin to delete too: it is ignored
        assert deleted.returncode == 0, deleted.stdout + deleted.stderr
        assert machine.state() == "left"
        assert not (machine.root / "etc/kosmos/join.secret").exists()
        assert not (machine.root / "etc/scw-k8s-userdata").exists()
        assert "disable --now kubelet.service" in (machine.root / "systemctl.calls").read_text()

        rejoined = ssh(cmd["create"], cmd["stdin"])
        assert rejoined.returncode == 0 and machine.state() == "ok"
        assert machine.agent_runs() == 3
        assert node_id_from_join_output(rejoined.stdout) not in ("", node["id"])  # a new registration


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
