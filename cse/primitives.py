"""Request and response primitives (TS-0004 7.2.1): the one shape every binding produces."""

from dataclasses import dataclass, field
from typing import Any

from cse.constants import Operation, ResponseStatusCode


@dataclass(slots=True)
class FilterCriteria:
    """Filter criteria (TS-0004 6.3.5.8) already parsed into Python values."""

    fu: int = 2
    ty: list[int] = field(default_factory=list)
    lbl: list[str] = field(default_factory=list)
    cra: float | None = None
    crb: float | None = None
    ms: float | None = None
    us: float | None = None
    sts: int | None = None
    stb: int | None = None
    exa: float | None = None
    exb: float | None = None
    sza: int | None = None
    szb: int | None = None
    cty: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    fo: int = 1
    lim: int | None = None
    ofst: int = 0
    lvl: int | None = None

    @property
    def is_discovery(self) -> bool:
        return self.fu == 1

    @property
    def has_conditions(self) -> bool:
        return bool(
            self.ty
            or self.lbl
            or self.cty
            or self.attributes
            or any(
                v is not None
                for v in (
                    self.cra,
                    self.crb,
                    self.ms,
                    self.us,
                    self.sts,
                    self.stb,
                    self.exa,
                    self.exb,
                    self.sza,
                    self.szb,
                )
            )
        )


@dataclass(slots=True)
class Request:
    op: Operation
    to: str
    fr: str | None
    rqi: str
    rvi: str | None = None
    ty: int | None = None
    pc: dict[str, Any] | None = None
    rcn: int | None = None
    drt: int = 1
    fc: FilterCriteria | None = None
    rqet: float | None = None
    atrl: list[str] | None = None


@dataclass(slots=True)
class Response:
    rsc: ResponseStatusCode
    rqi: str
    pc: Any = None
    rvi: str | None = None
    content_location: str | None = None

    @classmethod
    def error(cls, rsc: ResponseStatusCode, rqi: str, message: str, rvi: str | None = None):
        return cls(rsc=rsc, rqi=rqi, pc={"m2m:dbg": message}, rvi=rvi)
