"""Container (ty 3, TS-0001 9.6.6): instance counters and the mni/mbs/mia limits."""

from sqlalchemy.engine import Connection

from cse.attributes import (
    ACCESS_CONTROLLED,
    CREATOR,
    EXPIRING,
    NP,
    STATE_TAGGED,
    UNIVERSAL,
    Attribute,
    Kind,
    O,
    attribute_table,
)
from cse.constants import ResourceType
from cse.resource import Resource
from cse.storage import repository
from cse.timestamps import now
from resources.base import CreateContext, ResourceSpec, UpdateContext

LIMIT_ATTRIBUTES = ("mni", "mbs", "mia")
EVICTION_BATCH = 500


def evict_over_limits(conn: Connection, container: Resource, cni: int, cbs: int) -> None:
    """Remove the oldest instances until `cni <= mni` and `cbs <= mbs` (TS-0001 9.6.6)."""
    mni = container.attrs.get("mni")
    mbs = container.attrs.get("mbs")

    def over(count: int, size: int) -> bool:
        return (mni is not None and count > mni) or (mbs is not None and size > mbs)

    while over(cni, cbs):
        wanted = cni - mni if mni is not None and cni > mni else 16
        rows = repository.oldest_instances(
            conn, container.ri, ResourceType.CIN, min(wanted, EVICTION_BATCH)
        )
        victims: list[str] = []
        freed = 0
        for ri, size in rows:
            if not over(cni - len(victims), cbs - freed):
                break
            victims.append(ri)
            freed += size
        if not victims:
            break
        repository.delete_instances(conn, container.ri, victims)
        repository.uncount_instances(conn, container.ri, len(victims), freed)
        cni -= len(victims)
        cbs -= freed


def evict_older_than_mia(conn: Connection, container: Resource) -> None:
    mia = container.attrs.get("mia")
    if mia is None:
        return
    rows = repository.instances_older_than(conn, container.ri, ResourceType.CIN, now() - mia)
    if rows:
        repository.delete_instances(conn, container.ri, [row.ri for row in rows])
        repository.uncount_instances(conn, container.ri, len(rows), sum(r.cs or 0 for r in rows))


class ContainerSpec(ResourceSpec):
    ty = ResourceType.CNT
    root = "m2m:cnt"
    ri_prefix = "cnt"
    attributes = attribute_table(
        UNIVERSAL,
        EXPIRING,
        ACCESS_CONTROLLED,
        CREATOR,
        STATE_TAGGED,
        (
            Attribute("mni", Kind.NONNEG_INT, O, O),
            Attribute("mbs", Kind.NONNEG_INT, O, O),
            Attribute("mia", Kind.NONNEG_INT, O, O),
            Attribute("cni", Kind.NONNEG_INT, NP, NP),
            Attribute("cbs", Kind.NONNEG_INT, NP, NP),
            Attribute("li", Kind.STRING, O, O),
            Attribute("or", Kind.STRING, O, O),
            Attribute("disr", Kind.BOOL, O, O),
        ),
    )
    child_types = frozenset({ResourceType.CNT, ResourceType.CIN, ResourceType.SUB})
    virtual_children = frozenset({"la", "ol"})

    def resolve_virtual(
        self, conn: Connection, resource: Resource, name: str, moment: float
    ) -> Resource | None:
        """`la` and `ol`: the newest and oldest unexpired instance."""
        return repository.edge_instance(
            conn, resource.ri, ResourceType.CIN, moment, latest=name == "la"
        )

    def prepare_create(self, ctx: CreateContext) -> None:
        ctx.resource.st = 0
        ctx.resource.cni = 0
        ctx.resource.cbs = 0

    def update_in_transaction(self, conn: Connection, ctx: UpdateContext) -> None:
        super().update_in_transaction(conn, ctx)
        ctx.resource.st = repository.bump_state_tag(conn, ctx.resource.ri)
        if any(name in ctx.content for name in LIMIT_ATTRIBUTES):
            current = repository.get_by_ri(conn, ctx.resource.ri)
            if current is None:
                return
            if "mia" in ctx.content:
                repository.set_instance_expiry(
                    conn, current.ri, ResourceType.CIN, current.attrs.get("mia")
                )
                evict_older_than_mia(conn, current)
                current = repository.get_by_ri(conn, current.ri) or current
            evict_over_limits(conn, current, current.cni or 0, current.cbs or 0)
            refreshed = repository.get_by_ri(conn, current.ri)
            if refreshed is not None:
                ctx.resource.cni, ctx.resource.cbs = refreshed.cni, refreshed.cbs
