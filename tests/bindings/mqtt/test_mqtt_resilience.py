"""The MQTT binding when things move: a broker restart in the middle of traffic, a CSE
restart with requests waiting in its persistent session, and two workers sharing the
request topic through an MQTT 5 shared subscription."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.bindings.mqtt.conftest import (
    OP_CREATE,
    OP_RETRIEVE,
    TY_CIN,
    TY_CNT,
    MqttClient,
    MqttCse,
    launch_cse,
    ok,
    primitive,
    private_broker,
    register_ae,
    restart_cse,
    retire_cse,
    unique,
)


def make_container(client: MqttClient) -> tuple[str, str]:
    ae, _ = register_ae(client)
    rn = unique("cnt")
    body = primitive(
        OP_CREATE, ae.path, ae.aei, ty=TY_CNT, pc={"m2m:cnt": {"rn": rn, "mni": 1_000_000}}
    )
    ok(client.request(body), 2001)
    return ae.aei, f"{ae.path}/{rn}"


def container_cni(client: MqttClient, path: str, originator: str) -> int:
    response = ok(client.request(primitive(OP_RETRIEVE, path, originator), timeout=20), 2000)
    return response["pc"]["m2m:cnt"]["cni"]


def cin(path: str, originator: str, con: str | None = None) -> dict:
    body = primitive(OP_CREATE, path, originator, ty=TY_CIN, pc={"m2m:cin": {"con": ""}})
    body["pc"]["m2m:cin"]["con"] = con or body["rqi"]
    return body


def times_executed(client: MqttClient, path: str, originator: str, rqi: str) -> int:
    """How many content instances carry this request's rqi as their content."""
    body = primitive(OP_RETRIEVE, path, originator, fc={"fu": 1, "ty": [TY_CIN], "con": rqi})
    return len(ok(client.request(body, timeout=20), 2000)["pc"]["m2m:uril"])


def answered(client: MqttClient) -> dict[str, list[dict]]:
    """Every response the client got, by rqi."""
    out: dict[str, list[dict]] = {}
    with client.cond:
        for message in client.messages:
            if message.kind == "resp":
                body = message.json
                out.setdefault(body.get("rqi", ""), []).append(body)
    return out


NO_MATCHING_SUBSCRIBERS = 16  # MQTT 5 PUBACK reason code 0x10


@dataclass
class RestartRun:
    """What happened when the broker was restarted in the middle of traffic."""

    cse: MqttCse
    client: MqttClient
    originator: str
    path: str
    order: list[str]  # rqis in publish order
    acked: dict[str, int]  # rqi -> PUBACK reason code
    replies: dict[str, list[dict]]
    cni: int
    cse_reconnected: bool
    client_reconnected: bool

    def positions(self, rqis: set[str]) -> list[int]:
        return [i for i, rqi in enumerate(self.order) if rqi in rqis]


@pytest.fixture(scope="module")
def restart_run() -> Iterator[RestartRun]:
    """One run: 400 creates at 100/s; the private broker is stopped after 1 s and started
    again 1.5 s later on the same port, with its persistence. Then everything settles."""
    with private_broker() as own:
        broker = own.info
        cse = launch_cse(broker)
        client = MqttClient(broker, cse.cse_id, persistent=True)
        try:
            originator, path = make_container(client)
            sent: dict[int, str] = {}
            order: list[str] = []

            def traffic() -> None:
                for _ in range(400):
                    body = cin(path, originator)
                    info = client.publish(client.topic(originator), body)
                    sent[info.mid] = body["rqi"]
                    order.append(body["rqi"])
                    time.sleep(0.01)

            sender = threading.Thread(target=traffic)
            sender.start()
            time.sleep(1.0)
            own.stop()
            time.sleep(1.5)
            own.start()
            # A second connection publishes a burst the moment the broker is back: the
            # CSE (reconnect backoff >= 1 s) has not resubscribed yet.
            burst = MqttClient(broker, cse.cse_id, persistent=True)
            burst_sent: dict[int, str] = {}
            for _ in range(30):
                body = cin(path, originator)
                burst_sent[burst.publish(burst.topic(originator), body).mid] = body["rqi"]
            sender.join(timeout=30)
            assert not sender.is_alive()
            order += list(burst_sent.values())
            sources = ((client, sent), (burst, burst_sent))

            def acknowledged() -> dict[str, int]:
                out = {}
                for source, mids in sources:
                    with source.cond:
                        out.update({mids[m]: r for m, r in source.ack_reasons.items() if m in mids})
                return out

            def all_replies() -> dict[str, list[dict]]:
                return {**answered(client), **answered(burst)}

            # Wait until every request acknowledged without reservation is answered.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                acked = acknowledged()
                success = {rqi for rqi, reason in acked.items() if reason == 0}
                if len(acked) == len(order) and success <= set(all_replies()):
                    break
                time.sleep(0.25)
            time.sleep(1.0)  # late duplicates
            try:
                yield RestartRun(
                    cse=cse,
                    client=client,
                    originator=originator,
                    path=path,
                    order=order,
                    acked=acknowledged(),
                    replies=all_replies(),
                    cni=container_cni(client, path, originator),
                    cse_reconnected=cse.log_tail(10_000_000).count("event=mqtt_connected ") >= 2,
                    client_reconnected=client.connects >= 2,
                )
            finally:
                burst.close()
        finally:
            client.close()
            retire_cse(cse)


def test_broker_restart_cse_reconnects_and_answers(restart_run):
    run = restart_run
    assert run.client_reconnected, "the test client did not see the broker go away"
    assert run.cse_reconnected, "the CSE did not reconnect"
    assert run.cse.alive()
    assert len(run.acked) >= 300, f"only {len(run.acked)} of {len(run.order)} acknowledged"
    # New requests after the restart are served.
    ok(run.client.request(primitive(OP_RETRIEVE, run.path, run.originator)), 2000)


def test_broker_restart_no_request_executed_twice(restart_run):
    run = restart_run
    for rqi in run.order:
        replies = run.replies.get(rqi, [])
        if not replies:
            continue
        assert {r["rsc"] for r in replies} == {2001}, f"{rqi}: {replies}"
        ris = {r["pc"]["m2m:cin"]["ri"] for r in replies}
        assert len(ris) == 1, f"{rqi} executed more than once: {ris}"
    # Requests that were never answered must not have run either: cni counts exactly the
    # answered requests (a second execution would add an instance nobody was told about).
    executed = {rqi for rqi in run.order if rqi in run.replies}
    assert run.cni == len(executed), f"cni {run.cni} != {len(executed)} answered requests"


def test_broker_restart_requests_acknowledged_with_success_are_executed(restart_run):
    run = restart_run
    success = {rqi for rqi, reason in run.acked.items() if reason == 0}
    missing = success - set(run.replies)
    assert not missing, (
        f"{len(missing)} of {len(success)} requests acknowledged with PUBACK 'Success' were "
        f"never answered (publish positions {run.positions(missing)[:20]}...); executed: "
        + ", ".join(
            str(times_executed(run.client, run.path, run.originator, rqi))
            for rqi in sorted(missing)[:5]
        )
    )


def test_broker_restart_no_acknowledged_request_is_lost(restart_run):
    """Every request the broker acknowledged (any PUBACK) is executed and answered.

    A request the broker acknowledges with 'No matching subscribers' had no subscriber at
    the time: after the restart, mosquitto has restored the CSE's persistent session but
    not its shared subscription, so requests published before the CSE resubscribes go
    nowhere."""
    run = restart_run
    missing = set(run.acked) - set(run.replies)
    no_subscriber = {rqi for rqi in missing if run.acked[rqi] == NO_MATCHING_SUBSCRIBERS}
    assert not missing, (
        f"{len(missing)} of {len(run.acked)} acknowledged requests were never executed or "
        f"answered; {len(no_subscriber)} of them were acknowledged with 'No matching "
        f"subscribers' (the CSE's $share subscription did not survive the broker restart); "
        f"publish positions {run.positions(missing)[:5]}..{run.positions(missing)[-1:]} of "
        f"{len(run.order)}"
    )


def test_requests_wait_in_the_session_while_the_cse_restarts(broker, cse_factory):
    """Clean session false: requests published while the CSE is down are delivered to it
    when it comes back with the same client ID, and executed once."""
    cse = cse_factory()
    client = MqttClient(broker, cse.cse_id)
    try:
        originator, path = make_container(client)
        cse.stop()
        with client.cond:
            before = len(client.acked)
        rqis = [client.send(cin(path, originator)) for _ in range(20)]
        with client.cond:
            assert client.cond.wait_for(lambda: len(client.acked) >= before + 20, 10)
        assert not answered(client).keys() & set(rqis), "answered while the CSE was down?"
        restart_cse(cse)
        for rqi in rqis:
            ok(client.response(rqi, timeout=20), 2001)
        assert container_cni(client, path, originator) == 20
    finally:
        client.close()


@pytest.fixture(scope="module")
def two_workers(broker) -> Iterator[MqttCse]:
    cse = launch_cse(broker, workers=2)
    yield cse
    retire_cse(cse)


def test_two_workers_execute_each_request_once(broker, two_workers):
    cse = two_workers
    # Each worker holds its own client-ID slot (C::<cse-id> and C::<cse-id>::1).
    assert cse.slot_held(0) and cse.slot_held(1), "two workers, two MQTT client slots"
    assert not cse.slot_held(2)
    client = MqttClient(broker, cse.cse_id)
    try:
        containers = [make_container(client) for _ in range(6)]
        rqis: list[str] = []
        for round_ in range(20):
            for originator, path in containers:
                rqis.append(client.send(cin(path, originator, con=f"{round_}")))
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not set(rqis) <= set(answered(client)):
            time.sleep(0.2)
        time.sleep(1.0)  # let any second answer arrive
        replies = answered(client)
        missing = [rqi for rqi in rqis if rqi not in replies]
        assert not missing, f"{len(missing)} of {len(rqis)} requests never answered"
        twice = [rqi for rqi in rqis if len(replies[rqi]) != 1]
        assert not twice, f"{len(twice)} requests answered more than once: {twice[:3]}"
        failed = [replies[rqi][0] for rqi in rqis if replies[rqi][0]["rsc"] != 2001]
        assert not failed, f"{len(failed)} failed, e.g. {failed[:2]}"
        total = sum(container_cni(client, path, originator) for originator, path in containers)
        assert total == len(rqis), f"sum of cni {total} != {len(rqis)} requests"
    finally:
        client.close()


def test_two_workers_duplicate_is_executed_once(broker, two_workers):
    """A request published again with the same rqi (a QoS 1 redelivery, a client resend)
    may reach the other worker through the shared subscription: it must still run once."""
    client = MqttClient(broker, two_workers.cse_id)
    try:
        originator, path = make_container(client)
        bodies = [cin(path, originator) for _ in range(4)]
        for body in bodies:
            for _ in range(3):
                client.send(body)
        for body in bodies:
            found = client.wait_for(
                lambda m, rqi=body["rqi"]: m.kind == "resp" and m.json.get("rqi") == rqi,
                count=3,
            )
            assert len(found) == 3, f"every copy is answered: {len(found)} of 3"
            ris = {m.json["pc"]["m2m:cin"]["ri"] for m in found if m.json["rsc"] == 2001}
            assert len(ris) == 1, f"{body['rqi']} executed {len(ris)} times: {ris}"
        assert container_cni(client, path, originator) == len(bodies)
    finally:
        client.close()


def test_every_broker_restart_is_followed_by_a_prompt_reconnect():
    """The reconnect backoff starts afresh once the broker took a connection: after each
    of three restarts in a row the CSE is back within a few seconds, not after 4, 8, 16."""
    with private_broker() as own:
        cse = launch_cse(own.info)
        try:
            for restart in range(1, 4):
                own.stop()
                time.sleep(1.5)
                own.start()
                back = time.monotonic()
                while cse.log_tail(10_000_000).count("event=mqtt_connected ") < restart + 1:
                    assert time.monotonic() - back < 5.0, f"no reconnect after restart {restart}"
                    time.sleep(0.1)
            client = MqttClient(own.info, cse.cse_id)
            try:
                originator, path = make_container(client)
                ok(client.request(cin(path, originator)), 2001)
            finally:
                client.close()
        finally:
            retire_cse(cse)
