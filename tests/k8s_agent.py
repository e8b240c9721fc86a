"""A stand-in for Scaleway's k8s-agent and the release directory it is downloaded from.

Written from github.com/scaleway/k8s-agent v0.1.5:
- main.go: Go `flag` with only `-kosmos` and `-version` (any other flag: "flag provided but not defined", usage,
  exit 2; `-h`: usage, exit 0); `-version` prints the version; not root: "Agent must be run as root", exit 1;
  without `-kosmos` it reads Kapsule credentials from 169.254.42.42 and fails off Scaleway; in Kosmos mode it exits
  after installing.
- metadata.go: POOL_ID, POOL_REGION, SCW_SECRET_KEY required in that order (getKosmosUserData), SCW_API_URL optional
  (default https://api.scaleway.com); then registerKosmosNode: `/etc/scw-k8s-userdata` read first; present, it is
  unmarshalled and used as is ("failed to unmarshal Kosmos node userdata cache" if it is not JSON) and SCW_SECRET_KEY
  is never sent; absent, POST …/external-nodes/auth with `X-Auth-Token: $SCW_SECRET_KEY`, the answer written to the
  cache 0600. Then getNodeMetadata: GET metadata_url with the node secret.
- controller.go: the node token authenticates to `cluster_url` (`config.BearerToken = nodemetadata.Token`). The
  stand-in stands for the kubelet it installed with one POST `<cluster_url>/kubelet` with that token, which makes the
  local Kosmos (tests/kosmos_api.py) count the node's kubelet as started.
- versions.go: installed component versions in `/etc/scw-k8s-versions.json` (a flat JSON object, written 0644);
  `expandVersion`: a component's version "" is the pool's version, "~x" is appended to it.
- component.go / release.go: every run reads `releases.yaml` of the repository for the metadata's `pool_version`
  ("release <v> not found" otherwise: exit 1, "Failed to process components"), uninstalls in reverse order each
  installed component whose version differs (recorded as "uninstalled"), then installs each one whose installed
  version differs from the expected one ("Component already installed" otherwise). The stand-in repository's
  release of any `1.<minor>.<patch>` lists containerd (fixed version) and kubelet (the pool's version).
- .goreleaser-prod.yml: binaries `k8s-agent_linux_{amd64,arm64}`, `checksums.txt` lines `<sha256>  <file>`.
Errors are logged as slog's default logger does (stderr, `2006/01/02 15:04:05 ERROR msg key=value`).
Sandbox-only: paths are re-rooted under KOSMOS_JOIN_ROOT; what it was given is recorded under $ROOT/agent/.
"""

from __future__ import annotations

import hashlib
import http.server
import sys

from loopback import LoopbackServer

VERSION = "0.1.5"
ARCHES = ("amd64", "arm64")

AGENT_SOURCE = r'''#!{python}
import json, os, re, subprocess, sys, time, urllib.error, urllib.request

ROOT = os.environ.get("KOSMOS_JOIN_ROOT", "")
USAGE = """Usage of k8s-agent:
  -kosmos
    \tEnable Kosmos mode (multicloud): POOL_ID, POOL_REGION and SCW_SECRET_KEY env vars must be set
  -version
    \tPrint the version
"""


def slog(level, msg, **attrs):
    # Go log/slog's default handler quotes a value that needs it (strconv.Quote), as TextHandler does.
    quoted = {k: json.dumps(str(v)) if any(c in str(v) for c in ' ="') else v for k, v in attrs.items()}
    extra = "".join(f" {k}={v}" for k, v in quoted.items())
    print(time.strftime("%Y/%m/%d %H:%M:%S") + f" {level} {msg}{extra}", file=sys.stderr, flush=True)


def record():
    out = os.path.join(ROOT, "agent")
    os.makedirs(out, exist_ok=True)
    for name in ("POOL_ID", "POOL_REGION", "SCW_SECRET_KEY", "SCW_API_URL"):
        if name in os.environ:
            open(os.path.join(out, name), "w").write(os.environ[name])
    open(os.path.join(out, "argv"), "w").write("\n".join(sys.argv[1:]) + "\n")
    open(os.path.join(out, "runs"), "a").write("run\n")
    lines = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                lines.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    open(os.path.join(out, "cmdlines"), "w").write("\n".join(lines))


def parse_flags(args):
    flags = {"kosmos": False, "version": False}
    for arg in args:
        if not arg.startswith("-") or arg in ("-", "--"):
            break  # Go's flag package stops at the first non-flag argument
        name, _, value = arg.lstrip("-").partition("=")
        if name in ("h", "help"):
            sys.stderr.write(USAGE)
            sys.exit(0)
        if name not in flags:
            sys.stderr.write(f"flag provided but not defined: -{name}\n" + USAGE)
            sys.exit(2)
        if value not in ("", "true", "false", "1", "0"):
            sys.stderr.write(f'invalid boolean value "{value}" for -{name}: parse error\n' + USAGE)
            sys.exit(2)
        flags[name] = value in ("", "true", "1")
    return flags


def request(method, url, token):
    req = urllib.request.Request(url, method=method, headers={"X-Auth-Token": token})
    if not url.startswith("http://127.0.0.1:"):
        raise OSError(f"dial tcp: lookup {url}: the sandbox has no network")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return f"{err.code} {err.reason}", b""  # Go's resp.Status: "401 Unauthorized"


def main():
    record()
    flags = parse_flags(sys.argv[1:])
    if flags["version"]:
        print("{version}")
        sys.exit(0)
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        slog("ERROR", "Agent must be run as root")
        sys.exit(1)
    if not flags["kosmos"]:
        slog("ERROR", "Failed to get Kapsule node credentials",
             error="failed to get instance user-data: dial tcp 169.254.42.42:80: connect: network is unreachable")
        sys.exit(1)
    for name in ("POOL_ID", "POOL_REGION", "SCW_SECRET_KEY"):
        if not os.environ.get(name):
            slog("ERROR", "Failed to get Kosmos node credentials", error=f"{name} env var must be set when using Kosmos mode")
            sys.exit(1)
    api = os.environ.get("SCW_API_URL") or "https://api.scaleway.com"
    cache = ROOT + "/etc/scw-k8s-userdata"
    if os.path.exists(cache):
        try:
            userdata = json.loads(open(cache).read())
        except ValueError as err:
            slog("ERROR", "Failed to get Kosmos node credentials",
                 error=f"failed to register Kosmos node: failed to unmarshal Kosmos node userdata cache: {err}")
            sys.exit(1)
        open(os.path.join(ROOT, "agent", "used-cache"), "w").write("yes")
    else:
        url = f"{api}/k8s/v1/regions/{os.environ['POOL_REGION']}/pools/{os.environ['POOL_ID']}/external-nodes/auth"
        try:
            status, body = request("POST", url, os.environ["SCW_SECRET_KEY"])
        except OSError as err:
            slog("ERROR", "Failed to get Kosmos node credentials",
                 error=f"failed to register Kosmos node: failed to register Kosmos node: {err}")
            sys.exit(1)
        if status != 200:
            # registerKosmosNode's error, wrapped once more by getKosmosUserData with the same words (metadata.go).
            slog("ERROR", "Failed to get Kosmos node credentials",
                 error=f"failed to register Kosmos node: failed to register Kosmos node: {status}")
            sys.exit(1)
        userdata = json.loads(body)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        fd = os.open(cache, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, body)
        os.close(fd)
    status, body = request("GET", userdata["metadata_url"], userdata["node_secret_key"])
    if status != 200:
        slog("ERROR", "Failed to get node metadata", error=f"failed to get node metadata: {status}")
        sys.exit(1)
    metadata = json.loads(body)
    open(os.path.join(ROOT, "agent", "metadata.json"), "w").write(json.dumps(metadata))
    slog("INFO", "Opening repositories", uri=metadata.get("repo_uri"))
    pool_version = metadata.get("pool_version") or ""
    if not re.fullmatch(r"1\.[0-9]+\.[0-9]+", pool_version):
        slog("ERROR", "Failed to process components",
             error=f"failed to get release components: release {pool_version} not found")
        sys.exit(1)
    components = [("containerd", "2.0.5"), ("kubelet", "")]  # releases.yaml of the stand-in repository
    path = ROOT + "/etc/scw-k8s-versions.json"
    installed = json.loads(open(path).read()) if os.path.exists(path) else {}

    def expected(version):  # versions.go expandVersion
        return pool_version if version == "" else pool_version + version if version[0] == "~" else version

    def set_version(name, value):  # versions.go SetComponentVersion (no brace placeholder: agent_body fills those)
        installed[name] = value
        open(path, "w").write(json.dumps(installed))
        open(os.path.join(ROOT, "agent", "components"), "a").write(name + " " + value + "\n")

    for name, version in reversed(components):
        have = installed.get(name, "")
        if have == "" or have == expected(version):
            continue
        slog("INFO", "Uninstall component", component=name, version=have)
        set_version(name, "uninstalled")
    for name, version in components:
        if installed.get(name, "") == expected(version):
            slog("INFO", "Component already installed", component=name, version=expected(version))
            continue
        slog("INFO", "Install component", component=name, version=expected(version))
        set_version(name, expected(version))
    # The installed kubelet reaches the cluster with the node token (stand-in; see the module docstring).
    request("POST", metadata["cluster_url"] + "/kubelet", userdata["node_secret_key"])
    slog("INFO", "System and components processed successfully")
    slog("INFO", "Kosmos mode: exiting after installation")


main()
'''


def agent_body(version: str = VERSION) -> bytes:
    """The stand-in agent as served: a Python script run by the test interpreter."""
    return AGENT_SOURCE.replace("{python}", sys.executable).replace("{version}", version).encode()


def checksums(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(body).hexdigest()}  {name}\n" for name, body in sorted(files.items())).encode()


class AgentRelease(LoopbackServer):
    """A release directory `/agent/<version>/` with k8s-agent_linux_{amd64,arm64} and a matching checksums.txt.

    `serve[name]` overrides the bytes answered with 200 (a tampered binary, an HTML page, an empty body);
    `redirect[name]` answers 302 to another URL; `plan[name]` lists status codes to answer in turn before succeeding; `always[name]` answers one status forever.
    """

    def __init__(self, version: str = VERSION, tls: bool = True):
        self.directory = f"/agent/{version}"
        body = agent_body()
        self.files: dict[str, bytes] = {f"k8s-agent_linux_{arch}": body for arch in ARCHES}
        self.files["checksums.txt"] = checksums(self.files)
        self.serve: dict[str, bytes] = {}
        self.plan: dict[str, list[int]] = {}
        self.always: dict[str, int] = {}
        self.redirect: dict[str, str] = {}
        self.requests: list[str] = []
        release = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                name = self.path.rsplit("/", 1)[-1]
                release.requests.append(name)
                if name in release.redirect:
                    self.send_response(302)
                    self.send_header("Location", release.redirect[name])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                queued = release.plan.get(name)
                status = release.always.get(name) or (queued.pop(0) if queued else 200)
                if not self.path.startswith(release.directory + "/") or name not in release.files:
                    status = 404
                if status == 200:
                    body = release.serve.get(name, release.files[name])
                else:
                    body = b"<?xml version='1.0'?><Error><Code>NoSuchKey</Code></Error>" if status == 404 else b"unavailable\n"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(Handler, tls=tls)

    @property
    def base_url(self) -> str:
        return self.url + self.directory

    @property
    def agent(self) -> bytes:
        return self.files["k8s-agent_linux_amd64"]
