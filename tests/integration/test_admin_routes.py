"""Every /v1/admin route sits behind the one admin dependency of the admin router, checked
before anything else the route depends on, so no admin route can be added without it; and
admin routes are measured, like every route, by their full template."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from prometheus_client.parser import text_string_to_metric_families

from heirloom.api import deps
from heirloom.api.app import create_app
from heirloom.config import Settings
from tests.conftest import ServedApi

ServeApi = Callable[..., ServedApi]
METRICS_TOKEN = "admin-routes-metrics"


def _routes(tmp_path: Path) -> list[tuple[str, RouteContext, APIRoute]]:
    """The app's routes: each one's path and the route as mounted (with its routers'
    dependencies and tags) beside the route as declared."""
    app = create_app(Settings(home=tmp_path))
    return [
        (route.path or "", route, route.original_route)
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def test_every_admin_route_depends_on_the_admin_router_dependency(tmp_path: Path) -> None:
    admin_routes = [(p, route) for p, route, _ in _routes(tmp_path) if p.startswith("/v1/admin")]
    assert len(admin_routes) >= 20
    for path, route in admin_routes:
        assert deps.AdminOnly in route.dependencies, (route.methods, path)
        first = route.dependant.dependencies[0]
        assert first.call is deps.get_admin_user, (route.methods, path)


def test_admin_routes_and_only_they_are_tagged_admin(tmp_path: Path) -> None:
    for path, route, _ in _routes(tmp_path):
        admin_path = path.startswith("/v1/admin/")
        assert ("admin" in route.tags) == admin_path, (route.methods, path)


def test_every_route_is_declared_with_its_full_path(tmp_path: Path) -> None:
    # The request metrics label a request by scope["route"], the route as declared: a prefix
    # given when a router is included would be missing from the label.
    for path, _, declared in _routes(tmp_path):
        assert declared.path == path, path


def _request_count(url: str, method: str, route: str, status: str) -> float:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = httpx.get(f"{url}/metrics", headers=headers, timeout=10).text
    labels = {"method": method, "route": route, "status": status}
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "heirloom_http_request_duration_seconds_count" and sample.labels == labels
    )


def test_request_metrics_label_admin_routes_by_their_full_template(serve_api: ServeApi) -> None:
    api = serve_api(metrics_token=METRICS_TOKEN, metrics_cache_s=0.0)
    _, user_key = api.new_user()
    with api.client(api.admin_key) as admin, api.client(user_key) as user:
        assert admin.get("/v1/admin/users").status_code == 200
        assert user.get("/v1/admin/jobs/nosuchjob").status_code == 403
    assert _request_count(api.url, "GET", "/v1/admin/users", "200") >= 1
    assert _request_count(api.url, "GET", "/v1/admin/jobs/{job_id}", "403") >= 1
