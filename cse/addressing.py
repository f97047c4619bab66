"""Resource addressing (TS-0001 7.2, TS-0004 6.2.3): from a request's `to` to a lookup key.

Accepted forms: CSE-relative structured (`cse-in/ae/cnt`, also `-/ae/cnt`), CSE-relative
unstructured (`<ri>`), SP-relative (`/<cse-id>/...`) and absolute (`//<sp-id>/<cse-id>/...`).
A trailing `la` or `ol` addresses the latest or oldest instance of a container."""

from dataclasses import dataclass

from cse.errors import BadRequest, NotFound

VIRTUAL_NAMES = frozenset({"la", "ol", "pcu"})


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    """A structured path (`cse-in/ae/cnt`) or a resource ID."""
    structured: bool
    virtual: str | None = None


def cse_relative_id(identifier: str, csi: str) -> str:
    """An ID of this CSE in CSE-relative form: `/<csi>/Cxyz` becomes `Cxyz`."""
    prefix = csi + "/"
    return identifier[len(prefix) :] if identifier.startswith(prefix) else identifier


def _cse_relative(to: str, cse_id: str, sp_id: str) -> str:
    if to.startswith("//"):
        sp, _, rest = to[2:].partition("/")
        if sp != sp_id:
            raise NotFound(f"{to} is not in this service provider ({sp_id})")
        to = "/" + rest
    if to.startswith("/"):
        csi, _, rest = to[1:].partition("/")
        if csi != cse_id:
            raise NotFound(f"{to} is not hosted by this CSE ({cse_id})")
        return rest or cse_id
    return to


def parse_target(to: str, cse_id: str, cse_rn: str, sp_id: str) -> Target:
    if not to:
        raise BadRequest("the request has no target (to)")
    if not to.isprintable():
        raise NotFound(f"{to!r} does not name a resource (control characters)")
    relative = _cse_relative(to, cse_id, sp_id).strip("/")
    if not relative:
        return Target(cse_id, structured=False)
    segments = relative.split("/")
    if any(segment == "" for segment in segments):
        raise BadRequest(f"malformed target {to!r}")
    virtual = None
    if len(segments) > 1 and segments[-1] in VIRTUAL_NAMES:
        virtual = segments.pop()
    if segments[0] in (cse_rn, "-"):
        segments[0] = cse_rn
        return Target("/".join(segments), structured=True, virtual=virtual)
    if len(segments) == 1:
        return Target(segments[0], structured=False, virtual=virtual)
    raise NotFound(f"{to} does not name a resource of this CSE")
