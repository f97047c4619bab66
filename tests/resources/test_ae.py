"""The AE resource (ty=2) and AE registration (TS-0001 §10.2.2.2, TS-0004 §7.4.5.2.1)."""

from __future__ import annotations

import pytest

from tests.support.client import M2M, TY_AE, TY_CNT, expect, unique


def ae_body(rn: str | None = None, **attrs) -> dict:
    body = {"api": "Ntest.citycse", "rr": False, "srv": ["3"], **attrs}
    if rn:
        body["rn"] = rn
    return body


def test_register_with_a_c_originator(m2m: M2M) -> None:
    origin, rn = unique("C"), unique("ae")
    reply = expect(m2m.create(m2m.cse_rn, TY_AE, ae_body(rn), origin=origin), 2001, 201)
    ae = reply.res("m2m:ae")
    assert ae["ri"] == origin  # TS-0001 §7.2: the AE's ri is its AE-ID-Stem
    assert ae["aei"] in (origin, f"/id-in/{origin}")
    assert ae["rn"] == rn and ae["api"] == "Ntest.citycse" and ae["rr"] is False
    assert ae["ty"] == TY_AE
    # the AE may now act as itself
    assert m2m.get(f"{m2m.cse_rn}/{rn}", TY_AE, origin=origin)["ri"] == origin


def test_register_with_an_s_originator(m2m: M2M) -> None:
    origin = unique("S")
    ae = m2m.make(m2m.cse_rn, TY_AE, ae_body(unique("ae")), origin=origin)
    assert ae["ri"] == origin
    assert ae["aei"].endswith(origin)


@pytest.mark.parametrize("stem", ["C", "S"])
def test_register_with_bare_c_or_s_gets_an_assigned_ae_id(m2m: M2M, stem: str) -> None:
    rn = unique("ae")
    ae = m2m.make(m2m.cse_rn, TY_AE, ae_body(rn), origin=stem)
    aei = ae["aei"].rsplit("/", 1)[-1]
    assert aei.startswith(stem) and len(aei) > 1, ae
    # the assigned AE-ID works as originator
    assert m2m.get(f"{m2m.cse_rn}/{rn}", TY_AE, origin=aei)["rn"] == rn
    # and two such registrations get different ids
    other = m2m.make(m2m.cse_rn, TY_AE, ae_body(unique("ae")), origin=stem)
    assert other["aei"] != ae["aei"]


@pytest.mark.parametrize("origin", [None, ""])
def test_register_without_originator_gets_an_assigned_ae_id(m2m: M2M, origin) -> None:
    rn = unique("ae")
    ae = m2m.make(m2m.cse_rn, TY_AE, ae_body(rn), origin=origin)
    aei = ae["aei"].rsplit("/", 1)[-1]
    assert aei[:1] in ("C", "S") and len(aei) > 1, ae


def test_second_registration_of_an_ae_id_is_4117(m2m: M2M) -> None:
    origin = unique("C")
    first = unique("ae")
    m2m.make(m2m.cse_rn, TY_AE, ae_body(first), origin=origin)
    second = unique("ae")
    expect(m2m.create(m2m.cse_rn, TY_AE, ae_body(second), origin=origin), 4117, 403)
    expect(m2m.retrieve(f"{m2m.cse_rn}/{second}"), 4004, 404)


def test_name_clash_among_siblings_is_4105(m2m: M2M) -> None:
    rn = unique("ae")
    m2m.make(m2m.cse_rn, TY_AE, ae_body(rn), origin=unique("C"))
    other = unique("C")
    expect(m2m.create(m2m.cse_rn, TY_AE, ae_body(rn), origin=other), 4105, 409)
    # the losing originator did not get registered
    expect(m2m.retrieve(f"/{other}"), 4004, 404)


def test_ae_without_rn_gets_a_name(m2m: M2M) -> None:
    ae = m2m.make(m2m.cse_rn, TY_AE, ae_body(), origin=unique("C"))
    assert ae["rn"]
    assert m2m.get(f"{m2m.cse_rn}/{ae['rn']}", TY_AE)["ri"] == ae["ri"]


@pytest.mark.parametrize("api", ["Rcity.charger", "Nfire-alarm", "N"])
def test_api_starting_with_r_or_n_is_accepted(m2m: M2M, api: str) -> None:
    ae = m2m.make(m2m.cse_rn, TY_AE, ae_body(unique("ae"), api=api), origin=unique("C"))
    assert ae["api"] == api


@pytest.mark.parametrize("api", ["Xcharger", "charger", "", "1abc"])
def test_api_not_starting_with_r_or_n_is_4000(m2m: M2M, api: str) -> None:
    rn = unique("ae")
    expect(m2m.create(m2m.cse_rn, TY_AE, ae_body(rn, api=api), origin=unique("C")), 4000, 400)
    expect(m2m.retrieve(f"{m2m.cse_rn}/{rn}"), 4004, 404)


@pytest.mark.parametrize("missing", ["api", "rr", "srv"])
def test_mandatory_attribute_missing_is_4000(m2m: M2M, missing: str) -> None:
    rn = unique("ae")
    body = ae_body(rn)
    del body[missing]
    expect(m2m.create(m2m.cse_rn, TY_AE, body, origin=unique("C")), 4000, 400)
    expect(m2m.retrieve(f"{m2m.cse_rn}/{rn}"), 4004, 404)


@pytest.mark.parametrize(
    "bad",
    [
        {"rr": "yes"},
        {"srv": "3"},
        {"api": 5},
        {"poa": "http://x"},
        {"lbl": "a"},
        {"aei": "Cmine"},
        {"ri": "Cmine"},
        {"ty": 2},
        {"ct": "20200101T000000"},
        {"color": "red"},
    ],
)
def test_wrong_type_read_only_or_unknown_attribute_is_4000(m2m: M2M, bad: dict) -> None:
    rn = unique("ae")
    origin = unique("C")
    expect(m2m.create(m2m.cse_rn, TY_AE, {**ae_body(rn), **bad}, origin=origin), 4000, 400)
    expect(m2m.retrieve(f"{m2m.cse_rn}/{rn}"), 4004, 404)
    # nothing half-registered: the originator can still register
    m2m.make(m2m.cse_rn, TY_AE, ae_body(rn), origin=origin)


def test_originator_with_reserved_first_letter_is_refused(m2m: M2M) -> None:
    rn = unique("ae")
    reply = m2m.create(m2m.cse_rn, TY_AE, ae_body(rn), origin=unique("X"))
    assert reply.rsc in (4000, 4103, 4126) and reply.status in (400, 403), reply
    expect(m2m.retrieve(f"{m2m.cse_rn}/{rn}"), 4004, 404)


def test_ae_is_only_registered_under_the_cse_base(ae) -> None:
    reply = ae.client.create(ae.path, TY_AE, ae_body(unique("ae")), origin=unique("C"))
    expect(reply, 4108, 403)


def test_owner_updates_its_ae(ae) -> None:
    reply = expect(
        ae.client.update(
            ae.path, TY_AE, {"lbl": ["site:7"], "rr": True, "poa": ["http://127.0.0.1:9/x"]}
        ),
        2004,
        200,
    )
    res = reply.res("m2m:ae")
    assert res["lbl"] == ["site:7"] and res["rr"] is True
    assert res["lt"] >= res["ct"]
    again = ae.client.get(ae.path, TY_AE)
    assert again["lbl"] == ["site:7"] and again["poa"] == ["http://127.0.0.1:9/x"]


@pytest.mark.parametrize(
    "attrs",
    [{"aei": "Cother"}, {"api": "Nother"}, {"ri": "x"}, {"pi": "x"}, {"rn": "renamed"}, {"ty": 3}],
)
def test_read_only_attributes_cannot_be_updated(ae, attrs: dict) -> None:
    # TS-0001 table 9.6.5-1: App-ID and AE-ID are RO; rn/ri/pi/ty are RO everywhere.
    expect(ae.client.update(ae.path, TY_AE, attrs), 4000, 400)
    current = ae.client.get(ae.path, TY_AE)
    assert current["api"] == "Ntest.citycse" and current["rn"] == ae.rn


def test_other_ae_has_no_access_to_an_ae_without_acpi(register) -> None:
    owner, stranger = register(), register()
    expect(stranger.client.retrieve(owner.path), 4103, 403)
    expect(stranger.client.update(owner.path, TY_AE, {"lbl": ["x"]}), 4103, 403)
    expect(stranger.client.delete(owner.path), 4103, 403)
    expect(stranger.client.create(owner.path, TY_CNT, {"rn": "intruder"}), 4103, 403)
    assert "lbl" not in owner.client.get(owner.path, TY_AE) or owner.client.get(owner.path, TY_AE)[
        "lbl"
    ] != ["x"]
    expect(owner.client.retrieve(f"{owner.path}/intruder"), 4004, 404)


def test_delete_ae_removes_its_subtree_and_allows_re_registration(m2m: M2M, ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    ae.client.make(f"{ae.path}/c", TY_CNT, {"rn": "d"})
    expect(ae.client.delete(ae.path), 2002, 200)
    expect(m2m.retrieve(ae.path), 4004, 404)
    expect(m2m.retrieve(f"{ae.path}/c"), 4004, 404)
    expect(m2m.retrieve(f"/{cnt['ri']}"), 4004, 404)
    expect(m2m.retrieve(f"{ae.path}/c/d"), 4004, 404)
    again = m2m.make(m2m.cse_rn, TY_AE, ae_body(ae.rn), origin=ae.origin)
    assert again["ri"] == ae.ri
    # the new registration starts empty
    expect(m2m.retrieve(f"{ae.path}/c"), 4004, 404)


def test_admin_sees_every_ae(m2m: M2M, ae) -> None:
    assert m2m.get(ae.path, TY_AE)["ri"] == ae.ri
