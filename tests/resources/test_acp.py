"""accessControlPolicy (ty=1) and access decisions (TS-0001 §9.6.2, §10.2.3.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.client import TY_ACP, TY_AE, TY_CIN, TY_CNT, expect, unique

C, R, U, D, N, DISC = 1, 2, 4, 8, 16, 32
ALL = 63


def rule(acor: list[str], acop: int, acco: list | None = None) -> dict:
    entry: dict = {"acor": acor, "acop": acop}
    if acco is not None:
        entry["acco"] = acco
    return entry


def make_acp(owner, pv: list[dict], pvs: list[dict] | None = None, rn: str | None = None) -> dict:
    return owner.client.make(
        owner.path,
        TY_ACP,
        {
            "rn": rn or unique("acp"),
            "pv": {"acr": pv},
            "pvs": {"acr": pvs if pvs is not None else [rule([owner.origin], ALL)]},
        },
    )


@pytest.fixture
def owner(register):
    return register()


@pytest.fixture
def other(register):
    return register()


def protected(owner, acp: dict, rn: str = "c") -> str:
    owner.client.make(owner.path, TY_CNT, {"rn": rn, "acpi": [acp["ri"]]})
    return f"{owner.path}/{rn}"


def test_acp_attributes(owner) -> None:
    acp = make_acp(owner, [rule(["Cx"], R)], rn="p")
    assert acp["ty"] == TY_ACP
    assert acp["pv"] == {"acr": [{"acor": ["Cx"], "acop": R}]}
    assert acp["pvs"]["acr"][0]["acor"] == [owner.origin]
    got = owner.client.get(f"{owner.path}/p", TY_ACP)
    assert got["pv"] == acp["pv"] and got["pvs"] == acp["pvs"]


def test_retrieve_privilege_only(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    path = protected(owner, acp)
    assert other.client.get(path, TY_CNT)["rn"] == "c"
    expect(other.client.update(path, TY_CNT, {"lbl": ["x"]}), 4103, 403)
    expect(other.client.create(path, TY_CNT, {"rn": "sub"}), 4103, 403)
    expect(other.client.delete(path), 4103, 403)
    cnt = owner.client.get(path, TY_CNT)
    assert cnt.get("lbl") != ["x"]
    expect(owner.client.retrieve(f"{path}/sub"), 4004, 404)


@pytest.mark.parametrize(
    "acop,allowed",
    [
        (C, {"create"}),
        (R, {"retrieve"}),
        (U, {"update"}),
        (D, {"delete"}),
        (C | R, {"create", "retrieve"}),
        (U | D, {"update", "delete"}),
        (ALL, {"create", "retrieve", "update", "delete"}),
    ],
)
def test_acop_bits(owner, other, acop: int, allowed: set[str]) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], acop)])
    path = protected(owner, acp)
    outcomes = {
        "create": other.client.create(path, TY_CNT, {"rn": "kid"}).rsc,
        "retrieve": other.client.retrieve(path).rsc,
        "update": other.client.update(path, TY_CNT, {"lbl": ["u"]}).rsc,
        "delete": other.client.delete(path).rsc,
    }
    expected = {
        op: {"create": 2001, "retrieve": 2000, "update": 2004, "delete": 2002}[op]
        if op in allowed
        else 4103
        for op in outcomes
    }
    assert outcomes == expected


def test_acor_all_grants_every_originator(owner, register) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule(["all"], R)])
    path = protected(owner, acp)
    for _ in range(2):
        stranger = register()
        assert stranger.client.get(path, TY_CNT)["rn"] == "c"
        expect(stranger.client.delete(path), 4103, 403)


def test_default_policy_is_creator_only(owner, other) -> None:
    owner.client.make(owner.path, TY_CNT, {"rn": "c"})
    path = f"{owner.path}/c"
    assert owner.client.get(path, TY_CNT)["rn"] == "c"
    expect(other.client.retrieve(path), 4103, 403)
    owner.client.make(path, TY_CIN, {"con": "secret"})
    expect(other.client.retrieve(f"{path}/la"), 4103, 403)


def test_admin_has_full_access(m2m, owner) -> None:
    acp = make_acp(owner, [rule([owner.origin], R)], pvs=[rule([owner.origin], ALL)])
    path = protected(owner, acp)
    m2m.make(path, TY_CNT, {"rn": "adm"})
    expect(m2m.update(path, TY_CNT, {"lbl": ["adm"]}), 2004, 200)
    expect(m2m.retrieve(f"{owner.path}/{acp['rn']}"), 2000, 200)
    expect(m2m.delete(path), 2002, 200)


def test_content_instance_is_governed_by_its_parent(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], C | R)])
    path = protected(owner, acp)
    mine = owner.client.make(path, TY_CIN, {"con": "from owner"})
    theirs = other.client.make(path, TY_CIN, {"con": "from other"})
    assert other.client.get(f"/{mine['ri']}", TY_CIN)["con"] == "from owner"
    assert other.client.get(f"{path}/la", TY_CIN)["ri"] == theirs["ri"]
    assert other.client.get(f"{path}/ol", TY_CIN)["ri"] == mine["ri"]
    expect(other.client.delete(f"/{mine['ri']}"), 4103, 403)
    expect(other.client.delete(f"{path}/la"), 4103, 403)
    assert owner.client.get(path, TY_CNT)["cni"] == 2


def test_instance_of_a_retrieve_only_parent_cannot_be_created(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    path = protected(owner, acp)
    expect(other.client.create(path, TY_CIN, {"con": "x"}), 4103, 403)
    assert owner.client.get(path, TY_CNT)["cni"] == 0


def test_time_window_that_covers_now(owner, other) -> None:
    acp = make_acp(
        owner, [rule([owner.origin], ALL), rule([other.origin], R, [{"actw": ["* * * * * *"]}])]
    )
    path = protected(owner, acp)
    expect(other.client.retrieve(path), 2000, 200)


def test_time_window_that_excludes_now(owner, other) -> None:
    hour = (datetime.now(UTC) + timedelta(hours=12)).hour
    acp = make_acp(
        owner,
        [rule([owner.origin], ALL), rule([other.origin], R, [{"actw": [f"* * {hour} * * *"]}])],
    )
    path = protected(owner, acp)
    expect(other.client.retrieve(path), 4103, 403)


def test_acp_itself_is_governed_by_pvs(owner, other) -> None:
    acp = make_acp(owner, [rule(["all"], ALL)], pvs=[rule([owner.origin], ALL)], rn="p")
    path = f"{owner.path}/p"
    # pv grants "all" everything, but the ACP resource itself follows pvs
    expect(other.client.retrieve(path), 4103, 403)
    expect(
        other.client.update(path, TY_ACP, {"pv": {"acr": [rule([other.origin], ALL)]}}), 4103, 403
    )
    expect(other.client.delete(path), 4103, 403)
    assert owner.client.get(path, TY_ACP)["pv"] == acp["pv"]


def test_updating_pv_changes_the_decision(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL)], rn="p")
    path = protected(owner, acp)
    expect(other.client.retrieve(path), 4103, 403)
    expect(
        owner.client.update(
            f"{owner.path}/p",
            TY_ACP,
            {"pv": {"acr": [rule([owner.origin], ALL), rule([other.origin], R)]}},
        ),
        2004,
        200,
    )
    expect(other.client.retrieve(path), 2000, 200)
    expect(
        owner.client.update(
            f"{owner.path}/p", TY_ACP, {"pv": {"acr": [rule([owner.origin], ALL)]}}
        ),
        2004,
        200,
    )
    expect(other.client.retrieve(path), 4103, 403)


def test_setting_acpi_on_an_existing_resource(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    owner.client.make(owner.path, TY_CNT, {"rn": "c"})
    path = f"{owner.path}/c"
    expect(other.client.retrieve(path), 4103, 403)
    expect(owner.client.update(path, TY_CNT, {"acpi": [acp["ri"]]}), 2004, 200)
    expect(other.client.retrieve(path), 2000, 200)


def test_acpi_update_must_be_alone(owner, other) -> None:
    # TS-0001 §9.6.1.3: an UPDATE of acpi shall be the only attribute in the request.
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    owner.client.make(owner.path, TY_CNT, {"rn": "c"})
    path = f"{owner.path}/c"
    expect(owner.client.update(path, TY_CNT, {"acpi": [acp["ri"]], "lbl": ["x"]}), 4000, 400)
    cnt = owner.client.get(path, TY_CNT)
    assert not cnt.get("acpi") and cnt.get("lbl") != ["x"]


def test_acpi_update_is_checked_against_pvs(owner, other) -> None:
    # TS-0001 §9.6.1.3: acpi changes need UPDATE in the pvs of the current policies.
    acp = make_acp(
        owner,
        [rule([owner.origin], ALL), rule([other.origin], ALL)],
        pvs=[rule([owner.origin], ALL)],
    )
    path = protected(owner, acp)
    own = make_acp(other, [rule([other.origin], ALL)])
    expect(other.client.update(path, TY_CNT, {"acpi": [own["ri"]]}), 4103, 403)
    assert owner.client.get(path, TY_CNT)["acpi"] == [acp["ri"]]


def test_multiple_policies_are_combined(owner, other) -> None:
    read = make_acp(owner, [rule([other.origin], R)])
    write = make_acp(owner, [rule([other.origin], U)])
    owner.client.make(owner.path, TY_CNT, {"rn": "c", "acpi": [read["ri"], write["ri"]]})
    path = f"{owner.path}/c"
    expect(other.client.retrieve(path), 2000, 200)
    expect(other.client.update(path, TY_CNT, {"lbl": ["ok"]}), 2004, 200)
    expect(other.client.delete(path), 4103, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"pv": {"acr": [rule(["Cx"], 64)]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [rule(["Cx"], -1)]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [rule(["Cx"], "63")]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [{"acor": "Cx", "acop": 2}]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [{"acop": 2}]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [rule(["Cx"], 2)]}},
        {"pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": "all", "pvs": {"acr": [rule(["Cx"], ALL)]}},
        {"pv": {"acr": [rule(["Cx"], 2)]}, "pvs": {"acr": [rule(["Cx"], ALL)]}, "acpi": []},
        {"pv": {"acr": [rule(["Cx"], 2, [{"actw": 5}])]}, "pvs": {"acr": [rule(["Cx"], ALL)]}},
    ],
)
def test_invalid_acp_is_4000(owner, body: dict) -> None:
    expect(owner.client.create(owner.path, TY_ACP, {"rn": "bad", **body}), 4000, 400)
    expect(owner.client.retrieve(f"{owner.path}/bad"), 4004, 404)


def test_resource_can_reference_only_existing_acps(owner) -> None:
    reply = owner.client.create(owner.path, TY_CNT, {"rn": "c", "acpi": ["acpDoesNotExist"]})
    assert reply.rsc in (4000, 4004) and reply.status in (400, 404), reply
    expect(owner.client.retrieve(f"{owner.path}/c"), 4004, 404)


def test_ae_protected_by_acp_can_be_read_by_others(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    expect(owner.client.update(owner.path, TY_AE, {"acpi": [acp["ri"]]}), 2004, 200)
    assert other.client.get(owner.path, TY_AE)["ri"] == owner.ri
    expect(other.client.delete(owner.path), 4103, 403)


def test_deleting_a_policy_in_use_never_opens_access(owner, other) -> None:
    acp = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)], rn="p")
    path = protected(owner, acp)
    expect(other.client.retrieve(path), 2000, 200)
    expect(owner.client.delete(f"{owner.path}/p"), 2002, 200)
    reply = other.client.retrieve(path)
    expect(reply, 4103, 403)


def test_deleting_the_parent_of_a_policy_in_use_never_opens_access(register, other) -> None:
    keeper, user = register(), register()
    acp = make_acp(keeper, [rule([user.origin], ALL), rule([other.origin], R)])
    path = protected(user, acp)
    expect(other.client.retrieve(path), 2000, 200)
    expect(keeper.client.delete(keeper.path), 2002, 200)
    expect(other.client.retrieve(path), 4103, 403)
