"""Bad stack config: every case goes through the real program and must fail with a message naming the key path and
what is allowed, before a single resource is registered."""

from __future__ import annotations

import datetime as dt

import pytest

from components.spec import SpecError, parse_spec
from conftest import run_config, stack_config


def _dev(mutate):
    raw = stack_config("dev")
    mutate(raw)
    return raw


def _blog(mutate):
    raw = stack_config("blog")
    mutate(raw)
    return raw


def _set(path_value_pairs):
    """mutate(raw) helper: assign nested keys given as ("kosmos:cluster", "region"), value."""

    def mutate(raw):
        for path, value in path_value_pairs:
            target = raw
            for key in path[:-1]:
                target = target[key]
            if value is DELETE:
                del target[path[-1]]
            else:
                target[path[-1]] = value

    return mutate


DELETE = object()
CLUSTER = "kosmos:cluster"
SCW = "kosmos:scalewayPools"
EXT = "kosmos:externalPools"
ZONES = "fr-par-1, fr-par-2, fr-par-3, nl-ams-1, nl-ams-2, nl-ams-3, pl-waw-1, pl-waw-2, pl-waw-3, it-mil-1"
CIVO_OK = "g3.small, g3.medium, g3.large, g3.xlarge, g3.2xlarge, g4s.small, g4s.medium, g4s.large, g4s.xlarge, g4s.2xlarge"

# (id, stack config, exact problem line expected among the reported problems)
CASES = [
    ("region-unknown", _dev(_set([((CLUSTER, "region"), "fr-paris")])),
     'kosmos:cluster.region: "fr-paris" is not allowed (did you mean "fr-par"?); expected one of fr-par, nl-ams, '
     "pl-waw, it-mil"),
    ("version-format", _dev(_set([((CLUSTER, "version"), "v1.31")])),
     'kosmos:cluster.version: "v1.31" is not a Kubernetes version like "1.31" or "1.31.2"'),
    ("version-unquoted-number", _dev(_set([((CLUSTER, "version"), 1.3)])),
     'kosmos:cluster.version: 1.3 is a number; quote the version, e.g. version: "1.31"'),
    ("cni-not-kilo", _dev(_set([((CLUSTER, "cni"), "cilium")])),
     'kosmos:cluster.cni: "cilium" is not allowed; a multicloud (Kosmos) cluster only runs the kilo CNI'),
    ("type-kapsule", _dev(_set([((CLUSTER, "type"), "kapsule")])),
     'kosmos:cluster.type: "kapsule" is not allowed; expected one of multicloud, multicloud-dedicated-4, '
     "multicloud-dedicated-8, multicloud-dedicated-16"),
    ("private-network", _dev(_set([((CLUSTER, "privateNetworkId"), "fr-par/1234")])),
     "kosmos:cluster.privateNetworkId: a multicloud (Kosmos) cluster cannot be attached to a private network"),
    ("cluster-unknown-key", _dev(_set([((CLUSTER, "regoin"), "fr-par")])),
     'kosmos:cluster.regoin: unknown key (did you mean "region"?); allowed keys: name, region, version, type, cni, '
     "autoUpgrade, tags, deleteAdditionalResources, protect, privateNetworkId"),
    ("top-level-unknown-key", _dev(_set([(("kosmos:scalewayPool",), [])])),
     'kosmos:scalewayPool: unknown key (did you mean "scalewayPools"?); allowed keys: cluster, scalewayPools, '
     "externalPools, join, equinixProjectId, sshPrivateKey, joinKeyExpiresAt, joinKeyValidDays, allowPublicSsh"),
    ("cluster-missing", _dev(_set([((CLUSTER,), DELETE)])),
     "kosmos:cluster: is required (at least `region` and `version`)"),
    ("patch-version-with-auto-upgrade", _dev(_set([((CLUSTER, "version"), "1.31.2")])),
     'kosmos:cluster.version: "1.31.2" pins a patch release, but autoUpgrade.enabled upgrades patches; use the '
     'minor "1.31"'),
    ("maintenance-hour", _dev(_set([((CLUSTER, "autoUpgrade", "maintenanceWindow", "startHour"), 24)])),
     "kosmos:cluster.autoUpgrade.maintenanceWindow.startHour: 24 is out of range; expected between 0 and 23"),
    ("maintenance-day", _dev(_set([((CLUSTER, "autoUpgrade", "maintenanceWindow", "day"), "sun")])),
     'kosmos:cluster.autoUpgrade.maintenanceWindow.day: "sun" is not allowed (did you mean "sunday"?); expected '
     "one of any, monday, tuesday, wednesday, thursday, friday, saturday, sunday"),
    ("pool-zone-is-a-region", _dev(_set([((SCW, 0, "zone"), "nl-ams")])),
     f'kosmos:scalewayPools[0].zone: "nl-ams" is not a zone; expected one of {ZONES}'),
    ("pool-low-memory-dev1-s", _dev(_set([((SCW, 0, "nodeType"), "DEV1-S")])),
     'kosmos:scalewayPools[0].nodeType: "DEV1-S" has too little memory for a Kubernetes node (Scaleway refuses '
     "DEV1-S, PLAY2-PICO, STARDUST*); use DEV1-M or larger"),
    ("pool-low-memory-stardust", _dev(_set([((SCW, 0, "nodeType"), "STARDUST1-S")])),
     'kosmos:scalewayPools[0].nodeType: "STARDUST1-S" has too little memory for a Kubernetes node (Scaleway refuses '
     "DEV1-S, PLAY2-PICO, STARDUST*); use DEV1-M or larger"),
    ("pool-external-node-type", _dev(_set([((SCW, 0, "nodeType"), "external")])),
     'kosmos:scalewayPools[0].nodeType: "external" is for external pools; declare it under kosmos:externalPools'),
    ("pool-negative-size", _dev(_set([((SCW, 0, "size"), -1)])),
     "kosmos:scalewayPools[0].size: -1 is out of range; expected between 0 and 500"),
    ("pool-size-string", _dev(_set([((SCW, 0, "size"), "two")])),
     'kosmos:scalewayPools[0].size: expected a whole number; got "two"'),
    ("pool-min-over-max", _dev(_set([((SCW, 0, "minSize"), 3), ((SCW, 0, "maxSize"), 2)])),
     "kosmos:scalewayPools[0].minSize: 3 is greater than maxSize 2"),
    ("pool-taint-effect", _dev(_set([((SCW, 0, "taints"), [{"key": "gpu", "value": "yes", "effect": "NoScheduling"}])])),
     'kosmos:scalewayPools[0].taints[0].effect: "NoScheduling" is not allowed (did you mean "NoSchedule"?); '
     "expected one of NoSchedule, PreferNoSchedule, NoExecute"),
    ("pool-unknown-key", _dev(_set([((SCW, 0, "nodetype"), "DEV1-M")])),
     'kosmos:scalewayPools[0].nodetype: unknown key (did you mean "nodeType"?); allowed keys: name, nodeType, size, '
     "zone, minSize, maxSize, autoscale, labels, taints, tags"),
    ("label-key-space", _dev(_set([((SCW, 0, "labels"), {"team web": "x"})])),
     'kosmos:scalewayPools[0].labels.team web: "team web" is not a valid Kubernetes label key (optional '
     "DNS-subdomain prefix and '/', then a name of at most 63 characters: letters, digits, '-', '_', '.', starting "
     "and ending with a letter or digit)"),
    ("label-key-reserved-cloud", _blog(_set([((EXT, 0, "labels"), {"cloud": "aws"})])),
     'kosmos:externalPools[0].labels.cloud: "cloud" is set by kosmos and cannot be overridden (cloud/cloud-region '
     "come from the pool; topology.kubernetes.io/region is Kilo's mesh location)"),
    ("label-kilo-location", _blog(_set([((EXT, 1, "labels"), {"topology.kubernetes.io/region": "nyc"})])),
     'kosmos:externalPools[1].labels.topology.kubernetes.io/region: "topology.kubernetes.io/region" is set by '
     "kosmos and cannot be overridden (cloud/cloud-region come from the pool; topology.kubernetes.io/region is "
     "Kilo's mesh location)"),
    ("label-value-too-long", _blog(_set([((EXT, 0, "labels"), {"team": "x" * 64})])),
     f'kosmos:externalPools[0].labels.team: value "{"x" * 64}" is not a valid Kubernetes label value (a string of '
     "at most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)"),
    ("duplicate-scaleway-pools", _dev(lambda raw: raw[SCW].append(dict(raw[SCW][0]))),
     'kosmos:scalewayPools[1].name: "default" is already used by kosmos:scalewayPools[0]; pool names must be unique '
     "across all pools"),
    ("duplicate-across-kinds", _blog(_set([((EXT, 0, "name"), "par")])),
     'kosmos:externalPools[0].name: "par" is already used by kosmos:scalewayPools[0]; pool names must be unique '
     "across all pools"),
    ("provider-unknown", _blog(_set([((EXT, 0, "provider"), "aws")])),
     'kosmos:externalPools[0].provider: "aws" is not allowed; expected one of civo, equinix-metal, '
     "scaleway-elastic-metal, on-prem"),
    ("provider-missing", _blog(_set([((EXT, 0, "provider"), DELETE)])),
     "kosmos:externalPools[0].provider: is required; expected one of civo, equinix-metal, scaleway-elastic-metal, "
     "on-prem"),
    ("civo-count-missing", _blog(_set([((EXT, 1, "count"), DELETE)])),
     "kosmos:externalPools[1].count: is required"),
    ("civo-count-zero", _blog(_set([((EXT, 1, "count"), 0)])),
     "kosmos:externalPools[1].count: 0 is out of range; expected between 1 and 500"),
    ("civo-count-negative", _blog(_set([((EXT, 1, "count"), -2)])),
     "kosmos:externalPools[1].count: -2 is out of range; expected between 1 and 500"),
    ("civo-size-1gib", _blog(_set([((EXT, 0, "size"), "g3.xsmall")])),
     'kosmos:externalPools[0].size: "g3.xsmall" has 1024 MiB of RAM; a Kosmos node needs at least 2048 MiB '
     f"(kosmos:join.minMemoryMiB); use one of {CIVO_OK}"),
    ("civo-size-unknown", _blog(_set([((EXT, 0, "size"), "g3.huge")])),
     'kosmos:externalPools[0].size: "g3.huge" is not allowed (did you mean "g3.large"?); expected one of g3.xsmall, g3.small, g3.medium, '
     "g3.large, g3.xlarge, g3.2xlarge, g4s.xsmall, g4s.small, g4s.medium, g4s.large, g4s.xlarge, g4s.2xlarge"),
    ("civo-region-format", _blog(_set([((EXT, 0, "region"), "london")])),
     'kosmos:externalPools[0].region: "london" is not a Civo region like LON1, NYC1'),
    ("civo-image-not-ubuntu-debian", _blog(_set([((EXT, 0, "image"), "rocky-9")])),
     'kosmos:externalPools[0].image: "rocky-9" is not an Ubuntu or Debian Civo disk image name like ubuntu-jammy or '
     "debian-12"),
    ("civo-ssh-open-to-world", _blog(_set([((EXT, 0, "sshAllowedCidrs"), ["0.0.0.0/0"])])),
     'kosmos:externalPools[0].sshAllowedCidrs[0]: "0.0.0.0/0" opens SSH to the whole internet; set '
     "kosmos:allowPublicSsh: true if you mean it"),
    ("civo-ssh-bad-cidr", _blog(_set([((EXT, 0, "sshAllowedCidrs"), ["203.0.113.10/33"])])),
     'kosmos:externalPools[0].sshAllowedCidrs[0]: "203.0.113.10/33" is not a CIDR like 203.0.113.4/32'),
    ("civo-unknown-key", _blog(_set([((EXT, 0, "metro"), "da")])),
     "kosmos:externalPools[0].metro: unknown key; allowed keys: name, provider, labels, taints, tags, registration, "
     "region, size, image, count, sshKeyId, sshAllowedCidrs"),
    ("equinix-plan-form", _blog(_set([((EXT, 3, "plan"), "c3-large-arm")])),
     'kosmos:externalPools[3].plan: "c3-large-arm" is not an Equinix Metal plan like c3.small.x86 or c3.large.arm64 '
     "(<class>.<size>.<x86|arm64>)"),
    ("equinix-project-missing", _blog(_set([(("kosmos:equinixProjectId",), DELETE)])),
     "kosmos:equinixProjectId: is required when an equinix-metal external pool is declared"),
    ("equinix-os-unknown", _blog(_set([((EXT, 2, "os"), "centos_7")])),
     'kosmos:externalPools[2].os: "centos_7" is not allowed; expected one of ubuntu_20_04, ubuntu_22_04, '
     "ubuntu_24_04, debian_11, debian_12"),
    ("onprem-without-ssh-key", _blog(_set([(("kosmos:sshPrivateKey",), DELETE)])),
     "kosmos:sshPrivateKey: is required when an on-prem external pool is declared; set it with "
     "`pulumi config set --secret kosmos:sshPrivateKey < ~/.ssh/id_ed25519`"),
    ("ssh-key-in-plaintext", _blog(_set([(("kosmos:sshPrivateKey",), "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n")])),
     "kosmos:sshPrivateKey: must be stored encrypted; set it with `pulumi config set --secret kosmos:sshPrivateKey`"),
    ("onprem-host-without-address", _blog(_set([((EXT, 4, "hosts", 0, "address"), DELETE)])),
     "kosmos:externalPools[4].hosts[0].address: is required"),
    ("onprem-hosts-missing", _blog(_set([((EXT, 4, "hosts"), DELETE)])),
     "kosmos:externalPools[4].hosts: is required"),
    ("onprem-hosts-empty", _blog(_set([((EXT, 4, "hosts"), [])])),
     "kosmos:externalPools[4].hosts: expected a non-empty list of {name, address, user, port}"),
    ("onprem-port", _blog(_set([((EXT, 4, "hosts", 0, "port"), 70000)])),
     "kosmos:externalPools[4].hosts[0].port: 70000 is out of range; expected between 1 and 65535"),
    ("onprem-address", _blog(_set([((EXT, 4, "hosts", 0, "address"), "192.168.64.300")])),
     'kosmos:externalPools[4].hosts[0].address: "192.168.64.300" is not an IP address or DNS name'),
    ("onprem-host-key", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), "AAAA-not-a-key")])),
     "kosmos:externalPools[4].hosts[0].hostKey: \"AAAA-not-a-key\" is not an SSH public host key like "
     "'ssh-ed25519 AAAA…' (ssh-keyscan's output without the host column)"),
    ("expiry-in-the-past", _blog(_set([(("kosmos:joinKeyExpiresAt",), "2020-01-01T00:00:00Z")])),
     'kosmos:joinKeyExpiresAt: "2020-01-01T00:00:00Z" is in the past; new machines could not join with an expired '
     "key"),
    ("expiry-format", _blog(_set([(("kosmos:joinKeyExpiresAt",), "next year")])),
     'kosmos:joinKeyExpiresAt: "next year" is not an RFC 3339 UTC time like "2027-06-30T00:00:00Z"'),
    ("agent-sha-not-hex", _dev(_set([(("kosmos:join",), {"agentSha256": {"amd64": "abc"}})])),
     'kosmos:join.agentSha256.amd64: "abc" is not 64 lowercase hex characters'),
    ("agent-sha-unknown-arch", _dev(_set([(("kosmos:join",), {"agentSha256": {"riscv64": "a" * 64}})])),
     "kosmos:join.agentSha256.riscv64: unknown key; allowed keys: amd64, arm64"),
    ("agent-url-scheme", _dev(_set([(("kosmos:join",), {"agentBaseUrl": "ftp://mirror.example/agents"})])),
     'kosmos:join.agentBaseUrl: "ftp://mirror.example/agents" is not an http(s) URL without query or fragment'),
    ("allowed-os-entry", _dev(_set([(("kosmos:join",), {"allowedOs": ["ubuntu-22.04"]})])),
     'kosmos:join.allowedOs[0]: "ubuntu-22.04" is not "<ubuntu|debian>:<VERSION_ID>"'),
    ("min-memory-too-low", _dev(_set([(("kosmos:join",), {"minMemoryMiB": 512})])),
     "kosmos:join.minMemoryMiB: 512 is out of range; expected between 1024 and 4194304"),
    ("em-zone", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal", "zone": "fr-par-3",
                                         "offer": "EM-A115X-SSD", "count": 1})])),
     'kosmos:externalPools[2].zone: "fr-par-3" is not allowed (did you mean "fr-par-2"?); expected one of fr-par-1, fr-par-2, nl-ams-1, '
     "nl-ams-2, pl-waw-2, pl-waw-3"),
    ("em-offer", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal", "zone": "fr-par-2",
                                          "offer": "a115x", "count": 1})])),
     'kosmos:externalPools[2].offer: "a115x" is not an Elastic Metal offer name like EM-A115X-SSD'),
    ("em-arch", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal", "zone": "fr-par-2",
                                         "offer": "EM-A115X-SSD", "count": 1, "arch": "x86_64"})])),
     'kosmos:externalPools[2].arch: "x86_64" is not allowed; expected one of amd64, arm64'),
    ("registration-timeout", _blog(_set([((EXT, 0, "registration"), {"timeoutMinutes": -5})])),
     "kosmos:externalPools[0].registration.timeoutMinutes: expected a number between 0.01 and 1440; got -5"),
    ("registration-unknown-key", _blog(_set([((EXT, 0, "registration"), {"waitt": False})])),
     'kosmos:externalPools[0].registration.waitt: unknown key (did you mean "wait"?); allowed keys: wait, '
     "timeoutMinutes, skipDrain"),
    ("external-pools-not-a-list", _blog(_set([((EXT,), {"name": "x"})])),
     'kosmos:externalPools: expected a list of pools; got {\'name\': \'x\'}'),
    ("external-pool-name-too-long", _blog(_set([((EXT, 1, "name"), "n" * 53)])),
     f'kosmos:externalPools[1].name: "{"n" * 53}" is too long: machines are named <pool>-<n>-<6 hex> and a hostname '
     "has at most 63 characters, so an external pool name has at most 52"),
    ("project-id-secret", _blog(_set([(("kosmos:equinixProjectId",), {"secure": "AAAA"})])),
     "kosmos:equinixProjectId: is not a credential and must not be a secret; set it without --secret"),
]


@pytest.mark.parametrize("raw, expected", [pytest.param(raw, exp, id=i) for i, raw, exp in CASES])
def test_bad_config_is_refused_with_the_key_path_before_anything_is_registered(raw, expected):
    run = run_config(raw)
    assert isinstance(run.error, SpecError), run.error
    assert expected in run.error.problems, "\n".join(run.error.problems)
    assert run.registrations == []  # not even the root component


def test_there_are_at_least_25_bad_config_cases():
    assert len(CASES) >= 25
    assert len({c[0] for c in CASES}) == len(CASES)


def test_all_problems_are_reported_together():
    raw = stack_config("blog")
    raw["kosmos:cluster"]["region"] = "mars"
    raw["kosmos:scalewayPools"][0]["zone"] = "nl-ams"
    raw["kosmos:externalPools"][0]["size"] = "g3.xsmall"
    raw["kosmos:externalPools"][4]["hosts"][0]["port"] = 0
    run = run_config(raw)
    paths = [p.split(": ", 1)[0] for p in run.error.problems]
    assert paths == [
        "kosmos:cluster.region",
        "kosmos:scalewayPools[0].zone",
        "kosmos:externalPools[0].size",
        "kosmos:externalPools[4].hosts[0].port",
    ]
    message = str(run.error)
    assert message.startswith(f"invalid kosmos configuration ({len(run.error.problems)} problems):")
    assert run.registrations == []


def test_a_good_config_has_no_problems_and_defaults_apply():
    spec = parse_spec(
        {"cluster": {"region": "pl-waw", "version": "1.32"}, "scalewayPools": [{"name": "a", "nodeType": "PRO2-S",
                                                                             "size": 2}]},
        stack="prod",
        now=dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc),
    )
    assert spec.cluster.name == "kosmos-prod"
    assert spec.cluster.cni == "kilo"
    assert spec.scaleway_pools[0].zone == "pl-waw-1"
    assert spec.join.min_memory_mib == 2048
    assert spec.external_pools == ()


def test_expiry_is_checked_against_now():
    base = {"cluster": {"region": "fr-par", "version": "1.31"}, "joinKeyExpiresAt": "2027-01-01T00:00:00Z"}
    parse_spec(base, now=dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc))
    with pytest.raises(SpecError, match="is in the past"):
        parse_spec(base, now=dt.datetime(2027, 1, 2, tzinfo=dt.timezone.utc))


def test_plain_http_agent_mirror_is_allowed_with_a_warning():
    spec = parse_spec({"cluster": {"region": "fr-par", "version": "1.31"},
                       "join": {"agentBaseUrl": "http://10.0.0.5:8080/agents"}})
    assert spec.join.agent_base_url == "http://10.0.0.5:8080/agents"
    assert any("plain http://" in w for w in spec.warnings())
