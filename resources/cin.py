"""contentInstance (ty 4, TS-0001 9.6.7): immutable data in a container.

Creating one counts it in the parent container (`st`, `cni`, `cbs`) and evicts the oldest
instances beyond the container's limits, all in the transaction of the create."""

import base64
import binascii
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from cse.attributes import (
    CREATOR,
    EXPIRING,
    NP,
    STATE_TAGGED,
    UNIVERSAL,
    Attribute,
    Kind,
    M,
    O,
    attribute_table,
)
from cse.constants import ResourceType
from cse.errors import BadRequest, NotAcceptable
from cse.resource import Resource
from cse.storage import repository
from resources.base import CreateContext, ResourceSpec
from resources.cnt import evict_over_limits

ENCODINGS = {"0": "plain", "1": "base64 string", "2": "base64 binary"}


def content_size(con: Any) -> int:
    """The size of `con` in bytes: UTF-8 of a string, else its JSON serialization."""
    if isinstance(con, str):
        return len(con.encode())
    return len(orjson.dumps(con))


def check_content_format(cnf: str, con: Any) -> None:
    """`cnf` is `<type>/<subtype>:<encoding>[:<security>]` (TS-0004 6.3.5.36 contentInfo)."""
    media, _, rest = cnf.partition(":")
    if "/" not in media or media.startswith("/") or media.endswith("/"):
        raise BadRequest(f"m2m:cin: cnf {cnf!r} must start with a media type like text/plain")
    encoding = rest.split(":", 1)[0] if rest else "0"
    if encoding not in ENCODINGS:
        raise BadRequest(f"m2m:cin: cnf encoding {encoding!r} must be 0, 1 or 2")
    if encoding in ("1", "2"):
        if not isinstance(con, str):
            raise BadRequest("m2m:cin: base64-encoded content must be a string")
        try:
            base64.b64decode(con, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest("m2m:cin: con is not valid base64 as cnf declares") from exc


def instance_expiry(et: float | None, ct: float, container: Resource) -> float | None:
    """An instance expires at its `et` or when older than the container's `mia`."""
    mia = container.attrs.get("mia")
    if mia is None:
        return et
    by_age = ct + mia
    return by_age if et is None else min(et, by_age)


class ContentInstanceSpec(ResourceSpec):
    ty = ResourceType.CIN
    root = "m2m:cin"
    ri_prefix = "cin"
    has_acpi = False
    access_from_parent = True
    updatable = False
    attributes = attribute_table(
        UNIVERSAL,
        EXPIRING,
        CREATOR,
        STATE_TAGGED,
        (
            Attribute("lbl", Kind.STRING_LIST, O, NP),
            Attribute("et", Kind.TIMESTAMP, O, NP),
            Attribute("cnf", Kind.STRING, O, NP),
            Attribute("cs", Kind.NONNEG_INT, NP, NP),
            Attribute("con", Kind.ANY, M, NP),
            Attribute("or", Kind.STRING, O, NP),
        ),
    )

    def prepare_create(self, ctx: CreateContext) -> None:
        con = ctx.content["con"]
        if con is None:
            raise BadRequest("m2m:cin: con must not be null")
        if "cnf" in ctx.content and ctx.content["cnf"] is not None:
            check_content_format(ctx.content["cnf"], con)
        size = content_size(con)
        mbs = ctx.parent.attrs.get("mbs")
        if mbs is not None and size > mbs:
            raise NotAcceptable(
                f"content instance of {size} bytes exceeds the container's mbs of {mbs} bytes"
            )
        resource = ctx.resource
        resource.cs = size
        resource.expires = instance_expiry(resource.et, resource.ct, ctx.parent)

    def create_in_transaction(self, conn: Connection, ctx: CreateContext) -> None:
        st, cni, cbs, attrs = repository.bump_container(conn, ctx.parent.ri, ctx.resource.cs or 0)
        ctx.parent.attrs = attrs
        ctx.resource.st = st
        repository.insert_resource(conn, ctx.resource)
        evict_over_limits(conn, ctx.parent, cni, cbs)

    def after_delete_in_transaction(self, conn: Connection, resource: Resource) -> None:
        if resource.pi is not None:
            repository.uncount_instances(conn, resource.pi, 1, resource.cs or 0)
