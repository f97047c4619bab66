"""CSEBase (ty 5, TS-0001 9.6.3): the root of the tree, created by the CSE itself."""

from cse.attributes import (
    ACCESS_CONTROLLED,
    NP,
    UNIVERSAL,
    Attribute,
    Kind,
    O,
    attribute_table,
)
from cse.constants import ResourceType
from resources.base import ResourceSpec

# Release versions this CSE serves, announced in `srv`.
SUPPORTED_RELEASE_VALUES = ["2a", "3", "4", "5"]


class CSEBaseSpec(ResourceSpec):
    ty = ResourceType.CSEBASE
    root = "m2m:cb"
    ri_prefix = ""
    attributes = attribute_table(
        UNIVERSAL,
        ACCESS_CONTROLLED,
        (
            Attribute("cst", Kind.NONNEG_INT, NP, NP),
            Attribute("csi", Kind.STRING, NP, NP),
            Attribute("srt", Kind.ANY, NP, NP),
            Attribute("poa", Kind.STRING_LIST, NP, O),
            Attribute("srv", Kind.STRING_LIST, NP, NP),
            Attribute("rr", Kind.BOOL, NP, NP),
            Attribute("csz", Kind.STRING_LIST, NP, NP),
        ),
    )
    child_types = frozenset({ResourceType.AE, ResourceType.CNT, ResourceType.ACP, ResourceType.SUB})
