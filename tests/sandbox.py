"""A sandbox that really runs the rendered join/leave scripts with bash.

Only what would touch the machine or the internet is replaced: paths are re-rooted with KOSMOS_JOIN_ROOT, `id`,
`uname` and `systemctl` are stubs on a PATH that otherwise holds the real tools (symlinked one by one, so the set of
commands the script needs is explicit). The agent is the stand-in of tests/k8s_agent.py, served by a real HTTP server on
127.0.0.1, registering with the local Kosmos of tests/kosmos_api.py; it records its environment, argv and every
process's command line while it runs.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Optional

from loopback import loopback_certificate


# Real tools the join and leave scripts call (besides bash builtins), plus `env` for the on-prem re-join command.
# curl or wget: whichever the machine has. The stand-in agent (tests/k8s_agent.py) is run by the test interpreter.
SCRIPT_TOOLS = (
    "bash", "date", "mkdir", "chmod", "mv", "rm", "sha256sum", "awk", "df", "sleep", "cat", "env", "head", "tr",
)


@dataclass
class Machine:
    """A fake machine rooted at `root`: os-release, meminfo, stubbed uid/arch/systemd."""

    root: pathlib.Path
    os_id: str = "ubuntu"
    os_version: str = "22.04"
    mem_kib: int = 4_000_000
    uid: int = 0
    machine: str = "x86_64"
    downloader: str = "curl"
    hostname: str = "Node-A"
    env: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bin = self.root / "sandbox-bin"
        self.write_facts()

    def write_facts(self) -> None:
        (self.root / "etc").mkdir(parents=True, exist_ok=True)
        (self.root / "proc").mkdir(parents=True, exist_ok=True)
        (self.root / "etc" / "os-release").write_text(
            f'NAME="Test"\nID={self.os_id}\nVERSION_ID="{self.os_version}"\nPRETTY_NAME="test"\n'
        )
        (self.root / "proc" / "meminfo").write_text(f"MemTotal:       {self.mem_kib} kB\nMemFree:   1000 kB\n")
        shutil.rmtree(self.bin, ignore_errors=True)
        self.bin.mkdir()
        for tool in SCRIPT_TOOLS + (self.downloader,):
            real = shutil.which(tool)
            assert real, f"{tool} is needed by the sandbox"
            (self.bin / tool).symlink_to(real)
        stubs = {
            "id": f'#!/bin/sh\n[ "$1" = -u ] && echo {self.uid} && exit 0\necho "uid={self.uid}"\n',
            "uname": f'#!/bin/sh\n[ "$1" = -m ] && echo {self.machine} && exit 0\necho Linux\n',
            # Records calls; `systemctl cat <unit>` succeeds, as for units the agent installed.
            "systemctl": '#!/bin/sh\nprintf \'%s\\n\' "$*" >> "$KOSMOS_JOIN_ROOT/systemctl.calls"\nexit 0\n',
        }
        for name, body in stubs.items():
            path = self.bin / name
            path.write_text(body)
            path.chmod(0o755)

    def run(self, script: str, *, stdin: Optional[str] = None, timeout: float = 60, **extra_env) -> subprocess.CompletedProcess:
        path, env = self._prepare(script, extra_env)
        bash = str(self.bin / "bash")
        if stdin is not None:
            return subprocess.run([bash, "-s"], input=stdin, env=env, capture_output=True, text=True, timeout=timeout)
        return subprocess.run([bash, str(path)], env=env, capture_output=True, text=True, timeout=timeout)

    def start(self, script: str, **extra_env) -> subprocess.Popen:
        """The script running in the background (to interrupt it); the caller waits for it."""
        path, env = self._prepare(script, extra_env)
        return subprocess.Popen([str(self.bin / "bash"), str(path)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def _prepare(self, script: str, extra_env: dict) -> tuple[pathlib.Path, dict]:
        # The delivered userdata lives outside the fake machine root, like cloud-init's root-only copy.
        path = self.root.parent / f"{self.root.name}-script.sh"
        path.write_text(script)
        env = {
            "PATH": str(self.bin),
            "KOSMOS_JOIN_ROOT": str(self.root),
            "KOSMOS_JOIN_BACKOFF_SECONDS": "0",
            "HOSTNAME": self.hostname,
            "HOME": str(self.root),
            # Trust the loopback servers' self-signed certificate, as a machine trusts the public CAs.
            "CURL_CA_BUNDLE": loopback_certificate()[0],
            "WGETRC": str(self.wgetrc()),
            **self.env,
            **{k: str(v) for k, v in extra_env.items()},
        }
        return path, env

    def wgetrc(self) -> pathlib.Path:
        path = self.root.parent / f"{self.root.name}-wgetrc"
        path.write_text(f"ca_certificate = {loopback_certificate()[0]}\n")
        return path

    # What the run left behind
    def state(self) -> str:
        return (self.root / "var/lib/kosmos/join.state").read_text().strip()

    def log(self) -> str:
        path = self.root / "var/log/kosmos-join.log"
        return path.read_text() if path.exists() else ""

    def agent(self, name: str) -> Optional[str]:
        path = self.root / "agent" / name
        return path.read_text() if path.exists() else None

    def agent_runs(self) -> int:
        runs = self.agent("runs")
        return runs.count("run") if runs else 0

    def all_files_text(self, exclude: tuple[str, ...] = ("etc/scw-k8s-userdata",)) -> str:
        """Everything on the fake machine except `exclude` (by default the agent's registration cache, where the
        node's own credentials must stay) and the agent's own records."""
        texts = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if path.is_file() and "agent" not in rel.parts[:1] and str(rel) not in exclude:
                try:
                    texts.append(path.read_text(errors="replace"))
                except OSError:
                    pass
        return "\n".join(texts)

