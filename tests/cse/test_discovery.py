"""Discovery (fu=1) and conditional retrieval (fu=2) with filter criteria (TS-0004 §6.3.5.8)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from tests.support.client import (
    TY_ACP,
    TY_AE,
    TY_CIN,
    TY_CNT,
    expect,
    structured_suffix,
    tail,
    timestamp,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@dataclass
class Tree:
    ae: object
    ri: dict[str, str]  # relative name -> ri

    def names(self, uril: list[str]) -> set[str]:
        prefix = self.ae.rn + "/"
        out = set()
        for uri in uril:
            suffix = structured_suffix(uri)
            assert suffix.startswith(prefix) or suffix == self.ae.rn, f"{uri} outside the tree"
            out.add(suffix[len(prefix) :] if suffix != self.ae.rn else "")
        return out


@pytest.fixture
def tree(ae) -> Tree:
    c = ae.client
    ri = {}
    ri["a"] = c.make(
        ae.path,
        TY_CNT,
        {"rn": "a", "lbl": ["color:red", "site:1"], "mni": 5, "et": timestamp(2 * HOUR)},
    )["ri"]
    ri["b"] = c.make(
        ae.path, TY_CNT, {"rn": "b", "lbl": ["color:blue"], "mni": 9, "et": timestamp(2 * DAY)}
    )["ri"]
    ri["a/sub"] = c.make(
        f"{ae.path}/a", TY_CNT, {"rn": "sub", "lbl": ["color:green"], "et": timestamp(10 * DAY)}
    )["ri"]
    ri["a/a1"] = c.make(
        f"{ae.path}/a", TY_CIN, {"rn": "a1", "con": "x" * 5, "cnf": "text/plain:0", "lbl": ["k:1"]}
    )["ri"]
    ri["a/a2"] = c.make(
        f"{ae.path}/a", TY_CIN, {"rn": "a2", "con": "y" * 50, "cnf": "application/json:0"}
    )["ri"]
    return Tree(ae, ri)


def disc(tree: Tree, query: str, target: str | None = None) -> set[str]:
    """Discover with a raw query string (so `+` is sent as TS-0009 writes it)."""
    target = target or tree.ae.path
    reply = expect(tree.ae.client.retrieve(f"{target}?fu=1&{query}"), 2000, 200)
    uril = reply.res("m2m:uril")
    assert isinstance(uril, list)
    assert len(uril) == len(set(uril)), f"duplicates in {uril}"
    return tree.names(uril)


CONTAINERS = {"a", "b", "a/sub"}
INSTANCES = {"a/a1", "a/a2"}


def test_discovery_by_type(tree) -> None:
    assert disc(tree, "ty=3") == CONTAINERS
    assert disc(tree, "ty=4") == INSTANCES


def test_multiple_types_with_plus(tree) -> None:
    assert disc(tree, "ty=3+4") == CONTAINERS | INSTANCES
    # the same, percent-encoded by a client library
    assert disc(tree, "ty=3%2B4") == CONTAINERS | INSTANCES


def test_discovery_without_filter_finds_the_whole_subtree(tree) -> None:
    found = disc(tree, "lim=100")
    assert found >= CONTAINERS | INSTANCES


def test_result_is_an_empty_list_when_nothing_matches(tree) -> None:
    reply = expect(tree.ae.client.retrieve(f"{tree.ae.path}?fu=1&lbl=nothing:here"), 2000, 200)
    assert reply.body == {"m2m:uril": []}


def test_labels(tree) -> None:
    assert disc(tree, "lbl=color:red") == {"a"}
    assert disc(tree, "lbl=color:red+color:blue") == {"a", "b"}
    assert disc(tree, "lbl=k:1") == {"a/a1"}


def test_filter_operation_and_is_default_or_on_request(tree) -> None:
    assert disc(tree, "ty=3&lbl=color:red") == {"a"}
    assert disc(tree, "ty=3&lbl=color:red&fo=1") == {"a"}
    assert disc(tree, "ty=4&lbl=color:blue&fo=2") == INSTANCES | {"b"}
    assert disc(tree, "ty=4&lbl=color:blue") == set()


def test_level(tree) -> None:
    assert disc(tree, "ty=3&lvl=1") == {"a", "b"}
    assert disc(tree, "ty=3+4&lvl=2") == CONTAINERS | INSTANCES


def test_limit_and_offset_page_through_the_results(tree) -> None:
    everything = disc(tree, "ty=3+4")
    assert len(disc(tree, "ty=3+4&lim=2")) == 2
    pages = [disc(tree, f"ty=3+4&lim=2&ofst={o}") for o in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert pages[0] | pages[1] | pages[2] == everything
    assert not (pages[0] & pages[1]) and not (pages[1] & pages[2])
    assert disc(tree, "ty=3+4&ofst=10") == set()


def test_created_before_and_after(tree) -> None:
    assert disc(tree, f"ty=3&cra={timestamp(-HOUR)}") == CONTAINERS
    assert disc(tree, f"ty=3&cra={timestamp(HOUR)}") == set()
    assert disc(tree, f"ty=3&crb={timestamp(HOUR)}") == CONTAINERS
    assert disc(tree, f"ty=3&crb={timestamp(-HOUR)}") == set()


def test_modified_since_and_unmodified_since(tree) -> None:
    time.sleep(1.1)
    mark = timestamp()
    time.sleep(1.1)
    expect(tree.ae.client.update(f"{tree.ae.path}/b", TY_CNT, {"lbl": ["color:blue", "new"]}), 2004)
    assert disc(tree, f"ty=3&ms={mark}") == {"b"}
    assert disc(tree, f"ty=3&us={mark}") == {"a", "a/sub"}


def test_state_tag_smaller_and_bigger(tree) -> None:
    # a has st 2 (two instances), b and a/sub have st 0
    assert disc(tree, "ty=3&stb=1") == {"a"}
    assert disc(tree, "ty=3&sts=1") == {"b", "a/sub"}


def test_expire_before_and_after(tree) -> None:
    assert disc(tree, f"ty=3&exb={timestamp(DAY)}") == {"a"}
    assert disc(tree, f"ty=3&exa={timestamp(DAY)}") == {"b", "a/sub"}


def test_size_above_and_below(tree) -> None:
    assert disc(tree, "sza=20") == {"a/a2"}
    assert disc(tree, "szb=20") == {"a/a1"}
    assert disc(tree, "sza=5&szb=6") == {"a/a1"}  # sza is >=, szb is <


def test_content_type(tree) -> None:
    assert disc(tree, "cty=text/plain") == {"a/a1"}
    assert disc(tree, "cty=application/json") == {"a/a2"}
    assert disc(tree, "cty=text/plain+application/json") == INSTANCES


def test_attribute_filters(tree) -> None:
    assert disc(tree, "mni=9") == {"b"}
    assert disc(tree, "ty=3&mni=5") == {"a"}
    assert disc(tree, "rn=sub") == {"a/sub"}
    assert disc(tree, "mni=5&rn=b&fo=2") == {"a", "b"}


def test_unstructured_results_with_drt_2(tree) -> None:
    reply = expect(tree.ae.client.retrieve(f"{tree.ae.path}?fu=1&ty=3&drt=2"), 2000, 200)
    ris = {tail(u) for u in reply.res("m2m:uril")}
    assert ris == {tree.ri[n] for n in CONTAINERS}


def test_structured_results_are_the_default(tree) -> None:
    reply = expect(tree.ae.client.retrieve(f"{tree.ae.path}?fu=1&ty=3&drt=1"), 2000, 200)
    assert tree.names(reply.res("m2m:uril")) == CONTAINERS
    default = expect(tree.ae.client.retrieve(f"{tree.ae.path}?fu=1&ty=3"), 2000, 200)
    assert sorted(default.res("m2m:uril")) == sorted(reply.res("m2m:uril"))
    for uri in default.res("m2m:uril"):
        assert tree.ae.rn in uri.split("/"), uri


def test_discovery_from_an_unstructured_target(tree) -> None:
    assert disc(tree, "ty=4", target=f"/{tree.ri['a']}") == INSTANCES
    below_a = disc(tree, "ty=3", target=f"/{tree.ri['a']}")
    assert "a/sub" in below_a and "b" not in below_a


def test_discovery_does_not_leave_the_target_subtree(tree, register) -> None:
    neighbour = register()
    neighbour.client.make(neighbour.path, TY_CNT, {"rn": "a", "lbl": ["color:red"]})
    assert disc(tree, "lbl=color:red") == {"a"}


@pytest.mark.parametrize(
    "query",
    [
        "ty=abc",
        "lim=-1",
        "lim=x",
        "fu=9",
        "cra=yesterday",
        "lvl=0x",
        "ofst=-3",
        "fo=7",
        "drt=5",
        "sza=big",
        "stb=x",
    ],
)
def test_invalid_filter_values_are_4000(ae, query: str) -> None:
    if not query.startswith("fu="):
        query = "fu=1&" + query
    expect(ae.client.retrieve(f"{ae.path}?{query}"), 4000, 400)


def test_conditional_retrieval_of_a_matching_target(tree) -> None:
    # fu=2 (the default filter usage): a target that matches is retrieved as usual.
    for query in ("fu=2&lbl=color:red", "lbl=color:red", "fu=2&ty=3&mni=5"):
        reply = expect(tree.ae.client.retrieve(f"{tree.ae.path}/a?{query}"), 2000, 200)
        assert reply.res("m2m:cnt")["ri"] == tree.ri["a"]


def test_discovery_is_limited_to_what_the_originator_may_discover(m2m, register) -> None:
    owner, other = register(), register()
    c = owner.client

    def acp(ops: int) -> str:
        return c.make(
            owner.path,
            TY_ACP,
            {
                "pv": {
                    "acr": [
                        {"acor": [owner.origin], "acop": 63},
                        {"acor": [other.origin], "acop": ops},
                    ]
                },
                "pvs": {"acr": [{"acor": [owner.origin], "acop": 63}]},
            },
        )["ri"]

    discover, read_only = acp(32 | 2), acp(2)
    expect(c.update(owner.path, TY_AE, {"acpi": [discover]}), 2004)
    c.make(owner.path, TY_CNT, {"rn": "p", "acpi": [discover], "lbl": ["shared"]})
    c.make(owner.path, TY_CNT, {"rn": "q", "lbl": ["shared"]})
    c.make(owner.path, TY_CNT, {"rn": "r", "acpi": [read_only], "lbl": ["shared"]})
    for parent in ("p", "q", "r"):
        c.make(f"{owner.path}/{parent}", TY_CIN, {"con": parent, "rn": f"i{parent}"})

    tree = Tree(owner, {})
    seen = tree.names(other.client.discover(owner.path, ty="3"))
    assert seen == {"p"}
    assert tree.names(other.client.discover(owner.path, ty="4")) == {
        "p/ip"
    }  # CIN follows its parent
    assert tree.names(other.client.discover(owner.path, lbl="shared")) == {"p"}
    assert tree.names(c.discover(owner.path, ty="3")) == {"p", "q", "r"}
    assert tree.names(m2m.discover(owner.path, ty="3")) == {"p", "q", "r"}
    # limits count what the originator may see
    assert len(other.client.discover(owner.path, lbl="shared", lim="1")) == 1


def test_discovery_of_a_target_without_discover_privilege(register) -> None:
    owner, other = register(), register()
    owner.client.make(owner.path, TY_CNT, {"rn": "hidden"})
    reply = other.client.retrieve(f"{owner.path}?fu=1&ty=3")
    # either refused outright or an empty result: never the hidden container
    if reply.rsc == 2000:
        assert reply.res("m2m:uril") == []
    else:
        expect(reply, 4103, 403)
