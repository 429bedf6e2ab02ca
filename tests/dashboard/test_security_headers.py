"""Every dashboard page (the route table of test_access, as the system admin who sees all),
the login page and the family link pages carry the security headers (issue 13, finding 8)."""

from __future__ import annotations

import httpx

from cloud.api.hardening import SECURITY_HEADERS
from tests.dashboard.conftest import World
from tests.dashboard.test_access import ROUTES, seeded  # noqa: F401 (fixture)

EXPECTED = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}


def _assert_headers(response: httpx.Response, what: str) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (what, name, response.headers.get(name))
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]


def test_every_html_page_has_the_security_headers(
    shared_world: World,
    clients: dict[str, httpx.Client],
    seeded: dict[str, str],  # noqa: F811
) -> None:
    admin = clients["sysadmin"]
    html = 0
    for route in ROUTES:
        if route.method != "GET":
            continue
        path = route.path.format(**seeded)
        response = admin.get(path)
        assert response.status_code < 500, path
        _assert_headers(response, path)
        html += response.headers.get("content-type", "").startswith("text/html")
    assert html >= 10
    base = shared_world.server.base_url
    for path in ("/login", "/family/ack/forged", "/family/unsubscribe/forged", "/nope"):
        _assert_headers(httpx.get(f"{base}{path}"), path)
