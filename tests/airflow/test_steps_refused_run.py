"""A run refused at activity 1 has no need: the metrics step (all_done) ends at once, without retries."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import NEED


def _identify(run_id: str, user: str) -> None:
    """Activity 1 of ``run_id`` as ``user`` triggered it (no channel connection required)."""
    from cvp_airflow import steps

    steps.identify_need({"run_id": run_id, "params": dict(NEED), "dag_run": SimpleNamespace(triggering_user_name=user)})


def test_metrics_of_a_run_refused_at_activity_1_fail_at_once_without_retries(office, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    from cvp_airflow import steps

    monkeypatch.delenv("CVP_REQUIRE_CONNECTIONS", raising=False)
    with pytest.raises(AirflowFailException, match="Jefe OAC"):
        _identify("manual__rechazada", "tecnico")
    assert any(r.run_id == "manual__rechazada" for r in office.refused_needs())

    # AirflowFailException: Airflow does not retry it (NotFound was retried twice, ~45 s for nothing).
    with pytest.raises(AirflowFailException, match="no abrió ninguna necesidad"):
        steps.log_metrics({"run_id": "manual__rechazada"})


def test_metrics_of_an_opened_need_are_still_logged(office, monkeypatch):
    from cvp_airflow import steps

    monkeypatch.delenv("CVP_REQUIRE_CONNECTIONS", raising=False)
    _identify("manual__abierta", "jefe")
    assert isinstance(steps.log_metrics({"run_id": "manual__abierta"}), dict)
