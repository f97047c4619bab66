"""The contentInstance resource (ty=4)."""

from __future__ import annotations

import json

import pytest

from tests.support.client import TY_CIN, TY_CNT, expect


@pytest.fixture
def box(ae) -> str:
    ae.client.make(ae.path, TY_CNT, {"rn": "box"})
    return f"{ae.path}/box"


def test_string_content_and_size_in_bytes(ae, box) -> None:
    cin = ae.client.make(box, TY_CIN, {"con": "héllo €", "cnf": "text/plain:0"})
    assert cin["con"] == "héllo €"
    assert cin["cs"] == len("héllo €".encode())  # bytes, not characters
    assert cin["cnf"] == "text/plain:0"
    assert cin["ty"] == TY_CIN
    got = ae.client.get(f"{box}/{cin['rn']}", TY_CIN)
    assert got["con"] == "héllo €" and got["cs"] == 10


def test_json_content_round_trips(ae, box) -> None:
    value = {"kWh": 12.5, "idTag": "ABC", "ok": True, "list": [1, None]}
    cin = ae.client.make(box, TY_CIN, {"con": value, "cnf": "application/json:0"})
    got = ae.client.get(f"/{cin['ri']}", TY_CIN)
    assert got["con"] == value
    compact = len(json.dumps(value, separators=(",", ":")).encode())
    spaced = len(json.dumps(value).encode())
    assert got["cs"] in (compact, spaced), got["cs"]
    cnt = ae.client.get(box, TY_CNT)
    assert cnt["cbs"] == got["cs"]


@pytest.mark.parametrize("con", [0, 3.5, True, ["a", 1], ""])
def test_other_json_values_as_content(ae, box, con) -> None:
    cin = ae.client.make(box, TY_CIN, {"con": con})
    assert ae.client.get(f"/{cin['ri']}", TY_CIN)["con"] == con


def test_st_is_taken_from_the_parent(ae, box) -> None:
    sts = [ae.client.make(box, TY_CIN, {"con": str(i)})["st"] for i in range(3)]
    assert sts == [1, 2, 3]
    assert ae.client.get(box, TY_CNT)["st"] == 3


@pytest.mark.parametrize(
    "bad",
    [
        {"st": 5},
        {"cs": 3},
        {"ri": "x"},
        {"pi": "x"},
        {"ct": "20200101T000000"},
        {"mni": 1},
        {"acpi": []},
        {"nope": 1},
    ],
)
def test_read_only_or_unknown_attributes_are_4000(ae, box, bad) -> None:
    reply = ae.client.create(box, TY_CIN, {"con": "x", "rn": "i", **bad})
    expect(reply, 4000, 400)
    expect(ae.client.retrieve(f"{box}/i"), 4004, 404)
    assert ae.client.get(box, TY_CNT)["cni"] == 0


def test_con_is_mandatory(ae, box) -> None:
    expect(ae.client.create(box, TY_CIN, {"rn": "i", "cnf": "text/plain:0"}), 4000, 400)
    assert ae.client.get(box, TY_CNT)["cni"] == 0


@pytest.mark.parametrize(
    "cnf",
    [
        "text/plain:0",
        "application/json:0",
        "text/plain:1",
        "application/octet-stream:2",
    ],
)
def test_valid_content_info(ae, box, cnf: str) -> None:
    con = "aGVsbG8=" if cnf.endswith((":1", ":2")) else "hello"
    assert ae.client.make(box, TY_CIN, {"con": con, "cnf": cnf})["cnf"] == cnf


@pytest.mark.parametrize("cnf", ["plain", "text/plain:x", 5, "/:0", "text/:0", "text plain:0"])
def test_invalid_content_info_is_4000(ae, box, cnf) -> None:
    expect(ae.client.create(box, TY_CIN, {"con": "hello", "cnf": cnf, "rn": "i"}), 4000, 400)
    expect(ae.client.retrieve(f"{box}/i"), 4004, 404)


def test_instances_are_immutable(ae, box) -> None:
    cin = ae.client.make(box, TY_CIN, {"con": "first", "rn": "i"})
    for attrs in ({"con": "second"}, {"lbl": ["x"]}):
        reply = ae.client.update(f"{box}/i", TY_CIN, attrs)
        expect(reply, 4005, 405)
    got = ae.client.get(f"{box}/i", TY_CIN)
    assert got["con"] == "first" and got["lt"] == cin["lt"]


def test_instance_names_are_assigned_and_unique(ae, box) -> None:
    cins = [ae.client.make(box, TY_CIN, {"con": "x"}) for _ in range(10)]
    assert len({c["rn"] for c in cins}) == 10
    assert len({c["ri"] for c in cins}) == 10
    expect(ae.client.create(box, TY_CIN, {"con": "x", "rn": cins[0]["rn"]}), 4105, 409)
    assert ae.client.get(box, TY_CNT)["cni"] == 10


def test_instance_with_labels_and_originator(ae, box) -> None:
    cin = ae.client.make(box, TY_CIN, {"con": "x", "lbl": ["a:1", "b"], "or": "http://x.example/o"})
    got = ae.client.get(f"/{cin['ri']}", TY_CIN)
    assert got["lbl"] == ["a:1", "b"] and got["or"] == "http://x.example/o"


def test_instance_cannot_be_created_under_an_ae(ae) -> None:
    expect(ae.client.create(ae.path, TY_CIN, {"con": "x", "rn": "i"}), 4108, 403)
    expect(ae.client.retrieve(f"{ae.path}/i"), 4004, 404)


def test_deleting_an_instance_updates_the_parent(ae, box) -> None:
    a = ae.client.make(box, TY_CIN, {"con": "aa"})
    ae.client.make(box, TY_CIN, {"con": "bbb"})
    expect(ae.client.delete(f"/{a['ri']}"), 2002, 200)
    cnt = ae.client.get(box, TY_CNT)
    assert (cnt["cni"], cnt["cbs"]) == (1, 3)
