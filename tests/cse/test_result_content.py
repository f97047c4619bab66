"""Result content (rcn) per operation (TS-0004 §6.3.4.2.7, §7.3.3.12)."""

from __future__ import annotations

import pytest

from tests.support.client import TY_CIN, TY_CNT, expect, structured_suffix, tail


def find_values(data, key: str) -> list:
    out = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key:
                out.append(v)
            out.extend(find_values(v, key))
    elif isinstance(data, list):
        for v in data:
            out.extend(find_values(v, key))
    return out


def names(values: list[str], *, ae_rn: str) -> set[str]:
    return {structured_suffix(v).removeprefix(ae_rn + "/") for v in values}


@pytest.fixture
def filled(ae):
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 10, "lbl": ["the-parent"]})
    cins = [
        ae.client.make(f"{ae.path}/c", TY_CIN, {"con": str(i), "rn": f"i{i}"}) for i in range(3)
    ]
    ae.client.make(f"{ae.path}/c", TY_CNT, {"rn": "sub"})
    return cins


def test_create_rcn_0_returns_no_resource(ae) -> None:
    reply = expect(ae.client.create(ae.path, TY_CNT, {"rn": "c"}, params={"rcn": "0"}), 2001, 201)
    assert not reply.http.content or "m2m:cnt" not in reply.http.text, reply
    assert reply.headers.get("Content-Location")


def test_create_rcn_1_is_the_default(ae) -> None:
    explicit = expect(ae.client.create(ae.path, TY_CNT, {"rn": "c1"}, params={"rcn": "1"}), 2001)
    assert explicit.res("m2m:cnt")["rn"] == "c1"
    default = expect(ae.client.create(ae.path, TY_CNT, {"rn": "c2"}), 2001)
    assert set(default.res("m2m:cnt")) == set(explicit.res("m2m:cnt"))


def test_create_rcn_2_returns_the_address(ae) -> None:
    reply = expect(ae.client.create(ae.path, TY_CNT, {"rn": "c"}, params={"rcn": "2"}), 2001, 201)
    uri = reply.res("m2m:uri")
    ri = ae.client.get(f"{ae.path}/c", TY_CNT)["ri"]
    assert structured_suffix(uri) == f"{ae.rn}/c" or tail(uri) == ri, uri
    assert "m2m:cnt" not in reply.body


def test_create_rcn_3_returns_address_and_attributes(ae) -> None:
    reply = expect(ae.client.create(ae.path, TY_CNT, {"rn": "c"}, params={"rcn": "3"}), 2001, 201)
    rce = reply.res("m2m:rce")
    assert rce["m2m:cnt"]["rn"] == "c"
    uri = rce["uri"]
    assert structured_suffix(uri) == f"{ae.rn}/c" or tail(uri) == rce["m2m:cnt"]["ri"], uri


@pytest.mark.parametrize("rcn", ["4", "5", "6", "7", "8", "99", "x"])
def test_create_with_a_result_content_not_allowed_for_create_is_4000(ae, rcn: str) -> None:
    expect(ae.client.create(ae.path, TY_CNT, {"rn": "c"}, params={"rcn": rcn}), 4000, 400)
    expect(ae.client.retrieve(f"{ae.path}/c"), 4004, 404)


def test_update_rcn_0_1_2_3(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    path = f"{ae.path}/c"
    r0 = expect(ae.client.update(path, TY_CNT, {"lbl": ["0"]}, params={"rcn": "0"}), 2004, 200)
    assert not r0.http.content or "m2m:cnt" not in r0.http.text
    r1 = expect(ae.client.update(path, TY_CNT, {"lbl": ["1"]}, params={"rcn": "1"}), 2004, 200)
    assert r1.res("m2m:cnt")["lbl"] == ["1"]
    r2 = expect(ae.client.update(path, TY_CNT, {"lbl": ["2"]}, params={"rcn": "2"}), 2004, 200)
    assert (
        structured_suffix(r2.res("m2m:uri")) == f"{ae.rn}/c"
        or tail(r2.res("m2m:uri")) == r1.res("m2m:cnt")["ri"]
    )
    r3 = expect(ae.client.update(path, TY_CNT, {"lbl": ["3"]}, params={"rcn": "3"}), 2004, 200)
    assert r3.res("m2m:rce")["m2m:cnt"]["lbl"] == ["3"]
    assert ae.client.get(path, TY_CNT)["lbl"] == ["3"]


def test_update_with_a_result_content_not_allowed_for_update_is_4000(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    for rcn in ("4", "6", "8"):
        expect(
            ae.client.update(f"{ae.path}/c", TY_CNT, {"lbl": [rcn]}, params={"rcn": rcn}), 4000, 400
        )
    assert ae.client.get(f"{ae.path}/c", TY_CNT).get("lbl", []) == []


def test_retrieve_rcn_1(ae, filled) -> None:
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT, params={"rcn": "1"})
    assert cnt["cni"] == 3
    assert "m2m:cin" not in cnt and "ch" not in cnt


def test_retrieve_rcn_4_attributes_and_children(ae, filled) -> None:
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT, params={"rcn": "4"})
    assert cnt["cni"] == 3
    assert sorted(c["ri"] for c in cnt["m2m:cin"]) == sorted(c["ri"] for c in filled)
    assert [c["rn"] for c in cnt["m2m:cnt"]] == ["sub"]
    assert {c["con"] for c in cnt["m2m:cin"]} == {"0", "1", "2"}


def test_retrieve_rcn_5_attributes_and_child_references(ae, filled) -> None:
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT, params={"rcn": "5"})
    assert cnt["cni"] == 3
    refs = cnt["ch"]
    assert {r["nm"] for r in refs} == {"i0", "i1", "i2", "sub"}
    assert {r["typ"] for r in refs} == {TY_CIN, TY_CNT}
    assert names([r["val"] for r in refs], ae_rn=ae.rn) == {"c/i0", "c/i1", "c/i2", "c/sub"} or {
        tail(r["val"]) for r in refs
    } >= {c["ri"] for c in filled}


def test_retrieve_rcn_6_child_references_only(ae, filled) -> None:
    reply = expect(ae.client.retrieve(f"{ae.path}/c", params={"rcn": "6"}), 2000, 200)
    assert "m2m:cnt" not in reply.body
    refs = reply.res("m2m:rrl")["rrf"]
    assert {r["nm"] for r in refs} == {"i0", "i1", "i2", "sub"}


def test_retrieve_rcn_8_child_resources_only(ae, filled) -> None:
    reply = expect(ae.client.retrieve(f"{ae.path}/c", params={"rcn": "8"}), 2000, 200)
    ris = set(find_values(reply.body, "ri"))
    assert {c["ri"] for c in filled} <= ris
    cnt_ri = ae.client.get(f"{ae.path}/c", TY_CNT)["ri"]
    assert cnt_ri not in ris  # not the parent's own attributes
    assert "the-parent" not in reply.http.text


def test_retrieve_with_a_result_content_not_allowed_for_retrieve_is_4000(ae, filled) -> None:
    for rcn in ("0", "2", "3", "9", "42"):
        expect(ae.client.retrieve(f"{ae.path}/c", params={"rcn": rcn}), 4000, 400)


def test_delete_rcn_0_is_the_default(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    reply = expect(ae.client.delete(f"{ae.path}/c"), 2002, 200)
    assert not reply.http.content or "m2m:cnt" not in reply.http.text


def test_delete_rcn_1_returns_the_deleted_resource(ae) -> None:
    made = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    reply = expect(ae.client.delete(f"{ae.path}/c", params={"rcn": "1"}), 2002, 200)
    assert reply.res("m2m:cnt")["ri"] == made["ri"]
    expect(ae.client.retrieve(f"{ae.path}/c"), 4004, 404)


def test_partial_retrieve_with_atrl(ae, filled) -> None:
    # TS-0009 §6.2.2.2: atrl=ri+lbl+... returns only the named attributes.
    reply = expect(ae.client.retrieve(f"{ae.path}/c?atrl=cni+mni"), 2000, 200)
    cnt = reply.res("m2m:cnt")
    assert cnt == {"cni": 3, "mni": 10}
