"""Bad stack config: every case goes through the real program and must fail with a message naming the key path and
what is allowed, before a single resource is registered."""

from __future__ import annotations

import datetime as dt
import re

import pulumi
import pytest

from components.spec import SpecError, parse_spec
from conftest import run_config, stack_config
from tools.engine import fake_uuid


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
    ("version-bool", _dev(_set([((CLUSTER, "version"), True)])),
     'kosmos:cluster.version: expected a string (a Kubernetes version like "1.31" or "1.31.2"); got True'),
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
     "externalPools, join, equinixProjectId, sshPrivateKey, joinKeyExpiresAt, joinKeyValidDays, allowPublicSsh, "
     "latencyProbe"),
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
     "upgrade, region, size, image, count, sshKeyId, sshAllowedCidrs"),
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
    ("agent-http-without-pin", _dev(_set([(("kosmos:join",), {"agentBaseUrl": "http://mirror.lan/agent/0.1.5",
                                                                "agentSha256": {"amd64": "a" * 64}})])),
     'kosmos:join.agentBaseUrl: "http://mirror.lan/agent/0.1.5" is not https, so the agent must be pinned: set '
     "kosmos:join.agentSha256.arm64 (or use an https URL)"),
    ("agent-version-format", _dev(_set([(("kosmos:join",), {"agentVersion": "0.1.5"})])),
     'kosmos:join.agentVersion: "0.1.5" is not a k8s-agent release tag like v0.1.5 (github.com/scaleway/k8s-agent '
     "tags)"),
    ("agent-unknown-field", _dev(_set([(("kosmos:join",), {"agentVerison": "v0.1.5"})])),
     'kosmos:join.agentVerison: unknown key (did you mean "agentVersion"?); allowed keys: agentVersion, agentBaseUrl, '
     "agentSha256, apiUrl, allowedOs, minMemoryMiB"),
    ("agent-api-url-not-https", _dev(_set([(("kosmos:join",), {"apiUrl": "http://api.scaleway.com"})])),
     'kosmos:join.apiUrl: "http://api.scaleway.com" is not an https URL without a path, like https://api.scaleway.com'),
    ("over-the-node-limit", _blog(_set([((EXT, 0, "count"), 148)])),
     'kosmos:cluster.type: "multicloud" takes at most 150 nodes, but the stack declares 154 (2 in '
     "kosmos:scalewayPools, counting autoscaled pools at maxSize, 152 in kosmos:externalPools); use "
     "multicloud-dedicated-4 (250) or multicloud-dedicated-8 (500) or multicloud-dedicated-16 (500)"),
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
    # get_os matches name and version exactly: no version, no OS, and a server that fails only once it is ordered.
    ("em-os-version-missing", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal",
                                                      "zone": "fr-par-2", "offer": "EM-A115X-SSD", "count": 1})])),
     "kosmos:externalPools[2].osVersion: is required"),
    # An empty or padded version matches no OS either (the look-up compares the whole string).
    ("em-os-version-blank", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal",
                                                    "zone": "fr-par-2", "offer": "EM-A115X-SSD", "count": 1,
                                                    "osVersion": " "})])),
     'kosmos:externalPools[2].osVersion: " " is not an OS version as Scaleway lists it, like "22.04 LTS (Jammy '
     'Jellyfish)" (not blank, no outer spaces)'),
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
    ("latency-probe-not-a-mapping", _dev(_set([(("kosmos:latencyProbe",), True)])),
     "kosmos:latencyProbe: expected a mapping with keys enabled, intervalSeconds, image; got bool"),
    ("latency-probe-enabled-string", _dev(_set([(("kosmos:latencyProbe",), {"enabled": "yes"})])),
     'kosmos:latencyProbe.enabled: expected true or false; got "yes"'),
    ("latency-probe-interval-too-short", _dev(_set([(("kosmos:latencyProbe",), {"enabled": True,
                                                                                 "intervalSeconds": 1})])),
     "kosmos:latencyProbe.intervalSeconds: 1 is out of range; expected between 5 and 3600"),
    ("latency-probe-interval-text", _dev(_set([(("kosmos:latencyProbe",), {"intervalSeconds": "30s"})])),
     'kosmos:latencyProbe.intervalSeconds: expected a whole number; got "30s"'),
    ("latency-probe-image-untagged", _dev(_set([(("kosmos:latencyProbe",), {"enabled": True,
                                                                              "image": "python"})])),
     'kosmos:latencyProbe.image: "python" is not an image reference with a tag or a digest, like '
     "python:3.13-alpine or python@sha256:<64 hex>"),
    ("latency-probe-unknown-key", _dev(_set([(("kosmos:latencyProbe",), {"enable": True})])),
     'kosmos:latencyProbe.enable: unknown key (did you mean "enabled"?); allowed keys: enabled, intervalSeconds, '
     "image"),
    ("project-id-secret", _blog(_set([(("kosmos:equinixProjectId",), {"secure": "AAAA"})])),
     "kosmos:equinixProjectId: is not a credential and must not be a secret; set it without --secret"),
    # --- issue 13: late failures moved before registration -------------------------------------------------------
    ("civo-image-unknown", _blog(_set([((EXT, 1, "image"), "ubuntu-warty")])),
     "kosmos:externalPools[1].image: no Civo disk image is named 'ubuntu-warty' in region NYC1; use a name Civo "
     "lists for that region"),
    ("urn-collision-onprem-host-vs-pool", _blog(_set([((EXT, 4, "name"), "a"), ((EXT, 4, "hosts", 0, "name"), "1-0"),
                                                     ((EXT, 1, "name"), "a-1")])),
     "kosmos:externalPools[4].hosts[0].name: kosmos:externalPools[4].hosts[0] and kosmos:externalPools[1] machine 0 "
     "would give their resources the same names (<cluster>-a-1-0-labels, …: <pool>-<machine>), so the same "
     "URNs, which Pulumi refuses in the middle of an update; rename the pool or the host"),
    ("urn-collision-pool-vs-onprem-host", _blog(lambda raw: (
        raw[EXT][4].update(name="edge-x"), raw[EXT][4]["hosts"][0].update(name="0"),
        raw[EXT].append({"name": "edge", "provider": "on-prem", "hosts": [
            {"name": "x-0", "address": "192.168.64.6", "hostKey": raw[EXT][4]["hosts"][0]["hostKey"]}]}))),
     "kosmos:externalPools[5].hosts[0].name: kosmos:externalPools[5].hosts[0] and kosmos:externalPools[4].hosts[0] "
     "would give their resources the same names (<cluster>-edge-x-0-labels, …: <pool>-<machine>), so the same "
     "URNs, which Pulumi refuses in the middle of an update; rename the pool or the host"),
    # --- fullmatch: `$` accepts one trailing newline ---------------------------------------------------------------
    ("pool-name-trailing-newline", _dev(_set([((SCW, 0, "name"), "default\n")])),
     'kosmos:scalewayPools[0].name: "default\\n" is not a pool name of lowercase letters, digits and \'-\' (at most 63)'),
    ("external-pool-name-trailing-newline", _blog(_set([((EXT, 1, "name"), "civo-lon1\n")])),
     'kosmos:externalPools[1].name: "civo-lon1\\n" is not a pool name of lowercase letters, digits and \'-\' (at '
     "most 63)"),
    ("label-value-trailing-newline", _blog(_set([((EXT, 0, "labels"), {"team": "web\n"})])),
     'kosmos:externalPools[0].labels.team: value "web\\n" is not a valid Kubernetes label value (a string of at '
     "most 63 characters: letters, digits, '-', '_', '.', starting and ending with a letter or digit)"),
    ("host-name-trailing-newline", _blog(_set([((EXT, 4, "hosts", 0, "name"), "mac-vm\n")])),
     'kosmos:externalPools[4].hosts[0].name: "mac-vm\\n" is not a host name of lowercase letters, digits and \'-\''),
    ("host-address-trailing-newline", _blog(_set([((EXT, 4, "hosts", 0, "address"), "nas.home\n")])),
     'kosmos:externalPools[4].hosts[0].address: "nas.home\\n" is not an IP address or DNS name'),
    ("agent-url-trailing-newline", _dev(_set([(("kosmos:join",), {"agentBaseUrl": "https://mirror.example/a\n"})])),
     'kosmos:join.agentBaseUrl: "https://mirror.example/a\\n" is not an http(s) URL without query or fragment'),
    ("civo-region-trailing-newline", _blog(_set([((EXT, 0, "region"), "LON1\n")])),
     'kosmos:externalPools[0].region: "LON1\\n" is not a Civo region like LON1, NYC1'),
    ("expiry-trailing-newline", _dev(_set([(("kosmos:joinKeyExpiresAt",), "2099-01-01T00:00:00Z\n")])),
     'kosmos:joinKeyExpiresAt: "2099-01-01T00:00:00Z\\n" is not an RFC 3339 UTC time like "2027-06-30T00:00:00Z"'),
    # --- length bounds on free strings and lists -------------------------------------------------------------------
    ("cluster-tag-too-long", _dev(_set([((CLUSTER, "tags"), ["t" * 256])])),
     f'kosmos:cluster.tags[0]: "{"t" * 97}…" (256 characters) is too long; at most 255 characters are allowed'),
    ("cluster-tag-with-newline", _dev(_set([((CLUSTER, "tags"), ["dev\nprod"])])),
     'kosmos:cluster.tags[0]: "dev\\nprod" contains a control character (newline, tab, …)'),
    ("em-tag-with-nul", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal",
                                                 "zone": "fr-par-2", "offer": "EM-A115X-SSD", "count": 1,
                                                 "tags": ["a\x00b"]})])),
     'kosmos:externalPools[2].tags[0]: "a\\u0000b" contains a control character (newline, tab, …)'),
    # terraform-provider-scaleway baremetal/server.go: each ssh_key_ids entry must be a UUID (verify.IsUUID).
    ("em-ssh-key-id-not-uuid", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal",
                                                        "zone": "fr-par-2", "offer": "EM-A115X-SSD", "count": 1,
                                                        "osVersion": "22.04 LTS (Jammy Jellyfish)",
                                                        "sshKeyIds": ["my-laptop-key"]})])),
     'kosmos:externalPools[2].sshKeyIds[0]: "my-laptop-key" is not a Scaleway SSH key id (a UUID)'),
    ("onprem-too-many-hosts", _blog(lambda raw: raw[EXT][4].update(hosts=[
        dict(raw[EXT][4]["hosts"][0], name=f"h{i}", address=f"10.0.{i // 250}.{i % 250 + 1}") for i in range(501)])),
     "kosmos:externalPools[4].hosts: has 501 hosts; a cluster has at most 500 nodes"),
    ("too-many-tags", _dev(_set([((SCW, 0, "tags"), [f"t{i}" for i in range(101)])])),
     "kosmos:scalewayPools[0].tags: has 101 entries; at most 100 are allowed"),
    ("em-os-version-too-long", _blog(_set([((EXT, 2), {"name": "em", "provider": "scaleway-elastic-metal",
                                                        "zone": "fr-par-2", "offer": "EM-A115X-SSD", "count": 1,
                                                        "osVersion": "2" * 300})])),
     f'kosmos:externalPools[2].osVersion: "{"2" * 97}…" (300 characters) is too long; at most 255 characters are '
     "allowed"),
    ("civo-ssh-key-id-too-long", _blog(_set([((EXT, 0, "sshKeyId"), "k" * 300)])),
     f'kosmos:externalPools[0].sshKeyId: "{"k" * 97}…" (300 characters) is too long; at most 255 characters are '
     "allowed"),
    ("host-key-too-long", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), "ssh-rsa " + "A" * 9000)])),
     f'kosmos:externalPools[4].hosts[0].hostKey: "ssh-rsa {"A" * 89}…" (9008 characters) is too long; at most 8192 '
     "characters are allowed"),
    ("host-user-too-long", _blog(_set([((EXT, 4, "hosts", 0, "user"), "u" * 33)])),
     f'kosmos:externalPools[4].hosts[0].user: "{"u" * 33}" is too long; at most 32 characters are allowed'),
    ("onprem-site-too-long", _blog(_set([((EXT, 4, "site"), "s" * 64)])),
     f'kosmos:externalPools[4].site: "{"s" * 64}" is too long; at most 63 characters are allowed'),
    ("taint-value-too-long", _dev(_set([((SCW, 0, "taints"), [{"key": "a", "value": "v" * 64, "effect": "NoSchedule"}])])),
     f'kosmos:scalewayPools[0].taints[0].value: "{"v" * 64}" is not a valid taint value'),
    # --- upper bounds, nan and inf ---------------------------------------------------------------------------------
    ("pool-max-size-huge", _dev(_set([((SCW, 0, "maxSize"), 10**6), ((SCW, 0, "autoscale"), True)])),
     "kosmos:scalewayPools[0].maxSize: 1000000 is out of range; expected between 1 and 500"),
    ("min-memory-overflows-bash", _dev(_set([(("kosmos:join",), {"minMemoryMiB": 2**63})])),
     f"kosmos:join.minMemoryMiB: {2**63} is out of range; expected between 1024 and 4194304"),
    ("timeout-nan", _blog(_set([((EXT, 0, "registration"), {"timeoutMinutes": float("nan")})])),
     "kosmos:externalPools[0].registration.timeoutMinutes: expected a number between 0.01 and 1440; got nan"),
    ("timeout-inf", _blog(_set([((EXT, 0, "registration"), {"timeoutMinutes": float("inf")})])),
     "kosmos:externalPools[0].registration.timeoutMinutes: expected a number between 0.01 and 1440; got inf"),
    ("timeout-over-a-day", _blog(_set([((EXT, 0, "registration"), {"timeoutMinutes": 1441})])),
     "kosmos:externalPools[0].registration.timeoutMinutes: expected a number between 0.01 and 1440; got 1441"),
    ("cluster-over-its-node-limit", _blog(_set([((EXT, 0, "count"), 145)])),
     'kosmos:cluster.type: "multicloud" takes at most 150 nodes, but the stack declares 151 (2 in '
     "kosmos:scalewayPools, counting autoscaled pools at maxSize, 149 in kosmos:externalPools); use "
     "multicloud-dedicated-4 (250) or multicloud-dedicated-8 (500) or multicloud-dedicated-16 (500)"),
    # --- duplicates across pools -----------------------------------------------------------------------------------
    ("same-host-twice-in-a-pool", _blog(lambda raw: raw[EXT][4]["hosts"].append(
        dict(raw[EXT][4]["hosts"][0], name="mac-vm-2"))),
     "kosmos:externalPools[4].hosts[1].address: 192.168.64.5 port 22 is already kosmos:externalPools[4].hosts[0]; a "
     "machine joins once"),
    ("same-host-in-two-pools", _blog(lambda raw: raw[EXT].append(
        {"name": "lab", "provider": "on-prem", "hosts": [dict(raw[EXT][4]["hosts"][0], name="lab-1")]})),
     "kosmos:externalPools[5].hosts[0].address: 192.168.64.5 port 22 is already kosmos:externalPools[4].hosts[0]; a "
     "machine joins once"),
    ("same-ipv6-host-spelled-twice", _blog(lambda raw: (
        raw[EXT][4]["hosts"][0].update(address="2001:db8::5"),
        raw[EXT].append({"name": "lab", "provider": "on-prem", "hosts": [
            dict(raw[EXT][4]["hosts"][0], name="lab-1", address="2001:0db8:0:0::5")]}))),
     "kosmos:externalPools[5].hosts[0].address: 2001:0db8:0:0::5 port 22 is already "
     "kosmos:externalPools[4].hosts[0]; a machine joins once"),
    # --- trust: pinned SSH host keys -------------------------------------------------------------------------------
    ("host-key-missing", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), DELETE)])),
     "kosmos:externalPools[4].hosts[0].hostKey: is required: without it the host's node credentials go to whoever answers on this "
     "address. Pin the host's SSH key (`ssh-keyscan -t ed25519 <address>`, then check its fingerprint out of band; "
     "README, on-prem), or set insecureSkipHostKeyCheck: true to accept any key"),
    ("host-key-and-skip", _blog(_set([((EXT, 4, "hosts", 0, "insecureSkipHostKeyCheck"), True)])),
     "kosmos:externalPools[4].hosts[0].insecureSkipHostKeyCheck: contradicts hostKey; remove one of them"),
    ("host-key-skip-not-bool", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), DELETE),
                                           ((EXT, 4, "hosts", 0, "insecureSkipHostKeyCheck"), "yes")])),
     'kosmos:externalPools[4].hosts[0].insecureSkipHostKeyCheck: expected true or false; got "yes"'),
    ("host-key-truncated", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"),
                                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZ")])),
     "kosmos:externalPools[4].hosts[0].hostKey: the key data does not decode to a ssh-ed25519 key; copy the whole line "
     "again"),
    ("host-key-type-mismatch", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"),
                                            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZqv2bqSgyRCXjmc64ws1dvNmDfVql10iV")])),
     "kosmos:externalPools[4].hosts[0].hostKey: the key data does not decode to a ssh-rsa key; copy the whole line "
     "again"),
    ("host-key-with-keyscan-host-column", _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), "192.168.64.5 ssh-ed25519 "
                                                      "AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZqv2bqSgyRCXjmc64ws1dvNmDfVql10iV")])),
     'kosmos:externalPools[4].hosts[0].hostKey: "192.168.64.5 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZqv2bqSgyRCX'
     "jmc64ws1dvNmDfVql10iV\" is not an SSH public host key like 'ssh-ed25519 AAAA…' (ssh-keyscan's output without the "
     "host column)"),
    # --- the calendar ----------------------------------------------------------------------------------------------
    ("valid-days-zero", _blog(_set([(("kosmos:joinKeyValidDays",), 0)])),
     "kosmos:joinKeyValidDays: 0 is out of range; expected between 1 and 3650"),
    # --- what a Pulumi user sees -----------------------------------------------------------------------------------
    ("namespace-typo", _blog(lambda raw: raw.update({"kosmo:externalPools": raw.pop(EXT)})),
     'kosmo:externalPools: namespace "kosmo" is not "kosmos" (did you mean "kosmos:externalPools"?); kosmos reads '
     "only kosmos:* keys, so this one would be ignored"),
    ("namespace-capitalised", _dev(lambda raw: raw.update({"Kosmos:join": {}})),
     'Kosmos:join: namespace "Kosmos" is not "kosmos" (did you mean "kosmos:join"?); kosmos reads only kosmos:* keys, '
     "so this one would be ignored"),
    # --- issue 14: the typed model (components/model.py) keeps these messages -------------------------------------
    ("region-null", _dev(_set([((CLUSTER, "region"), None)])), "kosmos:cluster.region: is required"),
    ("external-pool-not-a-mapping", _blog(_set([((EXT, 1), 7)])), "kosmos:externalPools[1]: expected a mapping; got 7"),
    ("provider-typo", _blog(_set([((EXT, 0, "provider"), "civ")])),
     'kosmos:externalPools[0].provider: "civ" is not allowed (did you mean "civo"?); expected one of civo, '
     "equinix-metal, scaleway-elastic-metal, on-prem"),
    ("pool-size-bool", _dev(_set([((SCW, 0, "size"), True)])),
     "kosmos:scalewayPools[0].size: expected a whole number; got True"),
    ("civo-count-float", _blog(_set([((EXT, 1, "count"), 2.0)])),
     "kosmos:externalPools[1].count: expected a whole number; got 2.0"),
    ("timeout-bool", _blog(_set([((EXT, 0, "registration"), {"timeoutMinutes": True})])),
     "kosmos:externalPools[0].registration.timeoutMinutes: expected a number between 0.01 and 1440; got True"),
]


@pytest.mark.parametrize("raw, expected", [pytest.param(raw, exp, id=i) for i, raw, exp in CASES])
def test_bad_config_is_refused_with_the_key_path_before_anything_is_registered(raw, expected):
    run = run_config(raw)
    assert isinstance(run.error, SpecError), run.error
    # The CLI's Python host prints a RunError's message without a traceback (pulumi-language-python-exec).
    assert isinstance(run.error, pulumi.RunError)
    assert expected in run.error.problems, "\n".join(run.error.problems)
    assert run.registrations == []  # not even the root component


def test_a_secure_value_inside_an_object_is_never_echoed():
    """`pulumi config set --path --secret kosmos:externalPools[4].hosts[0].hostKey ...` makes the whole key secret
    (the CLI's NewSecureObjectValue): the program refuses it by name, and the ciphertext is never quoted back."""
    ciphertext = "AAABAOnlyCiphertextThatMustNotBeEchoed0000"
    raw = _blog(_set([((EXT, 4, "hosts", 0, "hostKey"), {"secure": ciphertext})]))
    run = run_config(raw)
    assert isinstance(run.error, SpecError), run.error
    assert "kosmos:externalPools: is not a credential and must not be a secret; set it without --secret" in (
        run.error.problems
    )
    assert ciphertext not in str(run.error)
    assert run.registrations == []


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
    assert not spec.external_pools


def test_the_default_cluster_name_is_checked_like_a_given_one():
    with pytest.raises(SpecError) as err:
        parse_spec({"cluster": {"region": "fr-par", "version": "1.31"}}, stack="Prod_EU")
    assert err.value.problems == [
        "kosmos:cluster.name: \"kosmos-Prod_EU\" is not a name of lowercase letters, digits and '-' (at most 63 "
        "characters)"
    ]


def test_the_removed_join_key_settings_are_warned_about_by_name_and_change_nothing():
    # kosmos no longer makes a join key: a stack that still sets these keeps working and is told to drop them.
    # A supported patch on a fixed date, so the version check (components/versions.py) adds nothing of its own.
    now = dt.datetime(2026, 11, 25, tzinfo=dt.timezone.utc)
    base = {"cluster": {"region": "fr-par", "version": "1.36.1"}}
    old = {**base, "joinKeyExpiresAt": "2020-01-01T00:00:00Z", "joinKeyValidDays": 90}
    assert parse_spec(base).warnings(now) == []
    warnings = parse_spec(old).warnings(now)
    assert [w.split(" ", 1)[0] for w in warnings] == ["kosmos:joinKeyValidDays", "kosmos:joinKeyExpiresAt"]
    assert all("is ignored and can be removed" in w and "deletes the old join key's IAM application" in w
               for w in warnings)
    # An outdated version adds its own findings after the join-key notices, which stay as they were.
    outdated = parse_spec({**old, "cluster": {"region": "fr-par", "version": "1.31"}}).warnings(now)
    assert outdated[:2] == warnings and outdated[2:]
    assert all(w.startswith("kosmos:cluster.version") for w in outdated[2:])
    raw = stack_config("blog")
    raw["kosmos:joinKeyValidDays"] = 90
    run = run_config(raw, stack="blog", raise_errors=True)
    assert any(w.startswith("kosmos:joinKeyValidDays is ignored") for w in run.warnings)
    assert {r.type for r in run.custom()} == {r.type for r in run_config(stack_config("blog"), stack="blog").custom()}


def test_plain_http_agent_mirror_is_accepted_when_every_arch_is_pinned():
    pins = {"amd64": "a" * 64, "arm64": "b" * 64}
    spec = parse_spec({"cluster": {"region": "fr-par", "version": "1.31"},
                       "join": {"agentBaseUrl": "http://10.0.0.5:8080/agents", "agentSha256": pins}})
    assert spec.join.agent_base_url == "http://10.0.0.5:8080/agents" and dict(spec.join.agent_sha256) == pins
    assert spec.join.agent_version == "v0.1.5"  # catalog.DEFAULT_AGENT_VERSION


def test_the_node_limit_follows_the_control_plane_offer():
    base = {"cluster": {"region": "fr-par", "version": "1.31", "type": "multicloud-dedicated-4"},
            "scalewayPools": [{"name": "a", "nodeType": "DEV1-M", "size": 100, "autoscale": True, "maxSize": 250}]}
    parse_spec(base)  # 250 on a dedicated-4 control plane: at the limit
    base["scalewayPools"][0]["maxSize"] = 251
    with pytest.raises(SpecError, match=r'"multicloud-dedicated-4" takes at most 250 nodes, but the stack declares 251'):
        parse_spec(base)


# --- issue 13: more than one exact line, or values computed from the real renderer -----------------------------------


def test_a_join_userdata_over_16_kib_is_refused_before_anything_is_registered():
    """Measured by rendering the real templates (components.userdata) with a pool id and key as long as the real
    ones, per userdata variant the pools use: not guessed from the config's length."""
    from components import userdata

    allowed = [f"ubuntu:22.{'4' * 240}{i:02d}" for i in range(60)]
    raw = stack_config("baremetal")  # Civo and on-prem take the script, Elastic Metal cloud-config
    raw["kosmos:join"] = {"allowedOs": allowed}
    run = run_config(raw)
    assert isinstance(run.error, SpecError), run.error
    assert run.registrations == []
    # Measured with an API URL set (SCW_API_URL rendered), as `scaleway:apiUrl` may add it after validation.
    real = userdata.JoinInputs(pool_id=f"fr-par/{fake_uuid('pool')}", region="fr-par", allowed_os=tuple(allowed),
                               api_url="https://api.scaleway.com")
    for variant, provider, pool in (("script", "civo", "civo-lon1"), ("cloud-config", "scaleway-elastic-metal", "em-x86")):
        with pytest.raises(userdata.UserdataError) as real_error:
            # A node's credentials as long as Scaleway's: metadata URL of the default API, a UUID secret.
            credentials = userdata.node_credentials("https://api.scaleway.com/k8s/v1/regions/fr-par/node-metadata",
                                                    fake_uuid("secret"))
            userdata.render(real, credentials, variant)
        size = int(re.search(r"is (\d+) bytes", str(real_error.value)).group(1))
        assert size > userdata.MAX_USERDATA_BYTES
        assert (
            f'kosmos:join: the {variant} join userdata of {provider} pools (pool "{pool}") cannot be rendered: '
            f"{variant} userdata is {size} bytes; the limit is {userdata.MAX_USERDATA_BYTES}; shorten "
            "kosmos:join.agentBaseUrl or kosmos:join.allowedOs"
        ) in run.error.problems


def test_a_join_userdata_under_the_limit_passes():
    raw = stack_config("baremetal")
    # 12 such entries render the cloud-config a few hundred bytes under 16 KiB (measured with an API URL set).
    raw["kosmos:join"] = {"allowedOs": [f"ubuntu:22.{'4' * 240}{i:02d}" for i in range(12)]}
    assert run_config(raw).error is None


def test_every_problem_of_a_stack_is_a_run_error_even_after_validation():
    """The Civo image check runs after parsing (it needs the provider): still a SpecError, still nothing
    registered, and reported together for every pool."""
    raw = stack_config("blog")
    raw[EXT][0]["image"] = "ubuntu-warty"
    raw[EXT][1]["image"] = "debian-potato"
    run = run_config(raw)
    assert isinstance(run.error, pulumi.RunError) and run.registrations == []
    assert [p.split(":", 2)[1] for p in run.error.problems] == ["externalPools[0].image", "externalPools[1].image"]


def test_a_known_civo_image_resolves_to_its_id():
    raw = stack_config("blog")
    raw[EXT][1]["image"] = "debian-12"
    run = run_config(raw, raise_errors=True)
    nyc = [r for r in run.by_type("civo:index/instance:Instance") if r.inputs["region"] == "NYC1"]
    assert [r.inputs["diskImage"] for r in nyc] == [fake_uuid("image", "debian-12")]


# --- the stack file itself, and what the CLI prints --------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("config:\n  kosmos:cluster:\n    region: fr-par\n   version: '1.31'\n",
     "Pulumi.broken.yaml:4:4: not valid YAML: while parsing a block mapping expected <block end>"),
    ("config:\n  kosmos:cluster: {region: fr-par\n", "Pulumi.broken.yaml:3:1: not valid YAML:"),
    ("config:\n\tkosmos:cluster: {}\n", "Pulumi.broken.yaml:2:1: not valid YAML:"),
    ("- just\n- a list\n", "Pulumi.broken.yaml: expected a mapping with a `config:` key; got list"),
    ("config: [kosmos:cluster]\n", "Pulumi.broken.yaml: `config` must be a mapping of `namespace:key` to value"),
    ("config: []\n", "Pulumi.broken.yaml: `config` must be a mapping of `namespace:key` to value"),
    ("config: ''\n", "Pulumi.broken.yaml: `config` must be a mapping of `namespace:key` to value"),
])
def test_a_broken_stack_file_names_the_file_and_line(tmp_path, text, expected):
    from tools.engine import StackFileError, load_stack_config

    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as err:
        load_stack_config("broken", path)
    assert isinstance(err.value, pulumi.RunError)
    assert str(err.value).startswith(str(path)) and expected in str(err.value), str(err.value)


def test_make_plan_on_invalid_yaml_prints_file_and_line_not_a_traceback():
    import subprocess
    import sys

    from conftest import REPO

    name = f"zz-yaml-{fake_uuid('yaml-test')[:8]}"
    bad = REPO / "stacks" / f"Pulumi.{name}.yaml"
    bad.write_text("config:\n  kosmos:cluster:\n    region: fr-par\n   version: '1.31'\n")
    try:
        result = subprocess.run([sys.executable, "-m", "tools.plan", "--stack", name, "--out", "/nonexistent"],
                                cwd=REPO, capture_output=True, text=True, timeout=120)
    finally:
        bad.unlink()
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: stacks/Pulumi.{name}.yaml:4:4: not valid YAML: "), result.stderr
    assert "Traceback" not in result.stderr


def test_make_plan_closes_every_event_loop_it_opened():
    """The SDK's mock monitor runs in executor threads and makes an event loop in each (sync_await.py,
    `_ensure_event_loop`); left open, they were collected at exit: "unclosed event loop" ResourceWarnings and,
    sometimes, "Exception ignored in: <function BaseEventLoop.__del__>"."""
    import subprocess
    import sys

    from conftest import REPO

    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-W", "always::ResourceWarning", "-m", "tools.plan",
         "--stack", "dev", "--out", "/tmp/kosmos-loop-test"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for noise in ("unclosed event loop", "Exception ignored", "Task was destroyed", "Traceback"):
        assert noise not in result.stderr, result.stderr



@pytest.mark.parametrize("stack", ["blog", "baremetal"])
def test_the_collision_check_knows_how_machines_name_their_resources(stack_run, stack):
    """The cross-pool check predicts resource names from ExternalPoolSpec.machine_keys(): the node identities and
    label patches the program really registers must be exactly those names, for every cloud."""
    spec = parse_spec({k.split(":", 1)[1]: v for k, v in stack_config(stack).items()}, stack=stack)
    predicted = {f"kosmos-{pool.name}-{key}" for pool in spec.external_pools for key in pool.machine_keys()}
    run = stack_run(stack)
    identities = {r.name.removesuffix("-identity").replace("-nodes-", "-", 1)
                  for r in run.by_type("pulumi-python:dynamic/kosmos:NodeIdentity")}
    assert identities == predicted
    assert {r.name.removesuffix("-labels") for r in run.by_type("kubernetes:core/v1:NodePatch")} == predicted


def test_two_pools_may_share_a_host_name_and_their_resources_stay_distinct():
    """Node names are Scaleway's (scw-<cluster>-<pool>-<id>, /work/shared/FACTS.md) and resources are named
    <pool>-<host>: a `mac-vm` at home and one in the lab are two machines."""
    raw = _blog(lambda raw: raw[EXT].append(
        {"name": "lab", "provider": "on-prem", "hosts": [dict(raw[EXT][4]["hosts"][0], address="192.168.64.9")]}))
    assert raw[EXT][4]["hosts"][0]["name"] == raw[EXT][5]["hosts"][0]["name"] == "mac-vm"
    run = run_config(raw)
    assert run.error is None, run.error
    joins = {r.name: r.raw_inputs["connection"]["host"] for r in run.by_type("command:remote:Command")}
    assert joins["kosmos-home-nodes-mac-vm"] == "192.168.64.5" and joins["kosmos-lab-nodes-mac-vm"] == "192.168.64.9"
    for type_, names_of in (("pulumi-python:dynamic/kosmos:NodeIdentity", "kosmos-{}-nodes-mac-vm-identity"),
                            ("kubernetes:core/v1:NodePatch", "kosmos-{}-mac-vm-labels")):
        names = [r.name for r in run.by_type(type_)]
        assert {names_of.format("home"), names_of.format("lab")} <= set(names)
        assert len(names) == len(set(names))
    assert len({r.urn for r in run.registrations}) == len(run.registrations)
