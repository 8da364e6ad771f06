"""What the fuzz tests of the forms' JSON API share (issue 10, Deliver): the Spanish check of a refusal and
one seeded, bounded Schemathesis run over every operation of the API's own OpenAPI document.

tests/web/test_fuzz_api.py runs it in-process (ASGI transport); tests/integration/test_fuzz_forms.py runs
it over HTTP against the api-server of a real stack, with Airflow's login, middleware and error pages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

# FastAPI's and Starlette's own words for a refusal, which nobody in the office should have to read.
ENGLISH_DEFAULTS = {
    "Not Found",
    "Method Not Allowed",
    "Unprocessable Entity",
    "Unprocessable Content",
    "Bad Request",
    "Forbidden",
    "Unauthorized",
    "Not authenticated",
    "Field required",
    "There was an error parsing the body",
    "Invalid multipart data.",
    "Missing boundary in multipart.",
    "Internal Server Error",
}
ENGLISH_MARKERS = (
    "Input should",
    "Field required",
    "Value error",
    "Expecting value",
    "There was an error",
    "Internal Server Error",
)
SPANISH_WORDS = (" de ", " la ", " el ", " no ", " que ", " en ", " es ", " un ", " una ", " los ", " las ", " del ")


def spanish(detail: object) -> bool:
    """A message a person in the office reads: Spanish words, none of the frameworks' English defaults."""
    if not isinstance(detail, str) or not detail.strip() or detail.strip() in ENGLISH_DEFAULTS:
        return False
    if any(m in detail for m in ENGLISH_MARKERS):
        return False
    return any(w in f" {detail.lower()} " for w in SPANISH_WORDS)


def refusal_detail(content: bytes) -> object:
    """The ``detail`` of a refusal's JSON body, or None when the body is not the API's JSON."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


@dataclass
class Outcome:
    problems: list[str] = field(default_factory=list)
    seen: dict[int, int] = field(default_factory=dict)  # status code -> how many answers

    def answered(self, low: int, high: int) -> int:
        return sum(n for s, n in self.seen.items() if low <= s < high)


def describe(case, response) -> str:
    body = response.text[:300].replace("\n", " ")
    return f"{case.method} {case.formatted_path} -> {response.status_code}: {body}"


def operations(schema) -> list:
    return [r.ok() for r in schema.get_all_operations()]


def fuzz(
    schema: schemathesis.schemas.BaseSchema,
    *,
    base_url: str,
    headers: dict,
    examples: int,
    known: dict[str, int],
    before_call: Callable | None = None,
) -> Outcome:
    """Send ``examples`` generated requests (valid and invalid, fixed seed) to every operation of ``schema``.

    ``known`` maps path parameters to real records, so half the cases of an operation with that parameter
    reach a record instead of a generated id. ``before_call(case)`` may adjust a case before it is sent.
    Every answer of 500 or more, and every 4xx without a Spanish ``detail``, is a problem of the outcome.
    """

    def strategy(op, mode):
        fixed = {k: v for k, v in known.items() if f"{{{k}}}" in op.path}
        both = [op.as_strategy(generation_mode=mode)]
        if fixed:  # half the cases reach real records, the other half generated ids
            both.append(op.as_strategy(generation_mode=mode, path_parameters=fixed))
        return st.one_of(both)

    cases = st.one_of(
        [strategy(op, mode) for op in operations(schema) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    )
    out = Outcome()

    @given(case=cases)
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if before_call is not None:
            before_call(case)
        response = case.call(base_url=base_url, headers=headers)
        status = response.status_code
        out.seen[status] = out.seen.get(status, 0) + 1
        if status >= 500 or (status >= 400 and not spanish(refusal_detail(response.content))):
            out.problems.append(describe(case, response))

    run()
    return out
