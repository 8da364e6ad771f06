"""The daily check's task bodies and the warning at activity 1, with the platforms at the HTTP wire."""

from __future__ import annotations

import json
from types import SimpleNamespace

import responses

from cvp import channel_health
from cvp.channel_health import Health
from tests.conftest import NEED

X_ME = "https://api.x.com/2/users/me"
GRAPH_ME = "https://graph.facebook.com/v25.0/me"


def airflow_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


@responses.activate
def test_check_channels_records_each_configured_channel(office, monkeypatch):
    from cvp_airflow import connection_checks

    for channel in ("x", "facebook", "instagram", "youtube"):
        monkeypatch.delenv(f"AIRFLOW_CONN_{channel.upper()}_DEFAULT", raising=False)
        monkeypatch.delenv(f"CVP_{channel.upper()}_CONN_ID", raising=False)
    airflow_conn(monkeypatch, "x_default", conn_type="cvp_x", password="x-token")
    airflow_conn(monkeypatch, "facebook_default", conn_type="http", login="104", password="fb-token")
    responses.get(X_ME, json={"data": {"id": "1", "name": "CVP", "username": "CVPBogota"}})
    responses.get(
        GRAPH_ME,
        status=400,
        json={"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}},
    )
    summary = connection_checks.check_channels({})
    assert summary["x"] == "ok"
    assert summary["facebook"].startswith("roto: Facebook rechazó el token") and "código 190" in summary["facebook"]
    assert summary["instagram"] == summary["youtube"] == "sin conexión (bandeja de salida)"
    with office.session() as s:
        assert {c: r.state for c, r in channel_health.latest(s).items()} == {"x": "ok", "facebook": "roto"}

    monkeypatch.setattr("cvp_airflow.hooks.mailer", lambda: office.mailer)
    assert connection_checks.notify_head({}) == [f"facebook:roto:{channel_health_first_id(office)}"]
    assert connection_checks.notify_head({}) == []


def channel_health_first_id(office) -> int:
    with office.session() as s:
        return channel_health.latest(s)["facebook"].id


def test_a_need_for_a_broken_channel_is_warned_about_at_activity_1(office, monkeypatch):
    from cvp_airflow import steps

    monkeypatch.delenv("CVP_REQUIRE_CONNECTIONS", raising=False)
    airflow_conn(monkeypatch, "x_default", conn_type="cvp_x", password="x-token")
    airflow_conn(monkeypatch, "facebook_default", conn_type="cvp_facebook", login="104", password="fb-token")
    channel_health.record(office, "x", "x_default", Health(False, "X rechazó el token (401)."))
    channel_health.record(office, "facebook", "facebook_default", Health(True))
    context = {"run_id": "manual__aviso", "params": dict(NEED), "dag_run": SimpleNamespace(triggering_user_name="jefe")}

    steps.identify_need(context)

    need = office.need_by_run("manual__aviso")
    [event] = [e for e in office.events(need.id) if e.action == "canales_verificados"]
    assert (
        "X (Twitter): conexión «x_default» — AVISO: la conexión no funciona (X rechazó el token (401))" in event.summary
    )
    assert "Facebook: conexión «facebook_default»;" in event.summary or event.summary.endswith("«facebook_default».")
    assert event.detail["conexiones_rotas"] == {"x": "roto: X rechazó el token (401)."}
