"""The dashboard's files are served by the CSE itself, beside the oneM2M API."""

from __future__ import annotations

import httpx
import pytest

from tests.support.client import expect


@pytest.fixture
def http(server) -> httpx.Client:
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


def test_dashboard_path_leads_to_the_page(http):
    reply = http.get("/dashboard")
    assert reply.status_code == 308
    assert reply.headers["location"] == "/dashboard/"
    page = http.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text


def test_config_names_the_cse_and_is_not_cached(http, server):
    reply = http.get("/dashboard/config.json")
    assert reply.status_code == 200
    assert reply.json() == {"cseRn": server.cse_rn, "cseId": server.cse_id}
    assert reply.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["js/main.js", "js/views/chargers.js", "style.css"])
def test_static_files_are_served(http, path):
    reply = http.get(f"/dashboard/{path}")
    assert reply.status_code == 200, path
    assert reply.content


@pytest.mark.parametrize(
    "path",
    ["/dashboard/nope.js", "/dashboard/%2e%2e/dashboard.py", "/dashboard/js/%2e%2e/%2e%2e/app.py"],
)
def test_unknown_or_outside_files_are_not_found(http, path):
    reply = http.get(path)
    assert reply.status_code == 404, (path, reply.text[:200])


def test_onem2m_api_is_untouched_beside_it(http, m2m, server):
    cse = m2m.get(server.cse_rn, 5)
    assert cse["rn"] == server.cse_rn
    reply = m2m.retrieve(f"{server.cse_rn}/dashboard")
    expect(reply, 4004, 404)
