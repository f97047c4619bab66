"""The in-memory form of one stored resource."""

from dataclasses import dataclass, field
from typing import Any

from cse.timestamps import to_timestamp


@dataclass(slots=True)
class Resource:
    """A resource as stored: indexed columns plus the remaining attributes in `attrs`.

    Columns that change without the resource being updated (a container's `cni`, `cbs`,
    `st`) are the truth; `representation()` merges them into the attributes.
    """

    ri: str
    ty: int
    rn: str
    pi: str | None
    srn: str
    owner: str
    ct: float
    lt: float
    et: float | None = None
    expires: float | None = None
    st: int | None = None
    cni: int | None = None
    cbs: int | None = None
    cs: int | None = None
    acpi: list[str] = field(default_factory=list)
    lbl: list[str] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return self.srn.count("/")

    def representation(self) -> dict[str, Any]:
        """All attributes of the resource with oneM2M short names, as sent on the wire."""
        ct = to_timestamp(self.ct)
        out: dict[str, Any] = {
            "ty": self.ty,
            "ri": self.ri,
            "rn": self.rn,
            "ct": ct,
            "lt": ct if self.lt == self.ct else to_timestamp(self.lt),
        }
        if self.pi is not None:
            out["pi"] = self.pi
        if self.et is not None:
            out["et"] = to_timestamp(self.et)
        if self.lbl:
            out["lbl"] = self.lbl
        if self.acpi:
            out["acpi"] = self.acpi
        out.update(self.attrs)
        for name in ("st", "cni", "cbs", "cs"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out
