"""The kosmos component package's plugin: hosts MulticloudCluster for programs in any Pulumi language.

The engine runs `python <this directory> <engine address>`; component_provider_host serves the schema it infers from
the component's annotations and constructs the component on request.
"""

from pulumi.provider.experimental import component_provider_host

import kosmos

COMPONENTS = [kosmos.MulticloudCluster]
"""Everything the package hosts (tools/schema.py infers the schema from the same list)."""
NAME = "kosmos"

if __name__ == "__main__":
    component_provider_host(COMPONENTS, name=NAME, version=kosmos.__version__)
