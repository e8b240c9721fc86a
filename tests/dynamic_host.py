"""Pulumi's dynamic provider host, run for real: `python -m pulumi.dynamic` in its own process, spoken to over gRPC
the way the engine does (pulumi 3.272 `pulumi/dynamic/__main__.py`: it prints its port, then every RPC unpickles
the provider from the `__provider` property with dill, once per process, and calls it).

Only 127.0.0.1; the process is started and stopped by the caller's `with` block.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import subprocess
from typing import Iterator, Optional

import grpc
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

PROVIDER_KEY = "__provider"


@contextlib.contextmanager
def provider_process(argv: list[str], cwd: pathlib.Path, env: Optional[dict] = None
                     ) -> Iterator[provider_pb2_grpc.ResourceProviderStub]:
    """A provider plugin process: it prints its port on stdout, then serves the ResourceProvider gRPC service."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env if env is not None else dict(os.environ))
    try:
        port = proc.stdout.readline().decode().strip()
        if not port.isdigit():
            raise RuntimeError(f"provider did not start: {proc.stderr.read().decode()[-2000:]}")
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield provider_pb2_grpc.ResourceProviderStub(channel)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def dynamic_host(python: str, cwd: pathlib.Path, env: Optional[dict] = None):
    """The host process as the CLI's `pulumi-resource-pulumi-python` starts it: `<python> -u -m pulumi.dynamic`,
    in the program's directory."""
    return provider_process([python, "-u", "-m", "pulumi.dynamic"], cwd, env)


def component_plugin(python: str, plugin_dir: pathlib.Path, cwd: pathlib.Path, env: Optional[dict] = None):
    """A Python component package as the language host's RunPlugin starts it (pulumi/pulumi
    sdk/python/cmd/pulumi-language-python/main.go): `<python> <plugin dir> <engine address>`. The engine address is
    only dialled by Construct, never by GetSchema."""
    return provider_process([python, str(plugin_dir), "127.0.0.1:1"], cwd, env)


def diff(stub: provider_pb2_grpc.ResourceProviderStub, blob: str, props: dict) -> provider_pb2.DiffResponse:
    """A Diff of a resource against itself: the host must unpickle `blob` to answer."""
    state = struct_pb2.Struct()
    state.update({**props, PROVIDER_KEY: blob})
    request = provider_pb2.DiffRequest(id="node", urn="urn:pulumi:s::p::pulumi-python:dynamic:Resource::n",
                                       olds=state, news=state)
    return stub.Diff(request, timeout=60)
