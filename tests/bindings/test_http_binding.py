"""The HTTP binding (TS-0009): methods, addressing, headers, status mapping, error bodies."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import M2M, TY_AE, TY_CIN, TY_CNT, Reply, expect, unique


def hdr(origin: str = "CAdmin", rvi: str | None = "3", rqi: str = "rq-1") -> dict:
    headers = {"X-M2M-Origin": origin, "X-M2M-RI": rqi}
    if rvi is not None:
        headers["X-M2M-RVI"] = rvi
    return headers


def test_retrieve_is_get_with_2000_and_m2m_headers(m2m: M2M) -> None:
    reply = m2m.retrieve(m2m.cse_rn, rqi="ri-retrieve-1")
    expect(reply, 2000, 200)
    assert reply.rqi == "ri-retrieve-1"
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.res("m2m:cb")["rn"] == m2m.cse_rn


def test_create_is_post_with_ty_201_and_content_location(m2m: M2M, ae) -> None:
    reply = ae.client.create(ae.path, TY_CNT, {"rn": "box"}, rqi="ri-create-1")
    expect(reply, 2001, 201)
    assert reply.rqi == "ri-create-1"
    location = reply.headers.get("Content-Location")
    assert location, f"no Content-Location on create: {reply}"
    # TS-0009 §6.4.4: the URI of the created resource; it must address it.
    path = httpx.URL(location).path if location.startswith("http") else location
    if path.startswith("/~/"):
        pass
    elif not path.startswith("/"):
        path = "/" + path
    again = expect(m2m.retrieve(path), 2000, 200)
    assert again.res("m2m:cnt")["ri"] == reply.res("m2m:cnt")["ri"]


def test_update_is_put_with_2004(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "box"})
    reply = expect(ae.client.update(f"{ae.path}/box", TY_CNT, {"lbl": ["a:b"]}), 2004, 200)
    assert reply.res("m2m:cnt")["lbl"] == ["a:b"]
    assert ae.client.get(f"{ae.path}/box", TY_CNT)["lbl"] == ["a:b"]


def test_delete_is_delete_with_2002_and_the_resource_is_gone(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "box"})
    expect(ae.client.delete(f"{ae.path}/box"), 2002, 200)
    expect(ae.client.retrieve(f"{ae.path}/box"), 4004, 404)


def test_unstructured_cse_relative_address(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "box"})
    got = ae.client.get(f"/{cnt['ri']}", TY_CNT)
    assert got["rn"] == "box"
    cin = ae.client.make(f"/{cnt['ri']}", TY_CIN, {"con": "via ri"})
    assert cin["pi"] == cnt["ri"]


def test_sp_relative_structured_and_unstructured(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "box"})
    structured = ae.client.get(f"/~/id-in/{ae.path}/box", TY_CNT)
    unstructured = ae.client.get(f"/~/id-in/{cnt['ri']}", TY_CNT)
    assert structured["ri"] == unstructured["ri"] == cnt["ri"]


def test_sp_relative_cse_id_alone_addresses_the_cse_base(m2m: M2M) -> None:
    # TS-0001 §9.3.1: a CSE-ID addresses the CSEBase of that CSE.
    cb = m2m.get("/~/id-in", 5)
    assert cb["rn"] == m2m.cse_rn


def test_create_update_delete_through_sp_relative_addresses(ae) -> None:
    made = expect(ae.client.create(f"/~/id-in/{ae.path}", TY_CNT, {"rn": "sp"}), 2001, 201)
    ri = made.res("m2m:cnt")["ri"]
    expect(ae.client.update(f"/~/id-in/{ri}", TY_CNT, {"mni": 3}), 2004, 200)
    assert ae.client.get(f"{ae.path}/sp", TY_CNT)["mni"] == 3
    expect(ae.client.delete(f"/~/id-in/{ae.path}/sp"), 2002, 200)
    expect(ae.client.retrieve(f"{ae.path}/sp"), 4004, 404)


def test_sp_relative_address_of_another_cse_is_not_served_locally(m2m: M2M) -> None:
    reply = m2m.retrieve(f"/~/other-cse/{m2m.cse_rn}")
    assert reply.rsc in (4004, 5103), reply
    assert reply.status == 404, reply


def test_absolute_address_with_explicit_sp_id(server_factory) -> None:
    srv = server_factory(["--sp-id", "citycse.example"])
    client = M2M(srv.base_url)
    try:
        cb = client.get("/_/citycse.example/id-in/cse-in", 5)
        assert cb["csi"] == "/id-in"
        also = client.get("/_/citycse.example/id-in", 5)
        assert also["ri"] == cb["ri"]
        made = client.make(
            "/_/citycse.example/id-in/cse-in",
            TY_AE,
            {"rn": "absae", "api": "Nabs", "rr": False, "srv": ["3"]},
            origin="Cabsolute",
        )
        got = client.get(f"/_/citycse.example/id-in/{made['ri']}", TY_AE)
        assert got["rn"] == "absae"
        other_sp = client.retrieve("/_/elsewhere.example/id-in/cse-in")
        assert other_sp.rsc != 2000 and other_sp.status in (403, 404), other_sp
    finally:
        client.close()


@pytest.mark.parametrize("rvi", ["2a", "3", "4", "5"])
def test_supported_release_versions(m2m: M2M, rvi: str) -> None:
    expect(m2m.retrieve(m2m.cse_rn, rvi=rvi), 2000, 200)


@pytest.mark.parametrize("rvi", [None, "1", "2", "6", "x", ""])
def test_missing_or_unsupported_release_version_is_4001(m2m: M2M, rvi: str | None) -> None:
    reply = m2m.retrieve(m2m.cse_rn, rvi=rvi, rqi="ri-rvi")
    expect(reply, 4001, 501)
    assert reply.rqi == "ri-rvi"
    assert isinstance(reply.dbg, str) and reply.dbg


def test_unsupported_release_version_does_not_create(ae) -> None:
    reply = ae.client.create(ae.path, TY_CNT, {"rn": "vers"}, rvi="1")
    expect(reply, 4001, 501)
    expect(ae.client.retrieve(f"{ae.path}/vers"), 4004, 404)


def test_request_identifier_is_echoed_on_errors(m2m: M2M) -> None:
    for reply in (
        m2m.retrieve(f"{m2m.cse_rn}/{unique('nothing')}", rqi="ri-404"),
        m2m.create(m2m.cse_rn, TY_CNT, body="not an object", rqi="ri-400"),
        m2m.request(
            "POST",
            m2m.cse_rn,
            content=b"{",
            content_type="application/json;ty=3",
            rqi="ri-bad-json",
        ),
    ):
        assert reply.rsc is not None and reply.rsc >= 4000, reply
        assert reply.rqi == reply.http.request.headers["X-M2M-RI"], reply


def test_error_body_is_m2m_dbg(m2m: M2M) -> None:
    reply = expect(m2m.retrieve(f"{m2m.cse_rn}/{unique('missing')}"), 4004, 404)
    assert set(reply.body) == {"m2m:dbg"}, reply
    assert isinstance(reply.dbg, str) and reply.dbg.strip()


def test_every_response_carries_rsc(m2m: M2M, ae) -> None:
    replies = [
        ae.client.create(ae.path, TY_CNT, {"rn": "r"}),
        ae.client.retrieve(f"{ae.path}/r"),
        ae.client.update(f"{ae.path}/r", TY_CNT, {"lbl": []}),
        ae.client.delete(f"{ae.path}/r"),
        ae.client.delete(f"{ae.path}/r"),
    ]
    assert [r.rsc for r in replies] == [2001, 2000, 2004, 2002, 4004], replies


def test_status_mapping_of_typical_errors(m2m: M2M, register) -> None:
    """TS-0009 table 6.3.2-1."""
    owner = register()
    stranger = register()
    owner.client.make(owner.path, TY_CNT, {"rn": "c", "mbs": 4})
    cin = owner.client.make(f"{owner.path}/c", TY_CIN, {"con": "ab"})
    cases: list[tuple[Reply, int, int]] = [
        (owner.client.create(owner.path, TY_CNT, {"rn": "c"}), 4105, 409),
        (owner.client.create(owner.path, TY_CNT, {"bogus": 1}), 4000, 400),
        (owner.client.retrieve(f"{owner.path}/nope"), 4004, 404),
        (owner.client.update(f"{owner.path}/c/{cin['rn']}", TY_CIN, {"con": "x"}), 4005, 405),
        (stranger.client.retrieve(f"{owner.path}/c"), 4103, 403),
        (owner.client.create(f"{owner.path}/c", TY_CIN, {"con": "too large"}), 5207, 406),
        (
            m2m.create(
                m2m.cse_rn,
                TY_AE,
                {"rn": unique("a"), "api": "Nx", "rr": False, "srv": ["3"]},
                origin=owner.origin,
            ),
            4117,
            403,
        ),
    ]
    for reply, rsc, status in cases:
        assert (reply.rsc, reply.status) == (rsc, status), reply
        assert isinstance(reply.dbg, str), reply


def test_vnd_onem2m_content_type_with_ty(ae) -> None:
    reply = ae.client.request(
        "POST",
        ae.path,
        body={"m2m:cnt": {"rn": "vnd"}},
        content_type="application/vnd.onem2m-res+json; ty=3",
    )
    expect(reply, 2001, 201)
    assert ae.client.get(f"{ae.path}/vnd", TY_CNT)["ty"] == TY_CNT


def test_unsupported_serialization_is_4015(ae) -> None:
    # TS-0004 §6.6: a serialization the CSE does not support (its csz is JSON only).
    reply = ae.client.request(
        "POST",
        ae.path,
        content='<m2m:cnt xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="x"/>',
        content_type="application/xml;ty=3",
    )
    expect(reply, 4015, 415)
    expect(ae.client.retrieve(f"{ae.path}/x"), 4004, 404)


def test_post_without_ty_does_not_create(ae) -> None:
    # TS-0009 §6.2.1: a POST is a CREATE only when ty is in Content-Type (else NOTIFY).
    reply = ae.client.request(
        "POST", ae.path, body={"m2m:cnt": {"rn": "nty"}}, content_type="application/json"
    )
    assert reply.rsc not in (2000, 2001) and 400 <= reply.status < 500, reply
    expect(ae.client.retrieve(f"{ae.path}/nty"), 4004, 404)


def test_unknown_headers_are_ignored(m2m: M2M) -> None:
    reply = m2m.retrieve(m2m.cse_rn, headers={"X-M2M-Unknown": "1", "X-Whatever": "2"})
    expect(reply, 2000, 200)


def test_raw_http_client_with_lowercase_header_names(server) -> None:
    resp = httpx.get(
        f"{server.base_url}/{server.cse_rn}",
        headers={"x-m2m-origin": "CAdmin", "x-m2m-ri": "lower", "x-m2m-rvi": "3"},
    )
    assert resp.status_code == 200
    assert resp.headers["X-M2M-RSC"] == "2000"
    assert resp.headers["X-M2M-RI"] == "lower"


def test_unknown_http_method_is_a_client_error(server) -> None:
    resp = httpx.request("PATCH", f"{server.base_url}/{server.cse_rn}", headers=hdr())
    assert 400 <= resp.status_code < 500


def test_bad_ty_in_content_type_is_4000(ae) -> None:
    for ctype in ("application/json;ty=abc", "application/json;ty=", "application/json;ty=-3"):
        reply = ae.client.request(
            "POST", ae.path, body={"m2m:cnt": {"rn": "bt"}}, content_type=ctype
        )
        assert reply.rsc == 4000 and reply.status == 400, reply
    expect(ae.client.retrieve(f"{ae.path}/bt"), 4004, 404)


def test_unsupported_resource_type_is_rejected_without_5xx(ae) -> None:
    reply = ae.client.create(ae.path, 999, root="m2m:xyz", body={"m2m:xyz": {"rn": "u"}})
    assert reply.rsc in (4000, 4108, 5001) and reply.status in (400, 403, 501), reply


def test_missing_originator_on_retrieve_is_refused(m2m: M2M) -> None:
    # TS-0004 §7.2.1.1: From is mandatory except on AE CREATE.
    reply = m2m.retrieve(m2m.cse_rn, origin=None)
    assert reply.rsc in (4000, 4103, 4106) and reply.status in (400, 403), reply


def test_content_location_on_create_via_unstructured_parent(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "cl"})
    reply = expect(ae.client.create(f"/{cnt['ri']}", TY_CIN, {"con": "x"}), 2001, 201)
    assert reply.headers.get("Content-Location"), reply


def test_response_carries_the_release_version(m2m: M2M) -> None:
    # TS-0004 §7.2.1.2: rvi is in every response except towards Release 1 entities.
    assert m2m.retrieve(m2m.cse_rn, rvi="4").headers.get("X-M2M-RVI")


def test_expired_request_is_4008_and_not_executed(ae) -> None:
    # TS-0004 §7.3.2: a request whose expiration time (X-M2M-RET) has passed is not executed.
    reply = ae.client.create(
        ae.path, TY_CNT, {"rn": "late"}, headers={"X-M2M-RET": "20000101T000000"}
    )
    expect(reply, 4008, 504)
    expect(ae.client.retrieve(f"{ae.path}/late"), 4004, 404)
    reply = ae.client.create(
        ae.path, TY_CNT, {"rn": "intime"}, headers={"X-M2M-RET": "20991231T235959"}
    )
    expect(reply, 2001, 201)
