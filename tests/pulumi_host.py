"""Pulumi's own dynamic provider host, started as the engine starts it (`python -m pulumi.dynamic`, pulumi 3.272
pulumi/dynamic/__main__.py): a gRPC ResourceProvider server on 127.0.0.1 that prints its port. The test is the engine:
it sends Configure (the whole stack config, namespaced keys), Create/Diff/Read with properties, and Delete with the
resource's outputs only. The host unpickles the provider from `__provider` with dill and calls its configure()."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys

from conftest import REPO


def struct(d: dict):
    from google.protobuf import struct_pb2

    s = struct_pb2.Struct()
    s.update(d)
    return s


def plain(s) -> dict:
    from google.protobuf import json_format

    return json_format.MessageToDict(s)


@contextlib.contextmanager
def dynamic_host(home: str):
    """A host process with no SCW_* in its environment and no scw config file (HOME is `home`)."""
    import grpc
    from pulumi.runtime.proto import provider_pb2_grpc

    env = {k: v for k, v in os.environ.items() if not k.startswith("SCW_")}
    env.update(HOME=str(home), PULUMI_PROJECT="kosmos")
    proc = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            stub.process = proc  # a test may kill it, as an interrupted `pulumi up` does
            yield stub
    finally:
        proc.kill()
        proc.wait(timeout=10)
