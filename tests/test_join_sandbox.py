"""The rendered join script, really executed by bash in a sandbox: it writes its node's credentials as the agent's
cache, downloads the stand-in k8s-agent (tests/k8s_agent.py) over https from 127.0.0.1, verifies it, and the agent
installs the node kosmos registered for this machine (components/identity.py, run for real against the local
Kosmos of tests/kosmos_api.py): with the cache in place it registers nothing (k8s-agent metadata.go)."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import stat
import urllib.error
import urllib.request

import pytest
import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components.identity import NodeIdentityProvider
from components.userdata import JoinInputs, node_credentials, render, render_leave
from k8s_agent import AgentRelease
from kosmos_api import LocalKosmos
from loopback import DROP, Faults
from sandbox import Machine

REPO = pathlib.Path(__file__).resolve().parent.parent
ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"
PLACEHOLDER = "unused-node-registered-by-kosmos"  # the agent's SCW_SECRET_KEY (templates/join/join.sh.j2)
TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z kosmos-join\[[a-z]+\]: ", re.M)
NODE_NAME = re.compile(r"^scw-multicloud-civo-lon1-[0-9a-f]{22}$")


@pytest.fixture(autouse=True)
def no_scw_environment(monkeypatch, tmp_path):
    for name in [n for n in __import__("os").environ if n.startswith("SCW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def kosmos():
    # No join key on the pool: kosmos registers every node with the operator's key; public_ip_v4 never reported.
    with LocalKosmos(operator_secret=OPERATOR_SECRET, ready_seconds=0.0) as k:
        k.pool = k.add_pool("civo-lon1")
        k.registered = []
        yield k


@pytest.fixture
def release():
    with AgentRelease() as r:
        yield r


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path / "machine")


def register(kosmos, machine: str = "civo-lon1-0") -> dict:
    """What the program does before the machine exists: NodeIdentity.create with the operator's credentials."""
    provider = NodeIdentityProvider()
    provider.configure(ConfigureRequest(config=Config(raw_config={
        "scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET, "scaleway:apiUrl": kosmos.url},
        project_name="kosmos")))
    outs = provider.create({"region": "fr-par", "pool_id": f"fr-par/{kosmos.pool.id}", "pool_name": "civo-lon1",
                            "machine": machine, "generation": "abc123", "api_url": None, "timeout_seconds": 10,
                            "poll_seconds": 0.05}).outs
    kosmos.registered.append(outs)
    return outs


def join_inputs(kosmos, release, **inputs) -> JoinInputs:
    return JoinInputs(pool_id=f"fr-par/{kosmos.pool.id}", region="fr-par", agent_base_url=release.base_url,
                      api_url=kosmos.url, **inputs)


def script_for(kosmos, release, node: dict | None = None, variant: str = "script", **inputs) -> str:
    """The machine's userdata for `node` (a newly registered one by default): the pool's rendering, personalised."""
    node = node or register(kosmos)
    return render(join_inputs(kosmos, release, **inputs), node_credentials(node["metadata_url"],
                                                                           node["node_secret_key"]), variant).text


def reported(stdout: str) -> dict:
    return dict(re.findall(r"^(KOSMOS_NODE_(?:ID|NAME))=(\S*)$", stdout, re.M))


def can_register(kosmos, token: str) -> bool:
    """Whether `token` registers a node, asked the way k8s-agent asks (metadata.go registerKosmosNode)."""
    url = f"{kosmos.url}/k8s/v1/regions/fr-par/pools/{kosmos.pool.id}/external-nodes/auth"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="POST", headers={"X-Auth-Token": token}),
                                    timeout=10):
            return True
    except urllib.error.HTTPError:
        return False


def assert_only_its_own_node(kosmos, machine: Machine, result, node: dict) -> None:
    """The node secret is in the agent's root-only cache and nowhere else; nothing on the machine can register a
    node (the operator's key is nowhere, and the node secret itself is refused by the registration endpoint)."""
    secret = node["node_secret_key"]
    for text in (result.stdout, result.stderr, machine.log(), machine.agent("argv") or "",
                 machine.agent("cmdlines") or "", machine.all_files_text()):
        assert secret not in text
        assert OPERATOR_SECRET not in text and ACCESS_KEY not in text
    cache = machine.root / "etc/scw-k8s-userdata"
    assert json.loads(cache.read_text()) == {"metadata_url": node["metadata_url"], "node_secret_key": secret}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert OPERATOR_SECRET not in machine.all_files_text(exclude=())
    calls = kosmos.auth_calls()
    assert not can_register(kosmos, secret) and not can_register(kosmos, PLACEHOLDER)
    assert kosmos.auth_calls() == calls + 2 and len(kosmos.live_nodes()) == len(kosmos.registered)


@pytest.mark.parametrize("uname, arch", [("x86_64", "amd64"), ("aarch64", "arm64")])
def test_joins_as_the_node_kosmos_registered_for_it_without_registering_anything(kosmos, release, tmp_path, uname,
                                                                                   arch):
    machine = Machine(tmp_path / "m", machine=uname)
    node = register(kosmos)
    assert kosmos.auth_calls() == 1 and kosmos.live_nodes()[0]["status"] == "creating"  # no machine yet
    result = machine.run(script_for(kosmos, release, node))
    assert result.returncode == 0, result.stdout + result.stderr
    # checksums.txt first (no pin), then the binary for this arch, both over https.
    assert release.requests == ["checksums.txt", f"k8s-agent_linux_{arch}"]
    assert machine.agent("argv").split() == ["-kosmos"]  # k8s-agent main.go knows -kosmos and -version only
    assert machine.agent("POOL_ID") == kosmos.pool.id  # the bare UUID, not fr-par/<uuid>
    assert machine.agent("POOL_REGION") == "fr-par"
    # metadata.go requires a non-empty SCW_SECRET_KEY but, with the cache, never sends it: a placeholder.
    assert machine.agent("SCW_SECRET_KEY") == PLACEHOLDER
    assert machine.agent("used-cache") == "yes"  # the agent took the cache kosmos wrote before it ran
    assert machine.agent("SCW_API_URL") == kosmos.url
    assert kosmos.auth_calls() == 1  # still only the program's registration
    [listed] = kosmos.live_nodes()
    assert listed["id"] == node["node_id"] and NODE_NAME.match(listed["name"])
    assert listed["public_ip_v4"] is None  # never reported, never needed
    assert listed["status"] == "ready"  # its kubelet reached the cluster
    # The identity the join reads back is the one kosmos registered, never the hostname (Node-A).
    assert reported(result.stdout) == {"KOSMOS_NODE_ID": node["node_id"], "KOSMOS_NODE_NAME": node["node_name"]}
    recorded = json.loads((machine.root / "var/lib/kosmos/node.json").read_text())
    assert (recorded["id"], recorded["name"], recorded["pool_id"]) == (node["node_id"], node["node_name"],
                                                                      kosmos.pool.id)
    assert machine.state() == "ok"
    assert_only_its_own_node(kosmos, machine, result, node)
    agent = machine.root / f"usr/local/lib/kosmos/k8s-agent_linux_{arch}"
    assert agent.read_bytes() == release.agent and stat.S_IMODE(agent.stat().st_mode) == 0o700


def test_every_step_is_logged_with_a_timestamp_to_stdout_and_the_log_file(kosmos, release, machine):
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout
    steps = re.findall(r"kosmos-join\[([a-z]+)\]", machine.log())
    ordered = list(dict.fromkeys(steps))
    assert ordered == ["root", "credentials", "os", "arch", "resources", "download", "agent", "identity", "finished"]
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
    assert release.requests == [] and machine.agent_runs() == 0 and kosmos.auth_calls() == 1  # the program's only


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
    assert machine.agent_runs() == 0 and kosmos.auth_calls() == 1
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
    # The agent reused the cache: still one node, one auth call (the program's).
    assert kosmos.auth_calls() == 1 and len(kosmos.live_nodes()) == 1
    assert reported(forced.stdout) == reported(first.stdout)


def test_leave_then_a_new_identity_joins_as_a_new_node(kosmos, release, machine):
    first = machine.run(script_for(kosmos, release))
    assert first.returncode == 0, first.stdout
    leave = render_leave(join_inputs(kosmos, release))
    result = machine.run(leave)
    assert result.returncode == 0, result.stdout + result.stderr
    assert machine.state() == "left"
    for gone in ("etc/scw-k8s-userdata", "etc/scw-k8s-versions.json", "var/lib/kosmos/node.json",
                 "usr/local/lib/kosmos/k8s-agent_linux_amd64"):
        assert not (machine.root / gone).exists(), gone
    calls = (machine.root / "systemctl.calls").read_text().splitlines()
    assert "disable --now kubelet.service" in calls and "disable --now containerd.service" in calls
    second = machine.run(script_for(kosmos, release))  # a replaced machine gets a new identity
    assert second.returncode == 0, second.stdout
    assert kosmos.auth_calls() == 2  # both by the program
    assert reported(second.stdout)["KOSMOS_NODE_ID"] == kosmos.registered[1]["node_id"] != \
        reported(first.stdout)["KOSMOS_NODE_ID"]


def test_a_host_handed_a_new_node_reinstalls_its_components_for_it(kosmos, release, machine):
    # On-prem: a refresh found the host's node lost, so kosmos registered a new one and re-runs the join (forced) on
    # the same host. k8s-agent installs only components whose version differs and renders the node's metadata into
    # them only then (component.go): without a reset the kubelet would keep the old node's credentials.
    old, new = register(kosmos, "home-mac"), register(kosmos, "home-mac")
    first = machine.run(script_for(kosmos, release, old))
    assert first.returncode == 0, first.stdout
    installed = machine.agent("components")
    assert not (machine.root / "systemctl.calls").exists()
    again = machine.run(script_for(kosmos, release, new), KOSMOS_JOIN_FORCE=1)
    assert again.returncode == 0, again.stdout
    calls = (machine.root / "systemctl.calls").read_text().splitlines()
    assert "disable --now kubelet.service" in calls and "disable --now containerd.service" in calls
    assert "ran another node until now" in machine.log()
    # Every component installed again, for the new node, which the join now reports.
    assert machine.agent("components") == installed + installed
    assert reported(again.stdout)["KOSMOS_NODE_ID"] == new["node_id"] != old["node_id"]
    assert json.loads((machine.root / "var/lib/kosmos/node.json").read_text())["id"] == new["node_id"]
    assert_only_its_own_node(kosmos, machine, again, new)


def test_a_first_join_of_another_node_on_a_joined_host_is_not_taken_for_a_rerun(kosmos, release, machine):
    # On-prem: the host's Command is created anew (its pool renamed, or the host moved to another pool) while the
    # host still runs its old node, whose leave runs only at the end of the update. The join is not forced, yet it
    # carries another node's credentials: "already joined" would leave the new node never Ready.
    old, new = register(kosmos, "home-mac"), register(kosmos, "home-mac")
    assert machine.run(script_for(kosmos, release, old)).returncode == 0
    again = machine.run(script_for(kosmos, release, new))
    assert again.returncode == 0, again.stdout
    assert "already joined" not in machine.log() and "ran another node until now" in machine.log()
    assert reported(again.stdout)["KOSMOS_NODE_ID"] == new["node_id"]
    assert_only_its_own_node(kosmos, machine, again, new)
    # Run again as it is (the same node): nothing to do.
    assert machine.run(script_for(kosmos, release, new)).returncode == 0
    assert machine.log().count("already joined") == 1


def test_the_old_pools_leave_spares_a_host_that_joined_another_pool_since(kosmos, release, machine):
    # On-prem, a pool renamed (a new pool) or a host moved to another pool: the host joins the new pool first, and
    # only at the end of the update does the old Command's delete run the old pool's leave. It must not undo the
    # join that replaced it.
    old_pool = kosmos.pool
    assert machine.run(script_for(kosmos, release, register(kosmos, "home-mac"))).returncode == 0
    kosmos.pool = kosmos.add_pool("home-renamed")
    new = register(kosmos, "home-mac")
    joined = machine.run(script_for(kosmos, release, new))
    assert joined.returncode == 0, joined.stdout
    calls = (machine.root / "systemctl.calls").read_text()
    result = machine.run(render_leave(JoinInputs(pool_id=f"fr-par/{old_pool.id}", region="fr-par")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (machine.root / "systemctl.calls").read_text() == calls  # nothing stopped
    assert machine.state() == "ok" and f"not in pool {old_pool.id}" in machine.log()
    assert json.loads((machine.root / "var/lib/kosmos/node.json").read_text())["id"] == new["node_id"]
    assert_only_its_own_node(kosmos, machine, joined, new)
    # The new pool's own leave still leaves.
    assert machine.run(render_leave(join_inputs(kosmos, release))).returncode == 0
    assert machine.state() == "left" and not (machine.root / "etc/scw-k8s-userdata").exists()


def test_the_leave_of_a_renamed_hosts_old_command_spares_its_new_node(kosmos, release, machine):
    # On-prem, a host renamed in its pool: a new Command joins it as a new node (same pool), and the old Command's
    # leave runs at the end of the update. Naming its node, that leave must not undo the new join.
    old = register(kosmos, "home-mac")
    assert machine.run(script_for(kosmos, release, old)).returncode == 0
    new = register(kosmos, "home-mac-2")
    joined = machine.run(script_for(kosmos, release, new))
    assert joined.returncode == 0, joined.stdout
    calls = (machine.root / "systemctl.calls").read_text()
    result = machine.run(render_leave(join_inputs(kosmos, release), node_id=old["node_id"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (machine.root / "systemctl.calls").read_text() == calls  # nothing stopped
    assert machine.state() == "ok" and f"not node {old['node_id']}" in machine.log()
    assert json.loads((machine.root / "var/lib/kosmos/node.json").read_text())["id"] == new["node_id"]
    # The new Command's own leave still leaves.
    assert machine.run(render_leave(join_inputs(kosmos, release), node_id=new["node_id"])).returncode == 0
    assert machine.state() == "left" and not (machine.root / "etc/scw-k8s-userdata").exists()


def test_a_forced_rejoin_as_the_same_node_stops_nothing(kosmos, release, machine):
    script = script_for(kosmos, release)
    assert machine.run(script).returncode == 0
    again = machine.run(script, KOSMOS_JOIN_FORCE=1)
    assert again.returncode == 0, again.stdout
    assert not (machine.root / "systemctl.calls").exists()
    assert "ran another node" not in machine.log()


def metadata_faults(*script) -> Faults:
    return Faults(script=list(script), only=lambda method, path: path.endswith("/node-metadata"))


def test_agent_failure_is_reported_with_its_status_after_bounded_attempts(kosmos, release, machine):
    script = script_for(kosmos, release)
    kosmos.faults = metadata_faults(*[500] * 5)
    result = machine.run(script)
    assert result.returncode != 0
    assert machine.state() == (
        f"failed:agent: k8s-agent exited with status 1 (attempt 5/5; its output is in "
        f"{machine.root}/var/log/kosmos-join.log)"
    )
    assert "failed to get node metadata: 500 Internal Server Error" in machine.log()
    assert machine.agent_runs() == 5 and len(kosmos.faults.injected) == 5
    assert machine.log().count("); again in 0s") == 4
    assert kosmos.auth_calls() == 1  # the program's: the agent never registers


def test_a_failing_agent_runs_again_with_backoff_and_joins_as_its_node(kosmos, release, machine):
    # k8s-agent exits 1 on any failed call and never retries (metadata.go): the join runs it again.
    node = register(kosmos)
    kosmos.faults = metadata_faults(429, 503, DROP)
    result = machine.run(script_for(kosmos, release, node))
    assert result.returncode == 0, result.stdout
    assert machine.agent_runs() == 4 and len(kosmos.faults.injected) == 3
    assert [line.split("kosmos-join[agent]: ", 1)[1] for line in machine.log().splitlines()
            if "again in" in line] == [f"k8s-agent exited with status 1 (attempt {n}/5); again in 0s" for n in (1, 2, 3)]
    assert machine.state() == "ok" and kosmos.auth_calls() == 1 and len(kosmos.live_nodes()) == 1
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == node["node_id"]
    assert_only_its_own_node(kosmos, machine, result, node)


def test_the_backoff_between_agent_runs_doubles_from_the_configured_base(kosmos, release, machine):
    script = script_for(kosmos, release)
    kosmos.faults = metadata_faults(503, 503)
    result = machine.run(script, KOSMOS_JOIN_BACKOFF_SECONDS=1)
    assert result.returncode == 0, result.stdout
    log = machine.log()
    assert "(attempt 1/5); again in 1s" in log and "(attempt 2/5); again in 2s" in log
    assert machine.agent_runs() == 3 and len(kosmos.live_nodes()) == 1


def test_the_credentials_of_a_deleted_node_join_nothing_and_are_not_retried(kosmos, release, machine):
    # The node was deleted (its machine replaced, or destroyed) before this machine booted: the agent's metadata
    # call is refused and it exits 1 (metadata.go getNodeMetadata); a refusal is not retried and no node appears.
    node = register(kosmos)
    kosmos.handle("DELETE", f"/k8s/v1/regions/fr-par/nodes/{node['node_id']}", {}, OPERATOR_SECRET)
    result = machine.run(script_for(kosmos, release, node))
    assert result.returncode != 0
    assert "failed to get node metadata: 401 Unauthorized" in machine.log()
    assert machine.agent_runs() == 1
    assert machine.state() == (f"failed:agent: Scaleway refused this node's credentials, not retried (k8s-agent "
                               f"status 1; see {machine.root}/var/log/kosmos-join.log)")
    assert kosmos.auth_calls() == 1
    # The README ("When an API call fails") quotes this case as it happens.
    readme = " ".join((REPO / "README.md").read_text().split())
    assert "`failed to get node metadata: 401 Unauthorized`" in readme
    assert "`failed:agent: Scaleway refused this node's credentials, not retried ...`" in readme


def test_credentials_with_shell_metacharacters_reach_the_cache_intact(kosmos, release, machine, tmp_path):
    nasty = "k'ey\"$(touch /tmp/kosmos-pwned)`x`;$HOME"
    text = render(join_inputs(kosmos, release), node_credentials(f"{kosmos.url}/x?a='b'", nasty), "script").text
    machine.run(text)
    cache = machine.root / "etc/scw-k8s-userdata"
    assert json.loads(cache.read_text()) == {"metadata_url": f"{kosmos.url}/x?a='b'", "node_secret_key": nasty}
    assert not pathlib.Path("/tmp/kosmos-pwned").exists()


def test_the_script_also_runs_from_stdin_as_on_prem_sends_it(kosmos, release, machine):
    node = register(kosmos)
    result = machine.run("", stdin=script_for(kosmos, release, node))
    assert result.returncode == 0, result.stderr
    assert machine.agent("SCW_SECRET_KEY") == PLACEHOLDER
    assert_only_its_own_node(kosmos, machine, result, node)


def test_wget_is_used_when_curl_is_missing(kosmos, release, tmp_path):
    machine = Machine(tmp_path / "m", downloader="wget")
    assert not (machine.bin / "curl").exists()
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert release.requests == ["checksums.txt", "k8s-agent_linux_amd64"]
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == kosmos.live_nodes()[0]["id"]


def write_files(machine: Machine, files: dict, only: tuple[str, ...] = ("/etc/scw-k8s-userdata",)) -> None:
    """What cloud-init's write_files does before runcmd: the listed files, with their modes."""
    for path in only:
        target = machine.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(files[path]["content"])
        target.chmod(int(files[path]["permissions"], 8))


def test_cloud_config_variant_runs_with_the_cache_cloud_init_writes(kosmos, release, machine):
    node = register(kosmos)
    doc = yaml.safe_load(script_for(kosmos, release, node, variant="cloud-config"))
    files = {f["path"]: f for f in doc["write_files"]}
    assert files["/etc/scw-k8s-userdata"]["permissions"] == "0600"
    assert files["/etc/scw-k8s-userdata"]["owner"] == "root:root"
    assert files["/usr/local/sbin/kosmos-join"]["permissions"] == "0700"
    assert doc["runcmd"] == [["/usr/local/sbin/kosmos-join"]]
    script = files["/usr/local/sbin/kosmos-join"]["content"]
    assert node["node_secret_key"] not in script  # the script itself never holds the credentials in this form
    write_files(machine, files)
    result = machine.run(script)
    assert result.returncode == 0, result.stdout
    assert machine.agent("SCW_SECRET_KEY") == PLACEHOLDER and machine.agent("used-cache") == "yes"
    assert_only_its_own_node(kosmos, machine, result, node)


def test_cloud_config_variant_fails_clearly_without_the_cache(kosmos, release, machine):
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
    script = doc["write_files"][1]["content"]
    result = machine.run(script)
    assert result.returncode != 0
    assert machine.state().startswith("failed:credentials: no node credentials in")
    assert machine.agent_runs() == 0  # the agent never runs without them (it would try to register)


def test_default_agent_url_is_the_regions_release_bucket():
    inputs = JoinInputs(pool_id="nl-ams/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", region="nl-ams")
    text = render(inputs, node_credentials("https://api.scaleway.com/x", "k")).text
    # .goreleaser-prod.yml: bucket scw-<region>-k8s-agent, directory agent/<version without v>.
    assert "AGENT_BASE_URL=https://scw-nl-ams-k8s-agent.s3.nl-ams.scw.cloud/agent/0.1.5\n" in text
    assert "AGENT_VERSION=v0.1.5\n" in text
    assert "API_URL=''\n" in text  # the agent's own default applies


def script_path(machine: Machine):
    return machine.root.parent / f"{machine.root.name}-script.sh"  # where Machine.run puts the delivered script


def test_the_script_removes_its_own_file_which_holds_the_credentials_after_joining(kosmos, release, machine):
    # Civo keeps Instance.script as /usr/local/bin/civo-user-init-script (pulumi-civo 2.4.8, /work/shared/FACTS.md):
    # once joined, the node's credentials stay only in the agent's root-only cache.
    result = machine.run(script_for(kosmos, release))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not script_path(machine).exists()
    assert reported(result.stdout)["KOSMOS_NODE_ID"] == kosmos.live_nodes()[0]["id"]


def test_a_failed_join_keeps_the_script_for_a_retry(kosmos, release, machine):
    release.always["k8s-agent_linux_amd64"] = 503
    script = script_for(kosmos, release)
    result = machine.run(script)
    assert result.returncode != 0
    assert script_path(machine).read_text() == script
    assert f"this node's credentials stay in {script_path(machine)} for a retry" in machine.log()
    del release.always["k8s-agent_linux_amd64"]
    retry = machine.run(script_path(machine).read_text())  # sudo bash <the file left behind>
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert not script_path(machine).exists() and len(kosmos.live_nodes()) == 1


def test_a_failed_cloud_config_join_keeps_the_cache_cloud_init_wrote_once(kosmos, release, machine):
    release.always["k8s-agent_linux_amd64"] = 503
    node = register(kosmos)
    doc = yaml.safe_load(script_for(kosmos, release, node, variant="cloud-config"))
    files = {f["path"]: f for f in doc["write_files"]}
    write_files(machine, files)
    assert machine.run(files["/usr/local/sbin/kosmos-join"]["content"]).returncode != 0
    cache = machine.root / "etc/scw-k8s-userdata"
    assert json.loads(cache.read_text())["node_secret_key"] == node["node_secret_key"]  # nothing writes it again
    del release.always["k8s-agent_linux_amd64"]
    assert machine.run(files["/usr/local/sbin/kosmos-join"]["content"]).returncode == 0


def test_a_script_piped_on_stdin_or_without_credentials_removes_no_file(kosmos, release, machine, tmp_path,
                                                                         monkeypatch):
    # On-prem pipes the script to `bash -s`: "$0" is "bash"; a file of that name in the working directory stays.
    decoy = tmp_path / "bash"
    decoy.write_text("not the join script\n")
    monkeypatch.chdir(tmp_path)
    result = machine.run("", stdin=script_for(kosmos, release))
    assert result.returncode == 0, result.stderr
    assert decoy.read_text() == "not the join script\n"
    # The cloud-config variant's script holds no credentials: it stays where cloud-init wrote it.
    doc = yaml.safe_load(script_for(kosmos, release, variant="cloud-config"))
    files = {f["path"]: f for f in doc["write_files"]}
    other = Machine(tmp_path / "other")
    write_files(other, files)
    assert other.run(files["/usr/local/sbin/kosmos-join"]["content"], KOSMOS_JOIN_FORCE=1).returncode == 0
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


def test_the_node_secret_is_never_on_a_command_line_even_briefly(kosmos, release, machine):
    """An `env VAR=secret cmd` puts the secret in env's argv (readable by any user in /proc/<pid>/cmdline): the
    script passes nothing through env. A recording `env` on PATH catches a regression."""
    real_env = (machine.bin / "env").resolve()
    (machine.bin / "env").unlink()
    (machine.bin / "env").write_text(
        f'#!{(machine.bin / "bash").resolve()}\nprintf \'%s\\n\' "$*" >>"$KOSMOS_JOIN_ROOT/env.argv"\nexec {real_env} "$@"\n'
    )
    (machine.bin / "env").chmod(0o755)
    node = register(kosmos)
    result = machine.run(script_for(kosmos, release, node))
    assert result.returncode == 0, machine.log()
    argv = machine.root / "env.argv"
    assert node["node_secret_key"] not in (argv.read_text() if argv.exists() else "")
    assert_only_its_own_node(kosmos, machine, result, node)


@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGHUP"])
def test_an_interrupted_join_is_recorded_as_failed(kosmos, release, machine, signal_name):
    """cloud-init or systemd stopping sends SIGTERM; a closed SSH session SIGHUP. Without a trap bash runs the EXIT
    trap with status 0: the state stayed running:<step>. What stays on disk is this node's own cache (root-only),
    which a retry needs and which registers nothing."""
    import signal
    import time

    release.always["checksums.txt"] = 503  # the script sleeps between attempts: a window to interrupt it
    node = register(kosmos)
    proc = machine.start(script_for(kosmos, release, node), KOSMOS_JOIN_BACKOFF_SECONDS=2)
    try:
        deadline = time.monotonic() + 20
        while "retrying in" not in machine.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "retrying in" in machine.log()
        assert (machine.root / "etc/scw-k8s-userdata").exists()  # written before the download
        proc.send_signal(getattr(signal, signal_name))
        proc.wait(timeout=20)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0
    assert machine.state() == "failed:download: interrupted"
    assert machine.agent_runs() == 0
    assert not can_register(kosmos, node["node_secret_key"])
