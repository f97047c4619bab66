"""Delivery: order per target, a target that is down and comes back, a CSE restart with
pending notifications, slow targets, retries with the same request ID, drops, /metrics."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import httpx
import pytest

from tests.notifications.conftest import (
    M2M,
    Tree,
    cons,
    metrics,
    ok,
    wait_until,
)


def _first_occurrences(values: list) -> list:
    seen, out = set(), []
    for value in values:
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def _assert_no_foreign_duplicates(got) -> None:
    """At-least-once: a notification may come twice, but then with the same X-M2M-RI."""
    by_con = defaultdict(set)
    for r in got:
        by_con[repr(r.sgn["nev"]["rep"]["m2m:cin"]["con"])].add(r.rqi)
    mixed = {con: ris for con, ris in by_con.items() if len(ris) != 1}
    assert not mixed, f"one notification arrived under several request IDs: {mixed}"
    ris = [next(iter(v)) for v in by_con.values()]
    assert len(set(ris)) == len(ris), "two different notifications share a request ID"


def test_order_is_kept_per_target(tree, receiver, receiver_factory):
    other = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url, other.url], enc={"net": [3]})
    for i in range(40):
        ok(tree.cin(cnt, i), 2001)
    assert cons(receiver.wait(40)) == list(range(40))
    assert cons(other.wait(40)) == list(range(40))


def test_order_is_kept_under_concurrent_creates(tree, receiver):
    """Creates from 8 threads: the receiver sees each container's notifications in the
    order of the containers' `cni`/creation (per-target order = commit order)."""
    ae = tree.ae()
    containers = [tree.cnt(ae.path) for _ in range(8)]
    for cnt in containers:
        tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    errors: list = []

    def worker(cnt: str, k: int) -> None:
        client = M2M(tree.cse)
        try:
            for i in range(15):
                reply = Tree(tree.cse, client).cin(cnt, f"{k}:{i}")
                if reply.rsc != 2001:
                    errors.append(reply)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(c, k)) for k, c in enumerate(containers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    got = receiver.wait(120, timeout=15)
    assert len(got) == 120
    for k in range(8):
        mine = [c for c in cons(got) if c.startswith(f"{k}:")]
        assert mine == [f"{k}:{i}" for i in range(15)], mine


def test_receiver_down_and_back_loses_nothing(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    ok(tree.cin(cnt, "before"), 2001)
    receiver.wait(1)
    receiver.down()
    for i in range(10):
        ok(tree.cin(cnt, i), 2001)
    time.sleep(1.5)  # several failed attempts
    receiver.up()
    got = receiver.wait(11, timeout=15)
    assert _first_occurrences(cons(got)) == ["before", *range(10)]
    _assert_no_foreign_duplicates(got)
    counters = wait_until(
        lambda: (
            (m := metrics(tree.cse.url)).get(
                ("citycse_notifications_delivered_total", sub["ri"]), 0
            )
            >= 11
            and m
        ),
        5,
    )
    assert counters, "delivered counter never reached 11"
    assert counters[("citycse_notifications_retried_total", sub["ri"])] >= 1
    assert counters[("citycse_notifications_dropped_total", sub["ri"])] == 0


def test_retries_keep_the_request_id(tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    receiver.mode = "fail"
    ok(tree.cin(cnt, "again and again"), 2001)
    assert wait_until(lambda: len(receiver.notifications()) >= 3, 8), "fewer than 3 attempts"
    receiver.mode = "ok"
    before = len(receiver.notifications())
    wait_until(lambda: len(receiver.notifications()) > before, 5)
    got = receiver.notifications()
    assert len(got) > before, "never retried after the target recovered"
    # success stops the retries (the backoff is at most 0.5 s here)
    assert len(receiver.quiet(1.0)) == len(got)
    assert len({r.rqi for r in got}) == 1, {r.rqi for r in got}


def test_slow_target_delays_neither_the_create_nor_a_fast_target(tree, receiver_factory):
    slow = receiver_factory(mode="slow", delay=0.8)
    slow.verification_mode = "ok"
    fast = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [slow.url], enc={"net": [3], "chty": [4]})
    tree.sub_ok(cnt, [fast.url], enc={"net": [3], "chty": [4]})
    durations = []
    start = time.monotonic()
    for i in range(4):
        t0 = time.monotonic()
        ok(tree.cin(cnt, i), 2001)
        durations.append(time.monotonic() - t0)
    got = fast.wait(4, timeout=3)
    assert cons(got) == [0, 1, 2, 3]
    assert got[-1].at - start < 1.0, "the fast target waited for the slow one"
    assert max(durations) < 0.5, f"creates took {durations}"
    assert len(slow.notifications()) <= 1  # the slow one is still busy
    assert cons(slow.wait(4, timeout=15)) == [0, 1, 2, 3]


def test_dead_target_does_not_delay_a_live_one(tree, receiver, receiver_factory):
    dead = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [dead.url], enc={"net": [3]})
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    dead.down()
    start = time.monotonic()
    for i in range(5):
        ok(tree.cin(cnt, i), 2001)
    got = receiver.wait(5, timeout=3)
    assert cons(got) == list(range(5))
    assert got[-1].at - start < 1.0


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_restart_with_pending_notifications(cse, tree, receiver, how):
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    receiver.down()
    for i in range(12):
        ok(tree.cin(cnt, i), 2001)
    time.sleep(0.6)
    cse.stop(kill=how == "sigkill")
    receiver.up()
    time.sleep(0.3)
    assert receiver.notifications() == []  # nobody sends while the CSE is down
    cse.start()
    got = receiver.wait(12, timeout=15)
    time.sleep(0.5)
    got = receiver.notifications()
    assert _first_occurrences(cons(got)) == list(range(12))
    _assert_no_foreign_duplicates(got)


def test_restart_while_target_is_slow(cse, tree, receiver_factory):
    """Notifications in flight when the CSE dies are delivered again after the restart,
    with the same request ID."""
    slow = receiver_factory(mode="slow", delay=1.0)
    slow.verification_mode = "ok"
    cnt = tree.cnt(tree.ae().path)
    tree.sub_ok(cnt, [slow.url], enc={"net": [3]})
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    time.sleep(0.3)
    cse.stop(kill=True)
    slow.mode = "ok"
    cse.start()
    got = slow.wait(3, timeout=15)
    time.sleep(0.5)
    got = slow.notifications()
    assert _first_occurrences(cons(got)) == [0, 1, 2]
    assert cons(got).count(0) >= 2, "the notification in flight was not sent again"
    _assert_no_foreign_duplicates(got)


def test_retry_window_then_drop_is_counted(cse_factory, receiver):
    cse = cse_factory({"CITYCSE_NOTIFICATION_RETRY_SECONDS": "1.5"})
    client = M2M(cse)
    try:
        tree = Tree(cse, client)
        cnt = tree.cnt(tree.ae().path)
        sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
        receiver.mode = "fail"
        ok(tree.cin(cnt, "lost"), 2001)
        key = ("citycse_notifications_dropped_total", sub["ri"])
        counters = wait_until(lambda: (m := metrics(cse.url)).get(key, 0) >= 1 and m, 8)
        assert counters, f"never dropped: {metrics(cse.url)}"
        assert counters[key] == 1
        assert counters[("citycse_notifications_retried_total", sub["ri"])] >= 1
        assert counters.get(("citycse_notifications_delivered_total", sub["ri"]), 0) == 0
        attempts = len(receiver.notifications())
        assert attempts >= 2
        assert len(receiver.quiet(1.2)) == attempts, "still retried after the drop"
        receiver.mode = "ok"
        ok(tree.cin(cnt, "kept"), 2001)
        assert cons(receiver.wait(attempts + 1))[-1] == "kept"
        counters = wait_until(
            lambda: (
                (m := metrics(cse.url)).get(("citycse_notifications_delivered_total", sub["ri"]), 0)
                == 1
                and m
            ),
            5,
        )
        assert counters, metrics(cse.url)
        assert counters[key] == 1
    finally:
        client.close()


def test_metrics_count_per_subscription(tree, receiver, receiver_factory):
    other = receiver_factory()
    cnt = tree.cnt(tree.ae().path)
    a = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    b = tree.sub_ok(cnt, [other.url], enc={"net": [3], "chty": [4]})
    for i in range(3):
        ok(tree.cin(cnt, i), 2001)
    receiver.wait(4)  # 1 (sub b created) + 3
    other.wait(3)

    def counts():
        m = metrics(tree.cse.url)
        return (
            m.get(("citycse_notifications_delivered_total", a["ri"])),
            m.get(("citycse_notifications_delivered_total", b["ri"])),
        )

    assert wait_until(lambda: counts() == (4.0, 3.0), 5), counts()
    text = httpx.get(f"{tree.cse.url}/metrics")
    assert text.headers["content-type"].startswith("text/plain")
    assert "# TYPE citycse_notifications_delivered_total counter" in text.text


def test_a_failure_inside_a_pipeline_resends_the_later_ones_after_it(cse, tree, receiver):
    """A target that holds its first answer lets the others queue up; they go out in one
    pipeline. The one the target fails is retried, and the ones sent after it in the same
    pipeline come again after it, with their request IDs: the last arrival of each is in
    order, and each is counted delivered once."""
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    receiver.gate = threading.Event()
    receiver.fail_once.add(15)
    for i in range(20):
        ok(tree.cin(cnt, i), 2001)
    receiver.gate.set()
    wait_until(lambda: (r := cons(receiver.notifications())).count(15) == 2 and r[-1] == 19, 15)
    got = receiver.notifications()
    received = cons(got)
    last_arrivals = sorted(
        set(received), key=lambda con: max(k for k, value in enumerate(received) if value == con)
    )
    assert last_arrivals == list(range(20)), received
    assert received.count(15) == 2
    assert received.count(16) == 2, f"16 was not pipelined behind 15: {received}"
    _assert_no_foreign_duplicates(got)
    key = ("citycse_notifications_delivered_total", sub["ri"])
    counters = wait_until(lambda: (m := metrics(cse.url)).get(key) == 20 and m, 5)
    assert counters, metrics(cse.url)
    assert counters[("citycse_notifications_retried_total", sub["ri"])] == 1


def test_counters_survive_a_restart(cse, tree, receiver):
    cnt = tree.cnt(tree.ae().path)
    sub = tree.sub_ok(cnt, [receiver.url], enc={"net": [3]})
    for i in range(5):
        ok(tree.cin(cnt, i), 2001)
    receiver.wait(5)
    key = ("citycse_notifications_delivered_total", sub["ri"])
    assert wait_until(lambda: metrics(cse.url).get(key) == 5, 5), metrics(cse.url)
    cse.stop()
    cse.start()
    assert metrics(cse.url).get(key) == 5
    ok(tree.cin(cnt, 5), 2001)
    assert cons(receiver.wait(6)) == list(range(6))
    assert wait_until(lambda: metrics(cse.url).get(key) == 6, 5), metrics(cse.url)
