"""Application Entity (ty 2, TS-0001 9.6.5): registration and the AE-ID rules."""

import secrets

from sqlalchemy.engine import Connection

from cse.addressing import cse_relative_id
from cse.attributes import (
    ACCESS_CONTROLLED,
    EXPIRING,
    NP,
    UNIVERSAL,
    Attribute,
    Kind,
    M,
    O,
    attribute_table,
)
from cse.constants import ResourceType
from cse.constants import ResponseStatusCode as RSC
from cse.errors import AlreadyRegistered, BadRequest, M2MError
from cse.storage import repository
from resources.base import CreateContext, ResourceSpec, UpdateContext


def assign_ae_id(originator: str | None, csi: str) -> str:
    """The AE-ID-Stem for a registration (TS-0001 10.2.2.2): keep `C…`/`S…`, assign for
    exactly `C`, `S` or no originator; anything else is refused."""
    stem = cse_relative_id((originator or "").strip(), csi)
    if stem.startswith("/") and stem.count("/") == 1:
        stem = stem[1:]
    if stem in ("", "C"):
        return "C" + secrets.token_hex(8)
    if stem == "S":
        return "S" + secrets.token_hex(8)
    if stem[0] in "CS" and "/" not in stem:
        return stem
    raise M2MError(
        f"originator {originator!r} may not register an AE: an AE-ID starts with 'C' or 'S'",
        RSC.APP_RULE_VALIDATION_FAILED,
    )


class AESpec(ResourceSpec):
    ty = ResourceType.AE
    root = "m2m:ae"
    ri_prefix = "C"
    attributes = attribute_table(
        UNIVERSAL,
        EXPIRING,
        ACCESS_CONTROLLED,
        (
            Attribute("apn", Kind.STRING, O, O),
            Attribute("api", Kind.STRING, M, NP),
            Attribute("aei", Kind.STRING, NP, NP),
            Attribute("poa", Kind.STRING_LIST, O, O),
            Attribute("or", Kind.STRING, O, O),
            Attribute("nl", Kind.STRING, O, O),
            Attribute("rr", Kind.BOOL, M, O),
            Attribute("csz", Kind.STRING_LIST, O, O),
            Attribute("srv", Kind.STRING_LIST, M, O),
        ),
    )
    child_types = frozenset(
        {ResourceType.CNT, ResourceType.ACP, ResourceType.SUB, ResourceType.PCH}
    )

    def prepare_create(self, ctx: CreateContext) -> None:
        api = ctx.content["api"]
        if not api or api[0] not in "RN":
            raise BadRequest(f"m2m:ae: api must start with 'R' or 'N', got {api!r}")
        if not ctx.content["srv"]:
            raise BadRequest("m2m:ae: srv must name at least one release version")
        aei = assign_ae_id(ctx.request.fr, ctx.settings.csi)
        resource = ctx.resource
        resource.ri = aei
        resource.owner = aei
        resource.attrs["aei"] = aei
        if ctx.content.get("rn") is None:
            resource.rn = aei
            resource.srn = f"{ctx.parent.srn}/{aei}"

    def create_in_transaction(self, conn: Connection, ctx: CreateContext) -> None:
        taken = AlreadyRegistered(f"an AE with AE-ID {ctx.resource.ri} is already registered")
        if repository.exists_ri(conn, ctx.resource.ri):
            raise taken
        repository.lock_parent(conn, ctx.parent.ri)
        try:
            repository.insert_resource(conn, ctx.resource)
        except repository.IdentifierTaken:
            raise taken from None

    def prepare_update(self, ctx: UpdateContext) -> None:
        srv = ctx.content.get("srv")
        if srv is not None and not srv:
            raise BadRequest("m2m:ae: srv must name at least one release version")
