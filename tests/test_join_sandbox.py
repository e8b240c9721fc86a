"""The rendered join script, really executed by bash in a sandbox against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import re
import stat

import pytest
import yaml

from components.userdata import JoinInputs, render, render_leave
from sandbox import FAKE_AGENT, AgentServer, Machine

POOL_UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
SECRET = "7d3c1f2e-9b8a-4c6d-a5e4-f3b2c1d0e9f8"
TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z kosmos-join\[[a-z]+\]: ", re.M)


def script_for(server: AgentServer, secret: str = SECRET, variant: str = "script", **inputs) -> str:
    join = JoinInputs(pool_id=f"fr-par/{POOL_UUID}", region="fr-par", agent_base_url=server.url, **inputs)
    return render(join, secret, variant).text


@pytest.fixture
def server():
    with AgentServer() as s:
        yield s


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path / "machine")


def assert_secret_nowhere_but_the_agent(machine: Machine, result, secret: str = SECRET) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr
    assert secret not in machine.log()
    assert secret not in (machine.agent("argv") or "")
    assert secret not in (machine.agent("cmdlines") or "")  # no process had it on its command line
    assert secret not in machine.all_files_text()


@pytest.mark.parametrize("uname, arch", [("x86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")])
def test_joins_with_the_binary_for_the_machine_arch(server, tmp_path, uname, arch):
    machine = Machine(tmp_path / "m", machine=uname)
    result = machine.run(script_for(server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.requests == [f"/node-agent_linux_{arch}"]
    assert machine.agent("POOL_ID") == POOL_UUID  # the bare UUID, not fr-par/<uuid>
    assert machine.agent("POOL_REGION") == "fr-par"
    assert machine.agent("SCW_SECRET_KEY") == SECRET
    assert machine.agent("argv").split() == ["-loglevel", "0", "-no-controller"]
    assert machine.state() == "ok"
    assert_secret_nowhere_but_the_agent(machine, result)
    # The agent's own output is kept, with the key redacted.
    assert "node-agent: registering with key [redacted]" in machine.log()
    assert result.stdout.rstrip().endswith("KOSMOS_NODE_NAME=node-a")
    secret_file = machine.root / "etc/kosmos/join.secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    agent = machine.root / f"usr/local/lib/kosmos/node-agent_linux_{arch}"
    assert agent.read_text() == FAKE_AGENT and stat.S_IMODE(agent.stat().st_mode) == 0o700


def test_every_step_is_logged_with_a_timestamp_to_stdout_and_the_log_file(server, machine):
    result = machine.run(script_for(server))
    assert result.returncode == 0
    steps = re.findall(r"kosmos-join\[([a-z]+)\]", machine.log())
    ordered = list(dict.fromkeys(steps))
    assert ordered == ["root", "os", "arch", "resources", "download", "agent", "finished"]
    for line in machine.log().splitlines():
        assert TIMESTAMPED.match(line), line
    assert machine.log().splitlines() == [l for l in result.stdout.splitlines() if TIMESTAMPED.match(l)]


@pytest.mark.parametrize(
    "facts, step, message",
    [
        ({"machine": "riscv64"}, "arch", "CPU architecture riscv64 is not supported"),
        ({"os_id": "centos", "os_version": "7"}, "os", "operating system centos:7 is not supported"),
        ({"os_id": "ubuntu", "os_version": "18.04"}, "os", "operating system ubuntu:18.04 is not supported"),
        ({"mem_kib": 1_000_000}, "resources", "only 976 MiB of RAM; a Kosmos node needs at least 2048 MiB"),
        ({"uid": 1000}, "root", "must run as root (running as uid 1000)"),
    ],
)
def test_refuses_unsupported_machines_before_downloading(server, tmp_path, facts, step, message):
    machine = Machine(tmp_path / "m", **facts)
    result = machine.run(script_for(server))
    assert result.returncode != 0
    assert message in result.stdout
    assert machine.state().startswith(f"failed:{step}: ")
    assert message in machine.state()
    assert server.requests == []
    assert machine.agent_runs() == 0


def test_a_2gib_machine_reporting_less_memtotal_is_accepted(server, tmp_path):
    # A 2 GiB VM shows ~1.9 GiB MemTotal (kernel reservations); the check allows 10% below the minimum.
    machine = Machine(tmp_path / "m", mem_kib=1_950_000)
    assert machine.run(script_for(server)).returncode == 0


def test_debian_12_and_ubuntu_24_04_are_allowed_by_default(server, tmp_path):
    for i, (os_id, version) in enumerate([("debian", "12"), ("ubuntu", "24.04")]):
        machine = Machine(tmp_path / f"m{i}", os_id=os_id, os_version=version)
        assert machine.run(script_for(server)).returncode == 0


def test_allowed_os_is_configurable(server, tmp_path):
    machine = Machine(tmp_path / "m", os_id="ubuntu", os_version="22.04")
    result = machine.run(script_for(server, allowed_os=("debian:12",)))
    assert result.returncode != 0
    assert "allowed: debian:12" in result.stdout


def test_retries_503_three_times_then_joins(server, machine):
    server.plan["/node-agent_linux_amd64"] = [503, 503, 503]
    result = machine.run(script_for(server))
    assert result.returncode == 0, result.stdout
    assert server.requests == ["/node-agent_linux_amd64"] * 4
    assert machine.log().count("HTTP status 503; retrying") == 3
    assert machine.state() == "ok"


def test_gives_up_after_bounded_retries(server, machine):
    server.always["/node-agent_linux_amd64"] = 503
    result = machine.run(script_for(server))
    assert result.returncode != 0
    assert len(server.requests) == 5
    assert f"could not download {server.url}/node-agent_linux_amd64 after 5 attempts (last HTTP status 503)" in (
        machine.state()
    )
    assert machine.agent_runs() == 0


def test_backoff_doubles_between_attempts(server, machine):
    server.plan["/node-agent_linux_amd64"] = [503, 503]
    result = machine.run(script_for(server), KOSMOS_JOIN_BACKOFF_SECONDS=0)
    assert "retrying in 0s" in result.stdout
    script = script_for(server)
    assert "delay=$((BACKOFF_SECONDS * (1 << (attempt - 1))))" in script
    assert 'BACKOFF_SECONDS="${KOSMOS_JOIN_BACKOFF_SECONDS:-2}"' in script


def test_pinned_sha256_is_verified(server, machine):
    good = hashlib.sha256(FAKE_AGENT.encode()).hexdigest()
    assert machine.run(script_for(server, agent_sha256={"amd64": good})).returncode == 0
    assert f"sha256 verified ({good})" in machine.log()


def test_sha256_mismatch_fails_and_never_runs_the_agent(server, machine):
    result = machine.run(script_for(server, agent_sha256={"amd64": "0" * 64}))
    assert result.returncode != 0
    assert machine.state().startswith("failed:download: sha256 mismatch")
    assert machine.agent_runs() == 0
    assert not (machine.root / "usr/local/lib/kosmos/node-agent_linux_amd64").exists()


def test_a_second_run_after_success_is_a_no_op(server, machine):
    script = script_for(server)
    assert machine.run(script).returncode == 0
    again = machine.run(script)
    assert again.returncode == 0
    assert "already joined pool" in again.stdout
    assert machine.agent_runs() == 1
    assert len(server.requests) == 1
    assert machine.state() == "ok"
    forced = machine.run(script, KOSMOS_JOIN_FORCE=1)
    assert forced.returncode == 0 and machine.agent_runs() == 2


def test_a_failed_run_can_be_re_run(server, machine):
    server.always["/node-agent_linux_amd64"] = 503
    script = script_for(server)
    assert machine.run(script).returncode != 0
    assert machine.state().startswith("failed:download")
    server.always.clear()
    assert machine.run(script).returncode == 0
    assert machine.state() == "ok"


def test_agent_failure_is_reported_with_its_status(server, machine):
    result = machine.run(script_for(server), FAKE_AGENT_EXIT=3)
    assert result.returncode != 0
    assert machine.state() == f"failed:agent: node-agent exited with status 3 (its output is in {machine.root}/var/log/kosmos-join.log)"


def test_secret_with_shell_metacharacters_reaches_the_agent_intact(server, machine):
    nasty = "k'ey\"$(touch /tmp/kosmos-pwned)`x`;$HOME"
    result = machine.run(script_for(server, secret=nasty))
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.agent("SCW_SECRET_KEY") == nasty
    assert not (machine.root / "pwned").exists()
    assert_secret_nowhere_but_the_agent(machine, result, nasty)


def test_the_script_also_runs_from_stdin_as_on_prem_sends_it(server, machine):
    result = machine.run("", stdin=script_for(server))
    assert result.returncode == 0, result.stderr
    assert machine.agent("SCW_SECRET_KEY") == SECRET
    assert_secret_nowhere_but_the_agent(machine, result)


def test_wget_is_used_when_curl_is_missing(server, tmp_path):
    machine = Machine(tmp_path / "m", downloader="wget")
    assert not (machine.bin / "curl").exists()
    result = machine.run(script_for(server))
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.requests == ["/node-agent_linux_amd64"]


def test_cloud_config_variant_runs_with_the_secret_file_cloud_init_writes(server, machine):
    doc = yaml.safe_load(script_for(server, variant="cloud-config"))
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/etc/kosmos/join.secret"]["permissions"] == "0600"
    assert files["/usr/local/sbin/kosmos-join"]["permissions"] == "0700"
    assert doc["runcmd"] == [["/usr/local/sbin/kosmos-join"]]
    script = files["/usr/local/sbin/kosmos-join"]["content"]
    assert SECRET not in script  # the script itself never holds the key in this form
    # Do what cloud-init does: write the files, run the command.
    secret_path = machine.root / "etc/kosmos/join.secret"
    secret_path.parent.mkdir(parents=True)
    secret_path.write_text(files["/etc/kosmos/join.secret"]["content"])
    secret_path.chmod(0o600)
    result = machine.run(script)
    assert result.returncode == 0, result.stdout
    assert machine.agent("SCW_SECRET_KEY") == SECRET
    assert_secret_nowhere_but_the_agent(machine, result)


def test_cloud_config_variant_fails_clearly_without_the_secret_file(server, machine):
    doc = yaml.safe_load(script_for(server, variant="cloud-config"))
    script = doc["write_files"][1]["content"]
    result = machine.run(script)
    assert result.returncode != 0
    assert machine.state().startswith("failed:agent: join secret")


def test_leave_undoes_the_join_so_the_host_can_join_again(server, machine):
    join = script_for(server)
    assert machine.run(join).returncode == 0
    leave = render_leave(JoinInputs(pool_id=f"fr-par/{POOL_UUID}", region="fr-par"))
    result = machine.run(leave)
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.state() == "left"
    assert not (machine.root / "etc/kosmos/join.secret").exists()
    assert not (machine.root / "usr/local/lib/kosmos/node-agent_linux_amd64").exists()
    calls = (machine.root / "systemctl.calls").read_text().splitlines()
    assert "disable --now kubelet.service" in calls and "disable --now containerd.service" in calls
    assert machine.run(join).returncode == 0  # joins again (the "ok" state is gone)
    assert machine.agent_runs() == 2
