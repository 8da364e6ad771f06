"""Fuzzing the forms' JSON API as it really runs (issue 10, Deliver): Schemathesis against the api-server.

tests/web/test_fuzz_api.py sends the generated requests to the forms' app in-process; here they go over
HTTP to the stack's api-server, through Airflow's login (JWT checked against the revocation table), its
middleware and the mount under /cvp. The OpenAPI document is the authenticated one the forms serve
(``/cvp/api/openapi.json``, the public one is off). The head and the technician log in with the browser's
cookie and send the anti-forgery token in ``X-CSRF-Token``, the professional with a Bearer token, as an
API client does. The seed is fixed and the examples bounded (the test takes about a minute on two cores).

Every answer must be below 500 and every 4xx must carry a Spanish ``detail``. The records the generated
ids reach are this module's own: an id another test's record holds is moved out of the way before the
request is sent, so the fuzzing never decides, cancels or confirms what another test is driving.
"""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest
import schemathesis
from sqlalchemy import func, select

from tests.clients import Forms
from tests.fuzzing import fuzz, operations

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "ejemplos" / "red_distrital_agenda.csv"
PAST_DAY = date(2020, 3, 2)  # no run of the Red Distrital's DAG looks at it
# user -> (examples, logged in with the cookie): about 30 s of requests in all on the test machine
PEOPLE = {"jefe": (600, True), "profesional": (400, False), "tecnico": (300, True)}
OUT_OF_THE_WAY = 2**62  # added to an id another test's record holds: a record that does not exist


@pytest.fixture(scope="module")
def records(airflow_stack):
    """This module's records in the stack's records database, and the highest ids other tests hold."""
    from cvp import joint_actions as J
    from cvp.office import Office
    from cvp.records.models import JointAction, Need, Publication
    from tests.web.test_publications import approved, unconfirmed

    with pytest.MonkeyPatch.context() as mp:
        for k, v in airflow_stack.env({}).items():
            if k.startswith("CVP_"):
                mp.setenv(k, v)
        office = Office(airflow_stack.records_url)
        with office.session() as s:
            others = {
                "necesidad": s.scalar(select(func.max(Need.id))) or 0,
                "publicacion": s.scalar(select(func.max(Publication.id))) or 0,
                "accion": s.scalar(select(func.max(JointAction.id))) or 0,
            }
        tag = uuid.uuid4().hex[:8]
        need = approved(office, run_id=f"fuzz-{tag}", titulo="Entrega de títulos en Usme (fuzzing)")
        row = unconfirmed(office, need)
        design = next(r for r in office.revisions(need) if r.kind == "diseno")
        J.record_agenda(office, J.read_sample(SAMPLE, PAST_DAY), PAST_DAY, "ejemplo")
        action = J.actions_of_day(office, PAST_DAY)[0].action
    known = {"necesidad": need, "publicacion": row.id, "revision": design.id, "accion": action.id}
    return known, others


def shield(others: dict[str, int]):
    """Move a generated path id that names another test's record out of the way (see the module's doc)."""

    def before_call(case):
        params = case.path_parameters or {}
        for name, highest in others.items():
            value = params.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= highest:
                params[name] = value + OUT_OF_THE_WAY

    return before_call


def test_the_shield_moves_only_other_tests_ids():
    class Case:
        path_parameters = {"necesidad": 3, "publicacion": 9, "accion": "x", "revision": 2}

    case = Case()
    shield({"necesidad": 5, "publicacion": 8, "accion": 4})(case)
    assert case.path_parameters == {"necesidad": 3 + OUT_OF_THE_WAY, "publicacion": 9, "accion": "x", "revision": 2}


@pytest.mark.parametrize("user", sorted(PEOPLE))
def test_every_operation_of_the_running_forms_answers_below_500_and_refuses_in_spanish(airflow_stack, records, user):
    known, others = records
    examples, cookie = PEOPLE[user]
    person = Forms(airflow_stack, user, cookie=cookie)
    headers = person.headers(csrf=True)
    schema = schemathesis.openapi.from_url(
        f"{airflow_stack.base_url}/cvp/api/openapi.json", headers=headers, timeout=30
    )
    assert len(operations(schema)) >= 15, "the document lost operations"
    out = fuzz(
        schema,
        base_url=f"{airflow_stack.base_url}/cvp",
        headers=headers,
        examples=examples,
        known=known,
        before_call=shield(others),
    )
    assert not out.problems, "\n".join(out.problems[:40])
    assert out.answered(200, 300) >= 5, out.seen  # the run did reach the actions, not only refusals
    assert out.answered(400, 500) >= 10, out.seen
