"""<subscription> (ty 23): event types, filters, content types, exc/su, bn/ln, verification
and bad input, observed through a real HTTP receiver."""

from __future__ import annotations

import time

import pytest

from tests.notifications.conftest import (
    CSE_RN,
    TY_ACP,
    TY_AE,
    TY_CNT,
    TY_SUB,
    cons,
    free_port,
    ok,
    unique,
)

QUIET = 0.4  # how long to wait to show that nothing (more) arrives


def _sub_exists(m2m, path: str) -> bool:
    return m2m.retrieve(path).rsc == 2000


def _subs_under(m2m, parent: str) -> list[str]:
    reply = m2m.retrieve(parent, params={"fu": "1", "ty": str(TY_SUB)})
    return ok(reply, 2000)["m2m:uril"]


# --- event types -----


def test_update_of_resource(tree, receiver):
    ae = tree.ae()
    cnt = tree.cnt(ae.path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [1]})
    ok(tree.cin(cnt, "not an update"), 2001)
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["colour:red"]}), 2004)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert len(got) == 1, [r.body for r in got]
    sgn = got[0].sgn
    assert sgn["nev"]["net"] == 1
    assert sgn["nev"]["rep"]["m2m:cnt"]["lbl"] == ["colour:red"]
    assert sgn["sur"].endswith(sub["ri"]) and sgn["sur"].startswith("/id-in/")


def test_default_event_is_update(tree, receiver):
    """No enc: net = Update_of_Resource only."""
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url])
    ok(tree.cin(cnt, 1), 2001)
    ok(tree.m2m.update(cnt, TY_CNT, {"mni": 5}), 2004)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert [r.sgn["nev"]["net"] for r in got] == [1]


def test_delete_of_resource(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    cnt_ri = ok(tree.m2m.retrieve(cnt), 2000)["m2m:cnt"]["ri"]
    tree.sub_ok(cnt, [receiver.url], enc={"net": [2]})
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["x"]}), 2004)
    ok(tree.m2m.delete(cnt), 2002)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert [r.sgn["nev"]["net"] for r in got] == [2]
    assert got[0].sgn["nev"]["rep"]["m2m:cnt"]["ri"] == cnt_ri


def test_create_of_direct_child(tree, receiver):
    ae = tree.ae()
    cnt = tree.cnt(ae.path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    inner = tree.cnt(cnt)
    ok(tree.cin(inner, "grandchild"), 2001)  # not a direct child: no notification
    ok(tree.cin(cnt, "child"), 2001)
    got = receiver.wait(2)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert [r.sgn["nev"]["net"] for r in got] == [3, 3]
    assert "m2m:cnt" in got[0].sgn["nev"]["rep"]
    assert cons(got[1:]) == ["child"]


def test_delete_of_direct_child(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    cin = ok(tree.cin(cnt, "doomed"), 2001)["m2m:cin"]
    tree.sub_ok(cnt, [receiver.url], enc={"net": [4]})
    ok(tree.cin(cnt, "created"), 2001)  # create is not asked for
    ok(tree.m2m.delete(f"{cnt}/{cin['rn']}"), 2002)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert [r.sgn["nev"]["net"] for r in got] == [4]
    assert got[0].sgn["nev"]["rep"]["m2m:cin"]["ri"] == cin["ri"]


def test_several_event_types(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [1, 3, 4]})
    cin = ok(tree.cin(cnt, "a"), 2001)["m2m:cin"]
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["y"]}), 2004)
    ok(tree.m2m.delete(f"{cnt}/{cin['rn']}"), 2002)
    got = receiver.wait(3)
    assert [r.sgn["nev"]["net"] for r in got] == [3, 1, 4]


def test_chty_filter(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3], "chty": [TY_CNT]})
    ok(tree.cin(cnt, "filtered out"), 2001)
    child = tree.cnt(cnt)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert len(got) == 1
    assert got[0].sgn["nev"]["rep"]["m2m:cnt"]["rn"] == child.rsplit("/", 1)[1]


def test_atr_filter(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [1], "atr": ["lbl"]})
    ok(tree.m2m.update(cnt, TY_CNT, {"mni": 3}), 2004)
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["watched"]}), 2004)
    got = receiver.wait(1)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert len(got) == 1, [r.body for r in got]
    assert got[0].sgn["nev"]["rep"]["m2m:cnt"]["lbl"] == ["watched"]


# --- notification content types -----


def test_nct_all_attributes(tree, receiver):
    cnt = tree.cnt(tree.ae().path, mni=10)
    tree.sub_ok(cnt, [receiver.url], nct=1)
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["a"]}), 2004)
    rep = receiver.wait(1)[0].sgn["nev"]["rep"]["m2m:cnt"]
    assert rep["lbl"] == ["a"] and rep["mni"] == 10 and "ri" in rep and rep["ty"] == TY_CNT


def test_nct_modified_attributes(tree, receiver):
    cnt = tree.cnt(tree.ae().path, mni=10)
    tree.sub_ok(cnt, [receiver.url], nct=2)
    ok(tree.m2m.update(cnt, TY_CNT, {"lbl": ["b"]}), 2004)
    rep = receiver.wait(1)[0].sgn["nev"]["rep"]["m2m:cnt"]
    assert rep["lbl"] == ["b"]
    assert "mni" not in rep and "rn" not in rep and "ty" not in rep, rep


def test_nct_resource_id(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, nct=3)
    cin = ok(tree.cin(cnt, "x"), 2001)["m2m:cin"]
    rep = receiver.wait(1)[0].sgn["nev"]["rep"]
    assert rep in (cin["ri"], {"m2m:uri": cin["ri"]}), rep


# --- exc, su -----


def test_exc_deletes_subscription_with_deletion_notification(tree, receiver, receiver_factory):
    su = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, exc=2, su=su.url)
    sub_path = f"{cnt}/{sub['rn']}"
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    got = receiver.wait(2)
    deletion = su.wait(1)
    time.sleep(QUIET)
    assert cons(receiver.notifications()) == [0, 1]
    assert not _sub_exists(tree.m2m, sub_path)
    assert len(su.notifications()) == 1
    assert deletion[0].sgn.get("sud") is True
    assert deletion[0].sgn["sur"].endswith(sub["ri"])
    assert got[0].headers["x-m2m-origin"] == "/id-in"


def test_su_on_subscription_delete(tree, receiver, receiver_factory):
    su = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], su=su.url)
    ok(tree.m2m.delete(f"{cnt}/{sub['rn']}"), 2002)
    got = su.wait(1)
    assert got and got[0].sgn == {"sud": True, "sur": f"/id-in/{sub['ri']}"}


def test_su_when_parent_is_deleted(tree, receiver, receiver_factory):
    su = receiver_factory()
    ae = tree.ae()
    cnt = tree.cnt(ae.path)
    inner = tree.cnt(cnt)
    outer_sub = tree.sub_ok(cnt, [receiver.url], su=su.url)
    inner_sub = tree.sub_ok(inner, [receiver.url], su=su.url)
    ok(tree.m2m.delete(ae.path), 2002)  # takes the whole subtree
    got = su.wait(2)
    time.sleep(QUIET)
    got = su.notifications()
    assert sorted(r.sgn["sur"] for r in got) == sorted(
        f"/id-in/{s['ri']}" for s in (outer_sub, inner_sub)
    )
    assert all(r.sgn.get("sud") is True for r in got)
    assert not _sub_exists(tree.m2m, f"{inner}/{inner_sub['rn']}")


# --- bn, ln -----


def test_batch_by_number(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, bn={"num": 3, "dur": "PT30S"})
    for i in range(2):
        ok(tree.cin(cnt, i), 2001)
        time.sleep(0.05)
    assert receiver.quiet(QUIET) == [], "a batch of 3 went out after 2"
    ok(tree.cin(cnt, 2), 2001)
    got = receiver.wait(1, timeout=5)
    time.sleep(QUIET)
    got = receiver.notifications()
    assert len(got) == 1, [r.body for r in got]
    sgns = got[0].body["m2m:agn"]["m2m:sgn"]
    assert [s["nev"]["rep"]["m2m:cin"]["con"] for s in sgns] == [0, 1, 2]


def test_batch_by_duration(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, bn={"num": 100, "dur": 800})
    started = time.monotonic()
    for i in range(2):
        ok(tree.cin(cnt, i), 2001)
    got = receiver.wait(1, timeout=5)
    elapsed = got[0].at - started if got else None
    assert got, "the batch was never sent"
    assert 0.6 <= elapsed < 3.5, elapsed
    sgns = got[0].body["m2m:agn"]["m2m:sgn"]
    assert [s["nev"]["rep"]["m2m:cin"]["con"] for s in sgns] == [0, 1]


def test_batch_without_duration_is_rejected_or_batches(tree, receiver):
    """m2m:batchNotify has `num` and `dur` (both mandatory): a bn without dur is either refused
    (4000) or batches by number; it must not silently send one notification per event."""
    cnt = tree.cnt(tree.ae().path)
    reply = tree.sub(cnt, [receiver.url], enc={"net": [3]}, bn={"num": 3})
    if reply.rsc == 4000:
        return
    ok(reply, 2001)
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
        time.sleep(0.1)
    receiver.wait(1, timeout=5)
    got = receiver.quiet(QUIET)
    assert len(got) == 1 and "m2m:agn" in got[0].body, [r.body for r in got]


def test_latest_notify_in_batch_duration(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, ln=True, bn={"num": 50, "dur": 700})
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    receiver.wait(1, timeout=5)
    got = receiver.quiet(QUIET)
    assert len(got) == 1, [r.body for r in got]
    body = got[0].body
    sgn = body["m2m:sgn"] if "m2m:sgn" in body else body["m2m:agn"]["m2m:sgn"][-1]
    assert sgn["nev"]["rep"]["m2m:cin"]["con"] == 2
    if "m2m:agn" in body:
        assert len(body["m2m:agn"]["m2m:sgn"]) == 1


def test_latest_notify_when_batch_number_is_reached(tree, receiver):
    """bn num=3 with ln: the third event completes the batch, of which only the latest is sent;
    it must not wait for the 20 s duration."""
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, ln=True, bn={"num": 3, "dur": "PT20S"})
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    got = receiver.wait(1, timeout=4)
    assert len(got) == 1, "nothing was sent within 4 s after the 3rd of a batch of 3 (ln=true)"
    body = got[0].body
    sgn = body["m2m:sgn"] if "m2m:sgn" in body else body["m2m:agn"]["m2m:sgn"][-1]
    assert sgn["nev"]["rep"]["m2m:cin"]["con"] == 2


def test_latest_notify_while_target_is_down(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]}, ln=True)
    receiver.down()
    for i in range(5):
        ok(tree.cin(cnt, i), 2001)
        time.sleep(0.1)
    time.sleep(1.0)
    receiver.up()
    receiver.wait(1, timeout=8)
    got = receiver.quiet(1.0)
    assert cons(got)[-1] == 4
    assert len(got) <= 2, cons(got)  # at most the one in flight plus the latest


# --- targets -----


def test_ae_id_target_with_poa_gets_http(tree, receiver):
    ae = tree.ae(poa=[receiver.url])
    cnt = tree.cnt(ae.path)
    tree.sub_ok(cnt, [ae.aei], enc={"net": [3], "chty": [4]})
    tree.sub_ok(cnt, [f"/id-in/{ae.aei}"], enc={"net": [3], "chty": [4]})
    ok(tree.cin(cnt, "to the poa"), 2001)
    got = receiver.wait(2)
    assert cons(got) == ["to the poa", "to the poa"]
    assert len({r.rqi for r in got}) == 2


def test_notification_headers(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    got = receiver.wait(3)
    assert [r.headers["x-m2m-origin"] for r in got] == ["/id-in"] * 3
    assert all(r.headers.get("x-m2m-rvi") for r in got)
    assert len({r.rqi for r in got}) == 3 and all(r.rqi for r in got)
    assert all(r.headers["content-type"].startswith("application/json") for r in got)


def test_subscription_allowed_parents(tree, receiver):
    ae = tree.ae()
    tree.sub_ok(CSE_RN, [receiver.url])
    tree.sub_ok(ae.path, [receiver.url])
    tree.sub_ok(tree.cnt(ae.path), [receiver.url])
    acp = unique("acp")
    acr = {"acr": [{"acor": ["CAdmin"], "acop": 63}]}
    ok(tree.m2m.create(CSE_RN, TY_ACP, {"rn": acp, "pv": acr, "pvs": acr}), 2001)
    tree.sub_ok(f"{CSE_RN}/{acp}", [receiver.url])


def test_subscription_under_content_instance_is_5203(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    cin = ok(tree.cin(cnt, "leaf"), 2001)["m2m:cin"]
    reply = tree.sub(f"{cnt}/{cin['rn']}", [receiver.url])
    assert reply.rsc == 5203 and reply.status == 403, reply
    assert receiver.all() == [], "a verification was sent for a refused subscription"


# --- verification -----


def test_verification_request(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url])
    vrq = receiver.verifications()
    assert len(vrq) == 1, "the verification must have arrived before the create answered"
    assert vrq[0].sgn["vrq"] is True
    assert vrq[0].sgn["sur"] == f"/id-in/{sub['ri']}"
    assert vrq[0].sgn["cr"] == "CAdmin"
    assert vrq[0].headers["x-m2m-origin"] == "/id-in"
    assert vrq[0].rqi


def test_no_verification_of_the_originator_itself(tree, receiver):
    ae = tree.ae(poa=[receiver.url])
    cnt = tree.cnt(ae.path, origin=ae.aei)
    receiver.verification_mode = "forbid"  # would fail the create if it were asked
    tree.sub_ok(cnt, [ae.aei], origin=ae.aei)
    assert receiver.verifications() == []


@pytest.mark.parametrize("failure", ["unreachable", "http500"])
def test_verification_failure_is_5204_and_leaves_nothing(tree, receiver_factory, failure):
    cnt = tree.cnt(tree.ae().path)
    if failure == "unreachable":
        target = f"http://127.0.0.1:{free_port()}/nobody"
        bystander = None
    else:
        bystander = receiver_factory(mode="fail")
        target = bystander.url
    rn = unique("sub")
    reply = tree.m2m.create(cnt, TY_SUB, {"rn": rn, "nu": [target], "enc": {"net": [3]}})
    assert reply.rsc == 5204, reply
    assert reply.status == 500
    assert not _sub_exists(tree.m2m, f"{cnt}/{rn}")
    assert _subs_under(tree.m2m, cnt) == []
    if bystander is not None:
        bystander.mode = "ok"
        ok(tree.cin(cnt, "after"), 2001)
        assert bystander.quiet(QUIET) == [], "a failed subscription still notifies"


@pytest.mark.parametrize("mode", ["forbid", "refuse4101"])
def test_verification_refused_is_4101_and_leaves_nothing(tree, receiver_factory, mode):
    target = receiver_factory(mode=mode)
    cnt = tree.cnt(tree.ae().path)
    rn = unique("sub")
    reply = tree.m2m.create(cnt, TY_SUB, {"rn": rn, "nu": [target.url], "enc": {"net": [3]}})
    assert reply.rsc == 4101 and reply.status == 403, reply
    assert len(target.verifications()) == 1
    assert _subs_under(tree.m2m, cnt) == []
    target.mode = "ok"
    ok(tree.cin(cnt, "after"), 2001)
    assert target.quiet(QUIET) == [], "a refused subscription still notifies"


def test_one_refusing_target_fails_the_whole_create(tree, receiver, receiver_factory):
    refusing = receiver_factory(mode="forbid")
    cnt = tree.cnt(tree.ae().path)
    reply = tree.sub(cnt, [receiver.url, refusing.url], enc={"net": [3]})
    assert reply.rsc == 4101, reply
    assert _subs_under(tree.m2m, cnt) == []
    ok(tree.cin(cnt, "after"), 2001)
    assert receiver.quiet(QUIET) == []


def test_ae_target_must_grant_the_subscriber_notify(tree, receiver):
    """An AE named in nu that does not grant the subscriber NOTIFY: 4101, nothing created."""
    subscriber, target = tree.ae(), tree.ae(poa=[receiver.url])
    cnt = tree.cnt(subscriber.path, origin=subscriber.aei)
    reply = tree.sub(cnt, [target.aei], origin=subscriber.aei, enc={"net": [3]})
    assert reply.rsc == 4101 and reply.status == 403, reply
    assert _subs_under(tree.m2m, cnt) == []
    assert receiver.all() == []
    ok(tree.cin(cnt, "after", origin=subscriber.aei), 2001)
    assert receiver.quiet(QUIET) == []


def test_ae_target_granting_notify_accepts_the_subscription(tree, receiver):
    subscriber, target = tree.ae(), tree.ae(poa=[receiver.url])
    acp = unique("acp")
    pv = {"acr": [{"acor": [subscriber.aei], "acop": 16}, {"acor": [target.aei], "acop": 63}]}
    pvs = {"acr": [{"acor": ["CAdmin"], "acop": 63}]}
    acp_ri = ok(tree.m2m.create(CSE_RN, TY_ACP, {"rn": acp, "pv": pv, "pvs": pvs}), 2001)[
        "m2m:acp"
    ]["ri"]
    ok(tree.m2m.update(target.path, TY_AE, {"acpi": [acp_ri]}), 2004)
    cnt = tree.cnt(subscriber.path, origin=subscriber.aei)
    tree.sub_ok(cnt, [target.aei], origin=subscriber.aei, enc={"net": [3]})
    assert len(receiver.verifications()) == 1
    ok(tree.cin(cnt, "granted", origin=subscriber.aei), 2001)
    assert cons(receiver.wait(1)) == ["granted"]


def test_unknown_ae_target_is_5204(tree):
    cnt = tree.cnt(tree.ae().path)
    reply = tree.sub(cnt, [unique("Cnobody")], enc={"net": [3]})
    assert reply.rsc == 5204, reply
    assert _subs_under(tree.m2m, cnt) == []


# --- bad input -----


@pytest.mark.parametrize(
    "attrs",
    [
        {"nu": ["not a uri"]},
        {"nu": ["http://"]},
        {"nu": [""]},
        {"nu": [42]},
        {"nu": []},
        {"enc": {"net": [99]}},
        {"enc": {"net": [1], "bogus": True}},
        {"enc": {"net": "1"}},
        {"nct": 9},
        {"bn": {"num": 0, "dur": 100}},
        {"bn": {"num": 2, "dur": "soon"}},
        {"su": "no such thing"},
    ],
    ids=lambda a: repr(a),
)
def test_bad_input_is_4000_and_leaves_nothing(tree, receiver, attrs):
    cnt = tree.cnt(tree.ae().path)
    body = {"rn": unique("sub"), "nu": [receiver.url], **attrs}
    reply = tree.m2m.create(cnt, TY_SUB, body)
    assert reply.rsc == 4000 and reply.status == 400, reply
    assert isinstance(reply.body, dict) and reply.body.get("m2m:dbg"), reply
    assert _subs_under(tree.m2m, cnt) == []
    assert receiver.verifications() == []


def test_bad_update_is_4000(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    path = f"{cnt}/{sub['rn']}"
    for attrs in ({"nct": 7}, {"enc": {"net": [42]}}, {"nu": ["has space"]}):
        reply = tree.m2m.update(path, TY_SUB, attrs)
        assert reply.rsc == 4000, (attrs, reply)
    current = ok(tree.m2m.retrieve(path), 2000)["m2m:sub"]
    assert current["nct"] == 1 and current["enc"] == {"net": [3]}
    assert current["nu"] == [receiver.url]


def test_notification_follows_the_create_quickly(tree, receiver):
    """The create is answered before delivery and the notification follows within 1 s."""
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    before = time.monotonic()
    ok(tree.cin(cnt, "fast"), 2001)
    got = receiver.wait(1, timeout=3)
    assert got and got[0].at - before < 1.0
