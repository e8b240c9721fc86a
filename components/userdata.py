"""Join userdata: one template family (templates/join) for every cloud.

`render(...)` is pure Python (no Pulumi): it returns the script, a redacted rendering (the join key replaced by a
fixed placeholder) and the sha256 of the redacted rendering, which reviewers compare across previews.
`render_output(...)` lifts it onto Pulumi Outputs: the script stays secret, the redacted text and hash do not.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pathlib
import shlex
from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence

import jinja2

from . import catalog

# Installed (the `kosmos` wheel) the templates are package data inside the package; in this repository they sit
# beside components/ (pyproject.toml maps templates/ to kosmos/templates/).
_HERE = pathlib.Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates" if (_HERE / "templates").is_dir() else _HERE.parent / "templates"
REDACTED_SECRET = "REDACTED-JOIN-KEY"
"""Stands in for the join key in every rendering a human or a log may see."""
MAX_USERDATA_BYTES = 16 * 1024
DEFAULT_LOG_PATH = "/var/log/kosmos-join.log"
# systemd units k8s-agent installs; `leave` stops and disables them. The agent takes its components from Scaleway's
# repository (component.go, repo_uri), not from its own source: these names are unverified.
AGENT_UNITS: tuple[str, ...] = ("kubelet", "containerd")

Variant = Literal["script", "cloud-config"]
VARIANTS: tuple[str, ...] = ("script", "cloud-config")


@dataclass(frozen=True)
class JoinInputs:
    """Everything a join rendering depends on, except the secret."""

    pool_id: str
    """Kosmos pool id, bare UUID or the provider's `<region>/<uuid>`."""
    region: str
    """The cluster's region (POOL_REGION)."""
    agent_version: str = catalog.DEFAULT_AGENT_VERSION
    """k8s-agent release tag (`v0.1.5`)."""
    agent_base_url: Optional[str] = None
    """Directory holding `k8s-agent_linux_<arch>` and `checksums.txt`; None: the region's release bucket."""
    agent_sha256: Mapping[str, str] = field(default_factory=dict)
    """Pinned sha256 per arch; unpinned arches are checked against the release's checksums.txt."""
    api_url: Optional[str] = None
    """Scaleway API URL for the agent (SCW_API_URL); None: the agent's default."""
    allowed_os: Sequence[str] = catalog.DEFAULT_ALLOWED_OS
    min_memory_mib: int = catalog.DEFAULT_MIN_MEMORY_MIB
    log_path: str = DEFAULT_LOG_PATH
    kubernetes_version: str = ""
    """kosmos:cluster.version: the join checks the node's pool_version against it; "" checks nothing. In the
    rendering, so a version change is a userdata change (replace boot-time machines, re-join on-prem hosts)."""

    @property
    def pool_uuid(self) -> str:
        return bare_id(self.pool_id)

    @property
    def resolved_agent_base_url(self) -> str:
        return (self.agent_base_url or catalog.agent_release_url(self.region, self.agent_version)).rstrip("/")


@dataclass(frozen=True)
class Rendered:
    text: str
    """The userdata with the real join key: secret."""
    redacted: str
    """The same rendering with the key replaced by REDACTED_SECRET: safe to show and diff."""
    sha256: str
    """sha256 of `redacted`: changes exactly when the userdata (not the key) changes."""


class UserdataError(ValueError):
    pass


def bare_id(resource_id: str) -> str:
    """`fr-par/<uuid>` -> `<uuid>`: Pulumi ids of Scaleway regional resources carry the region; k8s-agent wants the
    bare pool UUID (POOL_ID) and the SDK's K8SV1API the bare cluster and pool ids (registration.py)."""
    return resource_id.rsplit("/", 1)[-1]


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["shquote"] = lambda value: shlex.quote(str(value))
    env.filters["tojson"] = lambda value: json.dumps(value)
    return env


@functools.lru_cache(maxsize=None)
def _template(name: str) -> jinja2.Template:
    # Compiled once per process: rendering 1,000 nodes must not recompile.
    return _environment().get_template(name)


def _context(inputs: JoinInputs) -> dict:
    if not inputs.pool_uuid:
        raise UserdataError("pool id is empty")
    for arch in inputs.agent_sha256:
        if arch not in catalog.ARCHES:
            raise UserdataError(f"agent_sha256 has unknown arch {arch!r}; expected {catalog.ARCHES}")
    return {
        "pool_uuid": inputs.pool_uuid,
        "region": inputs.region,
        "agent_version": inputs.agent_version,
        "agent_base_url": inputs.resolved_agent_base_url,
        "agent_sha256": dict(inputs.agent_sha256),
        "api_url": (inputs.api_url or "").rstrip("/"),
        "agent_userdata_cache": catalog.AGENT_USERDATA_CACHE,
        "agent_versions_file": catalog.AGENT_VERSIONS_FILE,
        "allowed_os": list(inputs.allowed_os),
        "min_memory_mib": int(inputs.min_memory_mib),
        "log_path": inputs.log_path,
        "agent_units": list(AGENT_UNITS),
        "kubernetes_version": inputs.kubernetes_version,
    }


def _render_once(inputs: JoinInputs, secret: str, variant: Variant) -> str:
    ctx = _context(inputs)
    if variant == "script":
        text = _template("join/join.sh.j2").render(ctx, secret=secret, secret_mode="embedded")
    elif variant == "cloud-config":
        script = _template("join/join.sh.j2").render(ctx, secret=secret, secret_mode="file")
        text = _template("join/cloud-config.yaml.j2").render(ctx, secret=secret, script=script)
    else:
        raise UserdataError(f"unknown userdata variant {variant!r}; expected one of {VARIANTS}")
    if len(text.encode()) > MAX_USERDATA_BYTES:
        raise UserdataError(f"{variant} userdata is {len(text.encode())} bytes; the limit is {MAX_USERDATA_BYTES}")
    return text


def render(inputs: JoinInputs, secret: str, variant: Variant = "script") -> Rendered:
    """Render the join userdata for one pool (every machine of a pool gets the same userdata)."""
    if not secret:
        raise UserdataError("join secret is empty")
    if REDACTED_SECRET in secret:
        raise UserdataError("join secret must not contain the redaction placeholder")
    redacted = _render_once(inputs, REDACTED_SECRET, variant)
    text = _render_once(inputs, secret, variant)
    return Rendered(text=text, redacted=redacted, sha256=sha256_hex(redacted))


def render_redacted(inputs: JoinInputs, variant: Variant = "script") -> Rendered:
    """The reviewer's view only (no secret needed): `text` equals `redacted`."""
    redacted = _render_once(inputs, REDACTED_SECRET, variant)
    return Rendered(text=redacted, redacted=redacted, sha256=sha256_hex(redacted))


def render_leave(inputs: JoinInputs) -> str:
    """The clean-leave script on-prem hosts run when their machine is removed from the stack (no secret in it)."""
    return _template("join/leave.sh.j2").render(_context(inputs))


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Pulumi wrapper
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserdataOutputs:
    script: "object"
    """pulumi.Output[str], secret."""
    redacted: "object"
    """pulumi.Output[str], not secret."""
    sha256: "object"
    """pulumi.Output[str], not secret."""


def render_output(
    pool_id,
    secret,
    *,
    region: str,
    variant: Variant,
    agent_version: str = catalog.DEFAULT_AGENT_VERSION,
    agent_base_url: Optional[str] = None,
    agent_sha256: Optional[Mapping[str, str]] = None,
    api_url: Optional[str] = None,
    allowed_os: Sequence[str] = catalog.DEFAULT_ALLOWED_OS,
    min_memory_mib: int = catalog.DEFAULT_MIN_MEMORY_MIB,
    kubernetes_version: str = "",
) -> UserdataOutputs:
    """Lift `render` onto Outputs: the secret never leaves a secret Output."""
    import pulumi

    def inputs_for(pid: str) -> JoinInputs:
        return JoinInputs(
            pool_id=pid,
            region=region,
            agent_version=agent_version,
            agent_base_url=agent_base_url,
            agent_sha256=dict(agent_sha256 or {}),
            api_url=api_url,
            allowed_os=tuple(allowed_os),
            min_memory_mib=min_memory_mib,
            kubernetes_version=kubernetes_version,
        )

    pool_id = pulumi.Output.from_input(pool_id)
    redacted = pool_id.apply(lambda pid: render_redacted(inputs_for(pid), variant))
    script = pulumi.Output.secret(
        pulumi.Output.all(pool_id, secret).apply(lambda args: render(inputs_for(args[0]), args[1], variant).text)
    )
    return UserdataOutputs(
        script=script,
        redacted=redacted.apply(lambda r: r.redacted),
        sha256=redacted.apply(lambda r: r.sha256),
    )
