"""pollingChannel (ty 15, TS-0001 9.6.21-22): how an AE that cannot be reached by requests
fetches its notifications, by long-polling the channel's `pcu` virtual resource."""

from cse.attributes import EXPIRING, UNIVERSAL, attribute_table
from cse.constants import ResourceType
from cse.errors import NoPrivilege
from resources.base import CreateContext, ResourceSpec


class PollingChannelSpec(ResourceSpec):
    ty = ResourceType.PCH
    root = "m2m:pch"
    ri_prefix = "pch"
    has_acpi = False
    long_polled = True
    virtual_children = frozenset({"pcu"})
    attributes = attribute_table(UNIVERSAL, EXPIRING)

    def prepare_create(self, ctx: CreateContext) -> None:
        """Only the AE itself opens its polling channel (TS-0001 10.2.13.2)."""
        if ctx.originator not in (ctx.parent.ri, ctx.settings.admin_originator):
            raise NoPrivilege(f"only AE {ctx.parent.ri} may create a polling channel under itself")
        ctx.resource.owner = ctx.parent.ri
