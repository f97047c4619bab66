"""Server-sent event streams: /sse/notifications (per AE, resumable, heartbeats, restarts)
and /sse/changes (ACP-filtered resource changes)."""

from __future__ import annotations

import time

import pytest

from tests.notifications.conftest import (
    CSE_RN,
    M2M,
    TY_ACP,
    TY_AE,
    TY_CNT,
    SSEClient,
    Tree,
    ok,
    unique,
    wait_until,
)

HEARTBEAT_WITHIN = 16.5  # sse-starlette pings every 15 s


def _cons(events) -> list:
    return [e.data["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"] for e in events]


def _stream(cse, aei: str, **headers) -> SSEClient:
    return SSEClient(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": aei, **headers})


@pytest.fixture(scope="module")
def idle_stream(cse, tree):
    """Opened with the module's CSE and left idle, for the heartbeat test at the end."""
    ae = tree.ae()
    client = _stream(cse, ae.aei).start()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _open_idle_stream_early(idle_stream):
    return idle_stream


def _pickup_setup(tree):
    ae = tree.ae()  # rr=false, no poa: notifications wait for pickup
    cnt = tree.cnt(ae.path)
    tree.sub_ok(cnt, [ae.aei], enc={"net": [3], "chty": [4]})
    return ae, cnt


def test_notifications_arrive_on_the_stream(cse, tree, sse):
    ae, cnt = _pickup_setup(tree)
    stream = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": ae.aei})
    assert stream.status == 200
    assert stream.response_headers["content-type"].startswith("text/event-stream")
    started = time.monotonic()
    for i in range(5):
        ok(tree.cin(cnt, i), 2001)
    events = stream.wait(5)
    assert _cons(events) == list(range(5))
    assert all(e.event == "notification" for e in events)
    ids = [int(e.id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert events[0].data["m2m:sgn"]["nev"]["net"] == 3
    assert events[-1].at - started < 2.0


def test_origin_query_parameter_and_sp_relative_id(cse, tree, sse):
    ae, cnt = _pickup_setup(tree)
    stream = sse(f"{cse.url}/sse/notifications", params={"origin": ae.aei})
    other = tree.ae()
    other_cnt = tree.cnt(other.path)
    tree.sub_ok(other_cnt, [f"/id-in/{other.aei}"], enc={"net": [3], "chty": [4]})
    other_stream = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": other.aei})
    ok(tree.cin(cnt, "via query"), 2001)
    ok(tree.cin(other_cnt, "sp-relative"), 2001)
    assert _cons(stream.wait(1)) == ["via query"]
    assert _cons(other_stream.wait(1)) == ["sp-relative"]


def test_waiting_notifications_are_sent_on_connect(cse, tree, sse):
    ae, cnt = _pickup_setup(tree)
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    time.sleep(0.3)
    stream = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": ae.aei})
    assert _cons(stream.wait(3)) == [0, 1, 2]


def test_streams_are_per_ae(cse, tree, sse):
    a, cnt_a = _pickup_setup(tree)
    b, cnt_b = _pickup_setup(tree)
    stream_a = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": a.aei})
    stream_b = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": b.aei})
    ok(tree.cin(cnt_a, "for a"), 2001)
    ok(tree.cin(cnt_b, "for b"), 2001)
    assert _cons(stream_a.wait(1)) == ["for a"]
    assert _cons(stream_b.wait(1)) == ["for b"]
    time.sleep(0.5)
    assert len(stream_a.events) == 1 and len(stream_b.events) == 1


def test_stream_errors(cse, tree, sse):
    unknown = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": unique("Cnobody")})
    assert unknown.status == 404
    assert unknown.response_headers.get("x-m2m-rsc") == "4004"
    anonymous = sse(f"{cse.url}/sse/notifications")
    assert anonymous.status == 400
    ae = tree.ae()
    bad_resume = sse(
        f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": ae.aei, "Last-Event-ID": "x"}
    )
    assert bad_resume.status == 400


def test_resume_with_last_event_id_across_a_restart(cse_factory):
    cse = cse_factory()
    client = M2M(cse)
    opened: list[SSEClient] = []
    try:
        tree = Tree(cse, client)
        ae, cnt = _pickup_setup(tree)
        first = _stream(cse, ae.aei).start()
        opened.append(first)
        for i in range(3):
            ok(tree.cin(cnt, i), 2001)
        events = first.wait(3)
        assert _cons(events) == [0, 1, 2]
        first.close()
        for i in range(3, 6):
            ok(tree.cin(cnt, i), 2001)
        cse.restart(kill=True)
        client.close()
        client = M2M(cse)
        tree = Tree(cse, client)
        resumed = _stream(cse, ae.aei, **{"Last-Event-ID": events[1].id}).start()
        opened.append(resumed)
        got = resumed.wait(4)
        assert _cons(got) == [2, 3, 4, 5]
        assert got[0].id == events[2].id  # same event, same id
        ids = [int(e.id) for e in got]
        assert ids == sorted(ids) and ids[0] > int(events[1].id)
        ok(tree.cin(cnt, 6), 2001)
        assert _cons(resumed.wait(5))[-1] == 6
        # the query form of the resume point works too
        again = SSEClient(
            f"{cse.url}/sse/notifications",
            params={"origin": ae.aei, "lastEventId": got[2].id},
        ).start()
        opened.append(again)
        assert _cons(again.wait(2)) == [5, 6]
    finally:
        for stream in opened:
            stream.close()
        client.close()


def test_delivery_over_sse_is_fast(cse, tree, sse):
    ae, cnt = _pickup_setup(tree)
    stream = sse(f"{cse.url}/sse/notifications", headers={"X-M2M-Origin": ae.aei})
    ok(tree.cin(cnt, "warm-up"), 2001)
    stream.wait(1)
    latencies = []
    for i in range(10):
        before = time.monotonic()
        ok(tree.cin(cnt, i), 2001)
        events = stream.wait(i + 2, timeout=3)
        assert len(events) == i + 2
        latencies.append(events[-1].at - before)
    assert sorted(latencies)[5] < 0.5, latencies


# --- /sse/changes -----


def _shared_tree(tree):
    """AE `owner` with containers `open` (readable by `reader`) and `closed` (creator only)."""
    owner, reader, stranger = tree.ae(), tree.ae(), tree.ae()
    acp = unique("acp")
    pv = {"acr": [{"acor": [reader.aei], "acop": 2}, {"acor": [owner.aei], "acop": 63}]}
    pvs = {"acr": [{"acor": ["CAdmin"], "acop": 63}]}
    acp_ri = ok(tree.m2m.create(CSE_RN, TY_ACP, {"rn": acp, "pv": pv, "pvs": pvs}), 2001)[
        "m2m:acp"
    ]["ri"]
    ok(tree.m2m.update(owner.path, TY_AE, {"acpi": [acp_ri]}), 2004)
    open_ = tree.cnt(owner.path, origin=owner.aei)
    closed = tree.cnt(owner.path, origin=owner.aei)
    ok(tree.m2m.update(open_, TY_CNT, {"acpi": [acp_ri]}), 2004)
    return owner, reader, stranger, open_, closed


def _synced(tree, stream, container: str, origin: str) -> None:
    """Make sure the change stream is listening: write until a change shows up."""
    for _ in range(20):
        ok(tree.cin(container, "sync", origin=origin), 2001)
        if wait_until(lambda: stream.events, 0.5):
            return
    raise AssertionError("the change stream never showed a change")


def test_changes_only_show_what_the_originator_may_retrieve(cse, tree, sse):
    owner, reader, stranger, open_, closed = _shared_tree(tree)
    url = f"{cse.url}/sse/changes"
    path = owner.path
    mine = sse(url, params={"path": path}, headers={"X-M2M-Origin": reader.aei})
    assert mine.status == 200
    admin = sse(url, params={"path": path, "origin": "CAdmin"})
    _synced(tree, mine, open_, owner.aei)
    wait_until(lambda: admin.events, 2)
    mine.events.clear()
    admin.events.clear()
    ok(tree.cin(open_, "public", origin=owner.aei), 2001)
    ok(tree.cin(closed, "secret", origin=owner.aei), 2001)
    ok(tree.m2m.update(closed, TY_CNT, {"lbl": ["hidden"]}, origin=owner.aei), 2004)
    ok(tree.m2m.update(open_, TY_CNT, {"lbl": ["shown"]}, origin=owner.aei), 2004)
    wait_until(lambda: len(admin.events) >= 4, 5)
    wait_until(lambda: len(mine.events) >= 2, 5)
    time.sleep(0.5)
    seen = [(e.event, e.data["srn"]) for e in mine.events]
    assert all(not srn.startswith(closed) for _, srn in seen), seen
    assert [e.event for e in mine.events] == ["create", "update"], seen
    assert mine.events[0].data["m2m:cin"]["con"] == "public"
    assert mine.events[1].data["m2m:cnt"]["lbl"] == ["shown"]
    assert any(e.data["srn"].startswith(closed) for e in admin.events)  # the control
    assert len(admin.events) == 4


def test_changes_stream_needs_retrieve_on_the_path(cse, tree, sse):
    owner, reader, stranger, open_, closed = _shared_tree(tree)
    url = f"{cse.url}/sse/changes"
    refused = sse(url, params={"path": owner.path}, headers={"X-M2M-Origin": stranger.aei})
    assert refused.status == 403
    assert refused.response_headers.get("x-m2m-rsc") == "4103"
    missing = sse(url, params={"path": f"{owner.path}/nothing"}, headers={"X-M2M-Origin": "CAdmin"})
    assert missing.status == 404
    anonymous = sse(url, params={"path": owner.path})
    assert anonymous.status == 400


def test_changes_stream_shows_deletes_under_the_path_only(cse, tree, sse):
    owner, reader, stranger, open_, closed = _shared_tree(tree)
    elsewhere = tree.cnt(tree.ae().path)
    stream = sse(
        f"{cse.url}/sse/changes", params={"path": open_}, headers={"X-M2M-Origin": reader.aei}
    )
    _synced(tree, stream, open_, owner.aei)
    stream.events.clear()
    cin = ok(tree.cin(open_, "to delete", origin=owner.aei), 2001)["m2m:cin"]
    ok(tree.cin(elsewhere, "not under the path"), 2001)
    ok(tree.m2m.delete(f"{open_}/{cin['rn']}", origin=owner.aei), 2002)
    wait_until(lambda: len(stream.events) >= 2, 5)
    time.sleep(0.4)
    assert [(e.event, e.data["srn"]) for e in stream.events] == [
        ("create", f"{open_}/{cin['rn']}"),
        ("delete", f"{open_}/{cin['rn']}"),
    ]


# --- heartbeat (last: the idle stream has been open since the module started) -----


def test_heartbeat_on_an_idle_stream(idle_stream):
    remaining = HEARTBEAT_WITHIN - (time.monotonic() - idle_stream.opened_at)
    assert wait_until(lambda: idle_stream.comments, max(remaining, 0.1), 0.2), (
        f"no heartbeat within {HEARTBEAT_WITHIN} s"
    )
    assert idle_stream.comments[0][1] - idle_stream.opened_at < HEARTBEAT_WITHIN
    assert idle_stream.error is None and idle_stream.status == 200
    assert idle_stream.events == []
