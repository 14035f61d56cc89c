"""Schemathesis against a service's own OpenAPI schema, in process, deterministic.

Every operation is fuzzed with schema-valid and schema-invalid cases (Hypothesis, derandomized);
each case is sent as generated and again with the service's bearer token, so both the refusals
at the door and the code behind it are reached. A case fails when the service answers 5xx, a
status its schema does not document, a body its schema does not allow, or an error not in the
project's ``{"error": {"code", "message"}}`` format; schema-invalid input must be refused.

Not checked: Schemathesis's ``positive_data_acceptance`` (a schema-valid request must be accepted).
A schema cannot say that a signature verifies, that a round exists or that an account can afford
an order, so such requests rightly get 401/404/409 and, for values only the domain can judge (an
unknown instrument, a band outside the reference), 422.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

__all__ = ["FuzzReport", "fuzz_app", "project_error_format"]


def project_error_format(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx and 5xx body is ``{"error": {"code": str, "message": str}}``."""
    if response.status_code < 400:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(f"error response is not JSON: {response.text[:200]!r}") from None
    inner = body.get("error") if isinstance(body, dict) else None
    if not (isinstance(inner, dict) and isinstance(inner.get("code"), str) and isinstance(inner.get("message"), str)):
        raise AssertionError(f"error response not in the project's format: {str(body)[:200]}")
    return None


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection, project_error_format]


@dataclass
class FuzzReport:
    """Cases generated per operation and the distinct failures found (first example of each)."""

    cases: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    exhausted: set[str] = field(default_factory=set)
    """Operations whose whole input space Hypothesis generated before the budget (no parameters)."""

    def record(self, label: str, exc: BaseException) -> None:
        first = str(exc).strip().splitlines()
        key = (label, first[0] if first else type(exc).__name__)
        self.failures.setdefault(key, str(exc)[:3000])

    def summary(self) -> str:
        return "\n\n".join(f"{label}: {title}\n{text}" for (label, title), text in self.failures.items())


def fuzz_app(app: Any, *, examples: int, token: str) -> FuzzReport:
    """Fuzz every operation of ``app`` with ``examples`` schema-valid and ``examples`` schema-invalid cases."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    report = FuzzReport()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            before = report.cases[operation.label]
            try:
                _fuzz_operation(operation, mode, examples, {"Authorization": f"Bearer {token}"}, report)
            except Unsatisfiable:
                # No schema-invalid input exists (an operation without parameters or body).
                if mode is GenerationMode.POSITIVE:
                    raise
            if mode is GenerationMode.POSITIVE and report.cases[operation.label] - before < examples:
                report.exhausted.add(operation.label)
    return report


def _fuzz_operation(operation: Any, mode: GenerationMode, examples: int, auth: dict[str, str],
                    report: FuzzReport) -> None:
    label = operation.label

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    def send(case: Any) -> None:
        report.cases[label] += 1
        for headers in (None, auth):
            try:
                response = case.call(headers=headers)
                case.validate_response(response, checks=CHECKS, headers=headers)
            except (Exception, BaseExceptionGroup) as exc:
                report.record(label, exc)

    send()
