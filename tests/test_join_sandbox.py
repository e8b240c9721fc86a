"""The rendered join script, really executed by bash in a sandbox: it downloads the stand-in k8s-agent
(tests/k8s_agent.py) over https from 127.0.0.1, verifies it, and the agent registers with the local Kosmos
(tests/kosmos_api.py) through the agent's own protocol."""

from __future__ import annotations

import hashlib
import json
import re
import stat

import pytest
import yaml

from components.userdata import JoinInputs, render, render_leave
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from loopback import DROP, Faults
from sandbox import Machine

SECRET = "7d3c1f2e-9b8a-4c6d-a5e4-f3b2c1d0e9f8"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z kosmos-join\[[a-z]+\]: ", re.M)
NODE_NAME = re.compile(r"^scw-multicloud-civo-lon1-[0-9a-f]{22}$")


@pytest.fixture
def kosmos():
    with LocalKosmos(operator_secret=OPERATOR_SECRET) as k:
        k.pool = k.add_pool("civo-lon1", SECRET)
        yield k


@pytest.fixture
def release():
    with AgentRelease() as r:
        yield r


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path / "machine")


def join_inputs(kosmos, release, **inputs) -> JoinInputs:
    return JoinInputs(pool_id=f"fr-par/{kosmos.pool.id}", region="fr-par", agent_base_url=release.base_url,
                      api_url=kosmos.url, **inputs)


def script_for(kosmos, release, secret: str = SECRET, variant: str = "script", **inputs) -> str:
    return render(join_inputs(kosmos, release, **inputs), secret, variant).text


def reported(stdout: str) -> dict:
    return dict(re.findall(r"^(KOSMOS_NODE_(?:ID|NAME))=(\S*)$", stdout, re.M))


def assert_secret_nowhere_but_the_agent(machine: Machine, result, secret: str = SECRET) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr
    assert secret not in machine.log()
    assert secret not in (machine.agent("argv") or "")
    assert secret not in (machine.agent("cmdlines") or "")  # no process had it on its command line
    assert secret not in machine.all_files_text()


@pytest.mark.parametrize("uname, arch", [("x86_64", "amd64"), ("aarch64", "arm64")])
def test_joins_through_the_agent_protocol_and_reports_the_node_scaleway_registered(kosmos, release, tmp_path, uname, arch):
    machine = Machine(tmp_path / "m", machine=uname)
    kosmos.nat_ip = "203.0.113.7"
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout + result.stderr
    # checksums.txt first (no pin), then the binary for this arch, both over https.
    assert release.requests == ["checksums.txt", f"k8s-agent_linux_{arch}"]
    assert machine.agent("argv").split() == ["-kosmos"]  # k8s-agent main.go knows -kosmos and -version only
    assert machine.agent("POOL_ID") == kosmos.pool.id  # the bare UUID, not fr-par/<uuid>
    assert machine.agent("POOL_REGION") == "fr-par"
    assert machine.agent("SCW_SECRET_KEY") == SECRET
    assert machine.agent("SCW_API_URL") == kosmos.url
    [node] = kosmos.live_nodes()
    assert NODE_NAME.match(node["name"]) and node["public_ip_v4"] == "203.0.113.7"
    # Identity from the agent's own registration, never the hostname (Node-A).
    assert reported(result.stdout) == {"KOSMOS_NODE_ID": node["id"], "KOSMOS_NODE_NAME": node["name"]}
    recorded = json.loads((machine.root / "var/lib/kosmos/node.json").read_text())
    assert (recorded["id"], recorded["name"], recorded["pool_id"]) == (node["id"], node["name"], kosmos.pool.id)
    assert machine.state() == "ok"
    assert_secret_nowhere_but_the_agent(machine, result)
    cache = machine.root / "etc/scw-k8s-userdata"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    # The join key file is removed once the join has finished; the agent runs from its verified copy.
    assert not (machine.root / "etc/kosmos/join.secret").exists()
    agent = machine.root / f"usr/local/lib/kosmos/k8s-agent_linux_{arch}"
    assert agent.read_bytes() == release.agent and stat.S_IMODE(agent.stat().st_mode) == 0o700


def test_every_step_is_logged_with_a_timestamp_to_stdout_and_the_log_file(kosmos, release, machine):
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout
    steps = re.findall(r"kosmos-join\[([a-z]+)\]", machine.log())
    ordered = list(dict.fromkeys(steps))
    assert ordered == ["root", "os", "arch", "resources", "download", "agent", "identity", "finished"]
    for line in machine.log().splitlines():
        assert TIMESTAMPED.match(line), line
    assert machine.log().splitlines() == [l for l in result.stdout.splitlines() if TIMESTAMPED.match(l)]
    assert "agent: " in machine.log() and "Kosmos mode: exiting after installation" in machine.log()


@pytest.mark.parametrize(
    "facts, step, message",
    [
        ({"machine": "riscv64"}, "arch", "CPU architecture riscv64 is not supported"),
        ({"os_id": "centos", "os_version": "7"}, "os", "operating system centos:7 is not supported"),
        ({"mem_kib": 1_000_000}, "resources", "only 976 MiB of RAM; a Kosmos node needs at least 2048 MiB"),
        ({"uid": 1000}, "root", "must run as root (running as uid 1000)"),
    ],
)
def test_refuses_unsupported_machines_before_downloading(kosmos, release, tmp_path, facts, step, message):
    machine = Machine(tmp_path / "m", **facts)
    result = machine.run(script_for(kosmos, release))
    assert result.returncode != 0
    assert message in result.stdout
    assert machine.state().startswith(f"failed:{step}: ") and message in machine.state()
    assert release.requests == [] and machine.agent_runs() == 0 and kosmos.auth_calls() == 0


def test_allowed_os_is_configurable(kosmos, release, tmp_path):
    machine = Machine(tmp_path / "m", os_id="ubuntu", os_version="22.04")
    result = machine.run(script_for(kosmos, release, allowed_os=("debian:12",)))
    assert result.returncode != 0 and "allowed: debian:12" in result.stdout


def test_retries_503_then_joins_and_gives_up_after_bounded_retries(kosmos, release, tmp_path):
    release.plan["k8s-agent_linux_amd64"] = [503, 503]
    first = Machine(tmp_path / "a")
    result = first.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout
    assert first.log().count("HTTP status 503; retrying in 0s") == 2
    release.requests.clear()
    release.always["checksums.txt"] = 503
    second = Machine(tmp_path / "b")
    assert second.run(script_for(kosmos, release)).returncode != 0
    assert release.requests == ["checksums.txt"] * 5
    assert "after 5 attempts (last HTTP status 503)" in second.state() and second.agent_runs() == 0


def test_a_pinned_sha256_is_verified_and_checksums_txt_is_not_needed(kosmos, release, machine):
    good = hashlib.sha256(release.agent).hexdigest()
    result = machine.run(script_for(kosmos, release, agent_sha256={"amd64": good}))
    assert result.returncode == 0, result.stdout
    assert release.requests == ["k8s-agent_linux_amd64"]
    assert f"sha256 verified ({good})" in machine.log()


HTML_PAGE = b"<!DOCTYPE html><html><body>Bucket moved</body></html>\n"


@pytest.mark.parametrize(
    "served, pin, message",
    [
        (b"#!/bin/sh\ntouch /tmp/kosmos-pwned\n", False, "sha256 mismatch for"),  # tampered binary
        (HTML_PAGE, False, "it looks like an HTML page"),  # an error page answered with 200
        (b"", False, "answered an empty body"),
        (b"#!/bin/sh\nexit 0\n", True, "sha256 mismatch for"),  # against the pin
    ],
    ids=["tampered", "html-200", "empty", "pinned-mismatch"],
)
def test_an_unverified_download_is_never_executed(kosmos, release, machine, served, pin, message):
    release.serve["k8s-agent_linux_amd64"] = served
    pinned = {"amd64": hashlib.sha256(release.agent).hexdigest()} if pin else {}
    result = machine.run(script_for(kosmos, release, agent_sha256=pinned))
    assert result.returncode != 0
    assert machine.state().startswith("failed:download: ") and message in machine.state()
    assert "nothing was run" in machine.state()
    assert machine.agent_runs() == 0 and kosmos.auth_calls() == 0
    assert not (machine.root / "usr/local/lib/kosmos/k8s-agent_linux_amd64").exists()
    assert not list((machine.root / "usr/local/lib/kosmos").glob("*.partial"))


def test_checksums_without_this_binary_fail_before_downloading_it(kosmos, release, machine):
    release.serve["checksums.txt"] = b"0" * 64 + b"  k8s-agent_linux_arm64\n"
    result = machine.run(script_for(kosmos, release))
    assert result.returncode != 0 and "has no sha256 for k8s-agent_linux_amd64" in machine.state()
    assert release.requests == ["checksums.txt"] and machine.agent_runs() == 0


def test_plain_http_without_a_pin_is_refused_and_redirects_must_stay_https(kosmos, tmp_path):
    with AgentRelease(tls=False) as plain:
        machine = Machine(tmp_path / "plain")
        result = machine.run(script_for(kosmos, plain))
        assert result.returncode != 0 and "is not https and no sha256 is pinned for amd64" in machine.state()
        assert plain.requests == []
        # Pinned, http is fine: the pin decides.
        good = hashlib.sha256(plain.agent).hexdigest()
        pinned = Machine(tmp_path / "pinned")
        assert pinned.run(script_for(kosmos, plain, agent_sha256={"amd64": good})).returncode == 0
    with AgentRelease() as tls, AgentRelease(tls=False) as plain:
        tls.redirect["checksums.txt"] = plain.base_url + "/checksums.txt"  # https -> http downgrade
        machine = Machine(tmp_path / "redirected")
        assert machine.run(script_for(kosmos, tls)).returncode != 0
        assert plain.requests == [] and machine.agent_runs() == 0


def test_a_second_run_registers_nothing_new(kosmos, release, machine):
    script = script_for(kosmos, release)
    first = machine.run(script)
    assert first.returncode == 0, first.stdout
    again = machine.run(script)
    assert again.returncode == 0 and "already joined pool" in again.stdout
    assert reported(again.stdout) == reported(first.stdout)  # the SSH path reads the same node back
    assert machine.agent_runs() == 1
    forced = machine.run(script, KOSMOS_JOIN_FORCE=1)
    assert forced.returncode == 0, forced.stdout
    assert machine.agent_runs() == 2
    # The agent reused its cached registration: still one node, one auth call.
    assert kosmos.auth_calls() == 1 and len(kosmos.live_nodes()) == 1
    assert reported(forced.stdout) == reported(first.stdout)


def test_leave_then_join_registers_a_new_node(kosmos, release, machine):
    join = script_for(kosmos, release)
    first = machine.run(join)
    assert first.returncode == 0, first.stdout
    leave = render_leave(join_inputs(kosmos, release))
    result = machine.run(leave)
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.state() == "left"
    for gone in ("etc/scw-k8s-userdata", "etc/scw-k8s-versions.json", "var/lib/kosmos/node.json",
                 "etc/kosmos/join.secret", "usr/local/lib/kosmos/k8s-agent_linux_amd64"):
        assert not (machine.root / gone).exists(), gone
    calls = (machine.root / "systemctl.calls").read_text().splitlines()
    assert "disable --now kubelet.service" in calls and "disable --now containerd.service" in calls
    second = machine.run(join)
    assert second.returncode == 0, second.stdout
    assert kosmos.auth_calls() == 2
    assert reported(second.stdout)["KOSMOS_NODE_ID"] != reported(first.stdout)["KOSMOS_NODE_ID"]


def test_agent_failure_is_reported_with_its_status_after_bounded_attempts(kosmos, release, machine):
    kosmos.fail_auth_status = 500
    result = machine.run(script_for(kosmos, release))
    assert result.returncode != 0
    assert machine.state() == (
        f"failed:agent: k8s-agent exited with status 1 (attempt 5/5; its output is in "
        f"{machine.root}/var/log/kosmos-join.log)"
    )
    assert "failed to register Kosmos node: 500 Internal Server Error" in machine.log()
    assert machine.agent_runs() == 5 and kosmos.auth_calls() == 5
    assert machine.log().count("); again in 0s") == 4


def test_a_failing_agent_runs_again_with_backoff_and_joins_once(kosmos, release, machine):
    # k8s-agent exits 1 on any failed call and never retries (metadata.go): the join runs it again.
    kosmos.faults = Faults(script=[429, 503, DROP], only=lambda method, path: path.endswith("/external-nodes/auth"))
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout
    assert machine.agent_runs() == 4 and len(kosmos.faults.injected) == 3
    assert [line.split("kosmos-join[agent]: ", 1)[1] for line in machine.log().splitlines()
            if "again in" in line] == [f"k8s-agent exited with status 1 (attempt {n}/5); again in 0s" for n in (1, 2, 3)]
    assert len(kosmos.live_nodes()) == 1 and machine.state() == "ok"
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == kosmos.live_nodes()[0]["id"]
    assert_secret_nowhere_but_the_agent(machine, result)


def test_a_rerun_after_a_failed_metadata_call_reuses_the_registration(kosmos, release, machine):
    kosmos.faults = Faults(script=[503], only=lambda method, path: path.endswith("/node-metadata"))
    result = machine.run(script_for(kosmos, release), KOSMOS_JOIN_BACKOFF_SECONDS=1)
    assert result.returncode == 0, result.stdout
    assert "k8s-agent exited with status 1 (attempt 1/5); again in 1s" in machine.log()
    assert machine.agent_runs() == 2 and kosmos.auth_calls() == 1  # the agent's cache: no second node
    assert len(kosmos.live_nodes()) == 1


def test_a_wrong_join_key_is_refused_by_kosmos_and_not_retried(kosmos, release, machine):
    result = machine.run(script_for(kosmos, release, secret="00000000-0000-4000-8000-000000000000"))
    assert result.returncode != 0 and "failed to register Kosmos node: 401 Unauthorized" in machine.log()
    assert machine.agent_runs() == 1
    assert machine.state() == (f"failed:agent: Scaleway refused the registration, not retried (k8s-agent status 1; "
                               f"see {machine.root}/var/log/kosmos-join.log)")
    assert kosmos.live_nodes() == []


def test_secret_with_shell_metacharacters_reaches_the_agent_intact(kosmos, release, machine):
    nasty = "k'ey\"$(touch /tmp/kosmos-pwned)`x`;$HOME"
    kosmos.pool.join_key = nasty
    result = machine.run(script_for(kosmos, release, secret=nasty))
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.agent("SCW_SECRET_KEY") == nasty
    assert_secret_nowhere_but_the_agent(machine, result, nasty)


def test_the_script_also_runs_from_stdin_as_on_prem_sends_it(kosmos, release, machine):
    result = machine.run("", stdin=script_for(kosmos, release))
    assert result.returncode == 0, result.stderr
    assert machine.agent("SCW_SECRET_KEY") == SECRET
    assert_secret_nowhere_but_the_agent(machine, result)


def test_wget_is_used_when_curl_is_missing(kosmos, release, tmp_path):
    machine = Machine(tmp_path / "m", downloader="wget")
    assert not (machine.bin / "curl").exists()
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert release.requests == ["checksums.txt", "k8s-agent_linux_amd64"]
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == kosmos.live_nodes()[0]["id"]


def test_cloud_config_variant_runs_with_the_secret_file_cloud_init_writes(kosmos, release, machine):
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
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
    assert not secret_path.exists()
    assert_secret_nowhere_but_the_agent(machine, result)


def test_cloud_config_variant_fails_clearly_without_the_secret_file(kosmos, release, machine):
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
    script = doc["write_files"][1]["content"]
    result = machine.run(script)
    assert result.returncode != 0
    assert machine.state().startswith("failed:agent: join secret")


def test_default_agent_url_is_the_regions_release_bucket():
    inputs = JoinInputs(pool_id="nl-ams/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", region="nl-ams")
    text = render(inputs, SECRET).text
    # .goreleaser-prod.yml: bucket scw-<region>-k8s-agent, directory agent/<version without v>.
    assert "AGENT_BASE_URL=https://scw-nl-ams-k8s-agent.s3.nl-ams.scw.cloud/agent/0.1.5\n" in text
    assert "AGENT_VERSION=v0.1.5\n" in text
    assert "API_URL=''\n" in text  # the agent's own default applies


def script_path(machine: Machine):
    return machine.root.parent / f"{machine.root.name}-script.sh"  # where Machine.run puts the delivered script


def test_the_script_removes_its_own_file_which_holds_the_key_after_joining(kosmos, release, machine):
    # Civo keeps Instance.script as /usr/local/bin/civo-user-init-script (pulumi-civo 2.4.8, /work/shared/FACTS.md):
    # the key must not stay in it once the node has joined.
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not script_path(machine).exists()
    assert not (machine.root / "etc/kosmos/join.secret").exists()
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == kosmos.live_nodes()[0]["id"]


def test_a_failed_join_drops_the_key_file_but_keeps_the_script_for_a_retry(kosmos, release, machine):
    kosmos.fail_auth_status = 500
    script = script_for(kosmos, release)
    result = machine.run(script)
    assert result.returncode != 0
    assert not (machine.root / "etc/kosmos/join.secret").exists()
    assert script_path(machine).read_text() == script
    assert f"the join key stays in {script_path(machine)} for a retry" in machine.log()
    kosmos.fail_auth_status = None
    retry = machine.run(script_path(machine).read_text())  # sudo bash <the file left behind>
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert not script_path(machine).exists() and len(kosmos.live_nodes()) == 1


def test_a_failed_cloud_config_join_keeps_the_key_file_cloud_init_wrote_once(kosmos, release, machine):
    kosmos.fail_auth_status = 500
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    secret_path = machine.root / "etc/kosmos/join.secret"
    secret_path.parent.mkdir(parents=True)
    secret_path.write_text(files["/etc/kosmos/join.secret"])
    assert machine.run(files["/usr/local/sbin/kosmos-join"]).returncode != 0
    assert secret_path.read_text() == SECRET  # nothing else could write it again for a retry
    kosmos.fail_auth_status = None
    assert machine.run(files["/usr/local/sbin/kosmos-join"]).returncode == 0
    assert not secret_path.exists()


def test_a_script_piped_on_stdin_or_without_the_key_removes_no_file(kosmos, release, machine, tmp_path, monkeypatch):
    # On-prem pipes the script to `bash -s`: "$0" is "bash"; a file of that name in the working directory stays.
    decoy = tmp_path / "bash"
    decoy.write_text("not the join script\n")
    monkeypatch.chdir(tmp_path)
    result = machine.run("", stdin=script_for(kosmos, release))
    assert result.returncode == 0, result.stderr
    assert decoy.read_text() == "not the join script\n"
    # The cloud-config variant's script holds no key: it stays where cloud-init wrote it.
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    other = Machine(tmp_path / "other")
    (other.root / "etc/kosmos").mkdir(parents=True)
    (other.root / "etc/kosmos/join.secret").write_text(files["/etc/kosmos/join.secret"])
    assert other.run(files["/usr/local/sbin/kosmos-join"], KOSMOS_JOIN_FORCE=1).returncode == 0
    assert script_path(other).exists()


def _checksum_line(release, name="k8s-agent_linux_amd64", sep="  ") -> bytes:
    return hashlib.sha256(release.files[name]).hexdigest().encode() + sep.encode() + name.encode()


@pytest.mark.parametrize(
    "layout",
    ["crlf", "no-final-newline", "binary-mode-star", "same-entry-twice", "padded"],
)
def test_checksums_txt_variants_that_name_the_binary_once_are_understood(kosmos, release, machine, layout):
    """checksums.txt as other tools write it: CRLF (a mirror edited on Windows), no final newline, `sha256sum -b`'s
    `*name`, an identical line twice, extra blanks. goreleaser writes `<sha256>  <file>\\n` (.goreleaser-prod.yml)."""
    other = _checksum_line(release, "k8s-agent_linux_arm64")
    line = _checksum_line(release)
    release.serve["checksums.txt"] = {
        "crlf": other + b"\r\n" + line + b"\r\n",
        "no-final-newline": other + b"\n" + line,
        "binary-mode-star": other + b"\n" + _checksum_line(release, sep=" *") + b"\n",
        "same-entry-twice": line + b"\n" + other + b"\n" + line + b"\n",
        "padded": b"\n  " + line + b"   \n" + other + b"\n",
    }[layout]
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, machine.log()
    assert machine.state() == "ok" and machine.agent_runs() == 1


def test_checksums_txt_with_two_different_sums_for_the_binary_is_refused(kosmos, release, machine):
    """Which line wins is not for the script to guess: the release is ambiguous, nothing runs."""
    release.serve["checksums.txt"] = b"0" * 64 + b"  k8s-agent_linux_amd64\n" + _checksum_line(release) + b"\n"
    result = machine.run(script_for(kosmos, release))
    assert result.returncode != 0
    assert "has two different sha256 for k8s-agent_linux_amd64" in machine.state()
    assert release.requests == ["checksums.txt"] and machine.agent_runs() == 0


def test_the_join_key_is_never_on_a_command_line_even_briefly(kosmos, release, machine):
    """An `env VAR=key agent` puts the key in env's argv (readable by any user in /proc/<pid>/cmdline) until env
    execs the agent: the agent's environment is set by bash itself. A recording `env` on PATH catches a regression."""
    real_env = (machine.bin / "env").resolve()
    (machine.bin / "env").unlink()
    (machine.bin / "env").write_text(
        f'#!{(machine.bin / "bash").resolve()}\nprintf \'%s\\n\' "$*" >>"$KOSMOS_JOIN_ROOT/env.argv"\nexec {real_env} "$@"\n'
    )
    (machine.bin / "env").chmod(0o755)
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, machine.log()
    argv = machine.root / "env.argv"
    assert SECRET not in (argv.read_text() if argv.exists() else "")
    assert machine.agent("SCW_SECRET_KEY") == SECRET  # the agent still gets it, from its environment
    assert_secret_nowhere_but_the_agent(machine, result)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_an_interrupted_join_is_recorded_as_failed_and_drops_the_key_file(kosmos, release, machine, signal_name):
    """cloud-init or systemd stopping sends SIGTERM; a closed SSH session SIGHUP. Without a trap bash runs the EXIT
    trap with status 0: the state stayed running:<step> and the key file stayed on disk."""
    import signal
    import time

    release.always["checksums.txt"] = 503  # the script sleeps between attempts: a window to interrupt it
    proc = machine.start(script_for(kosmos, release), KOSMOS_JOIN_BACKOFF_SECONDS=2)
    try:
        deadline = time.monotonic() + 20
        while "retrying in" not in machine.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "retrying in" in machine.log()
        assert (machine.root / "etc/kosmos/join.secret").exists()  # written before the download
        proc.send_signal(getattr(signal, signal_name))
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    assert machine.state() == "failed:download: interrupted"
    assert not (machine.root / "etc/kosmos/join.secret").exists()
    assert machine.agent_runs() == 0
