"""`la` and `ol` are answered from memory between changes: every kind of change to the
container or its instances must show in the very next answer."""

from __future__ import annotations

from tests.cse.test_expiration import SOON, wait_past
from tests.resources.test_acp import ALL, R, make_acp, rule
from tests.support.client import TY_CIN, TY_CNT, expect, timestamp


def edges(client, path: str) -> tuple[str, str]:
    return client.get(f"{path}/la", TY_CIN)["ri"], client.get(f"{path}/ol", TY_CIN)["ri"]


def test_la_and_ol_follow_new_instances(ae) -> None:
    cnt = ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    path = f"{ae.path}/c"
    first = ae.client.make(path, TY_CIN, {"con": "1"})
    assert edges(ae.client, path) == (first["ri"], first["ri"])
    assert edges(ae.client, f"/{cnt['ri']}") == (first["ri"], first["ri"])
    second = ae.client.make(path, TY_CIN, {"con": "2"})
    assert edges(ae.client, path) == (second["ri"], first["ri"])
    assert edges(ae.client, f"/{cnt['ri']}") == (second["ri"], first["ri"])


def test_la_and_ol_follow_deletes(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    path = f"{ae.path}/c"
    cins = [ae.client.make(path, TY_CIN, {"con": str(i)}) for i in range(4)]
    assert edges(ae.client, path) == (cins[3]["ri"], cins[0]["ri"])
    expect(ae.client.delete(f"/{cins[3]['ri']}"), 2002, 200)
    expect(ae.client.delete(f"/{cins[0]['ri']}"), 2002, 200)
    assert edges(ae.client, path) == (cins[2]["ri"], cins[1]["ri"])
    expect(ae.client.delete(f"{path}/la"), 2002, 200)
    assert edges(ae.client, path) == (cins[1]["ri"], cins[1]["ri"])
    expect(ae.client.delete(f"{path}/ol"), 2002, 200)
    expect(ae.client.retrieve(f"{path}/la"), 4004, 404)
    expect(ae.client.retrieve(f"{path}/ol"), 4004, 404)


def test_ol_follows_evictions_by_mni_and_by_lowering_mni(ae) -> None:
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "mni": 2})
    path = f"{ae.path}/c"
    cins = [ae.client.make(path, TY_CIN, {"con": str(i)}) for i in range(2)]
    assert edges(ae.client, path) == (cins[1]["ri"], cins[0]["ri"])
    cins.append(ae.client.make(path, TY_CIN, {"con": "2"}))
    assert edges(ae.client, path) == (cins[2]["ri"], cins[1]["ri"])
    expect(ae.client.update(path, TY_CNT, {"mni": 1}), 2004, 200)
    assert edges(ae.client, path) == (cins[2]["ri"], cins[2]["ri"])


def test_la_follows_a_new_access_control_policy(register) -> None:
    owner, other = register(), register()
    shared = make_acp(owner, [rule([owner.origin], ALL), rule([other.origin], R)])
    private = make_acp(owner, [rule([owner.origin], ALL)])
    owner.client.make(owner.path, TY_CNT, {"rn": "c", "acpi": [shared["ri"]]})
    path = f"{owner.path}/c"
    cin = owner.client.make(path, TY_CIN, {"con": "x"})
    assert other.client.get(f"{path}/la", TY_CIN)["ri"] == cin["ri"]
    expect(owner.client.update(path, TY_CNT, {"acpi": [private["ri"]]}), 2004, 200)
    expect(other.client.retrieve(f"{path}/la"), 4103, 403)
    assert owner.client.get(f"{path}/la", TY_CIN)["ri"] == cin["ri"]


def test_la_of_a_container_deleted_and_made_again(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    ae.client.make(path, TY_CIN, {"con": "old"})
    assert ae.client.get(f"{path}/la", TY_CIN)["con"] == "old"
    expect(ae.client.delete(path), 2002, 200)
    expect(ae.client.retrieve(f"{path}/la"), 4004, 404)
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    expect(ae.client.retrieve(f"{path}/la"), 4004, 404)
    ae.client.make(path, TY_CIN, {"con": "new"})
    assert ae.client.get(f"{path}/la", TY_CIN)["con"] == "new"


def test_la_is_gone_with_a_deleted_ancestor(m2m, ae) -> None:
    path = f"{ae.path}/outer/inner"
    ae.client.make(ae.path, TY_CNT, {"rn": "outer"})
    ae.client.make(f"{ae.path}/outer", TY_CNT, {"rn": "inner"})
    ae.client.make(path, TY_CIN, {"con": "x"})
    assert ae.client.get(f"{path}/la", TY_CIN)["con"] == "x"
    expect(ae.client.delete(f"{ae.path}/outer"), 2002, 200)
    expect(m2m.retrieve(f"{path}/la"), 4004, 404)


def test_la_moves_back_when_the_newest_instance_expires(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c"})
    keep = ae.client.make(path, TY_CIN, {"con": "keep"})
    brief = ae.client.make(path, TY_CIN, {"con": "brief", "et": timestamp(SOON)})
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == brief["ri"]
    wait_past()
    assert ae.client.get(f"{path}/la", TY_CIN)["ri"] == keep["ri"]


def test_la_is_gone_when_the_container_expires(ae) -> None:
    path = f"{ae.path}/c"
    ae.client.make(ae.path, TY_CNT, {"rn": "c", "et": timestamp(SOON)})
    ae.client.make(path, TY_CIN, {"con": "x"})
    assert ae.client.get(f"{path}/la", TY_CIN)["con"] == "x"
    wait_past()
    expect(ae.client.retrieve(f"{path}/la"), 4004, 404)
