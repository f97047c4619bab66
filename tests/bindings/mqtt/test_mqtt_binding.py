"""The MQTT binding (TS-0010) against a real mosquitto: every operation, registration, error
responses, request expiry, QoS 1 duplicates, ordering and notifications over MQTT."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson

from tests.bindings.mqtt.conftest import (
    ADMIN,
    CSE_RN,
    OP_CREATE,
    OP_DELETE,
    OP_NOTIFY,
    OP_RETRIEVE,
    OP_UPDATE,
    TY_CIN,
    TY_CNT,
    TY_SUB,
    MqttClient,
    ok,
    primitive,
    register_ae,
    unique,
)


def stamp(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y%m%dT%H%M%S")


def create_cnt(mq: MqttClient, parent: str, fr: str, **attrs) -> dict:
    rn = attrs.pop("rn", unique("cnt"))
    body = primitive(OP_CREATE, parent, fr, ty=TY_CNT, pc={"m2m:cnt": {"rn": rn, **attrs}})
    return ok(mq.request(body), 2001)["pc"]["m2m:cnt"]


def assert_alive(mq: MqttClient) -> None:
    """The CSE still answers a plain request over MQTT."""
    ok(mq.request(primitive(OP_RETRIEVE, CSE_RN, ADMIN)), 2000)


# --- registration -----------------------------------------------------------------------------


def test_registration_on_reg_req_answers_on_reg_resp_with_mqtt_poa(mq, cse, broker):
    originator = unique("C")
    ae, response = register_ae(mq, originator)
    assert ae.aei == originator
    assert response["rqi"] and response["to"] == originator
    assert response["fr"] == cse.csi
    # An AE that registers over MQTT without a poa is reached over the CSE's broker.
    assert ae.attrs["poa"] == [broker.url]
    answers = mq.on_topic(f"/oneM2M/reg_resp/{originator}/{cse.cse_id}/json")
    assert len(answers) == 1 and answers[0].json["rsc"] == 2001
    assert not mq.on_topic(f"/oneM2M/resp/{originator}/{cse.cse_id}/json")
    # The AE is a resource like any other: visible over HTTP too.
    http = cse.http_get(ae.path)
    assert http.status_code == 200 and http.json()["m2m:ae"]["aei"] == originator


def test_registration_keeps_an_explicit_poa(mq):
    ae, _ = register_ae(mq, poa=["http://127.0.0.1:9/nowhere"])
    assert ae.attrs["poa"] == ["http://127.0.0.1:9/nowhere"]


def test_second_registration_of_the_same_originator_is_refused(mq):
    originator = unique("C")
    register_ae(mq, originator)
    body = primitive(
        OP_CREATE,
        CSE_RN,
        originator,
        ty=2,
        pc={"m2m:ae": {"rn": unique("ae"), "api": "Nx", "rr": False, "srv": ["3"]}},
    )
    response = mq.request(body, kind="reg_req")
    assert response["rsc"] in (4105, 4117), response


# --- every operation --------------------------------------------------------------------------


def test_create_retrieve_update_delete_over_mqtt(mq, cse):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei, lbl=["city/fire"], mni=10)
    path = f"{ae.path}/{cnt['rn']}"
    assert cnt["pi"] == ae.attrs["ri"]

    got = ok(mq.request(primitive(OP_RETRIEVE, path, ae.aei)), 2000)
    assert got["pc"]["m2m:cnt"]["ri"] == cnt["ri"]
    assert got["pc"]["m2m:cnt"]["lbl"] == ["city/fire"]

    # Addressing by resource ID works as well as by structured path.
    by_ri = ok(mq.request(primitive(OP_RETRIEVE, cnt["ri"], ae.aei)), 2000)
    assert by_ri["pc"]["m2m:cnt"]["rn"] == cnt["rn"]

    updated = mq.request(
        primitive(OP_UPDATE, path, ae.aei, pc={"m2m:cnt": {"lbl": ["city/grid"], "mni": 3}})
    )
    ok(updated, 2004)
    assert updated["pc"]["m2m:cnt"]["lbl"] == ["city/grid"]
    again = ok(mq.request(primitive(OP_RETRIEVE, path, ae.aei)), 2000)["pc"]["m2m:cnt"]
    assert again["lbl"] == ["city/grid"] and again["mni"] == 3
    assert again["lt"] >= cnt["lt"]

    cin = ok(
        mq.request(primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": "21.5"}})),
        2001,
    )["pc"]["m2m:cin"]
    assert cin["con"] == "21.5" and cin["pi"] == cnt["ri"]
    latest = ok(mq.request(primitive(OP_RETRIEVE, f"{path}/la", ae.aei)), 2000)
    assert latest["pc"]["m2m:cin"]["ri"] == cin["ri"]

    ok(mq.request(primitive(OP_DELETE, path, ae.aei)), 2002)
    ok(mq.request(primitive(OP_RETRIEVE, path, ae.aei)), 4004)
    assert cse.http_get(path).status_code == 404


def test_result_content_is_honoured(mq):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei)
    # rcn 0 (nothing): the create succeeds and returns no resource.
    body = primitive(
        OP_CREATE, f"{ae.path}/{cnt['rn']}", ae.aei, ty=TY_CIN, rcn=0, pc={"m2m:cin": {"con": "x"}}
    )
    response = ok(mq.request(body), 2001)
    assert "m2m:cin" not in (response.get("pc") or {}), response


def test_discovery_with_filter_criteria(mq):
    ae, _ = register_ae(mq)
    label = unique("zone/")
    hits = {create_cnt(mq, ae.path, ae.aei, lbl=[label])["rn"] for _ in range(3)}
    create_cnt(mq, ae.path, ae.aei, lbl=["other"])
    body = primitive(OP_RETRIEVE, ae.path, ae.aei, fc={"fu": 1, "lbl": [label], "ty": [TY_CNT]})
    response = ok(mq.request(body), 2000)
    uril = response["pc"]["m2m:uril"]
    assert len(uril) == 3, uril
    assert {uri.rsplit("/", 1)[-1] for uri in uril} == hits

    none = primitive(OP_RETRIEVE, ae.path, ae.aei, fc={"fu": 1, "ty": [TY_SUB]})
    assert ok(mq.request(none), 2000)["pc"]["m2m:uril"] == []


def test_bad_filter_criteria_is_a_bad_request(mq):
    ae, _ = register_ae(mq)
    body = primitive(OP_RETRIEVE, ae.path, ae.aei, fc={"fu": 1, "nosuchfilter": 1})
    ok(mq.request(body), 4000)


def test_sp_relative_originator_in_topic(mq, cse):
    """An originator written SP-relatively (`/id-x/Cabc`) appears as `id-x:Cabc` in topics."""
    ae, _ = register_ae(mq)
    sp_relative = f"{cse.csi}/{ae.aei}"
    topic_id = f"{cse.cse_id}:{ae.aei}"
    body = primitive(OP_RETRIEVE, ae.path, sp_relative)
    response = ok(mq.request(body, sender=topic_id), 2000)
    assert response["pc"]["m2m:ae"]["aei"] == ae.aei
    assert mq.on_topic(f"/oneM2M/resp/{topic_id}/{cse.cse_id}/json")


def test_requests_of_one_sender_run_in_order(mq):
    """Create a container and write 30 instances without waiting: all succeed, in order."""
    ae, _ = register_ae(mq)
    rn = unique("cnt")
    path = f"{ae.path}/{rn}"
    first = mq.send(primitive(OP_CREATE, ae.path, ae.aei, ty=TY_CNT, pc={"m2m:cnt": {"rn": rn}}))
    rqis = [
        mq.send(primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": str(i)}}))
        for i in range(30)
    ]
    ok(mq.response(first), 2001)
    cins = [ok(mq.response(rqi), 2001)["pc"]["m2m:cin"] for rqi in rqis]
    assert [c["con"] for c in cins] == [str(i) for i in range(30)]
    assert [c["ct"] for c in cins] == sorted(c["ct"] for c in cins)
    cnt = ok(mq.request(primitive(OP_RETRIEVE, path, ae.aei)), 2000)["pc"]["m2m:cnt"]
    assert cnt["cni"] == 30
    latest = ok(mq.request(primitive(OP_RETRIEVE, f"{path}/la", ae.aei)), 2000)
    assert latest["pc"]["m2m:cin"]["con"] == "29"


# --- bad input --------------------------------------------------------------------------------


def resp_topic(cse, originator: str, serialization: str = "json") -> str:
    return f"/oneM2M/resp/{originator}/{cse.cse_id}/{serialization}"


def test_payload_that_is_not_json_is_answered_4000(mq, cse):
    sender = unique("C")
    mq.publish(mq.topic(sender), b"{this is not json")
    found = mq.wait_for(lambda m: m.topic == resp_topic(cse, sender))
    assert found, "no error response for a non-JSON payload"
    assert found[0].json["rsc"] == 4000
    assert "m2m:dbg" in found[0].json.get("pc", {})
    assert_alive(mq)


def test_primitive_without_rqi_is_answered_4000(mq, cse):
    sender = unique("C")
    mq.publish(mq.topic(sender), {"op": OP_RETRIEVE, "to": CSE_RN, "fr": sender, "rvi": "3"})
    found = mq.wait_for(lambda m: m.topic == resp_topic(cse, sender))
    assert found and found[0].json["rsc"] == 4000, found
    assert_alive(mq)


def test_primitive_without_op_is_answered_4000_with_its_rqi(mq, cse):
    sender = unique("C")
    rqi = unique("rq")
    mq.publish(mq.topic(sender), {"to": CSE_RN, "fr": sender, "rqi": rqi, "rvi": "3"})
    response = mq.response(rqi)
    assert response["rsc"] == 4000
    assert mq.on_topic(resp_topic(cse, sender))
    assert_alive(mq)


def test_payload_that_is_a_json_array_is_answered_4000(mq, cse):
    sender = unique("C")
    mq.publish(mq.topic(sender), b"[1, 2, 3]")
    found = mq.wait_for(lambda m: m.topic == resp_topic(cse, sender))
    assert found and found[0].json["rsc"] == 4000, found
    assert_alive(mq)


def test_unknown_target_is_answered_4004(mq):
    ae, _ = register_ae(mq)
    response = mq.request(primitive(OP_RETRIEVE, f"{ae.path}/{unique('nothing')}", ae.aei))
    ok(response, 4004)
    assert response["to"] == ae.aei


def test_topic_originator_must_match_fr(mq, cse):
    victim, _ = register_ae(mq)
    intruder = unique("C")
    rn = unique("cnt")
    # The topic says `intruder`, the primitive claims to come from the victim AE.
    body = primitive(OP_CREATE, victim.path, victim.aei, ty=TY_CNT, pc={"m2m:cnt": {"rn": rn}})
    response = mq.request(body, sender=intruder)
    ok(response, 4000)
    assert mq.on_topic(resp_topic(cse, intruder)), "the error goes to the topic's originator"
    assert not mq.on_topic(resp_topic(cse, victim.aei)), "nothing is sent to the claimed fr"
    # Not executed.
    ok(mq.request(primitive(OP_RETRIEVE, f"{victim.path}/{rn}", victim.aei)), 4004)


def test_unsupported_serialization_is_answered_4015(mq, cse):
    sender = unique("C")
    rqi = unique("rq")
    mq.publish(mq.topic(sender, serialization="xml"), b"<m2m:rqp><op>2</op></m2m:rqp>")
    found = mq.wait_for(lambda m: m.kind == "resp" and m.topic.split("/")[3] == sender)
    assert found, "no response for an /xml request"
    assert found[0].json["rsc"] == 4015
    # A JSON primitive on an /xml topic is refused too, and not executed.
    ae, _ = register_ae(mq)
    rn = unique("cnt")
    body = primitive(OP_CREATE, ae.path, ae.aei, rqi=rqi, ty=TY_CNT, pc={"m2m:cnt": {"rn": rn}})
    mq.publish(mq.topic(ae.aei, serialization="xml"), body)
    found = mq.wait_for(lambda m: m.kind == "resp" and m.topic.split("/")[3] == ae.aei)
    assert found and found[0].json["rsc"] == 4015, found
    ok(mq.request(primitive(OP_RETRIEVE, f"{ae.path}/{rn}", ae.aei)), 4004)
    assert_alive(mq)


def test_create_without_content_is_answered_4000(mq):
    ae, _ = register_ae(mq)
    ok(mq.request(primitive(OP_CREATE, ae.path, ae.aei, ty=TY_CNT)), 4000)


def test_a_burst_of_garbage_leaves_the_cse_serving(mq, cse):
    sender = unique("C")
    for payload in (b"", b"\xff\xfe", b"null", b"42", b'{"op": "x"}', b'{"rqi": 5}') * 5:
        mq.publish(mq.topic(sender), payload)
    found = mq.wait_for(lambda m: m.topic == resp_topic(cse, sender), count=30)
    assert len(found) == 30, f"{len(found)} of 30 error responses"
    assert all(m.json["rsc"] == 4000 for m in found)
    assert cse.alive()
    assert_alive(mq)


# --- expiry and duplicates --------------------------------------------------------------------


def test_expired_request_is_answered_4008_and_not_executed(mq):
    ae, _ = register_ae(mq)
    rn = unique("cnt")
    body = primitive(
        OP_CREATE,
        ae.path,
        ae.aei,
        ty=TY_CNT,
        rqet=stamp(timedelta(seconds=-30)),
        pc={"m2m:cnt": {"rn": rn}},
    )
    ok(mq.request(body), 4008)
    ok(mq.request(primitive(OP_RETRIEVE, f"{ae.path}/{rn}", ae.aei)), 4004)
    # A request that expires in the future is executed.
    body = primitive(
        OP_CREATE,
        ae.path,
        ae.aei,
        ty=TY_CNT,
        rqet=stamp(timedelta(minutes=5)),
        pc={"m2m:cnt": {"rn": rn}},
    )
    ok(mq.request(body), 2001)


def test_qos1_duplicate_is_answered_again_but_executed_once(mq):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei)
    path = f"{ae.path}/{cnt['rn']}"
    body = primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": "once"}})
    payload = orjson.dumps(body)
    for _ in range(3):
        mq.publish(mq.topic(ae.aei), payload)
    found = mq.wait_for(
        lambda m: m.kind == "resp" and m.json.get("rqi") == body["rqi"], timeout=10, count=3
    )
    assert len(found) == 3, f"every copy is answered: got {len(found)}"
    answers = [m.json for m in found]
    assert all(a["rsc"] == 2001 for a in answers), answers
    assert len({a["pc"]["m2m:cin"]["ri"] for a in answers}) == 1, "one resource, same answer"
    container = ok(mq.request(primitive(OP_RETRIEVE, path, ae.aei)), 2000)["pc"]["m2m:cnt"]
    assert container["cni"] == 1, container


def test_same_rqi_from_different_senders_is_not_a_duplicate(mq):
    first, _ = register_ae(mq)
    second, _ = register_ae(mq)
    rqi = unique("shared")
    for ae in (first, second):
        mq.send(primitive(OP_RETRIEVE, ae.path, ae.aei, rqi=rqi))
    found = mq.wait_for(lambda m: m.kind == "resp" and m.json.get("rqi") == rqi, count=2)
    answers = [m.json for m in found]
    assert len(answers) == 2, answers
    assert all(a["rsc"] == 2000 for a in answers), answers
    assert {a["pc"]["m2m:ae"]["aei"] for a in answers} == {first.aei, second.aei}


# --- notifications ----------------------------------------------------------------------------


def test_notification_to_an_ae_registered_over_mqtt(mq, cse):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei)
    path = f"{ae.path}/{cnt['rn']}"
    sub = primitive(
        OP_CREATE,
        path,
        ae.aei,
        ty=TY_SUB,
        pc={"m2m:sub": {"rn": "s", "nu": [ae.aei], "nct": 1, "enc": {"net": [3]}}},
    )
    sub_ri = ok(mq.request(sub), 2001)["pc"]["m2m:sub"]["ri"]
    ok(
        mq.request(primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": "fire"}})),
        2001,
    )
    topic = f"/oneM2M/req/{cse.cse_id}/{ae.aei}/json"
    found = mq.wait_for(lambda m: m.topic == topic, timeout=10)
    assert found, f"no notification on {topic}"
    notify = found[-1].json
    assert notify["op"] == OP_NOTIFY
    assert notify["fr"] == cse.csi
    assert notify["to"] == ae.aei
    assert notify["rqi"]
    sgn = notify["pc"]["m2m:sgn"]
    assert sgn.get("vrq") is not True
    assert sgn["nev"]["rep"]["m2m:cin"]["con"] == "fire"
    assert sgn["sur"].endswith(sub_ri)


def test_notification_to_an_mqtt_url_with_a_topic(mq, cse, broker):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei)
    path = f"{ae.path}/{cnt['rn']}"
    topic = f"city/alarms/{unique('t')}"
    mq.subscribe(topic)
    nu = f"mqtt://{broker.host}:{broker.port}/{topic}"
    sub = primitive(
        OP_CREATE,
        path,
        ae.aei,
        ty=TY_SUB,
        pc={"m2m:sub": {"rn": "s", "nu": [nu], "enc": {"net": [3]}}},
    )
    ok(mq.request(sub), 2001)
    # The target was verified before the subscription was created (TS-0004 7.5.1.2.3).
    verification = mq.wait_for(lambda m: m.topic == topic, timeout=10)
    assert verification, "no verification request on the nu topic"
    assert verification[0].json["op"] == OP_NOTIFY
    assert verification[0].json["pc"]["m2m:sgn"]["vrq"] is True
    for value in ("a", "b", "c"):
        ok(
            mq.request(
                primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": value}})
            ),
            2001,
        )
    found = mq.wait_for(lambda m: m.topic == topic, timeout=10, count=4)
    assert len(found) == 4, [m.json for m in found]
    events = [m.json["pc"]["m2m:sgn"] for m in found[1:]]
    assert [e["nev"]["rep"]["m2m:cin"]["con"] for e in events] == ["a", "b", "c"]
    assert all(m.json["fr"] == cse.csi for m in found)


def test_mqtt_url_of_another_broker_is_refused(mq, cse):
    ae, _ = register_ae(mq)
    cnt = create_cnt(mq, ae.path, ae.aei)
    nu = "mqtt://127.0.0.1:9/elsewhere"  # not the broker this CSE is connected to
    sub = primitive(
        OP_CREATE, f"{ae.path}/{cnt['rn']}", ae.aei, ty=TY_SUB, pc={"m2m:sub": {"nu": [nu]}}
    )
    response = mq.request(sub)
    assert response["rsc"] != 2001 and response["rsc"] >= 4000, response
    assert cse.alive()


def test_ae_without_request_reachability_gets_no_mqtt_notification(mq, cse):
    ae, _ = register_ae(mq, rr=False)
    cnt = create_cnt(mq, ae.path, ae.aei)
    path = f"{ae.path}/{cnt['rn']}"
    ok(
        mq.request(
            primitive(
                OP_CREATE,
                path,
                ae.aei,
                ty=TY_SUB,
                pc={"m2m:sub": {"nu": [ae.aei], "enc": {"net": [3]}}},
            )
        ),
        2001,
    )
    ok(
        mq.request(primitive(OP_CREATE, path, ae.aei, ty=TY_CIN, pc={"m2m:cin": {"con": "1"}})),
        2001,
    )
    time.sleep(1.5)
    assert not mq.on_topic(f"/oneM2M/req/{cse.cse_id}/{ae.aei}/json")


def test_registration_with_an_assigned_ae_id(mq, cse):
    """`fr` = `C` asks the registrar for an AE-ID; the answer goes to the credential's topic."""
    credential = unique("cred")
    body = primitive(
        OP_CREATE,
        CSE_RN,
        "C",
        ty=2,
        pc={"m2m:ae": {"rn": unique("ae"), "api": "Nx", "rr": False, "srv": ["3"]}},
    )
    response = mq.request(body, kind="reg_req", sender=credential)
    ok(response, 2001)
    aei = response["pc"]["m2m:ae"]["aei"]
    assert aei.startswith("C") and len(aei) > 1, aei
    assert mq.on_topic(f"/oneM2M/reg_resp/{credential}/{cse.cse_id}/json")
