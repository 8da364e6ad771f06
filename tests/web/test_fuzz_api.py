"""Fuzzing the forms' JSON API from its own OpenAPI document (Schemathesis), in-process (issue 10, Deliver).

The document is read from ``/cvp/api/openapi.json`` as a logged-in person reads it; Schemathesis then
generates valid and invalid requests for every operation and sends them through the ASGI transport to the
app as tests/web builds it (mounted under /cvp), authenticated as the head, the professional and the technician
with their Airflow tokens. Every answer must be below 500, and every 4xx must carry a ``detail`` a person in
the office can read (Spanish, not one of FastAPI's or Starlette's English defaults). The seed is fixed and
the number of examples bounded, so a run takes well under a minute and finds the same things each time.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.web.test_publications import approved, unconfirmed

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.python import asgi as st_asgi  # noqa: E402

EXAMPLES = {"jefe": 260, "profesional": 160, "tecnico": 100}  # about 25 s in all on the test machine
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


def test_the_spanish_check_tells_the_frameworks_defaults_apart():
    assert spanish("La solicitud no es válida: revise los campos indicados.")
    assert spanish("No existe la necesidad n.º 5.")
    for english in (
        "Not Found",
        "Field required",
        "Input should be a valid integer",
        "There was an error parsing the body",
        "",
        None,
        ["La necesidad no existe"],
    ):
        assert not spanish(english)


@pytest.fixture
def records(web):
    """Something for the generated ids to find: a need ready to publish with an unconfirmed post, and a
    planned need still at its meeting."""
    need = approved(web.office)
    row = unconfirmed(web.office, need)
    planned = web.office.register_need(
        {
            "titulo": "Feria de vivienda en Bosa",
            "necesidad": "Invitar a la feria de vivienda de Bosa.",
            "fuente": "plan_accion",
            "canales": ["x", "youtube"],
            "publicos_interes": ["ciudadania"],
            "dependencia": "urbanizaciones_titulacion",
            "fecha_limite": "2099-12-15",
            "accion_puntual": False,
        },
        "jefe",
        run_id="planeada",
    ).id
    design = next(r for r in web.office.revisions(need) if r.kind == "diseno")
    return {"necesidad": need, "publicacion": row.id, "revision": design.id, "planned": planned}


def _describe(case, response) -> str:
    body = response.text[:300].replace("\n", " ")
    return f"{case.method} {case.formatted_path} -> {response.status_code}: {body}"


@pytest.mark.parametrize("user", sorted(EXAMPLES))
def test_every_operation_answers_below_500_and_refuses_in_spanish(web, records, user):
    schema = schemathesis.openapi.from_asgi("/cvp/api/openapi.json", web.parent, headers=web.bearer(user))
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15, "the document lost operations"
    base_url = f"http://{st_asgi.HOST}/cvp"
    known = {
        "necesidad": records["necesidad"],
        "publicacion": records["publicacion"],
        "revision": records["revision"],
    }

    def strategy(op, mode):
        fixed = {k: v for k, v in known.items() if f"{{{k}}}" in op.path}
        both = [op.as_strategy(generation_mode=mode)]
        if fixed:  # half the cases reach real records, the other half generated ids
            both.append(op.as_strategy(generation_mode=mode, path_parameters=fixed))
        return st.one_of(both)

    cases = st.one_of(
        [strategy(op, mode) for op in operations for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)]
    )
    problems: list[str] = []
    seen: dict[int, int] = {}

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES[user],
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call(base_url=base_url, headers=web.bearer(user))
        status = response.status_code
        seen[status] = seen.get(status, 0) + 1
        if status >= 500:
            problems.append(_describe(case, response))
        elif status >= 400:
            try:
                detail = json.loads(response.content).get("detail")
            except (ValueError, AttributeError):
                detail = None
            if not spanish(detail):
                problems.append(_describe(case, response))

    run()
    assert not problems, "\n".join(problems[:40])
    assert sum(n for s, n in seen.items() if s < 300) >= 10, seen  # the run did reach the actions, not only refusals
    assert sum(n for s, n in seen.items() if 400 <= s < 500) >= 10, seen
