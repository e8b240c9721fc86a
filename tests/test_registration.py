"""NodeRegistrationProvider driven directly (create/diff/update/delete) against a local HTTP server on 127.0.0.1
that answers the Scaleway K8s API paths the official SDK really calls; and the provider serialised the way the
Pulumi SDK ships dynamic providers, then run in a fresh Python process."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import urllib.parse

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.registration import NodeRegistrationProvider, RegistrationError
from conftest import REPO
from loopback import LoopbackServer

REGION = "fr-par"
CLUSTER = "11111111-1111-4111-8111-111111111111"
POOL = "22222222-2222-4222-8222-222222222222"
NODE = "33333333-3333-4333-8333-333333333333"
ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
SECRET_KEY = "44444444-4444-4444-8444-444444444444"


def node(status: str, ip: str = "203.0.113.7", name: str = "civo-lon1-0", error: str = "") -> dict:
    # Shaped like scaleway.k8s.v1.Node (unmarshal_Node).
    return {
        "id": NODE, "pool_id": POOL, "cluster_id": CLUSTER, "provider_id": f"kilo://{name}", "region": REGION,
        "name": name, "conditions": {}, "status": status, "public_ip_v4": ip, "public_ip_v6": None,
        "error_message": error or None, "created_at": "2026-11-25T00:00:00Z", "updated_at": "2026-11-25T00:00:00Z",
    }


class FakeK8sApi(LoopbackServer):
    """GET .../clusters/<id>/nodes returns timeline[i] on the i-th poll (the last one repeats);
    DELETE .../nodes/<id> answers `delete_status`."""

    def __init__(self):
        self.timeline: list[list[dict]] = [[]]
        self.delete_status = 200
        self.requests: list[tuple[str, str, dict]] = []
        self.polls = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                api.requests.append(("GET", url.path, query))
                assert self.headers["X-Auth-Token"] == SECRET_KEY
                if url.path != f"/k8s/v1/regions/{REGION}/clusters/{CLUSTER}/nodes":
                    return self._send(404, {"message": "resource is not found", "type": "not_found"})
                if query.get("page", "1") != "1":
                    return self._send(200, {"nodes": [], "total_count": 0})
                nodes = api.timeline[min(api.polls, len(api.timeline) - 1)]
                api.polls += 1
                return self._send(200, {"nodes": nodes, "total_count": len(nodes)})

            def do_DELETE(self):  # noqa: N802
                url = urllib.parse.urlparse(self.path)
                api.requests.append(("DELETE", url.path, dict(urllib.parse.parse_qsl(url.query))))
                if api.delete_status == 404:
                    return self._send(404, {"message": "resource is not found", "type": "not_found",
                                            "resource": "node", "resource_id": NODE})
                return self._send(200, node("deleting"))

            def log_message(self, *args):
                pass

        super().__init__(Handler)

    def gets(self):
        return [r for r in self.requests if r[0] == "GET" and r[2].get("page", "1") == "1"]


@pytest.fixture
def api():
    with FakeK8sApi() as fake:
        yield fake


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def props(api, **overrides) -> dict:
    base = {
        "cluster_id": f"{REGION}/{CLUSTER}", "region": REGION, "pool_id": f"{REGION}/{POOL}",
        "pool_name": "civo-lon1", "machine": "civo-lon1-0", "match_ip": "203.0.113.7", "match_name": "civo-lon1-0",
        "wait": True, "timeout_seconds": 900, "poll_seconds": 5, "skip_drain": False, "api_url": api.url,
        "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "node_id": None, "node_name": None, "status": None,
    }
    base.update(overrides)
    return base


def provider(clock: FakeClock) -> NodeRegistrationProvider:
    return NodeRegistrationProvider(clock=clock.clock, sleep=clock.sleep)


def test_create_waits_until_the_node_appears_and_is_ready(api):
    api.timeline = [[], [node("creating")], [node("not_ready")], [node("ready")]]
    clock = FakeClock()
    result = provider(clock).create(props(api))
    assert result.id == NODE
    assert (result.outs["node_id"], result.outs["node_name"], result.outs["status"]) == (NODE, "civo-lon1-0", "ready")
    assert "secret_key" not in result.outs and "access_key" not in result.outs
    gets = api.gets()
    assert len(gets) == 4
    for _, path, query in gets:
        assert path == f"/k8s/v1/regions/{REGION}/clusters/{CLUSTER}/nodes"
        assert query["pool_id"] == POOL  # bare UUID
    assert clock.sleeps == [5, 7.5, 11.25]  # backs off between polls


def test_create_matches_by_node_name_when_there_is_no_public_ip(api):
    api.timeline = [[node("ready", ip="198.51.100.9", name="other"), node("ready", ip=None, name="MAC-VM")]]
    result = provider(FakeClock()).create(props(api, match_ip=None, match_name="mac-vm", machine="mac-vm"))
    assert result.outs["node_name"] == "MAC-VM"


def test_creation_error_fails_at_once_with_the_api_message(api):
    api.timeline = [[node("creating")], [node("creation_error", error="kubelet failed to start: no space left")]]
    with pytest.raises(RegistrationError) as err:
        provider(FakeClock()).create(props(api))
    message = str(err.value)
    assert "kubelet failed to start: no space left" in message
    assert "machine 'civo-lon1-0'" in message and "pool 'civo-lon1'" in message
    assert "/var/lib/kosmos/join.state" in message
    assert len(api.gets()) == 2


def test_a_node_that_never_appears_times_out_naming_machine_pool_and_where_to_look(api):
    api.timeline = [[node("ready", ip="198.51.100.1", name="someone-else")]]
    clock = FakeClock()
    with pytest.raises(RegistrationError) as err:
        provider(clock).create(props(api, timeout_seconds=60))
    message = str(err.value)
    assert message.startswith("timed out after 60s")
    assert "machine 'civo-lon1-0' (node with public IP 203.0.113.7 or name civo-lon1-0)" in message
    assert f"pool 'civo-lon1' ({POOL})" in message
    assert "last status: not registered yet" in message
    assert "/var/lib/kosmos/join.state and /var/log/kosmos-join.log" in message
    assert clock.now <= 60
    assert 3 <= len(api.gets()) <= 10


def test_timeout_reports_the_last_status_and_api_error(api):
    api.timeline = [[node("not_ready", error="kubelet not posting status")]]
    with pytest.raises(RegistrationError, match="last status: not_ready \\(API error: kubelet not posting status\\)"):
        provider(FakeClock()).create(props(api, timeout_seconds=30))


def test_wait_false_creates_without_calling_the_api(api):
    result = provider(FakeClock()).create(props(api, wait=False))
    assert result.id == f"{POOL}/civo-lon1-0"
    assert result.outs["status"] == "not-waited"
    assert api.requests == []


@pytest.mark.parametrize("skip_drain", [False, True])
def test_delete_of_a_ready_node_sends_delete_with_the_drain_flag(api, skip_drain):
    api.timeline = [[node("ready")]]
    provider(FakeClock()).delete(NODE, props(api, node_id=NODE, skip_drain=skip_drain))
    deletes = [r for r in api.requests if r[0] == "DELETE"]
    # The SDK encodes the flag as Python's bool text ("True"/"False"), as it does against the real API.
    assert deletes == [("DELETE", f"/k8s/v1/regions/{REGION}/nodes/{NODE}", {"skip_drain": str(skip_drain)})]


def test_delete_finds_the_node_even_without_a_recorded_id(api):
    api.timeline = [[node("ready")]]
    provider(FakeClock()).delete(f"{POOL}/civo-lon1-0", props(api, wait=False, node_id=""))
    assert [r[1] for r in api.requests if r[0] == "DELETE"] == [f"/k8s/v1/regions/{REGION}/nodes/{NODE}"]


def test_delete_of_a_missing_node_is_success(api):
    api.timeline = [[]]
    api.delete_status = 404
    provider(FakeClock()).delete(NODE, props(api, node_id=NODE))  # no exception
    assert [r[0] for r in api.requests] == ["GET", "DELETE"]
    api.requests.clear()
    provider(FakeClock()).delete("x", props(api, node_id=""))  # never registered: nothing to delete
    assert [r[0] for r in api.requests] == ["GET"]


def test_diff_replaces_on_identity_and_updates_settings_in_place(api):
    p = provider(FakeClock())
    old = {**props(api), "node_id": NODE, "node_name": "civo-lon1-0", "status": "ready"}
    same = p.diff(NODE, old, props(api))
    assert same.changes is False and same.replaces == []
    ip = p.diff(NODE, old, props(api, match_ip="203.0.113.8"))
    assert ip.changes is True and ip.replaces == ["match_ip"] and ip.delete_before_replace is False
    timeout = p.diff(NODE, old, props(api, timeout_seconds=60, skip_drain=True))
    assert timeout.changes is True and timeout.replaces == []
    updated = p.update(NODE, old, props(api, skip_drain=True))
    assert updated.outs["node_id"] == NODE and updated.outs["skip_drain"] is True
    assert "secret_key" not in updated.outs


def test_serialised_provider_runs_a_create_in_a_fresh_process(api):
    """The engine pickles dynamic providers with dill (pulumi.dynamic.serialize_provider) and loads them in the
    provider host process: do the same and run a create against the local API from there."""
    api.timeline = [[], [node("ready")]]
    blob = serialize_provider(NodeRegistrationProvider())
    assert len(blob) < 20_000  # by reference: no SDK client or module state captured
    code = (
        "import base64, json, sys, dill\n"
        "provider = dill.loads(base64.b64decode(sys.stdin.readline()))\n"
        "props = json.loads(sys.stdin.readline())\n"
        "result = provider.create(props)\n"
        "print(json.dumps({'id': result.id, 'outs': result.outs}))\n"
    )
    payload = blob + "\n" + json.dumps(props(api, poll_seconds=0.05, timeout_seconds=20)) + "\n"
    proc = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["id"] == NODE and out["outs"]["status"] == "ready"
    assert "waiting for machine 'civo-lon1-0'" in proc.stderr  # progress is reported while it waits
    assert len(api.gets()) == 2
