"""The resource types this CSE serves, by `ty` and by root name."""

from resources.acp import AccessControlPolicySpec
from resources.ae import AESpec
from resources.base import ResourceSpec
from resources.cin import ContentInstanceSpec
from resources.cnt import ContainerSpec
from resources.cse_base import CSEBaseSpec
from resources.pch import PollingChannelSpec
from resources.sub import SubscriptionSpec

SPECS: dict[int, ResourceSpec] = {
    spec.ty: spec
    for spec in (
        CSEBaseSpec(),
        AESpec(),
        ContainerSpec(),
        ContentInstanceSpec(),
        AccessControlPolicySpec(),
        SubscriptionSpec(),
        PollingChannelSpec(),
    )
}
BY_ROOT: dict[str, ResourceSpec] = {spec.root: spec for spec in SPECS.values()}


def spec_for(ty: int) -> ResourceSpec:
    return SPECS[ty]
