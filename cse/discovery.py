"""Filter criteria (TS-0004 6.3.5.8): parsing, and translation into one SQL query.

Discovery and conditional retrieval never walk the tree in Python: the subtree is an index
range on the structured path, `lvl` a bound on the depth column, labels a join on their own
table, and attribute filters JSON expressions of the database in use."""

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from sqlalchemy import String, and_, case, cast, exists, false, func, literal, or_, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import aliased

from cse.constants import FilterOperation, FilterUsage
from cse.errors import BadRequest
from cse.primitives import FilterCriteria
from cse.resource import Resource
from cse.storage.repository import RESOURCE_COLUMNS, R, not_expired, subtree_condition
from cse.storage.schema import labels, resources
from cse.timestamps import parse_timestamp

TIME_FILTERS = ("cra", "crb", "ms", "us", "exa", "exb")
INT_FILTERS = ("sts", "stb", "sza", "szb", "lim", "ofst", "lvl", "fu", "fo")
LIST_FILTERS = ("ty", "lbl", "cty")
STRUCTURAL = frozenset({"fu", "fo", "lim", "ofst", "lvl"})
FILTER_NAMES = frozenset(TIME_FILTERS + INT_FILTERS + LIST_FILTERS)
COLUMN_ATTRIBUTES = {
    "ri": R.ri,
    "rn": R.rn,
    "pi": R.pi,
    "ty": R.ty,
    "st": R.st,
    "cni": R.cni,
    "cbs": R.cbs,
    "cs": R.cs,
}
MAX_INT = 2**63 - 1
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}$")


def _values(raw: Any) -> list[Any]:
    """Query strings give `a+b` or repeated keys (`a b` after URL decoding); JSON gives lists."""
    items = raw if isinstance(raw, list) else [raw]
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            out.extend(part for part in re.split(r"[+ ]", item) if part != "")
        else:
            out.append(item)
    return out


def _one_int(name: str, raw: Any) -> int:
    values = _values(raw)
    if len(values) != 1:
        raise BadRequest(f"filter {name} takes one value")
    value = values[0]
    try:
        number = int(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 <= number <= MAX_INT:
        raise BadRequest(f"filter {name} must be a non-negative integer, got {value!r}")
    return number


def parse_filter_criteria(
    params: Mapping[str, Any], known_attributes: Iterable[str]
) -> FilterCriteria:
    """Build FilterCriteria from query parameters or a primitive's `fc` object."""
    fc = FilterCriteria()
    known = frozenset(known_attributes)
    for name, raw in params.items():
        if name in TIME_FILTERS:
            values = _values(raw)
            if len(values) != 1:
                raise BadRequest(f"filter {name} takes one timestamp")
            setattr(fc, name, parse_timestamp(str(values[0])))
        elif name in INT_FILTERS:
            setattr(fc, name, _one_int(name, raw))
        elif name == "ty":
            fc.ty = [_one_int("ty", value) for value in _values(raw)]
        elif name == "lbl":
            fc.lbl = [str(value) for value in _values(raw)]
        elif name == "cty":
            fc.cty = [str(value) for value in _values(raw)]
        elif name in known:
            fc.attributes[name] = [value for value in _values(raw)]
        else:
            raise BadRequest(f"unknown filter criterion or attribute '{name}'")
    if fc.fu not in (FilterUsage.DISCOVERY, FilterUsage.CONDITIONAL_RETRIEVAL):
        raise BadRequest(f"fu must be 1 (discovery) or 2 (conditional retrieval), got {fc.fu}")
    if fc.fo not in (FilterOperation.AND, FilterOperation.OR):
        raise BadRequest(f"fo must be 1 (AND) or 2 (OR), got {fc.fo}")
    return fc


def _typed(value: Any) -> list[Any]:
    """A query-string value may stand for a string, an integer or a boolean attribute."""
    if not isinstance(value, str):
        return [value]
    candidates: list[Any] = [value]
    if value in ("true", "false"):
        candidates.append(value == "true")
    elif re.fullmatch(r"-?\d{1,18}", value):
        candidates.append(int(value))
    return candidates


def _json_text(dialect: str, name: str):  # noqa: ANN202
    if dialect == "postgresql":
        return cast(R.doc, JSONB)[name].astext
    return func.json_extract(R.doc, f"$.{name}")


def _json_has(dialect: str, name: str, value: Any):  # noqa: ANN202
    """The attribute equals `value`, or is a list containing it."""
    if dialect == "postgresql":
        return or_(
            *(
                cast(R.doc, JSONB)[name].contains(cast(literal(orjson.dumps(c).decode()), JSONB))
                for c in _typed(value)
            )
        )
    each = func.json_each(R.doc, f"$.{name}").table_valued("value")
    values = [int(c) if isinstance(c, bool) else c for c in _typed(value)]
    return exists(select(literal(1)).select_from(each).where(each.c.value.in_(values)))


def _attribute_condition(dialect: str, name: str, values: list[Any]):  # noqa: ANN202
    if not _ATTRIBUTE_NAME.match(name):
        raise BadRequest(f"invalid attribute name {name!r}")
    column = COLUMN_ATTRIBUTES.get(name)
    if column is not None:
        alternatives = [
            column == c
            for v in values
            for c in _typed(v)
            if not isinstance(c, str) or isinstance(column.type, String)
        ]
        return or_(*alternatives) if alternatives else false()
    return or_(*(_json_has(dialect, name, value) for value in values))


def conditions(fc: FilterCriteria, dialect: str) -> list:
    """The SQL conditions of the non-structural filter criteria."""
    out: list = []
    if fc.ty:
        out.append(R.ty.in_(fc.ty))
    if fc.lbl:
        out.append(R.ri.in_(select(labels.c.ri).where(labels.c.lbl.in_(fc.lbl))))
    for name, column, op in (
        ("cra", R.ct, "gt"),
        ("crb", R.ct, "lt"),
        ("ms", R.lt, "gt"),
        ("us", R.lt, "lt"),
        ("exa", R.et, "gt"),
        ("exb", R.et, "lt"),
        ("sts", R.st, "lt"),
        ("stb", R.st, "gt"),
        ("sza", R.cs, "ge"),
        ("szb", R.cs, "lt"),
    ):
        value = getattr(fc, name)
        if value is not None:
            out.append(getattr(column, f"__{op}__")(value))
    if fc.cty:
        cnf = _json_text(dialect, "cnf")
        out.append(or_(*(or_(cnf == c, cnf.like(f"{c}:%")) for c in fc.cty)))
    for name, values in fc.attributes.items():
        out.append(_attribute_condition(dialect, name, values))
    return out


def _combined(fc: FilterCriteria, dialect: str):  # noqa: ANN202
    parts = conditions(fc, dialect)
    if not parts:
        return true()
    return or_(*parts) if fc.fo == FilterOperation.OR else and_(*parts)


def matches(conn: Connection, resource: Resource, fc: FilterCriteria) -> bool:
    """Whether the resource itself satisfies the filter (conditional retrieval of a target)."""
    query = select(R.ri).where(R.ri == resource.ri, _combined(fc, conn.dialect.name))
    return conn.execute(query).first() is not None


def find(
    conn: Connection,
    base: Resource,
    fc: FilterCriteria,
    now: float,
    offset: int,
    limit: int | None,
    full: bool,
    self_governed_types: Iterable[int],
) -> list[Row]:
    """Descendants of `base` that match `fc`, with what access control needs of each.

    Each row has the resource's columns (all of them when `full`), plus `p_acpi` and
    `p_owner` of its parent, for types governed by their parent's policies."""
    parent = aliased(resources)
    self_governed = list(self_governed_types)
    if full:
        columns = list(RESOURCE_COLUMNS)
    else:
        columns = [R.ri, R.ty, R.rn, R.pi, R.srn, R.owner, R.acpi]
        if self_governed:
            columns.append(case((R.ty.in_(self_governed), R.doc), else_=None).label("doc"))
    query = (
        select(*columns, parent.c.acpi.label("p_acpi"), parent.c.owner.label("p_owner"))
        .select_from(resources.outerjoin(parent, parent.c.ri == R.pi))
        .where(subtree_condition(base.srn), not_expired(now), _combined(fc, conn.dialect.name))
        .order_by(R.ct, R.ri)
    )
    if fc.lvl is not None:
        query = query.where(R.depth <= base.depth + fc.lvl)
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).all())
