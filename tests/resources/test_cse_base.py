"""The CSEBase resource (ty=5)."""

from __future__ import annotations

import re

from tests.support.client import M2M, TY_CB, TY_CIN, TY_CNT, expect

TIMESTAMP = re.compile(r"^\d{8}T\d{6}([.,]\d+)?$")


def test_cse_base_attributes(m2m: M2M) -> None:
    cb = m2m.get(m2m.cse_rn, TY_CB)
    assert cb["ty"] == TY_CB
    assert cb["rn"] == "cse-in"
    assert cb["csi"] == "/id-in"
    assert cb["ri"]
    assert cb["cst"] == 1  # an IN-CSE
    assert {1, 2, 3, 4, 5} <= set(cb["srt"])
    assert "3" in cb.get("srv", ["3"])
    assert TIMESTAMP.match(cb["ct"]) and TIMESTAMP.match(cb["lt"]), cb
    assert "et" not in cb  # TS-0001: CSEBase has no expirationTime


def test_cse_base_by_resource_id(m2m: M2M) -> None:
    cb = m2m.get(m2m.cse_rn, TY_CB)
    assert m2m.get(f"/{cb['ri']}", TY_CB)["rn"] == cb["rn"]
    assert m2m.get(f"/~/id-in/{m2m.cse_rn}", TY_CB)["ri"] == cb["ri"]


def test_cse_base_cannot_be_deleted(m2m: M2M) -> None:
    reply = m2m.delete(m2m.cse_rn)
    expect(reply, 4005, 405)
    expect(m2m.retrieve(m2m.cse_rn), 2000, 200)


def test_cse_base_cannot_be_created(m2m: M2M) -> None:
    reply = m2m.create(m2m.cse_rn, TY_CB, {"rn": "second", "csi": "/x", "cst": 1})
    assert reply.rsc in (4000, 4005, 4108) and 400 <= reply.status < 500, reply
    expect(m2m.retrieve(f"{m2m.cse_rn}/second"), 4004, 404)


def test_instance_cannot_be_created_directly_under_cse_base(m2m: M2M) -> None:
    reply = m2m.create(m2m.cse_rn, TY_CIN, {"rn": "loose", "con": "x"})
    expect(reply, 4108, 403)
    expect(m2m.retrieve(f"{m2m.cse_rn}/loose"), 4004, 404)


def test_admin_may_create_containers_under_cse_base(m2m: M2M, name) -> None:
    rn = name("cbcnt")
    cnt = m2m.make(m2m.cse_rn, TY_CNT, {"rn": rn})
    cb = m2m.get(m2m.cse_rn, TY_CB)
    assert cnt["pi"] == cb["ri"]
    expect(m2m.delete(f"{m2m.cse_rn}/{rn}"), 2002, 200)


def test_cse_base_read_only_attributes_cannot_be_updated(m2m: M2M) -> None:
    for attrs in ({"csi": "/other"}, {"cst": 2}, {"ri": "x"}, {"ct": "20200101T000000"}):
        reply = m2m.update(m2m.cse_rn, TY_CB, attrs)
        expect(reply, 4000, 400)
    cb = m2m.get(m2m.cse_rn, TY_CB)
    assert cb["csi"] == "/id-in" and cb["cst"] == 1


def test_a_registered_ae_is_a_child_of_the_cse_base(m2m: M2M, ae) -> None:
    cb = m2m.get(m2m.cse_rn, TY_CB)
    assert ae.attrs["pi"] == cb["ri"]
    children = m2m.retrieve(m2m.cse_rn, params={"rcn": "6"})
    expect(children, 2000, 200)
    assert ae.rn in children.http.text
