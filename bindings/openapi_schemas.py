"""JSON Schemas of the oneM2M resources for the OpenAPI document, derived from the
attribute tables in `resources/` so that the documentation cannot drift from the validation.

The table of a type says which attributes exist and which rule applies per operation
(M, O, NP); this module adds what a reader needs besides: the long name and meaning of each
short name, and the few type-specific constraints the resource modules check in code."""

from typing import Any

from cse.attributes import Attribute, Kind, Rule
from cse.constants import ALL_PERMISSIONS, ResourceType
from resources.base import MAX_LABEL, MAX_NAME, RESERVED_NAMES
from resources.registry import SPECS

JSON = dict[str, Any]

# Types documented here that may not be registered yet (numbers as in TS-0004 6.3.4.2.1).
SUBSCRIPTION = 23
POLLING_CHANNEL = 15

TIMESTAMP_PATTERN = (
    r"^(19|2[0-9])[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
    r"T([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]([.,][0-9]{1,6})?Z?$"
)
"""oneM2M timestamps (TS-0004 6.3.3): ISO 8601 basic format, UTC, e.g. 20250101T120000."""

# Long names (TS-0004 8.2.3) and meaning of every short name used in the attribute tables.
ATTRIBUTE_DOCS: dict[str, tuple[str, str]] = {
    "ty": ("resourceType", "Resource type (see the list in the ty query parameter)."),
    "ri": (
        "resourceID",
        "Identifier assigned by the CSE; addresses the resource unstructured as /{ri}.",
    ),
    "rn": (
        "resourceName",
        "Name of the resource among its siblings; forms the structured "
        "path. Assigned by the CSE when absent. Set on create only.",
    ),
    "pi": ("parentID", "Resource ID of the parent ('' for the CSEBase)."),
    "ct": ("creationTime", "When the resource was created (timestamp, UTC)."),
    "lt": ("lastModifiedTime", "When the resource was last changed (timestamp, UTC)."),
    "lbl": ("labels", "Free tokens for discovery (filter lbl=...), e.g. site:north."),
    "et": (
        "expirationTime",
        "When the CSE deletes the resource (timestamp, UTC, in the future)."
        " Absent means it never expires.",
    ),
    "acpi": (
        "accessControlPolicyIDs",
        "Resource IDs of the accessControlPolicies that govern "
        "access. Empty: only the creator (and the admin "
        "originator) has access. An update that changes acpi "
        "must change nothing else.",
    ),
    "cr": (
        "creator",
        "Originator that created the resource. Send null on create to have it "
        "recorded; the CSE fills in the originator.",
    ),
    "st": (
        "stateTag",
        "Counter incremented on every change of the container or on every new "
        "instance in it; the instance copies its container's value.",
    ),
    "apn": ("appName", "Human-readable name of the application."),
    "api": (
        "App-ID",
        "Application identifier; must start with 'R' (registered) or 'N' (non-registered).",
    ),
    "aei": (
        "AE-ID",
        "The AE-ID assigned at registration; also the AE's resource ID and the "
        "originator the AE uses afterwards.",
    ),
    "poa": ("pointOfAccess", "URIs where the entity can be reached, e.g. http://10.0.0.7:9000."),
    "or": ("ontologyRef", "URI of an ontology describing the data."),
    "nl": ("nodeLink", "Resource ID of the node resource the AE runs on."),
    "rr": (
        "requestReachability",
        "Whether the entity can receive requests (true) or must poll (false).",
    ),
    "csz": ("contentSerialization", "Serializations the entity accepts, e.g. application/json."),
    "srv": (
        "supportedReleaseVersions",
        'oneM2M release versions the entity supports, e.g. ["3"]; at least one.',
    ),
    "mni": (
        "maxNrOfInstances",
        "Maximum number of content instances kept; the oldest go "
        "first. Lowering it evicts at once.",
    ),
    "mbs": (
        "maxByteSize",
        "Maximum total size (bytes) of the instances kept; an instance "
        "larger than mbs is refused (5207).",
    ),
    "mia": ("maxInstanceAge", "Maximum age of an instance in seconds; older ones expire."),
    "cni": ("currentNrOfInstances", "Number of content instances the container holds."),
    "cbs": ("currentByteSize", "Total size in bytes of the instances the container holds."),
    "li": ("locationID", "Resource ID of a locationPolicy."),
    "disr": ("disableRetrieval", "Whether retrieving the instances is disabled."),
    "cnf": (
        "contentInfo",
        "Media type and encoding of con: <type>/<subtype>[:<encoding>], "
        "encoding 0 plain, 1 base64 string, 2 base64 binary (con must "
        "then be valid base64), e.g. application/json:0.",
    ),
    "cs": ("contentSize", "Size of con in bytes (UTF-8 of a string, else its JSON text)."),
    "con": ("content", "The data: a string or any JSON value (not null)."),
    "pv": ("privileges", "Access rules this policy grants on the resources that reference it."),
    "pvs": ("selfPrivileges", "Access rules that govern the policy itself."),
    "cst": ("cseType", "CSE type: 1 IN-CSE, 2 MN-CSE, 3 ASN-CSE."),
    "csi": ("CSE-ID", "SP-relative CSE-ID, e.g. /id-in."),
    "srt": ("supportedResourceType", "Resource types this CSE serves."),
    "enc": (
        "eventNotificationCriteria",
        "Which events notify: net (notificationEventType) 1 update of the resource, "
        "2 its deletion, 3 creation of a direct child, 4 deletion of a direct child "
        "(default [1]); atr: only updates of these attributes; chty: only children of "
        "these types.",
    ),
    "nu": (
        "notificationURI",
        "Where notifications go: http(s):// or mqtt(s):// URLs, or oneM2M IDs such as "
        "the AE-ID of the subscriber.",
    ),
    "nct": (
        "notificationContentType",
        "What a notification carries: 1 all attributes (default), 2 modified "
        "attributes, 3 resource ID.",
    ),
    "exc": (
        "expirationCounter",
        "The subscription is deleted after this many notifications.",
    ),
    "su": ("subscriberURI", "Told (URL or oneM2M ID) when the subscription is deleted."),
    "bn": (
        "batchNotify",
        "Collect notifications and send num of them at once, or after dur (milliseconds "
        "or an ISO 8601 duration like PT5S).",
    ),
    "ln": ("latestNotify", "Send only the latest of pending notifications."),
}

# Type-specific meanings where one short name says something different per type.
TYPE_DOCS: dict[tuple[str, str], str] = {
    ("m2m:cb", "poa"): "URIs where this CSE can be reached.",
    ("m2m:cb", "srv"): "Release versions this CSE accepts in X-M2M-RVI.",
    ("m2m:cb", "rr"): "Always true: the CSE is request-reachable.",
    ("m2m:cb", "csz"): "Serializations this CSE accepts.",
    ("m2m:cin", "lbl"): "Labels for discovery; fixed at creation.",
    ("m2m:cin", "et"): "When the CSE deletes the instance; fixed at creation. The container's "
    "mia may make it expire earlier.",
    ("m2m:cin", "st"): "The container's stateTag at the creation of this instance.",
    ("m2m:acp", "ri"): "Resource ID; this is the value to list in other resources' acpi.",
}

OPERATION_BITS = (
    "1 CREATE, 2 RETRIEVE, 4 UPDATE, 8 DELETE, 16 NOTIFY, 32 DISCOVERY "
    f"(sum them; {ALL_PERMISSIONS} = all)"
)

ACCESS_CONTROL_RULE: JSON = {
    "type": "object",
    "description": "One rule: who (acor) may do what (acop), optionally when (acco).",
    "required": ["acor", "acop"],
    "additionalProperties": False,
    "properties": {
        "acor": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string"},
            "description": "accessControlOriginators: originators (AE-IDs such as "
            "Ccharger-0042, CSE-IDs) or 'all' for everyone.",
        },
        "acop": {
            "type": "integer",
            "minimum": 0,
            "maximum": ALL_PERMISSIONS,
            "description": f"accessControlOperations bit mask: {OPERATION_BITS}.",
        },
        "acco": {
            "type": "array",
            "description": "accessControlContexts: the rule applies only inside these time "
            "windows.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "actw": {
                        "type": "array",
                        "items": {"type": "string"},
                        "description": "accessControlWindow: cron-like 'second minute hour "
                        "day month weekday', e.g. '* * 8-17 * * 1-5'.",
                    },
                },
            },
        },
    },
}

PRIVILEGES: JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "acr": {"type": "array", "items": ACCESS_CONTROL_RULE, "description": "accessControlRules."}
    },
    "examples": [{"acr": [{"acor": ["CAdmin", "Cevcs"], "acop": ALL_PERMISSIONS}]}],
}

EVENT_CRITERIA: JSON = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "net": {
            "type": "array",
            "items": {"type": "integer", "enum": [1, 2, 3, 4]},
            "description": "notificationEventType: 1 update, 2 delete, 3 create of a direct "
            "child, 4 delete of a direct child.",
        },
        "atr": {
            "type": "array",
            "items": {"type": "string"},
            "description": "attribute: notify updates of these attributes only.",
        },
        "chty": {
            "type": "array",
            "items": {"type": "integer"},
            "description": "childResourceType: only children of these types.",
        },
    },
    "examples": [{"net": [3]}],
}

BATCH_NOTIFY: JSON = {
    "type": "object",
    "additionalProperties": False,
    "required": ["num"],
    "properties": {
        "num": {"type": "integer", "minimum": 1, "description": "number of notifications"},
        "dur": {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": r"^PT([0-9.]+H)?([0-9.]+M)?([0-9.]+S)?$"},
            ],
            "description": "duration: milliseconds, or ISO 8601 like PT5S",
        },
    },
}

# Constraints the resource modules check in code, on top of the table's value kinds.
REFINEMENTS: dict[tuple[str | None, str], JSON] = {
    (None, "rn"): {
        "minLength": 1,
        "maxLength": MAX_NAME,
        "pattern": "^[^/]+$",
        "not": {"enum": sorted(RESERVED_NAMES | {".", ".."})},
    },
    (None, "lbl"): {"items": {"type": "string", "minLength": 1, "maxLength": MAX_LABEL}},
    ("m2m:ae", "api"): {"minLength": 1, "pattern": "^[RN]"},
    ("m2m:ae", "srv"): {"minItems": 1},
    ("m2m:cin", "cnf"): {"pattern": r"^[^/:][^:]*/[^:]*[^/:](:[012](:.*)?)?$"},
    ("m2m:acp", "pv"): PRIVILEGES,
    ("m2m:acp", "pvs"): PRIVILEGES,
    ("m2m:sub", "enc"): EVENT_CRITERIA,
    ("m2m:sub", "nu"): {"minItems": 1, "items": {"type": "string", "minLength": 1}},
    ("m2m:sub", "nct"): {"enum": [1, 2, 3]},
    ("m2m:sub", "bn"): BATCH_NOTIFY,
}

# Kinds as JSON Schema, for input (what a request may send).
_INPUT_KIND: dict[Kind, JSON] = {
    Kind.STRING: {"type": "string"},
    Kind.NONNEG_INT: {"type": "integer", "minimum": 0},
    Kind.POSITIVE_INT: {"type": "integer", "minimum": 1},
    Kind.BOOL: {"type": "boolean"},
    Kind.STRING_LIST: {"type": "array", "items": {"type": "string"}},
    Kind.TIMESTAMP: {"type": "string", "pattern": TIMESTAMP_PATTERN},
    Kind.OBJECT: {"type": "object"},
    Kind.ANY: {"type": ["string", "number", "integer", "boolean", "object", "array"]},
    Kind.NULL_ONLY: {"type": "null"},
}
# What a stored value looks like where it differs from the input (`cr` becomes the originator).
_OUTPUT_KIND = {**_INPUT_KIND, Kind.NULL_ONLY: {"type": "string"}}

# Readable names of the resource types, used as component names.
TYPE_NAMES: dict[int, str] = {
    ResourceType.CSEBASE: "CSEBase",
    ResourceType.AE: "AE",
    ResourceType.CNT: "Container",
    ResourceType.CIN: "ContentInstance",
    ResourceType.ACP: "AccessControlPolicy",
    SUBSCRIPTION: "Subscription",
    POLLING_CHANNEL: "PollingChannel",
}

LONG_TYPE_NAMES: dict[int, str] = {
    ResourceType.CSEBASE: "CSEBase",
    ResourceType.AE: "Application Entity",
    ResourceType.CNT: "container",
    ResourceType.CIN: "contentInstance",
    ResourceType.ACP: "accessControlPolicy",
    SUBSCRIPTION: "subscription",
    POLLING_CHANNEL: "pollingChannel",
}


def type_name(ty: int) -> str:
    """Component name of a type (AE, Container, ...); a new type gets one from its root."""
    return TYPE_NAMES.get(ty) or SPECS[ty].short_name.upper()


def long_type_name(ty: int) -> str:
    return LONG_TYPE_NAMES.get(ty) or SPECS[ty].root


def type_list() -> str:
    """The resource types this CSE serves, as `1 accessControlPolicy, 2 ...`."""
    return ", ".join(f"{ty} {long_type_name(ty)}" for ty in sorted(SPECS))


# Request bodies a developer can send as they are (the test creates each of them).
CREATE_EXAMPLES: dict[int, JSON] = {
    ResourceType.AE: {
        "m2m:ae": {
            "rn": "charger-0042",
            "api": "Nev-charger",
            "rr": False,
            "srv": ["3"],
            "lbl": ["site:north", "vendor:acme"],
        }
    },
    ResourceType.CNT: {
        "m2m:cnt": {"rn": "meter", "mni": 1000, "mbs": 1048576, "lbl": ["kind:meter"]}
    },
    ResourceType.CIN: {
        "m2m:cin": {"cnf": "application/json:0", "con": {"connector": 1, "Wh": 123456}}
    },
    ResourceType.ACP: {
        "m2m:acp": {
            "rn": "acp-charger",
            "pv": {
                "acr": [
                    {"acor": ["Ccharger-0042", "Cevcs"], "acop": 63},
                    {"acor": ["all"], "acop": 34},
                ]
            },
            "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]},
        }
    },
    SUBSCRIPTION: {
        "m2m:sub": {"rn": "meter-watch", "nu": ["Ccharger-0042"], "enc": {"net": [3]}, "nct": 1}
    },
    POLLING_CHANNEL: {"m2m:pch": {"rn": "inbox"}},
}
UPDATE_EXAMPLES: dict[int, JSON] = {
    ResourceType.CSEBASE: {"m2m:cb": {"lbl": ["city:north"]}},
    ResourceType.AE: {"m2m:ae": {"poa": ["http://127.0.0.1:9000"], "rr": True}},
    ResourceType.CNT: {"m2m:cnt": {"mni": 100, "mbs": None}},
    ResourceType.ACP: {"m2m:acp": {"pv": {"acr": [{"acor": ["all"], "acop": 2}]}}},
    SUBSCRIPTION: {"m2m:sub": {"enc": {"net": [1, 3]}, "nct": 2}},
    POLLING_CHANNEL: {"m2m:pch": {"lbl": ["polling"]}},
}
REPRESENTATION_EXAMPLES: dict[int, JSON] = {
    ResourceType.CSEBASE: {
        "ty": 5,
        "ri": "id-in",
        "rn": "cse-in",
        "pi": "",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
        "acpi": ["acpCSEBaseAccess"],
        "cst": 1,
        "csi": "/id-in",
        "srt": [1, 2, 3, 4, 5],
        "poa": ["http://127.0.0.1:8080"],
        "srv": ["2a", "3", "4", "5"],
        "rr": True,
        "csz": ["application/json"],
    },
    ResourceType.AE: {
        "ty": 2,
        "ri": "Ccharger-0042",
        "rn": "charger-0042",
        "pi": "id-in",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
        "lbl": ["site:north", "vendor:acme"],
        "api": "Nev-charger",
        "rr": False,
        "srv": ["3"],
        "aei": "Ccharger-0042",
    },
    ResourceType.CNT: {
        "ty": 3,
        "ri": "cnt8f14e45fceea167a",
        "rn": "meter",
        "pi": "Ccharger-0042",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
        "lbl": ["kind:meter"],
        "mni": 1000,
        "mbs": 1048576,
        "st": 1,
        "cni": 1,
        "cbs": 27,
    },
    ResourceType.CIN: {
        "ty": 4,
        "ri": "cin1679091c5a880fa",
        "rn": "cin1679091c5a880fa",
        "pi": "cnt8f14e45fceea167a",
        "ct": "20250101T120500,000000",
        "lt": "20250101T120500,000000",
        "cnf": "application/json:0",
        "con": {"connector": 1, "Wh": 123456},
        "st": 1,
        "cs": 27,
    },
    ResourceType.ACP: {
        "ty": 1,
        "ri": "acpc9f0f895fb98ab91",
        "rn": "acp-charger",
        "pi": "Ccharger-0042",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
        "pv": {
            "acr": [{"acor": ["Ccharger-0042", "Cevcs"], "acop": 63}, {"acor": ["all"], "acop": 34}]
        },
        "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]},
    },
    SUBSCRIPTION: {
        "ty": 23,
        "ri": "sub45c48cce2e2d7fbd",
        "rn": "meter-watch",
        "pi": "cnt8f14e45fceea167a",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
        "nu": ["Ccharger-0042"],
        "enc": {"net": [3]},
        "nct": 1,
        "cr": "Ccharger-0042",
    },
    POLLING_CHANNEL: {
        "ty": 15,
        "ri": "pch1f0e3dad99908345",
        "rn": "inbox",
        "pi": "Ccharger-0042",
        "ct": "20250101T120000,000000",
        "lt": "20250101T120000,000000",
    },
}


def attribute_doc(root: str, name: str) -> tuple[str, str]:
    """(long name, meaning) of a short name; the meaning may be specific to the type."""
    long_name, meaning = ATTRIBUTE_DOCS.get(name, (name, ""))
    if name == "ty":
        meaning = f"Resource type: {type_list()}."
    return long_name, TYPE_DOCS.get((root, name), meaning)


def _rule_text(attribute: Attribute, updatable: bool) -> str:
    words = {
        Rule.MANDATORY: "mandatory",
        Rule.OPTIONAL: "optional",
        Rule.NOT_PERMITTED: "not permitted",
    }
    update = words[attribute.update] if updatable else "not permitted (type is immutable)"
    return f"Create: {words[attribute.create]}; update: {update}."


def _describe(root: str, attribute: Attribute, updatable: bool) -> str:
    long_name, meaning = attribute_doc(root, attribute.name)
    text = f"**{long_name}**. {meaning}".rstrip()
    return f"{text} {_rule_text(attribute, updatable)}"


def _refined(root: str, name: str, base: JSON) -> JSON:
    schema = dict(base)
    schema.update(REFINEMENTS.get((None, name), {}))
    schema.update(REFINEMENTS.get((root, name), {}))
    return schema


def _nullable(schema: JSON) -> JSON:
    """The schema, also allowing null (absent on create; deletes the attribute on update)."""
    kind = schema.get("type")
    if kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = kind if isinstance(kind, list) else [kind]
    if "null" in kinds:
        return schema
    out = dict(schema)
    out["type"] = [*kinds, "null"]
    return out


def is_read_only(attribute: Attribute) -> bool:
    """Assigned and maintained by the CSE: a request may never set it."""
    return attribute.create is Rule.NOT_PERMITTED and attribute.update is Rule.NOT_PERMITTED


def representation_schema(ty: int) -> JSON:
    """A resource as the CSE returns it; read-only attributes are marked so."""
    spec = SPECS[ty]
    properties: JSON = {}
    for name, attribute in spec.attributes.items():
        schema = _refined(spec.root, name, _OUTPUT_KIND[attribute.kind])
        schema.pop("not", None)  # reserved names concern what a client may choose
        schema["description"] = _describe(spec.root, attribute, spec.updatable)
        if is_read_only(attribute):
            schema["readOnly"] = True
        properties[name] = schema
    if spec.child_types:
        properties["ch"] = {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ChildReference"},
            "description": "**childResource** references, with rcn=5 (retrieve).",
        }
    return {
        "type": "object",
        "title": f"{spec.root} ({long_type_name(ty)})",
        "description": f"A {long_type_name(ty)} (ty={ty}) as the CSE returns it: ty, ri, "
        "rn, pi, ct and lt always, other attributes when set, unless atrl "
        "(partial retrieve) or rcn=9 (modified attributes) narrows the set. "
        "With rcn=4 or 8 its children appear under their root names "
        '(e.g. "m2m:cnt": [...]).',
        "properties": properties,
        **({"examples": [REPRESENTATION_EXAMPLES[ty]]} if ty in REPRESENTATION_EXAMPLES else {}),
    }


def create_schema(ty: int) -> JSON:
    """The content of a CREATE: mandatory attributes required, NP ones absent."""
    spec = SPECS[ty]
    properties: JSON = {}
    required: list[str] = []
    for name, attribute in spec.attributes.items():
        if attribute.create is Rule.NOT_PERMITTED:
            continue
        schema = _refined(spec.root, name, _INPUT_KIND[attribute.kind])
        if attribute.create is Rule.MANDATORY:
            required.append(name)
        elif attribute.kind is not Kind.NULL_ONLY:
            schema = _nullable(schema)
        schema["description"] = _describe(spec.root, attribute, spec.updatable)
        properties[name] = schema
    body: JSON = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        body["required"] = required
    return body


def update_schema(ty: int) -> JSON:
    """The content of an UPDATE: any updatable attribute; null deletes an optional one."""
    spec = SPECS[ty]
    properties: JSON = {}
    for name, attribute in spec.attributes.items():
        if attribute.update is Rule.NOT_PERMITTED:
            continue
        schema = _refined(spec.root, name, _INPUT_KIND[attribute.kind])
        if attribute.create is not Rule.MANDATORY:
            schema = _nullable(schema)
        schema["description"] = _describe(spec.root, attribute, spec.updatable)
        properties[name] = schema
    return {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": properties,
    }


def wrapped(root: str, ref: str, description: str, example: JSON | None = None) -> JSON:
    """The JSON body of a resource: one member named by the root (e.g. m2m:ae)."""
    schema: JSON = {
        "type": "object",
        "description": description,
        "required": [root],
        "additionalProperties": False,
        "properties": {root: {"$ref": f"#/components/schemas/{ref}"}},
    }
    if example is not None:
        schema["examples"] = [example]
    return schema


def component_schemas() -> JSON:
    """All schemas of components.schemas: per type the resource, its create and update
    contents and their wrapped bodies, plus the non-resource contents."""
    schemas: JSON = {}
    for ty, spec in SPECS.items():
        name = type_name(ty)
        representation = REPRESENTATION_EXAMPLES.get(ty)
        schemas[name] = representation_schema(ty)
        schemas[f"{name}Resource"] = wrapped(
            spec.root,
            name,
            f"Response body carrying a {long_type_name(ty)}.",
            {spec.root: representation} if representation is not None else None,
        )
        if ty != ResourceType.CSEBASE:
            schemas[f"{name}Create"] = create_schema(ty)
            schemas[f"{name}CreateRequest"] = wrapped(
                spec.root,
                f"{name}Create",
                f"CREATE body of a {long_type_name(ty)} (Content-Type application/json;ty={ty}).",
                CREATE_EXAMPLES.get(ty),
            )
        if spec.updatable:
            schemas[f"{name}Update"] = update_schema(ty)
            schemas[f"{name}UpdateRequest"] = wrapped(
                spec.root,
                f"{name}Update",
                f"UPDATE body of a {long_type_name(ty)}: only the attributes to change; "
                "null deletes an optional attribute.",
                UPDATE_EXAMPLES.get(ty),
            )
    schemas.update(CONTENT_SCHEMAS)
    return schemas


CONTENT_SCHEMAS: JSON = {
    "AccessControlRule": ACCESS_CONTROL_RULE,
    "ChildReference": {
        "type": "object",
        "description": "A reference to a resource (childResourceRef / resourceRef).",
        "required": ["nm", "typ", "val"],
        "properties": {
            "nm": {"type": "string", "description": "**name**: the resource name (rn)."},
            "typ": {"type": "integer", "description": "**type**: its resource type (ty)."},
            "val": {"type": "string", "description": "**value**: its structured address."},
        },
        "examples": [{"nm": "meter", "typ": 3, "val": "cse-in/charger-0042/meter"}],
    },
    "URIList": {
        "type": "object",
        "title": "m2m:uril",
        "description": "**URIList**: the result of a discovery (fu=1): structured addresses "
        "(drt=1) or resource IDs (drt=2) of the matching resources the "
        "originator may discover.",
        "required": ["m2m:uril"],
        "additionalProperties": False,
        "properties": {"m2m:uril": {"type": "array", "items": {"type": "string"}}},
        "examples": [{"m2m:uril": ["cse-in/charger-0042/meter", "cse-in/charger-0042/status"]}],
    },
    "ResourceRefList": {
        "type": "object",
        "title": "m2m:rrl",
        "description": "**resourceRefList**: references of the child resources (rcn=6).",
        "required": ["m2m:rrl"],
        "additionalProperties": False,
        "properties": {
            "m2m:rrl": {
                "type": "object",
                "properties": {
                    "rrf": {
                        "type": "array",
                        "description": "**resourceRef** entries.",
                        "items": {"$ref": "#/components/schemas/ChildReference"},
                    }
                },
            }
        },
        "examples": [
            {"m2m:rrl": {"rrf": [{"nm": "meter", "typ": 3, "val": "cse-in/charger-0042/meter"}]}}
        ],
    },
    "URI": {
        "type": "object",
        "title": "m2m:uri",
        "description": "The structured address of the created or updated resource (rcn=2).",
        "required": ["m2m:uri"],
        "additionalProperties": False,
        "properties": {"m2m:uri": {"type": "string"}},
        "examples": [{"m2m:uri": "cse-in/charger-0042/meter"}],
    },
    "ResourceAndURI": {
        "type": "object",
        "title": "m2m:rce",
        "description": "**resource** and its **uri** (rcn=3): one member named by the root "
        "(e.g. m2m:cnt) and `uri`, the structured address.",
        "required": ["m2m:rce"],
        "additionalProperties": False,
        "properties": {
            "m2m:rce": {
                "type": "object",
                "required": ["uri"],
                "properties": {"uri": {"type": "string"}},
            }
        },
        "examples": [
            {
                "m2m:rce": {
                    "m2m:cnt": REPRESENTATION_EXAMPLES[ResourceType.CNT],
                    "uri": "cse-in/charger-0042/meter",
                }
            }
        ],
    },
    "Debug": {
        "type": "object",
        "title": "m2m:dbg",
        "description": "**debugInfo**: why the request failed, in plain words. Every error "
        "response carries one; the oneM2M status code is in X-M2M-RSC.",
        "required": ["m2m:dbg"],
        "additionalProperties": False,
        "properties": {"m2m:dbg": {"type": "string"}},
        "examples": [{"m2m:dbg": "m2m:ae: mandatory attribute(s) missing: api"}],
    },
}
