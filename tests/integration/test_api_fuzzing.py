"""Schemathesis against the real app's /openapi.json, as an admin: no 5xx, and every response (errors included,
as application/problem+json) has a declared status, content type and schema.

Bounded: EXAMPLES valid and EXAMPLES invalid requests per operation. The operations are driven from one test
(schemathesis' lazy pytest plugin does not run under pytest 9); every failure is collected and reported.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode

from streamstack.platform import build_platform
from tests.conftest import bearer, make_settings, new_api_key

EXAMPLES = 15
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
BOUNDED = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def fuzz_operation(operation: Any, mode: GenerationMode, headers: dict[str, str], run: Counter[str]) -> str | None:
    """Up to EXAMPLES requests of one kind to one operation; the first failure's report, or None."""

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        run[mode.value] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        check()
    except Unsatisfiable:
        return None  # nothing in this operation can be made invalid (no parameters, no body)
    except (Exception, FailureGroup) as exc:  # noqa: BLE001 - the failure group carries the whole report
        return f"{operation.label} ({mode.value}): {exc}"
    return None


def test_the_api_never_fails_and_always_answers_as_documented(tmp_path: Path) -> None:
    from streamstack.api import create_app

    platform = build_platform(make_settings(tmp_path / "data"))
    try:
        key = new_api_key(platform, name="fuzz")
        schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(platform))
        operations = [result.ok() for result in schema.get_all_operations()]
        run: Counter[str] = Counter()
        failures = [failure for operation in operations for mode in GenerationMode
                    if (failure := fuzz_operation(operation, mode, bearer(key), run))]
    finally:
        platform.close()
    print(f"schemathesis: {len(operations)} operations, {run['positive']} valid and {run['negative']} invalid "
          f"examples, {len(failures)} failures")
    assert len(operations) >= 20 and run["positive"] >= 10 * len(operations)
    assert failures == [], "\n\n".join(failures)
