"""The channels' connection state in the forms: the head's inbox, and the warning on a need's page."""

from __future__ import annotations

from cvp import channel_health
from cvp.channel_health import Health
from tests.conftest import NEED


def record(office, channel: str, health: Health) -> None:
    channel_health.record(office, channel, f"{channel}_default", health)


def test_the_heads_inbox_shows_each_channels_state(web):
    record(web.office, "x", Health(True))
    record(web.office, "facebook", Health(False, "Facebook rechazó el token (código 190: Session has expired)."))
    html = web.as_("jefe").get("/cvp/").text
    assert "Conexiones de los canales" in html
    assert "<strong>X (Twitter)</strong>: ok" in html
    assert "<strong>Facebook</strong>: roto: Facebook rechazó el token (código 190: Session has expired)." in html
    assert "<strong>YouTube</strong>: sin verificar" in html
    assert "Conexiones de los canales" not in web.as_("profesional").get("/cvp/").text


def test_a_need_for_a_broken_channel_shows_the_warning(web):
    need = web.office.register_need(dict(NEED, canales=["x", "facebook"]), "jefe", run_id="r-aviso").id
    assert 'id="canales-rotos"' not in web.as_("profesional").get(f"/cvp/necesidades/{need}").text
    record(web.office, "x", Health(False, "X rechazó el token (401 Unauthorized)."))
    html = web.as_("profesional").get(f"/cvp/necesidades/{need}").text
    assert 'id="canales-rotos"' in html
    assert "X (Twitter): roto: X rechazó el token (401 Unauthorized)." in html and "Facebook:" not in html


def test_the_dashboard_shows_each_channels_state_to_the_team(web):
    record(web.office, "youtube", Health(True, missing=("https://www.googleapis.com/auth/youtube.upload",)))
    html = web.as_("tecnico").get("/cvp/tablero").text
    assert "Conexiones de los canales" in html and "<strong>YouTube</strong>: roto: El token funciona" in html
