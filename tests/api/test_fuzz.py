"""Every operation of the OpenAPI schema, fed generated input (schemathesis strategies run
by hypothesis): no input may cause a 5xx, and every error answer has the JSON error shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from frontdesk.api.app import create_app
from frontdesk.service.runtime import Runtime
from tests.support import sign_up

EXAMPLES_PER_OPERATION = 25


def test_no_input_causes_a_server_error(runtime: Runtime) -> None:
    app = create_app(runtime)
    with TestClient(app) as client:
        headers = sign_up(client, plan="pro").headers
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 25
    for operation in operations:
        if operation.path.endswith("/auth/logout"):
            continue  # would revoke the token the other operations use

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.method, case.path, response.text)
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["code"]
                assert error["message"]

        check()
