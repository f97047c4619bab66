"""accessControlPolicy (ty 1, TS-0001 9.6.2): privileges (`pv`) and self-privileges (`pvs`)."""

from typing import Any

from sqlalchemy.engine import Connection

from cse import policy_version
from cse.access import parse_time_window
from cse.attributes import (
    EXPIRING,
    UNIVERSAL,
    Attribute,
    Kind,
    M,
    O,
    attribute_table,
)
from cse.constants import ALL_PERMISSIONS, ResourceType
from cse.errors import BadRequest
from resources.base import CreateContext, ResourceSpec, UpdateContext


def check_rule(where: str, rule: Any) -> None:
    if not isinstance(rule, dict):
        raise BadRequest(f"{where} must be an object with acor and acop")
    unknown = set(rule) - {"acor", "acop", "acco"}
    if unknown:
        raise BadRequest(f"{where}: unknown member(s) {', '.join(sorted(unknown))}")
    acor = rule.get("acor")
    if not isinstance(acor, list) or not acor or not all(isinstance(a, str) for a in acor):
        raise BadRequest(f"{where}.acor must be a non-empty list of originators")
    acop = rule.get("acop")
    if not isinstance(acop, int) or isinstance(acop, bool) or not 0 <= acop <= ALL_PERMISSIONS:
        raise BadRequest(f"{where}.acop must be an integer bit mask from 0 to 63")
    acco = rule.get("acco", [])
    if not isinstance(acco, list):
        raise BadRequest(f"{where}.acco must be a list")
    for index, context in enumerate(acco):
        check_context(f"{where}.acco[{index}]", context)


def check_context(where: str, context: Any) -> None:
    if not isinstance(context, dict):
        raise BadRequest(f"{where} must be an object")
    unknown = set(context) - {"actw", "acip", "aclr"}
    if unknown:
        raise BadRequest(f"{where}: unknown member(s) {', '.join(sorted(unknown))}")
    if "acip" in context or "aclr" in context:
        raise BadRequest(f"{where}: only time windows (actw) are supported as access context")
    windows = context.get("actw", [])
    if not isinstance(windows, list) or not all(isinstance(w, str) for w in windows):
        raise BadRequest(f"{where}.actw must be a list of time window strings")
    for window in windows:
        parse_time_window(window)


def check_privileges(name: str, value: Any) -> None:
    if not isinstance(value, dict) or set(value) - {"acr"}:
        raise BadRequest(f"m2m:acp: {name} must be an object with one member 'acr'")
    rules = value.get("acr", [])
    if not isinstance(rules, list):
        raise BadRequest(f"m2m:acp: {name}.acr must be a list of rules")
    for index, rule in enumerate(rules):
        check_rule(f"m2m:acp: {name}.acr[{index}]", rule)


class AccessControlPolicySpec(ResourceSpec):
    ty = ResourceType.ACP
    root = "m2m:acp"
    ri_prefix = "acp"
    has_acpi = False
    self_governed = True
    child_types = frozenset({ResourceType.SUB})
    attributes = attribute_table(
        UNIVERSAL,
        EXPIRING,
        (
            Attribute("pv", Kind.OBJECT, M, O),
            Attribute("pvs", Kind.OBJECT, M, O),
        ),
    )

    def prepare_create(self, ctx: CreateContext) -> None:
        for name in ("pv", "pvs"):
            check_privileges(name, ctx.content[name])

    def prepare_update(self, ctx: UpdateContext) -> None:
        for name in ("pv", "pvs"):
            if ctx.content.get(name) is not None:
                check_privileges(name, ctx.content[name])

    def update_in_transaction(self, conn: Connection, ctx: UpdateContext) -> None:
        super().update_in_transaction(conn, ctx)
        policy_version.bump(conn)
