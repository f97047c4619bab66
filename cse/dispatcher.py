"""The dispatcher: one code path from a request primitive to a response primitive.

It resolves the target, applies access control and the resource type's rules, runs the
storage transaction and builds the response content (`rcn`). Bindings only translate."""

import asyncio
import logging
from typing import Any

import orjson
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from cse import events, outbox, policy_version, request_log
from cse.access import AccessControl, is_allowed
from cse.addressing import Target, cse_relative_id, parse_target
from cse.attributes import validate_create, validate_update
from cse.changes import ChangeFeed
from cse.constants import (
    SUPPORTED_RELEASES,
    DiscoveryResultType,
    Operation,
    Permission,
    ResourceType,
    ResultContent,
)
from cse.constants import ResponseStatusCode as RSC
from cse.delivery import NotificationService
from cse.discovery import find, matches
from cse.edge_cache import EDGES, EdgeCache
from cse.errors import (
    BadRequest,
    M2MError,
    NoPrivilege,
    NotFound,
    OperationNotAllowed,
    RequestExpired,
    UnsupportedRelease,
)
from cse.primitives import FilterCriteria, Request, Response
from cse.resource import Resource
from cse.settings import Settings
from cse.storage import Storage, repository
from cse.timestamps import now, parse_timestamp
from resources.base import MAX_NAME, CreateContext, ResourceSpec, UpdateContext, check_labels
from resources.registry import SPECS, spec_for

log = logging.getLogger("citycse.dispatcher")

CREATE_RCN = frozenset({0, 1, 2, 3})
UPDATE_RCN = frozenset({0, 1, 2, 3, 9})
RETRIEVE_RCN = frozenset({1, 4, 5, 6, 7, 8})
DELETE_RCN = frozenset({0, 1})
CHILD_RCN = frozenset({4, 5, 6, 8})
DISCOVERY_CHUNK = 500
REQUEST_LOG_KEEP_SECONDS = 3600.0
DUPLICATE_WAIT_SECONDS = 10.0
DUPLICATE_POLL_SECONDS = 0.05
REQUEST_LOG_PRUNE_SECONDS = 60.0
SELF_GOVERNED_TYPES = tuple(ty for ty, spec in SPECS.items() if spec.self_governed)
KNOWN_ATTRIBUTES = frozenset(name for spec in SPECS.values() for name in spec.attributes)


def _resolve(conn: Connection, target: Target, moment: float) -> tuple[Resource, Resource | None]:
    """The target resource and, for a type governed by its parent, that parent."""
    lookup = repository.get_by_srn if target.structured else repository.get_by_ri
    resource = lookup(conn, target.key)
    if resource is None or (resource.expires is not None and resource.expires <= moment):
        raise NotFound(f"resource {target.key} does not exist")
    if target.virtual is not None:
        spec = spec_for(resource.ty)
        if target.virtual not in spec.virtual_children:
            raise NotFound(f"{target.key} has no '{target.virtual}' resource")
        virtual = spec.resolve_virtual(conn, resource, target.virtual, moment)
        if virtual is None:
            raise NotFound(f"{target.key}/{target.virtual} does not exist (no instance yet)")
        return virtual, (resource if virtual is not resource else None)
    parent = None
    if spec_for(resource.ty).access_from_parent and resource.pi is not None:
        parent = repository.get_by_ri(conn, resource.pi)
    return resource, parent


def _wrap(resource: Resource) -> dict[str, Any]:
    return {spec_for(resource.ty).root: resource.representation()}


def _only(representation: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {name: value for name, value in representation.items() if name in names}


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        storage: Storage,
        access: AccessControl,
        notifications: NotificationService,
        changes: ChangeFeed,
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.access = access
        self.notifications = notifications
        self.changes = changes
        self.edges = EdgeCache(enabled=settings.workers == 1)
        storage.on_change(self.edges.changed)
        self._last_request_log_prune = 0.0

    def _committed(self, kind: str, resource: Resource, produced: events.Produced) -> None:
        if produced.ready:
            self.notifications.deliver(produced.ready)
        if produced.notifications > len(produced.ready):
            self.notifications.committed()
        self.changes.publish(kind, resource)

    # -- entry point -------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        """Execute a request; every failure becomes an error response, never an exception."""
        try:
            self._check_request(request)
            return await self._execute(request)
        except M2MError as error:
            return Response.error(error.rsc, request.rqi, error.message, request.rvi)
        except SQLAlchemyError:
            log.exception("event=storage_error rqi=%s to=%s", request.rqi, request.to)
            return Response.error(
                RSC.INTERNAL_SERVER_ERROR, request.rqi, "storage error", request.rvi
            )
        except Exception:
            log.exception("event=internal_error rqi=%s to=%s", request.rqi, request.to)
            return Response.error(
                RSC.INTERNAL_SERVER_ERROR, request.rqi, "internal error", request.rvi
            )

    async def handle_once(self, request: Request, sender: str) -> Response | None:
        """Execute a request that may be delivered more than once (MQTT QoS 1) exactly once
        across all workers: a later copy gets the first copy's response (waiting for it while
        the first copy is still running elsewhere), or None if that never comes."""
        moment = now()
        claimed = await self.storage.write(request_log.claim, sender, request.rqi, moment)
        waited = 0.0
        while claimed is None and waited < DUPLICATE_WAIT_SECONDS:
            await asyncio.sleep(DUPLICATE_POLL_SECONDS)
            waited += DUPLICATE_POLL_SECONDS
            claimed = await self.storage.read(request_log.reply_of, sender, request.rqi)
        if claimed is not request_log.CLAIMED:
            return None if claimed is None else Response(**orjson.loads(claimed))
        response = await self.handle(request)
        stored = {
            "rsc": int(response.rsc),
            "rqi": response.rqi,
            "pc": response.pc,
            "rvi": response.rvi,
        }
        await self.storage.write(
            request_log.record, sender, request.rqi, orjson.dumps(stored).decode()
        )
        if moment - self._last_request_log_prune > REQUEST_LOG_PRUNE_SECONDS:
            self._last_request_log_prune = moment
            await self.storage.write(request_log.prune, moment - REQUEST_LOG_KEEP_SECONDS)
        return response

    def _check_request(self, request: Request) -> None:
        if request.rvi is None:
            raise UnsupportedRelease("the release version indicator (rvi) is missing")
        if request.rvi not in SUPPORTED_RELEASES:
            raise UnsupportedRelease(
                f"release version {request.rvi!r} is not supported "
                f"(supported: {', '.join(sorted(SUPPORTED_RELEASES))})"
            )
        if request.rqet is not None and request.rqet <= now():
            raise RequestExpired("the request expired before it could be executed (rqet)")
        if not request.rqi:
            raise BadRequest("the request identifier (rqi) is missing")

    async def _execute(self, request: Request) -> Response:
        if request.op == Operation.CREATE:
            return await self.create(request)
        if request.op == Operation.RETRIEVE:
            return await self.retrieve(request)
        if request.op == Operation.UPDATE:
            return await self.update(request)
        if request.op == Operation.DELETE:
            return await self.delete(request)
        raise OperationNotAllowed(f"operation {request.op} is not supported by this CSE")

    # -- helpers -----------------------------------------------------------------------

    def originator(self, request: Request) -> str:
        return self.originator_from(request.fr)

    def originator_from(self, fr: str | None) -> str:
        fr = (fr or "").strip()
        if not fr:
            raise BadRequest("the originator (From) is missing")
        if len(fr) > MAX_NAME or not fr.isprintable():
            raise BadRequest(f"the originator must be 1 to {MAX_NAME} printable characters")
        return cse_relative_id(fr, self.settings.csi)

    def target(self, request: Request) -> Target:
        s = self.settings
        return parse_target(request.to, s.cse_id, s.cse_rn, s.sp_id)

    async def resolve(self, request: Request) -> tuple[Target, Resource, Resource | None]:
        target = self.target(request)
        moment = now()
        if request.op == Operation.RETRIEVE and target.virtual in EDGES:
            return target, *await self._resolve_edge(target, moment)
        resource, parent = await self.storage.read(_resolve, target, moment)
        return target, resource, parent

    async def _resolve_edge(
        self, target: Target, moment: float
    ) -> tuple[Resource, Resource | None]:
        """The `la` or `ol` instance and its container, from the cache when it has them."""
        key = (target.structured, target.key, target.virtual or "")
        cached = self.edges.get(key, moment)
        if cached is not None:
            return cached
        generation = self.edges.generation
        instance, container = await self.storage.read(_resolve, target, moment)
        if container is None:  # not a container's instance: nothing to cache
            return instance, container
        self.edges.put(key, (instance, container), generation)
        return instance, container

    async def require(
        self,
        originator: str,
        resource: Resource,
        governing_parent: Resource | None,
        permission: Permission,
    ) -> None:
        spec = spec_for(resource.ty)
        governing = governing_parent if governing_parent is not None else resource
        await self.access.require(originator, governing, permission, spec.self_governed)

    def _content(self, request: Request, spec: ResourceSpec) -> dict[str, Any]:
        pc = request.pc
        if not isinstance(pc, dict) or len(pc) != 1:
            raise BadRequest(f"the content must be one object named {spec.root}")
        root, content = next(iter(pc.items()))
        if root != spec.root:
            raise BadRequest(
                f"the content root {root!r} does not match the resource type ({spec.root})"
            )
        if not isinstance(content, dict):
            raise BadRequest(f"{spec.root} must be a JSON object")
        return content

    def _rcn(self, request: Request, allowed: frozenset[int], default: int) -> int:
        rcn = default if request.rcn is None else request.rcn
        if rcn not in allowed:
            raise BadRequest(f"result content {rcn} is not allowed for this operation")
        return rcn

    async def _check_acpi(self, acpi: list[str]) -> None:
        policies = await self.access.policies(acpi)
        unknown = [ri for ri in acpi if ri not in policies]
        if unknown:
            raise BadRequest(f"acpi refers to unknown accessControlPolicy {', '.join(unknown)}")

    # -- CREATE ------------------------------------------------------------------------

    async def create(self, request: Request) -> Response:
        if request.ty is None:
            raise BadRequest("a create needs a resource type (ty)")
        spec = SPECS.get(request.ty)
        if spec is None or request.ty == ResourceType.CSEBASE:
            raise BadRequest(f"resource type {request.ty} cannot be created on this CSE")
        rcn = self._rcn(request, CREATE_RCN, ResultContent.ATTRIBUTES)
        content = self._content(request, spec)
        validate_create(spec.root, spec.attributes, content)
        target, parent, _ = await self.resolve(request)
        if target.virtual is not None:
            raise OperationNotAllowed(f"nothing can be created under '{target.virtual}'")
        if request.ty not in spec_for(parent.ty).child_types:
            raise M2MError(
                f"a {spec.root} cannot be created under a {spec_for(parent.ty).root}",
                spec.wrong_parent_code,
            )
        if spec.ty == ResourceType.AE:
            originator = (request.fr or "").strip()
        else:
            originator = self.originator(request)
            await self.require(originator, parent, None, spec.create_permission)
        resource = self._new_resource(spec, parent, content, originator)
        if resource.acpi:
            await self._check_acpi(resource.acpi)
        ctx = CreateContext(request, parent, content, resource, self.settings, originator)
        spec.prepare_create(ctx)
        spec.check_identity(resource)
        await spec.verify_create(ctx, self)
        produced = await self.storage.write(_create_transaction, spec, ctx)
        self._committed("create", resource, produced)
        log.debug("event=created ri=%s ty=%s srn=%s", resource.ri, resource.ty, resource.srn)
        return Response(
            rsc=RSC.CREATED,
            rqi=request.rqi,
            rvi=request.rvi,
            pc=self._write_result(rcn, resource, representation=produced.representation),
            content_location="/" + resource.srn,
        )

    def _new_resource(
        self, spec: ResourceSpec, parent: Resource, content: dict[str, Any], originator: str
    ) -> Resource:
        moment = now()
        attrs = {k: v for k, v in content.items() if v is not None or k == "cr"}
        et = attrs.pop("et", None)
        expires = parse_timestamp(et) if et is not None else None
        if expires is not None and expires <= moment:
            raise BadRequest("expirationTime (et) is in the past")
        resource = Resource(
            ri=spec.new_ri(),
            ty=spec.ty,
            rn="",
            pi=parent.ri,
            srn="",
            owner=originator,
            ct=moment,
            lt=moment,
            et=expires,
            expires=expires,
            lbl=attrs.pop("lbl", None) or [],
            acpi=attrs.pop("acpi", None) or [],
            attrs=attrs,
        )
        if "cr" in attrs:
            attrs["cr"] = originator
        resource.rn = attrs.pop("rn") if "rn" in attrs else spec.default_rn(resource)
        resource.srn = f"{parent.srn}/{resource.rn}"
        return resource

    def _write_result(
        self,
        rcn: int,
        resource: Resource,
        modified: dict[str, Any] | None = None,
        representation: dict[str, Any] | None = None,
    ) -> Any:
        """The content of a create's or update's answer; `representation` is the resource's
        wrapped representation when its notifications already built it."""
        if rcn == ResultContent.NOTHING:
            return None
        if rcn == ResultContent.HIERARCHICAL_ADDRESS:
            return {"m2m:uri": resource.srn}
        wrapped = representation if representation is not None else _wrap(resource)
        if rcn == ResultContent.HIERARCHICAL_ADDRESS_AND_ATTRIBUTES:
            return {"m2m:rce": {**wrapped, "uri": resource.srn}}
        if rcn == ResultContent.MODIFIED_ATTRIBUTES and modified is not None:
            ((root, attributes),) = wrapped.items()
            return {root: _only(attributes, list(modified))}
        return wrapped

    # -- RETRIEVE ----------------------------------------------------------------------

    async def retrieve(self, request: Request) -> Response:
        originator = self.originator(request)
        target, resource, parent = await self.resolve(request)
        if target.virtual is not None and spec_for(resource.ty).long_polled:
            return await self._poll(request, originator, resource)
        fc = request.fc
        if fc is not None and fc.is_discovery:
            return await self.discover(request, originator, resource, fc)
        rcn = self._rcn(request, RETRIEVE_RCN, ResultContent.ATTRIBUTES)
        await self.require(originator, resource, parent, Permission.RETRIEVE)
        filters_target = fc is not None and fc.has_conditions and rcn not in CHILD_RCN
        if filters_target and not await self.storage.read(matches, resource, fc):
            raise NotFound(f"{target.key} does not match the filter criteria")
        pc = await self._retrieve_content(rcn, originator, resource, fc, request.atrl)
        return Response(rsc=RSC.OK, rqi=request.rqi, rvi=request.rvi, pc=pc)

    async def _retrieve_content(
        self,
        rcn: int,
        originator: str,
        resource: Resource,
        fc: FilterCriteria | None,
        atrl: list[str] | None,
    ) -> Any:
        root = spec_for(resource.ty).root
        representation = resource.representation()
        if atrl:
            representation = _only(representation, atrl)
        if rcn not in CHILD_RCN:
            return {root: representation}
        children_fc = fc or FilterCriteria()
        if children_fc.lvl is None:
            children_fc.lvl = 1
        full = rcn in (ResultContent.ATTRIBUTES_AND_CHILD_RESOURCES, ResultContent.CHILD_RESOURCES)
        permission = Permission.RETRIEVE if full else Permission.DISCOVERY
        rows = await self._find_allowed(originator, resource, children_fc, permission, full)
        if rcn == ResultContent.CHILD_RESOURCE_REFERENCES:
            return {"m2m:rrl": {"rrf": [self._reference(row) for row in rows]}}
        if rcn == ResultContent.ATTRIBUTES_AND_CHILD_REFERENCES:
            return {root: {**representation, "ch": [self._reference(row) for row in rows]}}
        grouped: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            child = repository.resource_from_row(row)
            grouped.setdefault(spec_for(child.ty).root, []).append(child.representation())
        if rcn == ResultContent.CHILD_RESOURCES:
            return {root: grouped}
        return {root: {**representation, **grouped}}

    async def _poll(self, request: Request, originator: str, channel: Resource) -> Response:
        """Long poll of a polling channel: the oldest notification waiting for its AE, as a
        notify request primitive, or 4008 when none arrives in time (TS-0004 7.4.22)."""
        if originator not in (channel.owner, self.settings.admin_originator):
            raise NoPrivilege(f"only AE {channel.owner} may poll {channel.srn}")
        deadline = now() + self.settings.polling_channel_timeout_seconds
        if request.rqet is not None:
            deadline = min(deadline, request.rqet)
        aei = channel.pi or ""
        while True:
            waiting = await self.storage.read(
                outbox.for_target, [aei], 0, 1, [outbox.AWAITING_PICKUP]
            )
            if waiting and await self.storage.write(outbox.mark_picked_up, waiting[0], now()):
                item = waiting[0]
                primitive = {
                    "op": int(Operation.NOTIFY),
                    "to": aei,
                    "fr": self.settings.csi,
                    "rqi": item.rqi,
                    "rvi": request.rvi,
                    "pc": item.body,
                }
                return Response(
                    rsc=RSC.OK, rqi=request.rqi, rvi=request.rvi, pc={"m2m:rqp": primitive}
                )
            if waiting:
                continue  # fetched by another channel meanwhile
            remaining = deadline - now()
            if remaining <= 0:
                raise RequestExpired(f"no notification for {aei} arrived while polling")
            await self.notifications.wait_for_pickup(min(remaining, 1.0))

    @staticmethod
    def _reference(row: Any) -> dict[str, Any]:
        return {"nm": row.rn, "typ": row.ty, "val": row.srn}

    async def discover(
        self, request: Request, originator: str, base: Resource, fc: FilterCriteria
    ) -> Response:
        if request.rcn not in (None, 11, ResultContent.CHILD_RESOURCE_REFERENCES):
            raise BadRequest("discovery returns a URI list: rcn must be absent")
        if request.drt not in (DiscoveryResultType.STRUCTURED, DiscoveryResultType.UNSTRUCTURED):
            raise BadRequest(f"drt must be 1 (structured) or 2 (unstructured), got {request.drt}")
        rows = await self._find_allowed(originator, base, fc, Permission.DISCOVERY, full=False)
        structured = request.drt == DiscoveryResultType.STRUCTURED
        uris = [row.srn if structured else row.ri for row in rows]
        return Response(rsc=RSC.OK, rqi=request.rqi, rvi=request.rvi, pc={"m2m:uril": uris})

    async def _find_allowed(
        self,
        originator: str,
        base: Resource,
        fc: FilterCriteria,
        permission: Permission,
        full: bool,
    ) -> list[Any]:
        """Matching descendants the originator holds `permission` on, honouring ofst/lim
        over the permitted results. Policies for a whole chunk load in one query."""
        moment = now()
        if self.access.is_admin(originator):
            return await self.storage.scan(
                find, base, fc, moment, fc.ofst, fc.lim, full, SELF_GOVERNED_TYPES
            )
        results: list[Any] = []
        skipped = 0
        position = 0
        while True:
            rows = await self.storage.scan(
                find, base, fc, moment, position, DISCOVERY_CHUNK, full, SELF_GOVERNED_TYPES
            )
            position += len(rows)
            permitted = await self._permitted(originator, rows, permission)
            for row in permitted:
                if skipped < fc.ofst:
                    skipped += 1
                    continue
                results.append(row)
                if fc.lim is not None and len(results) >= fc.lim:
                    return results
            if len(rows) < DISCOVERY_CHUNK:
                return results

    async def _permitted(
        self, originator: str, rows: list[Any], permission: Permission
    ) -> list[Any]:
        governing = [self._governing(row) for row in rows]
        acpi = {ri for subject, _ in governing for ri in subject.acpi}
        policies = await self.access.policies(acpi)
        return [
            row
            for row, (subject, self_governed) in zip(rows, governing, strict=False)
            if is_allowed(originator, subject, permission, policies, self_governed)
        ]

    @staticmethod
    def _governing(row: Any) -> tuple[Resource, bool]:
        spec = spec_for(row.ty)
        if spec.access_from_parent:
            acpi, owner, attrs = row.p_acpi, row.p_owner or "", {}
        else:
            acpi, owner = row.acpi, row.owner
            attrs = orjson.loads(row.doc) if spec.self_governed and row.doc else {}
        subject = Resource(
            ri=row.ri,
            ty=row.ty,
            rn=row.rn,
            pi=row.pi,
            srn=row.srn,
            owner=owner,
            ct=0,
            lt=0,
            acpi=orjson.loads(acpi) if acpi else [],
            attrs=attrs,
        )
        return subject, spec.self_governed

    # -- UPDATE ------------------------------------------------------------------------

    async def update(self, request: Request) -> Response:
        originator = self.originator(request)
        target, old, parent = await self.resolve(request)
        if target.virtual is not None:
            raise OperationNotAllowed(f"'{target.virtual}' cannot be updated")
        spec = spec_for(old.ty)
        if not spec.updatable:
            raise OperationNotAllowed(f"a {spec.root} cannot be updated")
        rcn = self._rcn(request, UPDATE_RCN, ResultContent.ATTRIBUTES)
        content = self._content(request, spec)
        validate_update(spec.root, spec.attributes, content)
        if "acpi" in content:
            await self._authorize_acpi_update(originator, old, content)
        else:
            await self.require(originator, old, parent, Permission.UPDATE)
        resource = self._updated(old, content)
        check_labels(resource.lbl)
        if resource.acpi:
            await self._check_acpi(resource.acpi)
        ctx = UpdateContext(request, old, content, resource, self.settings)
        spec.prepare_update(ctx)
        produced = await self.storage.write(_update_transaction, spec, ctx)
        self._committed("update", resource, produced)
        self.access.forget(resource.ri)
        return Response(
            rsc=RSC.UPDATED,
            rqi=request.rqi,
            rvi=request.rvi,
            pc=self._write_result(rcn, resource, content, produced.representation),
        )

    async def _authorize_acpi_update(
        self, originator: str, old: Resource, content: dict[str, Any]
    ) -> None:
        """`acpi` is changed alone, by whoever the current policies' `pvs` let update them
        (TS-0001 9.6.1.3.2); with no `acpi`, by the creator."""
        if len(content) != 1:
            raise BadRequest("acpi must be the only attribute of an update that changes it")
        if self.access.is_admin(originator):
            return
        if not old.acpi:
            if old.owner != originator:
                raise M2MError(
                    f"originator {originator} may not change acpi of {old.srn}",
                    RSC.ORIGINATOR_HAS_NO_PRIVILEGE,
                )
            return
        policies = await self.access.policies(old.acpi)
        for policy in policies.values():
            if is_allowed(originator, policy, Permission.UPDATE, {}, self_governed=True):
                return
        raise M2MError(
            f"originator {originator} may not change acpi of {old.srn}",
            RSC.ORIGINATOR_HAS_NO_PRIVILEGE,
        )

    @staticmethod
    def _updated(old: Resource, content: dict[str, Any]) -> Resource:
        attrs = dict(old.attrs)
        resource = Resource(
            ri=old.ri,
            ty=old.ty,
            rn=old.rn,
            pi=old.pi,
            srn=old.srn,
            owner=old.owner,
            ct=old.ct,
            lt=now(),
            et=old.et,
            expires=old.expires,
            st=old.st,
            cni=old.cni,
            cbs=old.cbs,
            cs=old.cs,
            acpi=list(old.acpi),
            lbl=list(old.lbl),
            attrs=attrs,
        )
        for name, value in content.items():
            if name == "et":
                resource.et = parse_timestamp(value) if value is not None else None
                if resource.et is not None and resource.et <= resource.lt:
                    raise BadRequest("expirationTime (et) is in the past")
                resource.expires = resource.et
            elif name == "lbl":
                resource.lbl = value or []
            elif name == "acpi":
                resource.acpi = value or []
            elif value is None:
                attrs.pop(name, None)
            else:
                attrs[name] = value
        return resource

    # -- DELETE ------------------------------------------------------------------------

    async def delete(self, request: Request) -> Response:
        originator = self.originator(request)
        target, resource, parent = await self.resolve(request)
        if target.virtual is not None and parent is None:
            raise OperationNotAllowed(f"'{target.virtual}' cannot be deleted")
        if resource.ty == ResourceType.CSEBASE:
            raise OperationNotAllowed("the CSEBase cannot be deleted")
        rcn = self._rcn(request, DELETE_RCN, ResultContent.NOTHING)
        await self.require(originator, resource, parent, Permission.DELETE)
        if target.virtual is not None and parent is not None:
            # `la`/`ol` name whichever instance is newest/oldest when the delete runs.
            resource, deleted, produced = await self.storage.write(
                _delete_virtual, parent, target.virtual, self.settings
            )
        else:
            deleted, produced = await self.storage.write(delete_resource, resource, self.settings)
        if not deleted:
            raise NotFound(f"{target.key} was deleted by another request")
        for ri, _, _ in deleted:
            self.access.forget(ri)
        self._committed("delete", resource, produced)
        pc = _wrap(resource) if rcn == ResultContent.ATTRIBUTES else None
        return Response(rsc=RSC.DELETED, rqi=request.rqi, rvi=request.rvi, pc=pc)


def _delete_virtual(
    conn: Connection, container: Resource, name: str, settings: Settings
) -> tuple[Resource, list[tuple[str, int, str | None]], events.Produced]:
    instance = spec_for(container.ty).resolve_virtual(conn, container, name, now())
    if instance is None:
        raise NotFound(f"{container.srn}/{name} does not exist (no instance left)")
    deleted, produced = delete_resource(conn, instance, settings)
    return instance, deleted, produced


def _create_transaction(
    conn: Connection, spec: ResourceSpec, ctx: CreateContext
) -> events.Produced:
    spec.create_in_transaction(conn, ctx)
    return events.on_created(conn, ctx.settings, ctx.parent, ctx.resource)


def _update_transaction(
    conn: Connection, spec: ResourceSpec, ctx: UpdateContext
) -> events.Produced:
    spec.update_in_transaction(conn, ctx)
    return events.on_updated(conn, ctx.settings, ctx.resource, ctx.content)


def delete_resource(
    conn: Connection, resource: Resource, settings: Settings
) -> tuple[list[tuple[str, int, str | None]], events.Produced]:
    """Delete a resource with its subtree, tell its subscribers, keep the parent exact."""
    if not repository.lock_for_delete(conn, resource.ri):
        return [], events.Produced()
    produced = events.before_deleted(conn, settings, resource)
    deleted = repository.delete_subtree(conn, resource)
    if deleted:
        spec_for(resource.ty).after_delete_in_transaction(conn, resource)
    if any(ty == ResourceType.ACP for _, ty, _ in deleted):
        policy_version.bump(conn)
    return deleted, produced
