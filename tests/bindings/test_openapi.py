"""The OpenAPI document (/openapi.json, /docs) against a real server.

The document is fetched from a `citycse serve` subprocess, validated as OpenAPI, compared
with the attribute tables it is derived from, its examples are sent to the server, and
schemathesis fuzzes every documented oneM2M operation, asserting that no response is a
server error."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from schemathesis import GenerationMode

from bindings.http import http_status
from bindings.openapi import TAGS
from bindings.openapi_schemas import ATTRIBUTE_DOCS, CREATE_EXAMPLES, UPDATE_EXAMPLES
from cse.attributes import Rule
from cse.constants import ResourceType
from resources.registry import SPECS

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "CAdmin"
HEADERS = {"X-M2M-Origin": ADMIN, "X-M2M-RVI": "3"}
AE_ID = "Ccharger-0042"  # the originator of the AE example; owns the example tree
SUBSCRIPTION = 23
POLLING_CHANNEL = 15

# Where each create example goes (structured path below /cse-in), and where it is updated.
EXAMPLE_PARENTS: dict[int, str] = {
    ResourceType.AE: "",
    ResourceType.CNT: "/charger-0042",
    ResourceType.CIN: "/charger-0042/meter",
    ResourceType.ACP: "/charger-0042",
    SUBSCRIPTION: "/charger-0042/meter",
    POLLING_CHANNEL: "/charger-0042",
}
EXAMPLE_TARGETS: dict[int, str] = {
    ResourceType.CSEBASE: "",
    ResourceType.AE: "/charger-0042",
    ResourceType.CNT: "/charger-0042/meter",
    ResourceType.ACP: "/charger-0042/acp-charger",
    SUBSCRIPTION: "/charger-0042/meter/meter-watch",
    POLLING_CHANNEL: "/charger-0042/inbox",
}

QUERY_PARAMETERS = (
    *("rcn", "drt", "atrl", "fu", "ty", "lbl", "cra", "crb", "ms", "us", "sts"),
    *("stb", "exa", "exb", "sza", "szb", "cty", "fo", "lim", "ofst", "lvl"),
)

FUZZ_EXAMPLES = 20  # per operation and generation mode
# TS-0009 table 6.3.2-1 maps these client-side conditions to 5xx statuses: 4001 release
# version not supported and 5001 not implemented -> 501, 4008 request timeout -> 504.
MAPPED_CLIENT_CONDITIONS = {(501, "4001"), (501, "5001"), (504, "4008")}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _m2m(rqi: str | None = None, origin: str = ADMIN) -> dict[str, str]:
    return {"X-M2M-Origin": origin, "X-M2M-RVI": "3", "X-M2M-RI": rqi or uuid.uuid4().hex}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `citycse serve` subprocess on a free loopback port with its own SQLite file."""
    tmp = tmp_path_factory.mktemp("openapi")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITYCSE_")}
    env["CITYCSE_LOG_LEVEL"] = "warning"
    log_path = tmp / "server.log"
    log = log_path.open("wb")
    command = [sys.executable, "-m", "cse", "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--db", f"sqlite+aiosqlite:///{tmp / 'cse.db'}"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}): {log_path.read_text()}")
            try:
                if httpx.get(f"{base}/cse-in", headers=_m2m(), timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer GET /cse-in within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def document(server: str) -> dict[str, Any]:
    response = httpx.get(f"{server}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    """A validator for one components.schemas entry, resolving refs inside the document."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:citycse:openapi", resource)
    schema = {"$ref": f"urn:citycse:openapi#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=registry)


def _response_schema_names(
    document: dict[str, Any], path: str, method: str, status: str
) -> list[str]:
    response = document["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    return [ref["$ref"].rsplit("/", 1)[1] for ref in schema.get("anyOf", [schema])]


def _conforms(document: dict[str, Any], path: str, method: str, status: str, body: Any) -> None:
    """The body matches one of the schemas documented for that response."""
    names = _response_schema_names(document, path, method, status)
    errors = {name: list(_validator(document, name).iter_errors(body)) for name in names}
    assert any(not found for found in errors.values()), (
        f"{method.upper()} {path} {status}: {body!r} matches none of {names}: "
        f"{ {n: [e.message for e in found[:2]] for n, found in errors.items()} }"
    )


# -- the document ------------------------------------------------------------------------


def test_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate_openapi(document)
    assert document["openapi"].startswith("3.1")
    onem2m_paths = {
        "/cse-in",
        "/cse-in/{path}",
        "/cse-in/{path}/la",
        "/cse-in/{path}/ol",
        "/{ri}",
        "/~/id-in/{target}",
        "/_/citycse.example/id-in/{target}",
    }
    assert onem2m_paths <= set(document["paths"])
    for path in onem2m_paths:
        for method, operation in document["paths"][path].items():
            if method == "parameters":
                continue
            assert operation["operationId"] and operation["description"], (path, method)
            assert operation["tags"], (path, method)


def test_docs_page_is_html(server: str) -> None:
    response = httpx.get(f"{server}/docs", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower() and "/openapi.json" in response.text


def test_schemas_follow_the_attribute_tables(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    by_root = {s["title"].split(" ")[0]: name for name, s in schemas.items() if "title" in s}
    for ty, spec in SPECS.items():
        table = spec.attributes
        name = by_root[spec.root]
        properties = schemas[name]["properties"]
        assert set(properties) - {"ch"} == set(table), spec.root
        for attr_name, attribute in table.items():
            read_only = attribute.create is Rule.NOT_PERMITTED and (
                attribute.update is Rule.NOT_PERMITTED
            )
            assert properties[attr_name].get("readOnly", False) is read_only, (
                spec.root,
                attr_name,
            )
            assert attr_name in ATTRIBUTE_DOCS, f"{spec.root}: {attr_name} has no long name"
            long_name = ATTRIBUTE_DOCS[attr_name][0]
            assert properties[attr_name]["description"].startswith(f"**{long_name}**")
        if ty == ResourceType.CSEBASE:
            assert f"{name}Create" not in schemas
        else:
            create = schemas[f"{name}Create"]
            assert set(create["properties"]) == {
                n for n, a in table.items() if a.create is not Rule.NOT_PERMITTED
            }, spec.root
            assert set(create.get("required", [])) == {
                n for n, a in table.items() if a.create is Rule.MANDATORY
            }, spec.root
            assert create["additionalProperties"] is False
        if spec.updatable:
            update = schemas[f"{name}Update"]
            assert set(update["properties"]) == {
                n for n, a in table.items() if a.update is not Rule.NOT_PERMITTED
            }, spec.root
        else:
            assert f"{name}Update" not in schemas
    assert schemas["Container"]["properties"]["mni"]["description"].startswith(
        "**maxNrOfInstances**"
    )
    for content in ("URIList", "ResourceRefList", "Debug"):
        assert schemas[content]["examples"], content


def test_every_schema_example_matches_its_schema(document: dict[str, Any]) -> None:
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            errors = [e.message for e in _validator(document, name).iter_errors(example)]
            assert not errors, (name, errors)
            checked += 1
    assert checked >= 3 * len(SPECS)


def test_headers_and_query_parameters_are_documented(document: dict[str, Any]) -> None:
    parameters = document["components"]["parameters"]
    by_name = {(p["in"], p["name"]): p for p in parameters.values()}
    for header in ("X-M2M-Origin", "X-M2M-RI", "X-M2M-RVI", "X-M2M-RET"):
        assert ("header", header) in by_name, header
    assert by_name[("header", "X-M2M-RI")]["required"] is True
    assert by_name[("header", "X-M2M-RVI")]["required"] is True
    assert by_name[("header", "X-M2M-RVI")]["schema"]["enum"] == ["2a", "3", "4", "5"]
    for name in QUERY_PARAMETERS:
        documented = [p for p in parameters.values() if p["in"] == "query" and p["name"] == name]
        assert documented, name
        for parameter in documented:
            assert parameter["description"] and parameter["schema"], name
    retrieve = document["paths"]["/cse-in/{path}"]["get"]["parameters"]
    names = {parameters[p["$ref"].rsplit("/", 1)[1]]["name"] for p in retrieve}
    assert set(QUERY_PARAMETERS) | {"attributes"} <= names
    assert "mni" in parameters["attributes"]["schema"]["properties"]
    headers = document["components"]["headers"]
    assert {"X-M2M-RSC", "X-M2M-RI", "X-M2M-RVI", "Content-Location"} <= set(headers)
    create_201 = document["paths"]["/cse-in"]["post"]["responses"]["201"]
    assert "Content-Location" in create_201["headers"]
    assert {f"application/json;ty={ty}" for ty in (1, 2, 3)} <= set(
        document["paths"]["/cse-in"]["post"]["requestBody"]["content"]
    )


def test_status_codes_follow_the_binding_mapping(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    assert {"Status400", "Status403", "Status404", "Status409", "Status500"} <= set(responses)
    for name, response in responses.items():
        status = int(name.removeprefix("Status"))
        listed = response["headers"]["X-M2M-RSC"]["description"]
        codes = [int(c) for c in listed.removeprefix("One of ").rstrip(".").split(", ")]
        assert codes and all(http_status(code) == status for code in codes), name
    description = document["info"]["description"]
    assert "| 409 | 4105 CONFLICT" in description
    assert "4117 ORIGINATOR_HAS_ALREADY_REGISTERED" in description


# -- the examples, sent to the server ------------------------------------------------------


@pytest.fixture(scope="module")
def example_tree(server: str) -> dict[int, httpx.Response]:
    """Every documented create example, sent as it is; the AE example registers AE_ID."""
    created: dict[int, httpx.Response] = {}
    for ty, parent in EXAMPLE_PARENTS.items():
        if ty not in SPECS:
            continue
        headers = {**_m2m(origin=AE_ID), "Content-Type": f"application/json;ty={ty}"}
        created[ty] = httpx.post(
            f"{server}/cse-in{parent}", json=CREATE_EXAMPLES[ty], headers=headers, timeout=10
        )
    return created


def test_create_examples_are_accepted(
    document: dict[str, Any], example_tree: dict[int, httpx.Response]
) -> None:
    creatable = {ty for spec in SPECS.values() for ty in spec.child_types}
    assert creatable <= set(EXAMPLE_PARENTS), "a creatable type has no create example here"
    for ty, response in example_tree.items():
        assert response.status_code == 201, (ty, response.text)
        assert response.headers["x-m2m-rsc"] == "2001"
        assert response.headers["content-location"].startswith("/cse-in/charger-0042")
        path = "/cse-in" if ty == ResourceType.AE else "/cse-in/{path}"
        _conforms(document, path, "post", "201", response.json())
    assert example_tree[ResourceType.AE].json()["m2m:ae"]["aei"] == AE_ID


def test_update_examples_and_retrievals_match_the_document(
    server: str, document: dict[str, Any], example_tree: dict[int, httpx.Response]
) -> None:
    for ty, path in EXAMPLE_TARGETS.items():
        if ty not in SPECS:
            continue
        template = "/cse-in" if ty == ResourceType.CSEBASE else "/cse-in/{path}"
        origin = ADMIN if ty == ResourceType.CSEBASE else AE_ID
        updated = httpx.put(
            f"{server}/cse-in{path}", json=UPDATE_EXAMPLES[ty], headers=_m2m(origin=origin)
        )
        assert updated.status_code == 200, (ty, updated.text)
        _conforms(document, template, "put", "200", updated.json())
        for query in ("", "?rcn=4", "?rcn=5", "?rcn=6", "?rcn=8", "?atrl=rn+lbl"):
            got = httpx.get(f"{server}/cse-in{path}{query}", headers=_m2m(origin=origin))
            assert got.status_code == 200, (ty, query, got.text)
            _conforms(document, template, "get", "200", got.json())
    latest = httpx.get(f"{server}/cse-in/charger-0042/meter/la", headers=_m2m(origin=AE_ID))
    assert latest.status_code == 200
    _conforms(document, "/cse-in/{path}/la", "get", "200", latest.json())
    found = httpx.get(f"{server}/cse-in?fu=1&lbl=kind:meter&ty=3", headers=_m2m())
    assert found.json() == {"m2m:uril": ["cse-in/charger-0042/meter"]}
    _conforms(document, "/cse-in", "get", "200", found.json())
    missing = httpx.get(f"{server}/cse-in/nothing-here", headers=_m2m("rq-404"))
    assert missing.status_code == 404 and missing.headers["x-m2m-ri"] == "rq-404"
    _conforms(document, "/cse-in/{path}", "get", "404", missing.json())
    if SUBSCRIPTION in SPECS:  # no subscription may outlive this test: the fuzzing follows
        gone = httpx.delete(
            f"{server}/cse-in{EXAMPLE_TARGETS[SUBSCRIPTION]}", headers=_m2m(origin=AE_ID)
        )
        assert gone.status_code == 200, gone.text


# -- schemathesis against the live server -------------------------------------------------


def _touches_subscriptions(case: schemathesis.Case) -> bool:
    """Subscriptions make the CSE send requests to the targets they name; the fuzzer must
    not create or change one, so that only loopback addresses are ever contacted."""
    media_type = (case.media_type or "").replace(" ", "")
    return media_type.endswith(f"ty={SUBSCRIPTION}") or (
        isinstance(case.body, dict) and "m2m:sub" in case.body
    )


def _fuzz(
    operation: schemathesis.APIOperation, mode: GenerationMode, findings: dict[tuple, str]
) -> int:
    """Send generated requests for one operation; record server errors; return the count."""
    strategy = operation.as_strategy(generation_mode=mode, headers=HEADERS)
    calls = 0

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=strategy)
    def run(case: schemathesis.Case) -> None:
        nonlocal calls
        if _touches_subscriptions(case):
            return
        response = case.call(headers={**HEADERS, "X-M2M-RI": uuid.uuid4().hex}, timeout=10)
        calls += 1
        rsc = ",".join(response.headers.get("x-m2m-rsc", []))
        if response.status_code < 500 or (response.status_code, rsc) in MAPPED_CLIENT_CONDITIONS:
            return
        key = (operation.label, response.status_code, rsc, response.text[:80])
        findings.setdefault(
            key,
            f"{case.as_curl_command()}\n  -> {response.status_code} X-M2M-RSC: {rsc} "
            f"{response.text[:300]}",
        )

    run()
    return calls


def test_schemathesis_finds_no_server_error(
    server: str, example_tree: dict[int, httpx.Response]
) -> None:
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    # The oneM2M binding's operations; service routes merged into the document (event
    # streams, metrics) hold connections open and are not part of the oneM2M API.
    onem2m_tags = {tag["name"] for tag in TAGS}
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if onem2m_tags & set(op.definition.raw.get("tags", []))
    ]
    assert len(operations) >= 20
    # Destructive operations last, so that the others meet the example tree.
    operations.sort(key=lambda op: op.method.upper() == "DELETE")
    findings: dict[tuple, str] = {}
    started = time.monotonic()
    calls = sum(
        _fuzz(operation, mode, findings)
        for operation in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    )
    elapsed = time.monotonic() - started
    assert calls >= 10 * len(operations), calls
    assert not findings, (
        f"{len(findings)} kind(s) of server error in {calls} requests ({elapsed:.0f} s):\n"
        + "\n".join(findings.values())
    )
