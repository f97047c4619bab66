"""Declarative attribute rules and the generic validator that applies them.

Each resource type lists its attributes as a table of `Attribute` rows (TS-0004 7.3/7.4
"request optionality" per operation); `validate_create` and `validate_update` check a
request's content against that table. Type-specific rules live in `resources/<type>.py`.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cse.errors import BadRequest
from cse.timestamps import parse_timestamp


class Rule(Enum):
    MANDATORY = "M"
    OPTIONAL = "O"
    NOT_PERMITTED = "NP"


M, O, NP = Rule.MANDATORY, Rule.OPTIONAL, Rule.NOT_PERMITTED  # noqa: E741 (TS-0004 notation)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_string(value: Any) -> bool:
    return isinstance(value, str)


MAX_INT = 2**63 - 1


def _check_nonneg_int(value: Any) -> bool:
    return _is_int(value) and 0 <= value <= MAX_INT


def _check_positive_int(value: Any) -> bool:
    return _is_int(value) and 0 < value <= MAX_INT


def _check_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _check_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _check_timestamp(value: Any) -> bool:
    parse_timestamp(value)
    return True


def _check_object(value: Any) -> bool:
    return isinstance(value, dict)


def _check_any(value: Any) -> bool:
    return True


def _check_null(value: Any) -> bool:
    return value is None


class Kind(Enum):
    """The value type of an attribute, with the check and the wording of its error."""

    STRING = ("a string", _check_string)
    NONNEG_INT = ("a non-negative integer below 2^63", _check_nonneg_int)
    POSITIVE_INT = ("a positive integer below 2^63", _check_positive_int)
    BOOL = ("a boolean", _check_bool)
    STRING_LIST = ("a list of strings", _check_string_list)
    TIMESTAMP = ("a timestamp", _check_timestamp)
    OBJECT = ("an object", _check_object)
    ANY = ("any value", _check_any)
    NULL_ONLY = ("null", _check_null)

    def __init__(self, wording: str, check: Callable[[Any], bool]) -> None:
        self.wording = wording
        self.check = check


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    kind: Kind
    create: Rule = O
    update: Rule = O


def attribute_table(*groups: Iterable[Attribute]) -> dict[str, Attribute]:
    """Merge attribute rows into one table; later rows override earlier ones of the same name."""
    table: dict[str, Attribute] = {}
    for group in groups:
        for attribute in group:
            table[attribute.name] = attribute
    return table


UNIVERSAL = (
    Attribute("ty", Kind.NONNEG_INT, NP, NP),
    Attribute("ri", Kind.STRING, NP, NP),
    Attribute("rn", Kind.STRING, O, NP),
    Attribute("pi", Kind.STRING, NP, NP),
    Attribute("ct", Kind.TIMESTAMP, NP, NP),
    Attribute("lt", Kind.TIMESTAMP, NP, NP),
    Attribute("lbl", Kind.STRING_LIST, O, O),
)
EXPIRING = (Attribute("et", Kind.TIMESTAMP, O, O),)
ACCESS_CONTROLLED = (Attribute("acpi", Kind.STRING_LIST, O, O),)
CREATOR = (Attribute("cr", Kind.NULL_ONLY, O, NP),)
STATE_TAGGED = (Attribute("st", Kind.NONNEG_INT, NP, NP),)


def _check_value(table_name: str, attribute: Attribute, value: Any) -> None:
    if not attribute.kind.check(value):
        raise BadRequest(
            f"{table_name}: attribute '{attribute.name}' must be {attribute.kind.wording}, "
            f"got {value!r}"
        )


def validate_create(table_name: str, table: dict[str, Attribute], content: dict[str, Any]) -> None:
    """Check a CREATE content against the table: unknown, not permitted, wrong type, missing."""
    for name, value in content.items():
        attribute = table.get(name)
        if attribute is None:
            raise BadRequest(f"{table_name}: unknown attribute '{name}'")
        if attribute.create is NP:
            raise BadRequest(f"{table_name}: attribute '{name}' is not permitted on create")
        if value is None and attribute.kind is not Kind.NULL_ONLY:
            if attribute.create is M:
                raise BadRequest(f"{table_name}: mandatory attribute '{name}' must not be null")
            continue
        _check_value(table_name, attribute, value)
    missing = [a.name for a in table.values() if a.create is M and a.name not in content]
    if missing:
        raise BadRequest(f"{table_name}: mandatory attribute(s) missing: {', '.join(missing)}")


def validate_update(table_name: str, table: dict[str, Attribute], content: dict[str, Any]) -> None:
    """Check an UPDATE content: unknown, read-only or wrong-typed attributes; null deletes."""
    if not content:
        raise BadRequest(f"{table_name}: an update must change at least one attribute")
    for name, value in content.items():
        attribute = table.get(name)
        if attribute is None:
            raise BadRequest(f"{table_name}: unknown attribute '{name}'")
        if attribute.update is NP:
            raise BadRequest(f"{table_name}: attribute '{name}' cannot be updated")
        if value is None:
            if attribute.create is M:
                raise BadRequest(f"{table_name}: mandatory attribute '{name}' cannot be deleted")
            continue
        _check_value(table_name, attribute, value)
