"""Fuzzing the forms' JSON API from its own OpenAPI document (Schemathesis), in-process (issue 10, Deliver).

The document is read from ``/cvp/api/openapi.json`` as a logged-in person reads it; Schemathesis then
generates valid and invalid requests for every operation and sends them through the ASGI transport to the
app as tests/web builds it (mounted under /cvp), authenticated as the head, the professional and the technician
with their Airflow tokens. Every answer must be below 500, and every 4xx must carry a ``detail`` a person in
the office can read (Spanish, not one of FastAPI's or Starlette's English defaults). The seed is fixed and
the number of examples bounded, so a run takes well under a minute and finds the same things each time.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.python import asgi as st_asgi

from tests.fuzzing import fuzz, operations, spanish
from tests.web.test_publications import approved, unconfirmed

EXAMPLES = {"jefe": 260, "profesional": 160, "tecnico": 100}  # about 25 s in all on the test machine


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


@pytest.mark.parametrize("user", sorted(EXAMPLES))
def test_every_operation_answers_below_500_and_refuses_in_spanish(web, records, user):
    schema = schemathesis.openapi.from_asgi("/cvp/api/openapi.json", web.parent, headers=web.bearer(user))
    assert len(operations(schema)) >= 15, "the document lost operations"
    known = {k: records[k] for k in ("necesidad", "publicacion", "revision")}
    out = fuzz(
        schema, base_url=f"http://{st_asgi.HOST}/cvp", headers=web.bearer(user), examples=EXAMPLES[user], known=known
    )
    assert not out.problems, "\n".join(out.problems[:40])
    assert out.answered(200, 300) >= 10, out.seen  # the run did reach the actions, not only refusals
    assert out.answered(400, 500) >= 10, out.seen
