"""The container resource (ty=3): counters, limits and the la/ol virtual resources."""

from __future__ import annotations

import time

import pytest

from tests.support.client import TY_AE, TY_CIN, TY_CNT, expect


def fill(client, path: str, n: int, start: int = 0) -> list[dict]:
    return [client.make(path, TY_CIN, {"con": f"v{start + i}"}) for i in range(n)]


def test_new_container_has_zero_counters(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c", "lbl": ["k:v"]})
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (0, 0, 0)
    assert cnt["pi"] == ae.ri and cnt["ty"] == TY_CNT and cnt["lbl"] == ["k:v"]


def test_nested_containers(ae) -> None:
    outer = ae.client.make(ae.path, TY_CNT, {"rn": "outer"})
    inner = ae.client.make(f"{ae.path}/outer", TY_CNT, {"rn": "inner"})
    assert inner["pi"] == outer["ri"]
    assert ae.client.get(f"{ae.path}/outer/inner", TY_CNT)["ri"] == inner["ri"]


def test_cni_cbs_st_follow_creates_and_deletes(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = [ae.client.make(path, TY_CIN, {"con": "x" * n}) for n in (1, 2, 3)]
    assert [c["st"] for c in cins] == [1, 2, 3]
    cnt = ae.client.get(path, TY_CNT)
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (3, 6, 3)
    expect(ae.client.delete(f"{path}/{cins[1]['rn']}"), 2002, 200)
    cnt = ae.client.get(path, TY_CNT)
    assert (cnt["cni"], cnt["cbs"]) == (2, 4)


def test_mni_removes_the_oldest(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 3})
    cins = fill(ae.client, path, 5)
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cni"] == 3 and cnt["cbs"] == 6
    for gone in cins[:2]:
        expect(ae.client.retrieve(f"/{gone['ri']}"), 4004, 404)
    assert ae.client.get(f"{path}/ol", TY_CIN)["ri"] == cins[2]["ri"]
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == cins[4]["ri"]


def test_mbs_removes_the_oldest(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mbs": 10})
    cins = [ae.client.make(path, TY_CIN, {"con": f"abc{i}"}) for i in range(3)]  # 4 bytes each
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cbs"] == 8 and cnt["cni"] == 2
    expect(ae.client.retrieve(f"/{cins[0]['ri']}"), 4004, 404)
    assert ae.client.get(f"{path}/ol", TY_CIN)["ri"] == cins[1]["ri"]


def test_instance_larger_than_mbs_is_5207_and_changes_nothing(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mbs": 5})
    kept = ae.client.make(path, TY_CIN, {"con": "abc"})
    expect(ae.client.create(path, TY_CIN, {"con": "abcdef", "rn": "big"}), 5207, 406)
    cnt = ae.client.get(path, TY_CNT)
    assert (cnt["cni"], cnt["cbs"], cnt["st"]) == (1, 3, 1)
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == kept["ri"]
    expect(ae.client.retrieve(f"{path}/big"), 4004, 404)


def test_lowering_mni_by_update_prunes_the_oldest(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = fill(ae.client, path, 5)
    reply = expect(ae.client.update(path, TY_CNT, {"mni": 2}), 2004, 200)
    assert reply.res("m2m:cnt")["cni"] == 2
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cni"] == 2 and cnt["cbs"] == 4 and cnt["mni"] == 2
    for gone in cins[:3]:
        expect(ae.client.retrieve(f"/{gone['ri']}"), 4004, 404)
    assert ae.client.get(f"{path}/ol", TY_CIN)["ri"] == cins[3]["ri"]


def test_lowering_mbs_by_update_prunes_the_oldest(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = fill(ae.client, path, 4)  # 2 bytes each
    expect(ae.client.update(path, TY_CNT, {"mbs": 5}), 2004, 200)
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cbs"] == 4 and cnt["cni"] == 2
    assert ae.client.get(f"{path}/ol", TY_CIN)["ri"] == cins[2]["ri"]


def test_mia_expires_old_instances(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mia": 1})
    old = ae.client.make(path, TY_CIN, {"con": "old"})
    time.sleep(2.2)
    new = ae.client.make(path, TY_CIN, {"con": "new"})
    expect(ae.client.retrieve(f"/{old['ri']}"), 4004, 404)
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cni"] == 1 and cnt["cbs"] == 3
    assert ae.client.get(f"{path}/ol", TY_CIN)["ri"] == new["ri"]


def test_mia_applies_on_retrieve_without_new_creates(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mia": 1})
    ae.client.make(path, TY_CIN, {"con": "old"})
    time.sleep(2.2)
    expect(ae.client.retrieve(f"{path}/la"), 4004, 404)


def test_la_and_ol_of_an_empty_container_are_4004(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    expect(ae.client.retrieve(f"{ae.path}/c/la"), 4004, 404)
    expect(ae.client.retrieve(f"{ae.path}/c/ol"), 4004, 404)
    expect(ae.client.delete(f"{ae.path}/c/la"), 4004, 404)


def test_la_ol_through_unstructured_and_sp_relative_addresses(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = fill(ae.client, f"{ae.path}/c", 3)
    assert ae.client.get(f"/{cnt['ri']}/la", TY_CIN)["ri"] == cins[-1]["ri"]
    assert ae.client.get(f"/{cnt['ri']}/ol", TY_CIN)["ri"] == cins[0]["ri"]
    assert ae.client.get(f"/~/id-in/{ae.path}/c/la", TY_CIN)["ri"] == cins[-1]["ri"]


def test_delete_la_and_ol(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = fill(ae.client, path, 4)
    expect(ae.client.delete(f"{path}/la"), 2002, 200)
    expect(ae.client.delete(f"{path}/ol"), 2002, 200)
    expect(ae.client.retrieve(f"/{cins[0]['ri']}"), 4004, 404)
    expect(ae.client.retrieve(f"/{cins[3]['ri']}"), 4004, 404)
    cnt = ae.client.get(path, TY_CNT)
    assert cnt["cni"] == 2 and cnt["cbs"] == 4
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == cins[2]["ri"]


def test_la_and_ol_cannot_be_updated_or_created_under(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    fill(ae.client, path, 1)
    reply = ae.client.update(f"{path}/la", TY_CIN, {"lbl": ["x"]})
    assert reply.rsc in (4005, 4000) and reply.status in (405, 400), reply
    reply = ae.client.create(f"{path}/la", TY_CIN, {"con": "x"})
    assert reply.rsc in (4005, 4108, 4000) and 400 <= reply.status < 500, reply
    assert ae.client.get(path, TY_CNT)["cni"] == 1


def test_st_is_shared_with_instances_and_never_reused(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 2})
    cins = fill(ae.client, path, 4)
    assert [c["st"] for c in cins] == [1, 2, 3, 4]
    expect(ae.client.delete(f"{path}/la"), 2002, 200)
    after = ae.client.make(path, TY_CIN, {"con": "again"})
    assert after["st"] > 4


def test_deleting_a_container_removes_its_instances(m2m, ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cins = fill(ae.client, path, 3)
    expect(ae.client.delete(path), 2002, 200)
    for cin in cins:
        expect(m2m.retrieve(f"/{cin['ri']}"), 4004, 404)
    # a new container with the same name starts from zero
    again = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    assert (again["cni"], again["cbs"], again["st"]) == (0, 0, 0)


def test_name_clash_is_4105_and_la_ol_names_are_reserved(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    expect(ae.client.create(ae.path, TY_CNT, {"rn": "c"}), 4105, 409)
    for reserved in ("la", "ol"):
        reply = ae.client.create(f"{ae.path}/c", TY_CNT, {"rn": reserved})
        assert reply.rsc in (4000, 4105) and reply.status in (400, 409), reply


@pytest.mark.parametrize(
    "bad",
    [
        {"mni": -1},
        {"mni": "3"},
        {"mbs": -5},
        {"mbs": 1.5},
        {"mia": "x"},
        {"cni": 0},
        {"cbs": 0},
        {"st": 0},
        {"lbl": [1]},
        {"disr": "yes"},
        {"unknown": 1},
        {"con": "x"},
    ],
)
def test_invalid_container_attributes_are_4000(ae, bad: dict) -> None:
    reply = ae.client.create(ae.path, TY_CNT, {"rn": "bad", **bad})
    expect(reply, 4000, 400)
    expect(ae.client.retrieve(f"{ae.path}/bad"), 4004, 404)


@pytest.mark.parametrize("bad", [{"cni": 5}, {"cbs": 1}, {"st": 9}, {"mni": -2}, {"ri": "x"}])
def test_invalid_container_updates_are_4000_and_change_nothing(ae, bad: dict) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 7})
    expect(ae.client.update(f"{ae.path}/c", TY_CNT, {"lbl": ["new"], **bad}), 4000, 400)
    cnt = ae.client.get(f"{ae.path}/c", TY_CNT)
    assert cnt["mni"] == 7 and cnt.get("lbl", []) != ["new"] and cnt["cni"] == 0


def test_container_cannot_be_created_under_an_instance(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    cin = ae.client.make(f"{ae.path}/c", TY_CIN, {"con": "x", "rn": "i"})
    expect(ae.client.create(f"{ae.path}/c/i", TY_CNT, {"rn": "x"}), 4108, 403)
    expect(
        ae.client.create(f"/{cin['ri']}", TY_AE, {"api": "Nx", "rr": False, "srv": ["3"]}),
        4108,
        403,
    )


def test_creator_is_filled_in_when_requested_with_null(ae) -> None:
    # TS-0001 9.6.1.3: a null `cr` in CREATE asks the hosting CSE to record the originator.
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c", "cr": None})
    assert cnt["cr"] == ae.origin or cnt["cr"].endswith("/" + ae.origin), cnt
    plain = ae.client.make(ae.path, TY_CNT, {"rn": "d"})
    assert "cr" not in plain


def test_update_touches_lt_but_not_ct(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    time.sleep(1.05)
    updated = expect(ae.client.update(f"{ae.path}/c", TY_CNT, {"mni": 9}), 2004).res("m2m:cnt")
    assert updated["ct"] == cnt["ct"]
    assert updated["lt"] > cnt["lt"]
    assert updated["st"] == cnt["st"] + 1  # stateTag counts every modification (TS-0001 9.6.6)


def test_nothing_below_la(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    fill(ae.client, f"{ae.path}/c", 1)
    expect(ae.client.retrieve(f"{ae.path}/c/la/more"), 4004, 404)
