"""MulticloudCluster from inputs as a program in another language sends them (schema names, secrets marked).

`lab:mode` = "construct": through the component package, as its plugin does: the ConstructRequest's inputs are
deserialised by the SDK's provider server and handed to ComponentProvider.construct (the provider
component_provider_host runs) over the plugin's own COMPONENTS (provider/__main__.py, loaded with `kosmos` standing
for this checkout's `components`). "python": the same mapping given to the Python API.
"""

import importlib.util
import json
import pathlib
import sys

import pulumi
from google.protobuf import struct_pb2
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ProviderServicer
from pulumi.runtime import rpc

import components
from components import MulticloudCluster

config = pulumi.Config("lab")
wire = json.loads(config.require("inputs"))

if config.require("mode") == "construct":
    request_inputs = struct_pb2.Struct()
    request_inputs.update(wire)
    # The server's own input handling (plain values stay plain, secrets become secret Outputs). Without input
    # dependencies it never suspends, so it is driven to completion here, inside the program's event loop.
    pending = ProviderServicer._construct_inputs(request_inputs, {})
    try:
        pending.send(None)
        raise AssertionError("_construct_inputs suspended")
    except StopIteration as done:
        inputs = done.value
    # Aliases for the plugin's `import kosmos`, taken back afterwards: the test process must not look as if kosmos
    # were installed (tests/test_package.py checks it is not).
    aliases = {"kosmos" + name[len("components"):]: module for name, module in list(sys.modules.items())
               if name == "components" or name.startswith("components.")}
    aliases = {name: module for name, module in aliases.items() if name not in sys.modules}
    sys.modules.update(aliases)
    try:
        spec = importlib.util.spec_from_file_location(
            "kosmos_plugin", pathlib.Path(components.__file__).resolve().parent.parent / "provider" / "__main__.py")
        plugin = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(plugin)
        provider = ComponentProvider(plugin.COMPONENTS, plugin.NAME, None, components.__version__)
        state = provider.construct("lab", "kosmos:index:MulticloudCluster", inputs, None).state
    finally:
        for name in aliases:
            sys.modules.pop(name, None)
        MulticloudCluster.host_scaleway_api_url = None  # the plugin's setting ends with its process; here, now
else:
    args = {k: pulumi.Output.secret(rpc.unwrap_rpc_secret(v)) if rpc.is_rpc_secret(v) else v for k, v in wire.items()}
    lab = MulticloudCluster("lab", args)
    state = {"clusterId": lab.cluster_id, "apiserverUrl": lab.apiserver_url, "kubeconfig": lab.kubeconfig,
             "poolIds": lab.pool_ids, "nodes": lab.nodes, "userdata": lab.userdata}

for key, value in state.items():
    pulumi.export(key, value)
