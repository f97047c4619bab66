"""oneM2M timestamps (TS-0004 6.3.3): ISO 8601 basic format, UTC."""

import math
import time
from datetime import UTC, datetime
from functools import lru_cache

from cse.errors import BadRequest

_FORMATS = ("%Y%m%dT%H%M%S,%f", "%Y%m%dT%H%M%S.%f", "%Y%m%dT%H%M%S")


def now() -> float:
    return time.time()


@lru_cache(maxsize=4096)
def _second(whole: int) -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime(whole))


def to_timestamp(epoch: float) -> str:
    """Format epoch seconds as `20141003T112032,123456`: the microseconds rounded half to
    even, as `datetime.fromtimestamp` does; the second is formatted once and remembered."""
    if epoch < 0:
        return datetime.fromtimestamp(epoch, UTC).strftime("%Y%m%dT%H%M%S,%f")
    whole = math.floor(epoch)
    micros = round((epoch - whole) * 1e6)
    if micros == 1_000_000:
        whole, micros = whole + 1, 0
    return f"{_second(whole)},{micros:06d}"


def parse_timestamp(text: str) -> float:
    """Parse a oneM2M timestamp (basic format, optional fraction, optional Z) to epoch seconds."""
    if not isinstance(text, str):
        raise BadRequest(f"timestamp must be a string like 20250101T120000, got {text!r}")
    value = text.strip().removesuffix("Z")
    for fmt in _FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise BadRequest(f"invalid timestamp {text!r}: expected ISO 8601 basic format 20250101T120000")
