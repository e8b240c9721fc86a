"""Join userdata: one template family (templates/join) for every cloud.

A pool's template is rendered ONCE, with a fixed placeholder where a machine's node credentials go: that redacted
text and its sha256 are the same for every machine of the pool and are what reviewers compare across previews. Each
machine's own (secret) copy is the redacted text with the placeholder replaced by its node's
`{"metadata_url", "node_secret_key"}` (NodeIdentity): a string substitution, so 500 machines cost one render.
`render_output(...)` lifts it onto Pulumi Outputs: every machine's copy is secret, the redacted text and hash are not.
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
REDACTED_SECRET = "REDACTED-NODE-CREDENTIALS"
"""Stands in for a machine's node credentials in the pool's rendering, the one a human or a log may see. A bare word
that shell quoting leaves as is, so the substitution below finds it in its quoted form."""
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
    """One machine's userdata, with its node credentials: secret."""
    redacted: str
    """The pool's rendering, the credentials replaced by REDACTED_SECRET: safe to show and diff."""
    sha256: str
    """sha256 of `redacted`: changes exactly when the pool's userdata (not a machine's credentials) changes."""


class UserdataError(ValueError):
    pass


def bare_id(resource_id: str) -> str:
    """`fr-par/<uuid>` -> `<uuid>`: Pulumi ids of Scaleway regional resources carry the region; k8s-agent wants the
    bare pool UUID (POOL_ID) and the SDK's K8SV1API the bare cluster and pool ids (scaleway_api.py)."""
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


def _render_once(inputs: JoinInputs, variant: Variant) -> str:
    ctx = {**_context(inputs), "node_userdata": REDACTED_SECRET}
    if variant == "script":
        text = _template("join/join.sh.j2").render(ctx, secret_mode="embedded")
    elif variant == "cloud-config":
        script = _template("join/join.sh.j2").render(ctx, secret_mode="file")
        text = _template("join/cloud-config.yaml.j2").render(ctx, script=script)
    else:
        raise UserdataError(f"unknown userdata variant {variant!r}; expected one of {VARIANTS}")
    if text.count(_ENCODE[variant](REDACTED_SECRET)) != 1:
        raise UserdataError(f"the {variant} template must carry the node credentials exactly once")
    return text


# How each variant's template quotes the credentials: `shquote` in the script, `tojson` in cloud-config.
_ENCODE = {"script": shlex.quote, "cloud-config": json.dumps}


def node_credentials(metadata_url: str, node_secret_key: str) -> str:
    """k8s-agent's cache file content (metadata.go `UserData`: json `metadata_url`, `node_secret_key`)."""
    if not metadata_url or not node_secret_key:
        raise UserdataError("node credentials are empty")
    return json.dumps({"metadata_url": metadata_url, "node_secret_key": node_secret_key})


def personalize(redacted: str, variant: Variant, credentials: str) -> str:
    """One machine's userdata: the pool's rendering with its node credentials in place of the placeholder."""
    if REDACTED_SECRET in credentials:
        raise UserdataError("node credentials must not contain the redaction placeholder")
    encode = _ENCODE[variant]
    text = redacted.replace(encode(REDACTED_SECRET), encode(credentials), 1)
    if len(text.encode()) > MAX_USERDATA_BYTES:
        raise UserdataError(f"{variant} userdata is {len(text.encode())} bytes; the limit is {MAX_USERDATA_BYTES}")
    return text


def render(inputs: JoinInputs, credentials: str, variant: Variant = "script") -> Rendered:
    """One machine's userdata (`credentials`: node_credentials(...)) and its pool's redacted rendering."""
    redacted = render_redacted(inputs, variant).redacted
    return Rendered(text=personalize(redacted, variant, credentials), redacted=redacted, sha256=sha256_hex(redacted))


def render_redacted(inputs: JoinInputs, variant: Variant = "script") -> Rendered:
    """The pool's rendering (no secret needed): `text` equals `redacted`."""
    redacted = _render_once(inputs, variant)
    return Rendered(text=redacted, redacted=redacted, sha256=sha256_hex(redacted))


def render_leave(inputs: JoinInputs, node_id: str = "") -> str:
    """The clean-leave script on-prem hosts run when their machine is removed from the stack (no secret in it).
    `node_id`: the node this host's Command joined; the leave spares a host that has become another node since."""
    return _template("join/leave.sh.j2").render(_context(inputs), node_id=node_id)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Pulumi wrapper
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserdataOutputs:
    redacted: "object"
    """pulumi.Output[str], not secret: the pool's rendering."""
    sha256: "object"
    """pulumi.Output[str], not secret."""
    variant: Variant = "script"

    def for_node(self, metadata_url, node_secret_key):
        """One machine's userdata (a secret Output) for its NodeIdentity's credentials."""
        import pulumi

        return pulumi.Output.secret(
            pulumi.Output.all(self.redacted, metadata_url, node_secret_key).apply(
                lambda a: personalize(a[0], self.variant, node_credentials(a[1], a[2]))
            )
        )


def render_output(
    pool_id,
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
    """The pool's rendering on Outputs, once per pool; machines take `for_node(...)` copies."""
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

    redacted = pulumi.Output.from_input(pool_id).apply(lambda pid: render_redacted(inputs_for(pid), variant))
    return UserdataOutputs(redacted=redacted.apply(lambda r: r.redacted), sha256=redacted.apply(lambda r: r.sha256),
                           variant=variant)
