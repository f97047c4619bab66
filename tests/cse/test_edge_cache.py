"""The in-memory `la`/`ol` cache: what it keeps, what drops it, and when it keeps nothing."""

from __future__ import annotations

from sqlalchemy import create_engine

from cse import edge_cache
from cse.edge_cache import EdgeCache
from cse.resource import Resource
from cse.storage import touched


def resource(ri: str, pi: str | None = None, expires: float | None = None) -> Resource:
    return Resource(
        ri=ri, ty=4, rn=ri, pi=pi, srn=f"cse-in/{ri}", owner="C", ct=0, lt=0, expires=expires
    )


CONTAINER = resource("cnt1")
LATEST = resource("cin2", pi="cnt1")
KEY = (True, "cse-in/ae/cnt1", "la")


def test_a_stored_entry_is_served_until_its_container_is_touched() -> None:
    cache = EdgeCache(enabled=True)
    cache.put(KEY, (LATEST, CONTAINER), cache.generation)
    assert cache.get(KEY, 10.0) == (LATEST, CONTAINER)
    cache.changed({"cnt9", "cin7"})
    assert cache.get(KEY, 10.0) == (LATEST, CONTAINER)
    cache.changed({"cnt1"})
    assert cache.get(KEY, 10.0) is None


def test_every_address_of_a_container_is_dropped_together() -> None:
    cache = EdgeCache(enabled=True)
    other_keys = [(False, "cnt1", "la"), (True, "cse-in/ae/cnt1", "ol")]
    for key in [KEY, *other_keys]:
        cache.put(key, (LATEST, CONTAINER), cache.generation)
    cache.changed({"cnt1"})
    assert all(cache.get(key, 10.0) is None for key in [KEY, *other_keys])


def test_a_read_that_overlapped_a_commit_is_not_kept() -> None:
    cache = EdgeCache(enabled=True)
    before = cache.generation
    cache.changed({"anything"})
    cache.put(KEY, (LATEST, CONTAINER), before)
    assert cache.get(KEY, 10.0) is None


def test_an_expired_instance_or_container_is_not_served() -> None:
    cache = EdgeCache(enabled=True)
    cache.put(KEY, (resource("cin2", pi="cnt1", expires=5.0), CONTAINER), cache.generation)
    assert cache.get(KEY, 4.0) is not None
    assert cache.get(KEY, 5.0) is None
    cache.put(KEY, (LATEST, resource("cnt1", expires=5.0)), cache.generation)
    assert cache.get(KEY, 6.0) is None


def test_a_disabled_cache_keeps_nothing() -> None:
    cache = EdgeCache(enabled=False)
    cache.put(KEY, (LATEST, CONTAINER), cache.generation)
    assert cache.get(KEY, 10.0) is None


def test_a_full_cache_starts_afresh(monkeypatch) -> None:
    monkeypatch.setattr(edge_cache, "MAX_ENTRIES", 2)
    cache = EdgeCache(enabled=True)
    for n in range(3):
        cache.put((True, f"c{n}", "la"), (LATEST, resource(f"cnt{n}")), cache.generation)
    assert cache.get((True, "c0", "la"), 1.0) is None
    assert cache.get((True, "c2", "la"), 1.0) is not None


def test_a_cache_full_of_content_starts_afresh(monkeypatch) -> None:
    monkeypatch.setattr(edge_cache, "MAX_CONTENT_BYTES", 1000)
    cache = EdgeCache(enabled=True)
    big = resource("cin2", pi="cnt1")
    big.cs = 600
    cache.put((True, "c0", "la"), (big, resource("cnt0")), cache.generation)
    cache.changed({"cnt0"})  # dropping an entry gives its bytes back
    cache.put((True, "c1", "la"), (big, resource("cnt1")), cache.generation)
    assert cache.get((True, "c1", "la"), 1.0) is not None
    cache.put((True, "c2", "la"), (big, resource("cnt2")), cache.generation)
    assert cache.get((True, "c1", "la"), 1.0) is None
    assert cache.get((True, "c2", "la"), 1.0) is not None


def test_touched_notes_belong_to_one_transaction() -> None:
    with create_engine("sqlite://").connect() as conn:
        touched.note(conn, "a", None, "b")
        touched.note(conn, "a")
        assert touched.take(conn) == {"a", "b"}
        assert touched.take(conn) == set()
