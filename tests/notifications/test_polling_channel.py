"""<pollingChannel> (ty 15) and long polling on its pcu (TS-0001 9.6.21-22, TS-0004 7.4.22)."""

from __future__ import annotations

import threading
import time

from tests.notifications.conftest import TY_PCH, long_poll, ok

POLL_TIMEOUT = 2.0  # CITYCSE_POLLING_CHANNEL_TIMEOUT_SECONDS in FAST_ENV


def _channel(tree):
    ae = tree.ae()  # rr=false, no poa
    ok(tree.m2m.create(ae.path, TY_PCH, {"rn": "pch"}, origin=ae.aei), 2001)
    cnt = tree.cnt(ae.path)
    tree.sub_ok(cnt, [ae.aei], enc={"net": [3], "chty": [4]})
    return ae, cnt, f"{ae.path}/pch/pcu"


def _con(reply) -> object:
    return reply.body["m2m:rqp"]["pc"]["m2m:sgn"]["nev"]["rep"]["m2m:cin"]["con"]


def test_polling_channel_resource(tree):
    ae = tree.ae()
    reply = tree.m2m.create(ae.path, TY_PCH, {"rn": "pch"}, origin=ae.aei)
    pch = ok(reply, 2001)["m2m:pch"]
    assert pch["ty"] == 15 and pch["rn"] == "pch"
    got = ok(tree.m2m.retrieve(f"{ae.path}/pch", origin=ae.aei), 2000)["m2m:pch"]
    assert got["ri"] == pch["ri"]


def test_only_the_ae_itself_creates_its_channel(tree):
    ae, other = tree.ae(), tree.ae()
    reply = tree.m2m.create(ae.path, TY_PCH, {"rn": "pch"}, origin=other.aei)
    assert reply.rsc == 4103, reply
    assert tree.m2m.retrieve(f"{ae.path}/pch").rsc == 4004


def test_polling_channel_only_under_an_ae(tree):
    ae = tree.ae()
    cnt = tree.cnt(ae.path, origin=ae.aei)
    reply = tree.m2m.create(cnt, TY_PCH, {"rn": "pch"}, origin=ae.aei)
    assert reply.rsc == 4108 and reply.status == 403, reply


def test_waiting_notifications_are_returned_in_order(tree):
    ae, cnt, pcu = _channel(tree)
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    seen = []
    rqis = set()
    for _ in range(3):
        reply, held = long_poll(tree.cse.url, pcu, ae.aei)
        body = ok(reply, 2000)
        rqp = body["m2m:rqp"]
        assert rqp["op"] == 5
        assert rqp.get("fr") == "/id-in"
        assert rqp["rqi"]
        rqis.add(rqp["rqi"])
        assert rqp["pc"]["m2m:sgn"]["nev"]["net"] == 3
        seen.append(_con(reply))
        assert held < 1.0
    assert seen == [0, 1, 2]
    assert len(rqis) == 3


def test_long_poll_waits_for_the_next_notification(tree):
    ae, cnt, pcu = _channel(tree)
    result: dict = {}

    def poll() -> None:
        result["reply"], result["held"] = long_poll(tree.cse.url, pcu, ae.aei)

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive(), "the poll returned before anything was there"
    created_at = time.monotonic()
    ok(tree.cin(cnt, "wake up"), 2001)
    thread.join(timeout=POLL_TIMEOUT + 3)
    returned_after = time.monotonic() - created_at
    assert "reply" in result, "the poll never returned"
    ok(result["reply"], 2000)
    assert _con(result["reply"]) == "wake up"
    assert returned_after < 1.0, returned_after


def test_long_poll_times_out_with_4008(tree):
    ae, cnt, pcu = _channel(tree)
    reply, held = long_poll(tree.cse.url, pcu, ae.aei)
    assert reply.rsc == 4008 and reply.status == 504, reply
    assert POLL_TIMEOUT - 0.2 <= held < POLL_TIMEOUT + 2.0, held


def test_only_the_owner_polls(tree):
    ae, cnt, pcu = _channel(tree)
    other = tree.ae()
    ok(tree.cin(cnt, "private"), 2001)
    reply, _ = long_poll(tree.cse.url, pcu, other.aei)
    assert reply.rsc == 4103, reply
    mine, _ = long_poll(tree.cse.url, pcu, ae.aei)
    assert _con(mine) == "private"  # the refused poll took nothing


def test_nothing_is_delivered_twice_to_two_pollers(tree):
    ae, cnt, pcu = _channel(tree)
    replies: list = []

    def poll() -> None:
        replies.append(long_poll(tree.cse.url, pcu, ae.aei)[0])

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    ok(tree.cin(cnt, "once"), 2001)
    for t in threads:
        t.join(timeout=POLL_TIMEOUT + 3)
    codes = sorted(r.rsc for r in replies)
    assert codes == [2000, 4008], replies
    assert _con(next(r for r in replies if r.rsc == 2000)) == "once"


def test_pcu_of_a_deleted_channel(tree):
    ae, cnt, pcu = _channel(tree)
    ok(tree.m2m.delete(f"{ae.path}/pch", origin=ae.aei), 2002)
    reply, held = long_poll(tree.cse.url, pcu, ae.aei)
    assert reply.rsc == 4004, reply
    assert held < 1.0


def test_polling_after_downtime_gets_everything(tree):
    """Notifications produced while nobody polls are all there, in order, exactly once."""
    ae, cnt, pcu = _channel(tree)
    for i in range(6):
        ok(tree.cin(cnt, i), 2001)
    got = []
    while True:
        reply, _ = long_poll(tree.cse.url, pcu, ae.aei)
        if reply.rsc != 2000:
            assert reply.rsc == 4008
            break
        got.append(_con(reply))
    assert got == list(range(6))
