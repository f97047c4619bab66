"""What every resource type module provides, and the defaults most types keep."""

from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy.engine import Connection

from cse.attributes import Attribute
from cse.constants import Permission, ResourceType
from cse.constants import ResponseStatusCode as RSC
from cse.errors import BadRequest
from cse.identifiers import new_resource_id
from cse.primitives import Request
from cse.resource import Resource
from cse.settings import Settings
from cse.storage import repository

RESERVED_NAMES = frozenset({"la", "ol", "fopt", "pcu"})
MAX_NAME = 255
MAX_PATH = 2048
MAX_LABEL = 1024


@dataclass(slots=True)
class CreateContext:
    request: Request
    parent: Resource
    content: dict[str, Any]
    resource: Resource
    settings: Settings
    originator: str


@dataclass(slots=True)
class UpdateContext:
    request: Request
    old: Resource
    content: dict[str, Any]
    resource: Resource
    settings: Settings


def check_labels(labels: list[str]) -> None:
    for label in labels:
        if not label or len(label) > MAX_LABEL or "\x00" in label:
            raise BadRequest(f"labels must be 1 to {MAX_LABEL} characters without NUL")


class ResourceSpec:
    """A resource type: its root name, attribute table, allowed children and hooks."""

    ty: ClassVar[ResourceType]
    root: ClassVar[str]
    ri_prefix: ClassVar[str]
    attributes: ClassVar[dict[str, Attribute]]
    child_types: ClassVar[frozenset[int]] = frozenset()
    has_acpi: ClassVar[bool] = True
    updatable: ClassVar[bool] = True
    access_from_parent: ClassVar[bool] = False
    """True where the type has no `acpi` and its parent's policies govern it (CIN)."""
    create_permission: ClassVar[Permission] = Permission.CREATE
    """The privilege on the parent that creating one needs (a subscription: RETRIEVE)."""
    wrong_parent_code: ClassVar[RSC] = RSC.INVALID_CHILD_RESOURCE_TYPE
    virtual_children: ClassVar[frozenset[str]] = frozenset()
    """Names of virtual resources under this type (`la`, `ol`, `pcu`)."""
    long_polled: ClassVar[bool] = False
    """True where retrieving the virtual child waits for notifications (`pcu`)."""
    self_governed: ClassVar[bool] = False
    """True where the resource's own `pvs` governs access to it (ACP)."""

    @property
    def short_name(self) -> str:
        return self.root.split(":", 1)[1]

    def new_ri(self) -> str:
        return new_resource_id(self.ri_prefix)

    def default_rn(self, resource: Resource) -> str:
        return resource.ri

    def check_identity(self, resource: Resource) -> None:
        """Name, path and labels fit what the tree can address and store."""
        rn = resource.rn
        if not rn or "/" in rn or rn in (".", "..") or not (rn + resource.ri).isprintable():
            raise BadRequest(f"invalid resource name {rn!r}")
        if rn in RESERVED_NAMES:
            raise BadRequest(f"resource name {rn!r} is reserved")
        if len(rn) > MAX_NAME or len(resource.ri) > MAX_NAME:
            raise BadRequest(f"resource names and IDs are limited to {MAX_NAME} characters")
        if len(resource.srn) > MAX_PATH:
            raise BadRequest(f"the resource's path would exceed {MAX_PATH} characters")
        check_labels(resource.lbl)

    def resolve_virtual(
        self, conn: Connection, resource: Resource, name: str, moment: float
    ) -> Resource | None:
        """The resource a virtual child stands for; by default the resource itself."""
        return resource

    def prepare_create(self, ctx: CreateContext) -> None:
        """Type rules and defaults before the write; raise M2MError to refuse."""

    async def verify_create(self, ctx: CreateContext, services: Any) -> None:
        """Checks that need the network (a subscription's verification request)."""

    def create_in_transaction(self, conn: Connection, ctx: CreateContext) -> None:
        repository.lock_parent(conn, ctx.parent.ri)
        repository.insert_resource(conn, ctx.resource)

    def prepare_update(self, ctx: UpdateContext) -> None:
        """Type rules for an update, after the generic attribute checks."""

    def update_in_transaction(self, conn: Connection, ctx: UpdateContext) -> None:
        repository.save_resource(conn, ctx.resource, labels_changed="lbl" in ctx.content)

    def after_delete_in_transaction(self, conn: Connection, resource: Resource) -> None:
        """Bookkeeping on the parent after a resource of this type was deleted."""
