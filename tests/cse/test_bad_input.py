"""Bad input gets 4000 (or 4004 for an unknown target), never a 5xx, never a partial write."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.client import TY_AE, TY_CIN, TY_CNT, expect, unique


def create_raw(ae, content: bytes | str, ty: int = TY_CNT, path: str | None = None):
    return ae.client.request(
        "POST", path or ae.path, content=content, content_type=f"application/json;ty={ty}"
    )


def update_raw(ae, path: str, content: bytes | str):
    return ae.client.request("PUT", path, content=content, content_type="application/json")


def children(ae) -> list[str]:
    return ae.client.discover(ae.path, lvl="1")


MALFORMED = [
    b'{"m2m:cnt": {"rn": "bad"',
    b'{"m2m:cnt": {"rn": "bad",}}',
    b"{'m2m:cnt': {'rn': 'bad'}}",
    b'{"m2m:cnt": {"rn": "bad"}} trailing',
    b"\xff\xfe\x00garbage",
    b'{"m2m:cnt": {"rn": "bad", "lbl": [NaN]}}',
    b"",
]


@pytest.mark.parametrize("content", MALFORMED)
def test_malformed_json_is_4000_and_writes_nothing(ae, content: bytes) -> None:
    before = children(ae)
    reply = create_raw(ae, content)
    expect(reply, 4000, 400)
    assert isinstance(reply.dbg, str) and reply.dbg
    expect(ae.client.retrieve(f"{ae.path}/bad"), 4004, 404)
    assert children(ae) == before


@pytest.mark.parametrize("body", [[], ["m2m:cnt"], "m2m:cnt", 3, None, True])
def test_body_that_is_not_an_object_is_4000(ae, body) -> None:
    expect(create_raw(ae, json.dumps(body)), 4000, 400)
    expect(ae.client.update(ae.path, TY_AE, body=body), 4000, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"m2m:ae": {"rn": "bad"}},
        {"m2m:cin": {"rn": "bad", "con": "x"}},
        {"cnt": {"rn": "bad"}},
        {"m2m:cnt": {"rn": "bad"}, "m2m:ae": {}},
        {"m2m:cnt": {"rn": "bad"}, "extra": 1},
        {"m2m:cnt": "bad"},
        {"m2m:cnt": ["bad"]},
        {"m2m:cnt": None},
        {},
    ],
)
def test_root_name_that_does_not_match_ty_is_4000(ae, body) -> None:
    expect(create_raw(ae, json.dumps(body)), 4000, 400)
    expect(ae.client.retrieve(f"{ae.path}/bad"), 4004, 404)


def test_wrong_root_on_update_is_4000(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, body={"m2m:ae": {"lbl": ["x"]}}), 4000, 400)
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, body={"m2m:cnt": {"lbl": ["x"]}, "x": 1}), 4000)
    assert ae.client.get(f"{ae.path}/c", TY_CNT).get("lbl", []) == []


@pytest.mark.parametrize(
    "attrs",
    [
        {"rn": 5},
        {"rn": ""},
        {"rn": "a/b"},
        {"lbl": "a"},
        {"lbl": [1, 2]},
        {"lbl": {"a": 1}},
        {"mni": "1"},
        {"mni": True},
        {"mni": 1.5},
        {"mbs": []},
        {"mia": {}},
        {"et": 5},
        {"acpi": "x"},
        {"acpi": [5]},
        {"ri": "mine"},
        {"pi": "x"},
        {"ty": 3},
        {"ct": "20200101T000000"},
        {"lt": "20200101T000000"},
        {"cni": 0},
        {"cbs": 0},
        {"st": 0},
        {"cr": "Cx"},
        {"foo": "bar"},
        {"m2m:cin": {}},
        {"": 1},
    ],
    ids=lambda attrs: json.dumps(attrs, separators=(",", ":")),
)
def test_invalid_attribute_on_create_is_4000(ae, attrs: dict) -> None:
    before = children(ae)
    reply = ae.client.create(
        ae.path, TY_CNT, {"rn": "bad", **attrs} if "rn" not in attrs else attrs
    )
    expect(reply, 4000, 400)
    assert isinstance(reply.dbg, str) and reply.dbg
    assert children(ae) == before


@pytest.mark.parametrize(
    "attrs",
    [
        {"lbl": "a"},
        {"mni": "x"},
        {"ri": "x"},
        {"rn": "renamed"},
        {"ty": 4},
        {"ct": "20200101T000000"},
        {"cni": 1},
        {"st": 1},
        {"foo": 1},
        {"et": "soon"},
    ],
    ids=lambda attrs: json.dumps(attrs, separators=(",", ":")),
)
def test_invalid_attribute_on_update_is_4000_and_nothing_changes(ae, attrs: dict) -> None:
    before = ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 4, "lbl": ["old"]})
    reply = ae.client.update(f"{ae.path}/c", TY_CNT, {"mni": 8, "lbl": ["new"], **attrs})
    expect(reply, 4000, 400)
    after = ae.client.get(f"{ae.path}/c", TY_CNT)
    assert (after["mni"], after["lbl"], after["lt"], after["st"]) == (
        4,
        ["old"],
        before["lt"],
        before["st"],
    )


def test_empty_update_is_rejected(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    reply = update_raw(ae, f"{ae.path}/c", b"")
    expect(reply, 4000, 400)


def test_null_deletes_an_optional_attribute_on_update(ae) -> None:
    # TS-0004: an attribute set to null in an UPDATE is deleted.
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "lbl": ["x"], "mni": 3})
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, {"lbl": None}), 2004, 200)
    assert not ae.client.get(f"{ae.path}/c", TY_CNT).get("lbl")


def test_unknown_target_is_4004(m2m, ae) -> None:
    for path in (
        f"{ae.path}/nope",
        f"{ae.path}/nope/deeper",
        f"/{unique('ri')}",
        f"/~/id-in/{unique('ri')}",
        f"{m2m.cse_rn}/{unique('x')}/la",
    ):
        expect(m2m.retrieve(path), 4004, 404)
        expect(m2m.delete(path), 4004, 404)
        expect(m2m.update(path, TY_CNT, {"lbl": []}), 4004, 404)
        expect(m2m.create(path, TY_CNT, {"rn": "x"}), 4004, 404)


def test_wrong_type_of_target_for_update_root(ae) -> None:
    # updating an AE with a container body is a root mismatch, not a silent success
    expect(ae.client.update(ae.path, TY_CNT, {"mni": 3}), 4000, 400)
    assert "mni" not in ae.client.get(ae.path, TY_AE)


def test_deeply_nested_content_never_breaks_the_server(ae, m2m) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    deep = "[" * 100_000 + "]" * 100_000
    raw = '{"m2m:cin": {"con": ' + deep + "}}"
    reply = create_raw(ae, raw, ty=TY_CIN, path=f"{ae.path}/c")
    assert reply.rsc in (2001, 4000) and reply.status in (201, 400), reply
    expect(m2m.retrieve(m2m.cse_rn), 2000, 200)


def test_huge_numbers_are_rejected_cleanly(ae) -> None:
    for mni in (10**30, -(10**30)):
        reply = ae.client.create(ae.path, TY_CNT, {"rn": "n", "mni": mni})
        assert reply.rsc in (2001, 4000) and reply.status in (201, 400), reply
        ae.client.delete(f"{ae.path}/n")
    reply = create_raw(ae, '{"m2m:cnt": {"rn": "n", "mni": 1e400}}')
    expect(reply, 4000, 400)


def test_query_parameter_garbage_is_4000(ae) -> None:
    for query in ("rcn=abc", "rcn=", "drt=x&fu=1", "fu=abc", "lim=1e9999&fu=1"):
        reply = ae.client.retrieve(f"{ae.path}?{query}")
        expect(reply, 4000, 400)


def test_failed_cin_create_leaves_counters_untouched(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mbs": 100})
    ae.client.make(f"{ae.path}/c", TY_CIN, {"con": "ok"})
    for bad in (
        {"con": "x", "st": 1},
        {"con": "x", "cnf": "nonsense"},
        {"cnf": "text/plain:0"},
        {"con": "x", "foo": 1},
        {"con": "x" * 101},
    ):
        reply = ae.client.create(f"{ae.path}/c", TY_CIN, bad)
        assert reply.rsc in (4000, 5207), reply
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT)
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (1, 2, 1)


def test_server_survives_a_barrage_of_bad_requests(ae, m2m) -> None:
    bodies = [
        b"{",
        b"[]",
        b"null",
        b'{"m2m:cnt": 1}',
        b'{"m2m:cnt": {"mni": "x"}}',
        b"\x00" * 64,
        json.dumps({"m2m:cnt": {"lbl": ["x"] * 10_000, "foo": 1}}).encode(),
    ]
    for body in bodies * 3:
        reply = create_raw(ae, body)
        assert reply.status == 400 and reply.rsc == 4000, reply
    expect(m2m.retrieve(m2m.cse_rn), 2000, 200)
    assert children(ae) == []


# --- values that break naive SQL translation or storage --------------------------------------


def test_like_wildcards_in_filters_match_literally(ae) -> None:
    c = ae.client
    c.make(ae.path, TY_CNT, {"rn": "abc", "lbl": ["abc"]})
    c.make(ae.path, TY_CNT, {"rn": "x", "lbl": ["a%c", "under_score"]})
    names = {u.rstrip("/").rsplit("/", 1)[-1] for u in c.discover(ae.path, lbl="a%c")}
    assert names == {"x"}, names
    assert c.discover(ae.path, lbl="a%") == []
    assert c.discover(ae.path, lbl="a_c") == []
    assert c.discover(ae.path, rn="_") == []
    assert {u.rsplit("/", 1)[-1] for u in c.discover(ae.path, rn="abc")} == {"abc"}
    assert c.discover(ae.path, rn="a%") == []


@pytest.mark.parametrize(
    "query",
    [
        "lim=9223372036854775808",
        "ofst=99999999999999999999",
        "lvl=18446744073709551616",
        "stb=-99999999999999999999",
        "sza=1e30",
        "ty=99999999999999999999",
        "cra=99991231T235959",
        "exb=00010101T000000",
        "mni=99999999999999999999",
    ],
)
def test_out_of_range_filter_values_never_break_the_server(ae, query: str) -> None:
    reply = ae.client.retrieve(f"{ae.path}?fu=1&{query}")
    assert reply.rsc in (2000, 4000) and reply.status in (200, 400), reply


@pytest.mark.parametrize(
    "attrs",
    [
        {"con": "a\u0000b"},
        {"con": {"k\u0000": 1}},
        {"con": "\ud800"},
        {"lbl": ["x\u0000"]},
        {"con": "x", "rn": "r\u0000"},
        {"con": "x" * 20, "lbl": ["l" * 10_000]},
        {"con": "x", "rn": "n" * 10_000},
        {"con": "x", "et": "99991231T235959"},
        {"con": "x", "cnf": "text/plain:0" + "x" * 10_000},
    ],
    ids=[
        "nul-con",
        "nul-key",
        "surrogate",
        "nul-label",
        "nul-rn",
        "long-label",
        "long-rn",
        "far-et",
        "long-cnf",
    ],
)
def test_awkward_values_are_stored_faithfully_or_refused_with_4000(ae, attrs: dict) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    reply = ae.client.create(f"{ae.path}/c", TY_CIN, attrs)
    assert reply.rsc in (2001, 4000) and reply.status in (201, 400), reply
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT)
    if reply.rsc == 2001:
        made = reply.res("m2m:cin")
        stored = ae.client.get(f"/{made['ri']}", TY_CIN)
        for key in ("con", "lbl"):
            if key in attrs:
                assert stored[key] == attrs[key], f"{key} changed in storage: {stored[key]!r}"
        assert cnt["cni"] == 1
    else:
        assert cnt["cni"] == 0 and cnt["st"] == 0


@pytest.mark.parametrize("origin", ["C" + "o" * 10_000, "Cnul\u0000", "C with space", "C/../x"])
def test_awkward_originators_never_break_the_server(m2m, origin: str) -> None:
    body = {"rn": unique("ae"), "api": "Nx", "rr": False, "srv": ["3"]}
    try:
        reply = m2m.create(m2m.cse_rn, TY_AE, body, origin=origin)
    except (ValueError, httpx.LocalProtocolError):  # the client refuses to send such a header
        return
    assert reply.rsc in (2001, 4000, 4103, 4106, 4126) and reply.status < 500, reply
    got = m2m.retrieve(m2m.cse_rn)
    assert got.rsc == 2000


@pytest.mark.parametrize(
    "path",
    [
        "/cse-in/%00",
        "/cse-in/" + "p" * 20_000,
        "/%2e%2e/cse-in",
        "/~/id-in/%00",
        "/cse-in//x",
        "/_/",
        "/~/",
    ],
)
def test_awkward_paths_never_break_the_server(m2m, path: str) -> None:
    reply = m2m.retrieve(path)
    assert reply.status < 500 and reply.rsc is not None and reply.rsc >= 4000, reply
    assert reply.rqi == reply.http.request.headers["X-M2M-RI"]


def test_missing_request_identifier_is_4000(server) -> None:
    # TS-0004 §7.2.1.1: rqi is mandatory in every request.
    resp = httpx.get(
        f"{server.base_url}/{server.cse_rn}", headers={"X-M2M-Origin": "CAdmin", "X-M2M-RVI": "3"}
    )
    assert resp.status_code == 400 and resp.headers.get("X-M2M-RSC") == "4000", resp.text


def test_dash_stands_for_the_cse_base_name(ae) -> None:
    # TS-0001 §9.3.1: "-" may replace the CSEBase name in an SP-relative structured address.
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    got = ae.client.get(f"/~/id-in/-/{ae.rn}/c", TY_CNT)
    assert got["rn"] == "c"
