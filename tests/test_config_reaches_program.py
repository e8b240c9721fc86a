"""Every configurable key reaches what is registered: for each key path of the config model, a stack that sets every
key (FULL) and the same stack with that one key changed register different programs (resources, their inputs and
options, the stack outputs) on the mock engine. A key the components silently drop (a Civo pool's `sshKeyId` not
handed to the instance) leaves the program unchanged and fails here. The list of keys comes from the model, so a new
key must be listed here, with a new value or the reason it registers nothing.
"""

from __future__ import annotations

import base64
import copy
import json
import typing

import pytest

from components import model
from tools.engine import fake_uuid, flatten_config, run_program


def _host_key(seed: int) -> str:
    """An ssh-ed25519 public key line whose blob decodes (SSH wire format: type string, then 32 key bytes)."""
    blob = b"".join(len(f).to_bytes(4, "big") + f for f in (b"ssh-ed25519", bytes([seed]) * 32))
    return "ssh-ed25519 " + base64.b64encode(blob).decode()


DELETE = object()
FULL = {
    "cluster": {
        "name": "full", "region": "fr-par", "version": "1.35", "type": "multicloud", "cni": "kilo",
        "autoUpgrade": {"enabled": True, "maintenanceWindow": {"day": "monday", "startHour": 3}},
        "tags": ["a"], "deleteAdditionalResources": False, "protect": False,
    },
    "scalewayPools": [{
        "name": "par", "nodeType": "DEV1-M", "size": 2, "zone": "fr-par-1", "minSize": 1, "maxSize": 3,
        "autoscale": True, "labels": {"team": "a"}, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}],
        "tags": ["t"],
    }],
    "externalPools": [
        {"name": "civo-lon1", "provider": "civo", "region": "LON1", "size": "g3.medium", "image": "ubuntu-jammy",
         "count": 1, "sshKeyId": "key-1", "sshAllowedCidrs": ["203.0.113.10/32"], "labels": {"team": "web"},
         "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}], "tags": ["c"],
         "registration": {"wait": True, "timeoutMinutes": 15, "skipDrain": False}, "upgrade": {"maxSurge": 1}},
        {"name": "metal", "provider": "equinix-metal", "metro": "da", "plan": "c3.small.x86", "os": "ubuntu_22_04",
         "count": 1},
        {"name": "em", "provider": "scaleway-elastic-metal", "zone": "fr-par-2", "offer": "EM-A115X-SSD",
         "os": "Ubuntu", "osVersion": "22.04 LTS (Jammy Jellyfish)", "count": 1,
         "sshKeyIds": [fake_uuid("sshkey", "1")], "arch": "amd64"},
        {"name": "home", "provider": "on-prem", "site": "home", "upgrade": {"maxUnavailable": 1},
         "hosts": [{"name": "vm", "address": "192.168.64.5", "user": "ubuntu", "port": 22, "arch": "arm64",
                    "hostKey": _host_key(1), "insecureSkipHostKeyCheck": False},
                   {"name": "vm-b", "address": "192.168.64.7", "hostKey": _host_key(3)}]},
    ],
    "join": {
        "agentVersion": "v0.1.5", "agentBaseUrl": "https://mirror.example/agents",
        "agentSha256": {"amd64": "a" * 64, "arm64": "b" * 64}, "apiUrl": "https://api.scaleway.com",
        "allowedOs": ["ubuntu:22.04", "ubuntu:24.04", "debian:12"], "minMemoryMiB": 2048,
    },
    "equinixProjectId": fake_uuid("project", "1"),
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nkey one\n-----END OPENSSH PRIVATE KEY-----\n",
    "allowPublicSsh": False,
    "latencyProbe": {"enabled": True, "intervalSeconds": 30, "image": "python:3.13-alpine"},
}


def _skip_host_key(host: dict) -> None:
    host["insecureSkipHostKeyCheck"] = True
    del host["hostKey"]


# key path -> the changed value (a callable: changes the mapping holding the key). `[]`: the first list entry that
# sets the key; `[<provider>]`: the first external pool of that provider.
CHANGES: dict[str, typing.Any] = {
    "cluster.name": "other",
    "cluster.region": "nl-ams",
    "cluster.version": "1.36",
    "cluster.type": "multicloud-dedicated-4",
    "cluster.autoUpgrade.enabled": False,
    "cluster.autoUpgrade.maintenanceWindow.day": "friday",
    "cluster.autoUpgrade.maintenanceWindow.startHour": 5,
    "cluster.tags": ["b"],
    "cluster.deleteAdditionalResources": True,
    "cluster.protect": True,
    "scalewayPools[].name": "par2",
    "scalewayPools[].nodeType": "DEV1-L",
    "scalewayPools[].size": 3,
    "scalewayPools[].zone": "fr-par-2",
    "scalewayPools[].minSize": 2,
    "scalewayPools[].maxSize": 4,
    "scalewayPools[].autoscale": False,
    "scalewayPools[].labels": {"team": "b"},
    "scalewayPools[].taints[].key": "k2",
    "scalewayPools[].taints[].value": "v2",
    "scalewayPools[].taints[].effect": "NoExecute",
    "scalewayPools[].tags": ["u"],
    "externalPools[].name": "civo-lon2",
    "externalPools[].labels": {"team": "db"},
    "externalPools[].taints[].key": "k2",
    "externalPools[].taints[].value": "v2",
    "externalPools[].taints[].effect": "NoExecute",
    "externalPools[].tags": ["d"],
    "externalPools[].registration.wait": False,
    "externalPools[].registration.timeoutMinutes": 20,
    "externalPools[].registration.skipDrain": True,
    "externalPools[].upgrade.maxUnavailable": 2,
    "externalPools[civo].region": "NYC1",
    "externalPools[civo].size": "g3.large",
    "externalPools[civo].image": "debian-12",
    "externalPools[civo].count": 2,
    "externalPools[civo].sshKeyId": "key-2",
    "externalPools[civo].sshAllowedCidrs": ["203.0.113.11/32"],
    "externalPools[equinix-metal].metro": "am",
    "externalPools[equinix-metal].plan": "c3.large.arm64",
    "externalPools[equinix-metal].os": "ubuntu_24_04",
    "externalPools[equinix-metal].count": 2,
    "externalPools[scaleway-elastic-metal].zone": "nl-ams-1",
    "externalPools[scaleway-elastic-metal].offer": "EM-A610R-NVME",
    "externalPools[scaleway-elastic-metal].os": "Debian",
    "externalPools[scaleway-elastic-metal].osVersion": "12 (Bookworm)",
    "externalPools[scaleway-elastic-metal].count": 2,
    "externalPools[scaleway-elastic-metal].sshKeyIds": [fake_uuid("sshkey", "2")],
    "externalPools[scaleway-elastic-metal].arch": "arm64",
    "externalPools[on-prem].site": "lab",
    "externalPools[on-prem].hosts[].name": "vm2",
    "externalPools[on-prem].hosts[].address": "192.168.64.6",
    "externalPools[on-prem].hosts[].user": "root",
    "externalPools[on-prem].hosts[].port": 2222,
    "externalPools[on-prem].hosts[].arch": "amd64",
    "externalPools[on-prem].hosts[].hostKey": _host_key(2),
    "externalPools[on-prem].hosts[].insecureSkipHostKeyCheck": _skip_host_key,
    "join.agentVersion": "v0.1.6",
    "join.agentBaseUrl": "https://mirror2.example/agents",
    "join.agentSha256.amd64": "c" * 64,
    "join.agentSha256.arm64": "d" * 64,
    "join.apiUrl": "https://api.example.com",
    "join.allowedOs": ["ubuntu:22.04", "ubuntu:24.04", "debian:12", "debian:11"],
    "join.minMemoryMiB": 4096,
    "equinixProjectId": fake_uuid("project", "2"),
    "sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nkey two\n-----END OPENSSH PRIVATE KEY-----\n",
    "latencyProbe.enabled": False,
    "latencyProbe.intervalSeconds": 60,
    "latencyProbe.image": "python:3.12-alpine",
}
NOT_REGISTERED = {
    "cluster.cni": "one value is allowed (kilo)",
    "externalPools[].provider": "selects the pool's model: every key of each provider is listed",
    "allowPublicSsh": "only permits a 0.0.0.0/0 entry of sshAllowedCidrs, which is what registers",
    "joinKeyExpiresAt": "ignored with a warning (the join key is gone)",
    "joinKeyValidDays": "ignored with a warning (the join key is gone)",
    "externalPools[].upgrade.maxSurge": "bounds nothing inside one `pulumi up` (README, Upgrading): make diff reads it "
    "from the stack file and warns when an update replaces more machines of a pool",
}


def _key_paths(m: type, prefix: str) -> list[str]:
    """Every key path of a model, in the notation of CHANGES."""
    out = []
    for name, f in m.model_fields.items():
        if f.annotation is type(None):  # privateNetworkId: in the model only to be refused
            continue
        key = f"{prefix}{f.alias or name}"
        tp = model._unwrap(f.annotation, [], [])
        item = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        item = model._unwrap(item, [], []) if item is not None else None
        if isinstance(tp, type) and issubclass(tp, model.BaseModel):
            out += _key_paths(tp, f"{key}.")
        elif typing.get_origin(item) is typing.Union:  # the external pools: common keys once, then each cloud's
            common = _key_paths(model.ExternalPoolModel, f"{key}[].")
            out += common
            for provider, pool_model in model.PROVIDER_MODELS.items():
                out += [p.replace(f"{key}[].", f"{key}[{provider}].", 1)
                        for p in _key_paths(pool_model, f"{key}[].") if p not in common]
        elif isinstance(item, type) and issubclass(item, model.BaseModel):
            out += _key_paths(item, f"{key}[].")
        else:
            out.append(key)
    return out


def _changed(path: str, value: typing.Any) -> dict:
    cfg = copy.deepcopy(FULL)
    *parents, last = path.split(".")

    def holders(node, parts):
        if not parts:
            yield node
            return
        head, rest = parts[0], parts[1:]
        key, _, selector = head.partition("[")
        child = node.get(key) if isinstance(node, dict) else None
        if child is None:
            return
        if not selector:
            yield from holders(child, rest)
            return
        selector = selector.rstrip("]")
        for entry in child:
            if not selector or entry.get("provider") == selector:
                yield from holders(entry, rest)

    holder = next((h for h in holders(cfg, parents) if last in h), None)
    assert holder is not None, f"FULL does not set {path}"
    if callable(value):
        value(holder)
    else:
        assert holder[last] != value, f"{path}: the new value is the old one"
        holder[last] = value
    return cfg


def _program_run(cfg: dict):
    # The key is a secret in plaintext, as the CLI hands a decrypted `secure:` value to the program (the offline
    # engine's placeholder for a `secure:` value would hide a change of it).
    config, secret_keys = flatten_config({f"kosmos:{k}": v for k, v in cfg.items()})
    run = run_program("test", config=config, secret_keys=[*secret_keys, "kosmos:sshPrivateKey"], raise_errors=False)
    assert run.error is None, run.error
    return run


def _program(cfg: dict) -> str:
    run = _program_run(cfg)
    recorded = [
        (r.urn, {k: v for k, v in r.raw_inputs.items() if k != "__provider"}, sorted(r.dependencies),
         r.replace_on_changes, r.ignore_changes, r.replacement_trigger, r.protect, r.delete_before_replace)
        for r in sorted(run.registrations, key=lambda r: r.urn)  # asyncio decides the order
    ]
    exports = {name: e.value for name, e in run.exports.items()}
    return json.dumps([recorded, exports], sort_keys=True, default=repr)


@pytest.fixture(scope="module")
def full_program() -> str:
    return _program(FULL)


def test_every_key_of_the_model_is_listed():
    paths = _key_paths(model.KosmosConfig, "")
    assert len(paths) == len(set(paths))
    assert set(paths) == set(CHANGES) | set(NOT_REGISTERED), "a key to list in CHANGES or NOT_REGISTERED"
    assert not set(CHANGES) & set(NOT_REGISTERED)


def test_the_full_stack_registers_deterministically(full_program):
    assert _program(FULL) == full_program


@pytest.mark.parametrize("path", list(CHANGES))
def test_a_change_of_the_key_changes_the_recorded_program(path, full_program):
    assert _program(_changed(path, CHANGES[path])) != full_program, f"kosmos:{path} does not reach the program"


def test_a_dropped_key_is_caught(monkeypatch, full_program):
    """The check can fail: with the Civo machine set ignoring sshKeyId, changing it changes nothing."""
    from components.clouds import civo

    real = civo.civo.Instance

    def instance(name, **kwargs):
        kwargs.pop("sshkey_id", None)
        return real(name, **kwargs)

    monkeypatch.setattr(civo.civo, "Instance", instance)
    assert _program(_changed("externalPools[civo].sshKeyId", "key-2")) == _program(FULL)
