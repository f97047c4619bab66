"""The resources a CSE starts with: its CSEBase and the policy that lets anyone read it."""

from sqlalchemy.engine import Connection

from cse.constants import Permission, ResourceType
from cse.resource import Resource
from cse.settings import Settings
from cse.storage import repository
from cse.timestamps import now
from resources.cse_base import SUPPORTED_RELEASE_VALUES
from resources.registry import SPECS

CSE_TYPE_IN = 1
BASE_POLICY_RN = "acpCSEBaseAccess"


def _base_policy(settings: Settings, moment: float) -> Resource:
    readable = Permission.RETRIEVE | Permission.DISCOVERY
    return Resource(
        ri=BASE_POLICY_RN,
        ty=ResourceType.ACP,
        rn=BASE_POLICY_RN,
        pi=settings.cse_id,
        srn=f"{settings.cse_rn}/{BASE_POLICY_RN}",
        owner=settings.admin_originator,
        ct=moment,
        lt=moment,
        attrs={
            "pv": {"acr": [{"acor": ["all"], "acop": int(readable)}]},
            "pvs": {"acr": [{"acor": [settings.admin_originator], "acop": 63}]},
        },
    )


def _cse_base(settings: Settings, moment: float) -> Resource:
    return Resource(
        ri=settings.cse_id,
        ty=ResourceType.CSEBASE,
        rn=settings.cse_rn,
        pi=None,
        srn=settings.cse_rn,
        owner=settings.admin_originator,
        ct=moment,
        lt=moment,
        acpi=[BASE_POLICY_RN],
        attrs={
            "cst": CSE_TYPE_IN,
            "csi": settings.csi,
            "srt": sorted(SPECS),
            "poa": [f"http://{settings.host}:{settings.port}"],
            "srv": SUPPORTED_RELEASE_VALUES,
            "rr": True,
            "csz": ["application/json"],
        },
    )


def ensure_cse_base(conn: Connection, settings: Settings) -> None:
    """Create the CSEBase on a new database; on an existing one, refresh its point of access."""
    existing = repository.get_by_ri(conn, settings.cse_id)
    moment = now()
    if existing is None:
        repository.insert_resource(conn, _cse_base(settings, moment))
        repository.insert_resource(conn, _base_policy(settings, moment))
        return
    fresh = _cse_base(settings, moment)
    refreshed = {name: fresh.attrs[name] for name in ("poa", "srt")}
    if any(existing.attrs.get(name) != value for name, value in refreshed.items()):
        existing.attrs.update(refreshed)
        repository.save_resource(conn, existing, labels_changed=False)
