"""The kosmos component package's plugin: hosts MulticloudCluster for programs in any Pulumi language.

The engine runs `python <this directory> <engine address>`; component_provider_host serves the schema it infers from
the component's annotations and constructs the component on request.
"""

from typing import Optional

import pulumi
from pulumi.provider.experimental import component_provider_host

import kosmos


def scaleway_api_url() -> Optional[str]:
    """The calling stack's `scaleway:apiUrl`. This plugin is the package's entry point, as __main__.py is the Python
    program's: it reads the config the component does not. A ConstructRequest carries the stack's config (pulumi
    proto/pulumi/provider.proto, ConstructRequest.config), which the SDK's provider server applies before it
    constructs (pulumi/provider/experimental/server.py, _construct: set_all_config)."""
    return pulumi.Config("scaleway").get("apiUrl")


kosmos.MulticloudCluster.host_scaleway_api_url = scaleway_api_url
COMPONENTS = [kosmos.MulticloudCluster]
"""Everything the package hosts (tools/schema.py infers the schema from the same list)."""
NAME = "kosmos"

if __name__ == "__main__":
    component_provider_host(COMPONENTS, name=NAME, version=kosmos.__version__)
