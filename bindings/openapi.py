"""The OpenAPI document of the oneM2M HTTP API (TS-0009), for /docs and /openapi.json.

The HTTP binding is a raw ASGI app, so nothing here is generated from routes: the document is
built from the same tables the CSE runs on (attribute tables of `resources/`, the result
content sets of the dispatcher, the status mapping of the HTTP binding), so that it describes
what the server does. Resource schemas live in `bindings.openapi_schemas`."""

from typing import Any

from bindings.http import http_status
from bindings.openapi_schemas import (
    CREATE_EXAMPLES,
    TIMESTAMP_PATTERN,
    UPDATE_EXAMPLES,
    attribute_doc,
    component_schemas,
    long_type_name,
    type_list,
    type_name,
)
from cse.attributes import Kind
from cse.constants import SUPPORTED_RELEASES, ResourceType, ResultContent
from cse.constants import ResponseStatusCode as RSC
from cse.discovery import FILTER_NAMES, MAX_INT
from cse.dispatcher import CREATE_RCN, DELETE_RCN, RETRIEVE_RCN, UPDATE_RCN
from cse.settings import Settings
from resources.base import MAX_NAME
from resources.registry import SPECS

JSON = dict[str, Any]

API_VERSION = "0.1.0"
RELEASES = sorted(SUPPORTED_RELEASES)
SUCCESS = {
    "retrieve": (200, RSC.OK),
    "create": (201, RSC.CREATED),
    "update": (200, RSC.UPDATED),
    "delete": (200, RSC.DELETED),
}


def _ref(kind: str, name: str) -> JSON:
    return {"$ref": f"#/components/{kind}/{name}"}


# -- status codes (TS-0009 table 6.3.2-1) ------------------------------------------------


def status_table() -> dict[int, list[RSC]]:
    """The oneM2M response status codes this CSE sends, by the HTTP status they map to."""
    table: dict[int, list[RSC]] = {}
    for rsc in RSC:
        table.setdefault(http_status(rsc), []).append(rsc)
    return dict(sorted(table.items()))


def _rsc_name(rsc: RSC) -> str:
    return f"{int(rsc)} {rsc.name}"


def _error_statuses() -> dict[int, list[RSC]]:
    return {status: codes for status, codes in status_table().items() if status >= 400}


def _error_responses() -> JSON:
    responses: JSON = {}
    for status, codes in _error_statuses().items():
        names = ", ".join(_rsc_name(rsc) for rsc in codes)
        responses[f"Status{status}"] = {
            "description": f"oneM2M {names}. The body (m2m:dbg) says why.",
            "headers": {
                "X-M2M-RSC": {
                    **_ref("headers", "X-M2M-RSC"),
                    "description": f"One of {', '.join(str(int(c)) for c in codes)}.",
                },
                "X-M2M-RI": _ref("headers", "X-M2M-RI"),
                "X-M2M-RVI": _ref("headers", "X-M2M-RVI"),
            },
            "content": {"application/json": {"schema": _ref("schemas", "Debug")}},
        }
    return responses


def _status_markdown() -> str:
    rows = ["| HTTP status | oneM2M response status codes (X-M2M-RSC) |", "| --- | --- |"]
    for status, codes in status_table().items():
        rows.append(f"| {status} | {', '.join(_rsc_name(rsc) for rsc in codes)} |")
    return "\n".join(rows)


# -- parameters -------------------------------------------------------------------------


def _header_parameters() -> JSON:
    return {
        "Origin": {
            "name": "X-M2M-Origin",
            "in": "header",
            "required": True,
            "description": "**From**: the originator of the request, e.g. the AE-ID of a "
            "registered AE (Ccharger-0042) or the admin originator.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
            "example": "CAdmin",
        },
        "OriginOnCreate": {
            "name": "X-M2M-Origin",
            "in": "header",
            "required": False,
            "description": "**From**: the originator. To register an AE send the AE-ID it "
            "wants (C... or S...), exactly C or S to have one assigned, or "
            "nothing; the CSE answers with the AE's `aei`, the originator to "
            "use from then on. Required for every other create.",
            "schema": {"type": "string", "maxLength": MAX_NAME},
            "example": "CAdmin",
        },
        "RequestIdentifier": {
            "name": "X-M2M-RI",
            "in": "header",
            "required": True,
            "description": "**Request Identifier**: any token chosen by the client; echoed in "
            "the response (errors included).",
            "schema": {"type": "string", "minLength": 1},
            "example": "req-0001",
        },
        "ReleaseVersion": {
            "name": "X-M2M-RVI",
            "in": "header",
            "required": True,
            "description": "**Release Version Indicator**: the oneM2M release the request "
            "follows. Missing or another value: 4001 (HTTP 501).",
            "schema": {"type": "string", "enum": RELEASES},
            "example": "3",
        },
        "RequestExpiration": {
            "name": "X-M2M-RET",
            "in": "header",
            "required": False,
            "description": "**Request Expiration Timestamp**: when the request is no longer "
            "worth executing (UTC, ISO 8601 basic). Already past: 4008 "
            "(HTTP 504).",
            "schema": {"type": "string", "pattern": TIMESTAMP_PATTERN},
            "example": "20300101T000000",
        },
    }


def _rcn_parameter(allowed: frozenset[int], default: ResultContent, extra: str = "") -> JSON:
    values = sorted(allowed)
    lines = ", ".join(
        f"{v} {ResultContent(v).name.lower().replace('_', ' ')}"
        + (" (default)" if v == default else "")
        for v in values
    )
    return {
        "name": "rcn",
        "in": "query",
        "required": False,
        "description": f"**resultContent**: what the response carries. {lines}.{extra}",
        "schema": {"type": "integer", "enum": values},
    }


def _timestamp_query(name: str, long_name: str, meaning: str) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"**{long_name}**: {meaning} (UTC, ISO 8601 basic, e.g. 20250101T120000).",
        "schema": {"type": "string", "pattern": TIMESTAMP_PATTERN},
    }


def _int_query(name: str, long_name: str, meaning: str, enum: list[int] | None = None) -> JSON:
    schema: JSON = {"type": "integer", "minimum": 0, "maximum": MAX_INT}
    if enum is not None:
        schema = {"type": "integer", "enum": enum}
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": f"**{long_name}**: {meaning}",
        "schema": schema,
    }


def _list_query(name: str, long_name: str, meaning: str, items: JSON, example: list) -> JSON:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "description": f"**{long_name}**: {meaning} Several values: repeat the "
        f"parameter or join with '+' ({name}={'+'.join(map(str, example))}).",
        "schema": {"type": "array", "items": items},
        "example": example,
    }


FILTER_PARAMETER_NAMES = (
    "fu",
    "drt",
    "atrl",
    "ty",
    "lbl",
    "cra",
    "crb",
    "ms",
    "us",
    "sts",
    "stb",
    "exa",
    "exb",
    "sza",
    "szb",
    "cty",
    "fo",
    "lim",
    "ofst",
    "lvl",
    "attributes",
)


def _query_parameters() -> JSON:
    params: JSON = {
        "RcnRetrieve": _rcn_parameter(
            RETRIEVE_RCN,
            ResultContent.ATTRIBUTES,
            " The child variants (4, 5, 6, 8) list direct children (lvl=1) unless lvl says "
            "otherwise, filtered by the filter criteria. Not used with fu=1.",
        ),
        "RcnCreate": _rcn_parameter(CREATE_RCN, ResultContent.ATTRIBUTES),
        "RcnUpdate": _rcn_parameter(UPDATE_RCN, ResultContent.ATTRIBUTES),
        "RcnDelete": _rcn_parameter(DELETE_RCN, ResultContent.NOTHING),
        "fu": _int_query(
            "fu",
            "filterUsage",
            "1 discovery: return the addresses (m2m:uril) of the resources below the target "
            "that match the filter criteria and that the originator may discover; "
            "2 conditional retrieval (default): return the target itself if it matches, "
            "else 4004.",
            [1, 2],
        ),
        "drt": _int_query(
            "drt",
            "discoveryResultType",
            "with fu=1, 1 structured addresses (default, cse-in/ae/cnt) or 2 resource IDs.",
            [1, 2],
        ),
        "atrl": _list_query(
            "atrl",
            "attributeList",
            "partial retrieve: return only these attributes.",
            {"type": "string"},
            ["rn", "lbl"],
        ),
        "ty": _list_query(
            "ty",
            "resourceType",
            f"match resources of any of these types ({type_list()}).",
            {"type": "integer", "minimum": 0, "maximum": MAX_INT},
            [3, 4],
        ),
        "lbl": _list_query(
            "lbl",
            "labels",
            "match resources carrying any of these labels.",
            {"type": "string"},
            ["site:north"],
        ),
        "cra": _timestamp_query("cra", "createdAfter", "created after this time"),
        "crb": _timestamp_query("crb", "createdBefore", "created before this time"),
        "ms": _timestamp_query("ms", "modifiedSince", "last modified after this time"),
        "us": _timestamp_query("us", "unmodifiedSince", "last modified before this time"),
        "exa": _timestamp_query("exa", "expireAfter", "expiring after this time"),
        "exb": _timestamp_query("exb", "expireBefore", "expiring before this time"),
        "sts": _int_query("sts", "stateTagSmaller", "stateTag (st) smaller than this."),
        "stb": _int_query("stb", "stateTagBigger", "stateTag (st) bigger than this."),
        "sza": _int_query(
            "sza", "sizeAbove", "contentSize (cs) at least this many bytes (content instances)."
        ),
        "szb": _int_query(
            "szb", "sizeBelow", "contentSize (cs) below this many bytes (content instances)."
        ),
        "cty": _list_query(
            "cty",
            "contentType",
            "content instances whose contentInfo (cnf) has this media type.",
            {"type": "string"},
            ["application/json"],
        ),
        "fo": _int_query(
            "fo", "filterOperation", "how the conditions combine: 1 AND (default), 2 OR.", [1, 2]
        ),
        "lim": _int_query(
            "lim", "limit", "at most this many results (discovery and child results)."
        ),
        "ofst": _int_query("ofst", "offset", "skip this many results first (paging with lim)."),
        "lvl": _int_query("lvl", "level", "only this many levels below the target (1 = children)."),
        "attributes": _attribute_filter_parameter(),
    }
    return params


def _attribute_filter_parameter() -> JSON:
    """Attribute filters are `<short name>=<value>` pairs in the query (TS-0009 6.2.2.2)."""
    kinds = {
        Kind.NONNEG_INT: {"type": "integer"},
        Kind.POSITIVE_INT: {"type": "integer"},
        Kind.BOOL: {"type": "boolean"},
    }
    dedicated = FILTER_NAMES | {"ct", "lt", "et"}
    properties: JSON = {}
    for spec in SPECS.values():
        for name, attribute in spec.attributes.items():
            if name in dedicated or name in properties:
                continue
            long_name, _ = attribute_doc(spec.root, name)
            properties[name] = {
                **kinds.get(attribute.kind, {"type": "string"}),
                "description": long_name,
            }
    return {
        "name": "attributes",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": True,
        "description": "**Attribute filters**: any attribute short name as a query "
        "parameter, `<name>=<value>`; a list attribute matches if it contains "
        "the value; several values (joined with '+') match any of them. "
        "E.g. `rn=meter`, `api=Nev-charger`, `mni=1000`. (This object is "
        "only a container: each member becomes its own query parameter.)",
        "schema": {
            "type": "object",
            "properties": dict(sorted(properties.items())),
            "additionalProperties": False,
        },
        "example": {"rn": "meter"},
    }


def _path_parameters(settings: Settings) -> JSON:
    return {
        "path": {
            "name": "path",
            "in": "path",
            "required": True,
            "description": "Resource names below the CSEBase, separated by '/', e.g. "
            "`charger-0042/meter`. (OpenAPI cannot express a parameter that "
            "contains '/': tools send it as %2F, which the CSE accepts; by "
            "hand write the slashes.)",
            "schema": {"type": "string", "minLength": 1},
            "example": "charger-0042/meter",
        },
        "ri": {
            "name": "ri",
            "in": "path",
            "required": True,
            "description": "A resource ID (ri), e.g. `Ccharger-0042` or `cnt8f14e45fceea167a`; "
            f"`{settings.cse_id}` is the CSEBase. Append `/la` or `/ol` to a "
            "container's ID for its latest or oldest instance.",
            "schema": {"type": "string", "minLength": 1},
            "example": "Ccharger-0042",
        },
        "target": {
            "name": "target",
            "in": "path",
            "required": True,
            "description": f"A structured path starting with `{settings.cse_rn}` (or `-`), "
            "e.g. `cse-in/charger-0042/meter`, or a resource ID; `/la` and "
            "`/ol` may follow a container.",
            "schema": {"type": "string", "minLength": 1},
            "example": f"{settings.cse_rn}/charger-0042",
        },
    }


# -- operations -------------------------------------------------------------------------


def _response_headers(rsc: RSC, created: bool) -> JSON:
    headers: JSON = {
        "X-M2M-RSC": {**_ref("headers", "X-M2M-RSC"), "description": _rsc_name(rsc)},
        "X-M2M-RI": _ref("headers", "X-M2M-RI"),
        "X-M2M-RVI": _ref("headers", "X-M2M-RVI"),
    }
    if created:
        headers["Content-Location"] = _ref("headers", "Content-Location")
    return headers


def _any_of(names: list[str]) -> JSON:
    refs = [_ref("schemas", name) for name in names]
    return refs[0] if len(refs) == 1 else {"anyOf": refs}


def _success(kind: str, bodies: list[str], description: str) -> JSON:
    status, rsc = SUCCESS[kind]
    return {
        str(status): {
            "description": description,
            "headers": _response_headers(rsc, created=kind == "create"),
            "content": {"application/json": {"schema": _any_of(bodies)}},
        }
    }


def _errors() -> JSON:
    return {str(status): _ref("responses", f"Status{status}") for status in _error_statuses()}


def _common_headers(origin: str = "Origin") -> list[JSON]:
    return [
        _ref("parameters", origin),
        _ref("parameters", "RequestIdentifier"),
        _ref("parameters", "ReleaseVersion"),
        _ref("parameters", "RequestExpiration"),
    ]


def _retrieve(op_id: str, tag: str, summary: str, types: list[int], discovery: bool = True) -> JSON:
    bodies = [f"{type_name(ty)}Resource" for ty in types]
    params = _common_headers() + [_ref("parameters", "RcnRetrieve")]
    description = (
        "RETRIEVE (GET). Returns the resource (rcn=1), optionally with its "
        "children (rcn=4, 5, 6, 8) or only some attributes (atrl)."
    )
    if discovery:
        bodies += ["URIList", "ResourceRefList"]
        params += [_ref("parameters", name) for name in FILTER_PARAMETER_NAMES]
        description += (
            " With fu=1 it is a **discovery**: the addresses of matching "
            "resources below the target, as m2m:uril; combine the filter "
            "criteria (ty, lbl, cra, ...) with fo, page with lim/ofst and bound "
            "the depth with lvl. Without fu (or fu=2) filter criteria make it a "
            "conditional retrieval."
        )
    else:
        params += [_ref("parameters", "atrl")]
    return {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "parameters": params,
        "responses": {
            **_success("retrieve", bodies, "The resource, its children or the discovery result."),
            **_errors(),
        },
    }


def _create(op_id: str, tag: str, summary: str, types: list[int]) -> JSON:
    content: JSON = {}
    for ty in types:
        name = type_name(ty)
        media: JSON = {"schema": _ref("schemas", f"{name}CreateRequest")}
        if ty in CREATE_EXAMPLES:
            summary_text = f"create a {long_type_name(ty)}"
            media["examples"] = {name: {"summary": summary_text, "value": CREATE_EXAMPLES[ty]}}
        content[f"application/json;ty={ty}"] = media
    kinds = ", ".join(f"{long_type_name(ty)} (ty={ty})" for ty in types)
    return {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": "CREATE (POST) a child resource of the target: "
        f"{kinds}. The Content-Type carries the type, e.g. "
        "`application/json;ty=3` (`application/vnd.onem2m-res+json;ty=3` "
        "too); a POST without ty is a NOTIFY, which this CSE refuses (4005). "
        "The body is one object named by the type's root (m2m:ae, m2m:cnt, "
        "...). Answers 201 with Content-Location, the new resource's address.",
        "parameters": _common_headers("OriginOnCreate") + [_ref("parameters", "RcnCreate")],
        "requestBody": {"required": True, "content": content},
        "responses": {
            **_success(
                "create",
                [f"{type_name(ty)}Resource" for ty in types] + ["URI", "ResourceAndURI"],
                "Created. The body depends on rcn (none with rcn=0).",
            ),
            **_errors(),
        },
    }


def _update(op_id: str, tag: str, summary: str, types: list[int]) -> JSON:
    names = [type_name(ty) for ty in types]
    examples = {
        name: {"summary": f"update a {long_type_name(ty)}", "value": UPDATE_EXAMPLES[ty]}
        for ty, name in zip(types, names, strict=False)
        if ty in UPDATE_EXAMPLES
    }
    return {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": "UPDATE (PUT) attributes of the target: send only the attributes to "
        "change, under the resource's root name; null deletes an optional "
        "attribute. Read-only and create-only attributes are 4000; a "
        "contentInstance cannot be updated (4005). acpi must be changed alone.",
        "parameters": _common_headers() + [_ref("parameters", "RcnUpdate")],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _any_of([f"{name}UpdateRequest" for name in names]),
                    "examples": examples,
                }
            },
        },
        "responses": {
            **_success(
                "update",
                [f"{name}Resource" for name in names] + ["URI", "ResourceAndURI"],
                "Updated. The body depends on rcn (9: modified attributes).",
            ),
            **_errors(),
        },
    }


def _delete(op_id: str, tag: str, summary: str, types: list[int]) -> JSON:
    return {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": "DELETE the target and everything below it. The CSEBase cannot be "
        "deleted (4005).",
        "parameters": _common_headers() + [_ref("parameters", "RcnDelete")],
        "responses": {
            **_success(
                "delete",
                [f"{type_name(ty)}Resource" for ty in types],
                "Deleted. No body unless rcn=1.",
            ),
            **_errors(),
        },
    }


def _types_below(include_base: bool) -> list[int]:
    """The types that can be created under some resource (under the CSEBase or deeper)."""
    types: set[int] = set()
    for ty, spec in SPECS.items():
        if include_base or ty != ResourceType.CSEBASE:
            types |= spec.child_types
    return sorted(types)


def _any_target_operations(prefix: str, tag: str, label: str, path_param: str) -> JSON:
    every = sorted(SPECS)
    updatable = [ty for ty, spec in SPECS.items() if spec.updatable]
    deletable = [ty for ty in every if ty != ResourceType.CSEBASE]
    param = [_ref("parameters", path_param)]
    return {
        "parameters": param,
        "get": _retrieve(f"retrieve{prefix}", tag, f"Retrieve or discover {label}", every),
        "post": _create(
            f"create{prefix}", tag, f"Create a child of {label}", _types_below(include_base=True)
        ),
        "put": _update(f"update{prefix}", tag, f"Update {label}", updatable),
        "delete": _delete(f"delete{prefix}", tag, f"Delete {label}", deletable),
    }


def _paths(settings: Settings) -> JSON:
    base = f"/{settings.cse_rn}"
    csi = settings.cse_id.strip("/")
    cse_children = sorted(SPECS[ResourceType.CSEBASE].child_types)
    below = [ty for ty in SPECS if ty != ResourceType.CSEBASE]
    updatable_below = [ty for ty in below if SPECS[ty].updatable]
    cin = [ResourceType.CIN]
    path_param = [_ref("parameters", "path")]
    paths: JSON = {
        base: {
            "get": _retrieve(
                "retrieveCSEBase",
                "CSEBase",
                "Retrieve the CSEBase, or discover in the whole tree",
                [ResourceType.CSEBASE],
            ),
            "post": _create(
                "createUnderCSEBase",
                "CSEBase",
                "Register an AE, or create a container or policy at the root",
                cse_children,
            ),
            "put": _update(
                "updateCSEBase",
                "CSEBase",
                "Update the CSEBase (lbl, poa, acpi)",
                [ResourceType.CSEBASE],
            ),
        },
        f"{base}/{{path}}": {
            "parameters": path_param,
            "get": _retrieve(
                "retrieveByPath", "Structured", "Retrieve or discover a resource by its path", below
            ),
            "post": _create(
                "createByPath",
                "Structured",
                "Create a child of a resource",
                _types_below(include_base=False),
            ),
            "put": _update("updateByPath", "Structured", "Update a resource", updatable_below),
            "delete": _delete("deleteByPath", "Structured", "Delete a resource", below),
        },
    }
    for virtual, word in (("la", "latest"), ("ol", "oldest")):
        paths[f"{base}/{{path}}/{virtual}"] = {
            "parameters": path_param,
            "get": _retrieve(
                f"retrieve{word.title()}",
                "Latest and oldest",
                f"Retrieve the {word} content instance of a container",
                cin,
                discovery=False,
            ),
            "delete": _delete(
                f"delete{word.title()}",
                "Latest and oldest",
                f"Delete the {word} content instance of a container",
                cin,
            ),
        }
    paths["/{ri}"] = _any_target_operations("ByID", "Unstructured", "a resource by its ID", "ri")
    paths[f"/~/{csi}/{{target}}"] = _any_target_operations(
        "SPRelative", "SP-relative", f"a resource by SP-relative address /~/{csi}/...", "target"
    )
    paths[f"/_/{settings.sp_id}/{csi}/{{target}}"] = _any_target_operations(
        "Absolute",
        "Absolute",
        f"a resource by absolute address /_/{settings.sp_id}/{csi}/...",
        "target",
    )
    return paths


# -- document ---------------------------------------------------------------------------


def _response_header_components() -> JSON:
    codes = sorted(int(rsc) for rsc in RSC)
    return {
        "X-M2M-RSC": {
            "description": "**Response Status Code** (oneM2M), more precise than the HTTP status.",
            "required": True,
            "schema": {"type": "integer", "enum": codes},
        },
        "X-M2M-RI": {
            "description": "The request identifier of the request, echoed.",
            "required": True,
            "schema": {"type": "string"},
        },
        "X-M2M-RVI": {
            "description": "The release version of the request, echoed.",
            "schema": {"type": "string"},
        },
        "Content-Location": {
            "description": "Address of the created resource, e.g. /cse-in/charger-0042/meter.",
            "required": True,
            "schema": {"type": "string"},
        },
    }


def _description(settings: Settings) -> str:
    base = settings.cse_rn
    csi = settings.cse_id.strip("/")
    types = ", ".join(
        f"{spec.root} ({long_type_name(ty)}, ty={ty})" for ty, spec in sorted(SPECS.items())
    )
    return f"""\
citycse speaks the oneM2M HTTP binding (TS-0009). Everything is a **resource** in one tree
under the CSEBase `/{base}`: {types}.

**Every request** carries three headers: `X-M2M-Origin` (who you are: your AE-ID, or the admin
originator `{settings.admin_originator}`), `X-M2M-RI` (any request id; echoed back) and
`X-M2M-RVI` (release: {", ".join(RELEASES)}). Responses carry `X-M2M-RSC`, the oneM2M status
code, next to the HTTP status, and an `m2m:dbg` message on errors.

**Operations**: POST creates a child (`Content-Type: application/json;ty=<type>`), GET
retrieves (or discovers with `fu=1`), PUT updates the attributes sent, DELETE deletes with the
subtree. Bodies are JSON with **short names** under the type's root, e.g.
`{{"m2m:cnt": {{"rn": "meter", "mni": 1000}}}}`; the schemas below give each short name's long
name and rules (M mandatory, O optional, NP not permitted, per create and update).

**Addressing** (all forms reach the same resource):
- structured, CSE-relative: `/{base}/charger-0042/meter` (`-` may stand for `{base}`)
- unstructured, by resource ID: `/cnt8f14e45fceea167a`
- SP-relative: `/~/{csi}/{base}/charger-0042/meter` or `/~/{csi}/<ri>`
- absolute: `/_/{settings.sp_id}/{csi}/{base}/charger-0042/meter`
- a container's latest / oldest content instance: `.../meter/la`, `.../meter/ol`

**A first session**
```
# register an AE (the CSE assigns its AE-ID when X-M2M-Origin is C)
curl -X POST http://HOST/{base} -H 'X-M2M-Origin: C' -H 'X-M2M-RI: 1' -H 'X-M2M-RVI: 3' \\
  -H 'Content-Type: application/json;ty=2' \\
  -d '{{"m2m:ae": {{"rn": "charger-0042", "api": "Nev-charger", "rr": false, "srv": ["3"]}}}}'
# with the returned aei as originator: a container, an instance, the latest instance
curl -X POST http://HOST/{base}/charger-0042 -H 'X-M2M-Origin: <aei>' -H 'X-M2M-RI: 2' \\
  -H 'X-M2M-RVI: 3' -H 'Content-Type: application/json;ty=3' -d '{{"m2m:cnt": {{"rn": "meter"}}}}'
curl -X POST http://HOST/{base}/charger-0042/meter -H 'X-M2M-Origin: <aei>' -H 'X-M2M-RI: 3' \\
  -H 'X-M2M-RVI: 3' -H 'Content-Type: application/json;ty=4' -d '{{"m2m:cin": {{"con": "42"}}}}'
curl http://HOST/{base}/charger-0042/meter/la -H 'X-M2M-Origin: <aei>' -H 'X-M2M-RI: 4' \\
  -H 'X-M2M-RVI: 3'
# discovery: every container below the AE
curl 'http://HOST/{base}/charger-0042?fu=1&ty=3' -H 'X-M2M-Origin: <aei>' -H 'X-M2M-RI: 5' \\
  -H 'X-M2M-RVI: 3'
```

**Access control**: a resource without `acpi` is accessible to its creator only; list
accessControlPolicy IDs in `acpi` to grant others rights (see m2m:acp). A content instance
follows its container's policies. The admin originator has every right.

**Status codes** (TS-0009 table 6.3.2-1, as this CSE sends them):

{_status_markdown()}
"""


TAGS = [
    {"name": "CSEBase", "description": "The root of the tree: register AEs here."},
    {"name": "Structured", "description": "Resources by their path of names below the CSEBase."},
    {"name": "Latest and oldest", "description": "The la / ol virtual resources of a container."},
    {"name": "Unstructured", "description": "Resources by their resource ID (ri)."},
    {"name": "SP-relative", "description": "Addresses starting with /~/<CSE-ID>/."},
    {"name": "Absolute", "description": "Addresses starting with /_/<SP-ID>/<CSE-ID>/."},
]


def build_openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.1 document of this CSE's oneM2M HTTP API."""
    parameters = {**_header_parameters(), **_query_parameters(), **_path_parameters(settings)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "citycse oneM2M API",
            "version": API_VERSION,
            "summary": "The oneM2M HTTP binding of citycse",
            "description": _description(settings),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": TAGS,
        "paths": _paths(settings),
        "components": {
            "schemas": component_schemas(),
            "parameters": parameters,
            "headers": _response_header_components(),
            "responses": _error_responses(),
        },
    }
