"""Activity 14 through the ledger: the outbox channel, retries, reconciliation, metrics and the export."""

from __future__ import annotations

import json
from datetime import UTC

import pytest

from cvp import export, metrics, publishing
from cvp import procedure as P
from cvp.publishers.base import OutcomeUnknown, TransientError
from cvp.publishers.outbox import OutboxPublisher
from tests.conftest import ONE_OFF, tiny_png
from tests.unit.test_office import TEXTS


@pytest.fixture
def ready(office):
    """A need with text and design approved, ready for activity 14."""
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    t = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need.id, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need.id, d.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need.id)
    return need.id


class Recording(OutboxPublisher):
    """The real outbox publisher, counting calls and able to fail like a platform would."""

    def __init__(self, root, channel, fail_with=None, lose_after_post=False):
        super().__init__(root, channel)
        self.posts = 0
        self.fail_with = fail_with
        self.lose_after_post = lose_after_post

    def publish(self, piece):
        self.posts += 1
        if self.fail_with:
            raise self.fail_with
        result = super().publish(piece)
        if self.lose_after_post:
            raise OutcomeUnknown("Se agotó el tiempo de espera tras enviar la publicación.")
        return result


def test_outbox_publication_is_written_once_whatever_the_retries(office, ready):
    pub = Recording(office.cfg.outbox_dir, "x")
    row = publishing.publish_once(office, pub, ready, "x")
    again = publishing.publish_once(office, pub, ready, "x")
    assert row.state == again.state == publishing.PUBLISHED and pub.posts == 1
    folder = office.cfg.outbox_dir / "x" / "necesidad-1-t1-d1"
    assert (folder / "texto.txt").read_text(encoding="utf-8").strip() == TEXTS["x"]
    assert (folder / "pieza-1.png").read_bytes() == tiny_png()
    manifest = json.loads((folder / "pieza.json").read_text(encoding="utf-8"))
    assert manifest["medios"][0]["texto_alternativo"] == "Afiche de la entrega"
    assert row.url == folder.as_uri()


def test_timeout_after_a_successful_post_reconciles_without_posting_again(office, ready):
    pub = Recording(office.cfg.outbox_dir, "facebook", lose_after_post=True)
    row = publishing.publish_once(office, pub, ready, "facebook")
    assert row.state == publishing.PUBLISHED and pub.posts == 1
    assert any("confirmada al reconciliar" in e.summary for e in office.events(ready))


def test_a_row_left_sending_is_reconciled_before_anything_is_sent(office, ready):
    lost = Recording(office.cfg.outbox_dir, "x", fail_with=RuntimeError("worker killed"))
    with pytest.raises(RuntimeError):
        publishing.publish_once(office, lost, ready, "x")
    [row] = office.publications(ready)
    assert row.state == publishing.SENDING  # unknown: the process died during the call
    careful = Recording(office.cfg.outbox_dir, "x")
    with pytest.raises(publishing.Unconfirmed, match="No se pudo confirmar"):
        publishing.publish_once(office, careful, ready, "x")
    assert careful.posts == 0
    [row] = office.publications(ready)
    assert row.state == publishing.UNCONFIRMED
    with pytest.raises(publishing.Unconfirmed):  # stays with a person until resolved
        publishing.publish_once(office, careful, ready, "x")
    publishing.allow_retry(office, row.id, "profesional")
    assert publishing.publish_once(office, careful, ready, "x").state == publishing.PUBLISHED
    assert careful.posts == 1


def test_a_person_confirms_an_unconfirmed_post(office, ready):
    class Lost(Recording):
        def find_published(self, piece):
            return None

    with pytest.raises(publishing.Unconfirmed):
        publishing.publish_once(
            office, Lost(office.cfg.outbox_dir, "x", fail_with=OutcomeUnknown("timeout")), ready, "x"
        )
    [row] = office.publications(ready)
    done = publishing.confirm(office, row.id, "https://x.com/CVPBogota/status/1", "1", "profesional")
    assert done.state == publishing.PUBLISHED and done.url.endswith("/status/1")


def test_a_failure_before_sending_can_be_retried(office, ready):
    flaky = Recording(office.cfg.outbox_dir, "x", fail_with=TransientError("Error 503 de la plataforma"))
    with pytest.raises(TransientError):
        publishing.publish_once(office, flaky, ready, "x")
    assert office.publications(ready)[0].state == publishing.FAILED
    flaky.fail_with = None
    assert publishing.publish_once(office, flaky, ready, "x").state == publishing.PUBLISHED


def test_only_an_approved_piece_on_a_requested_channel_is_published(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    with pytest.raises(Exception, match="texto y diseño aprobados"):
        publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, "x"), need.id, "x")


def test_metrics_and_the_ley_1712_export(office, ready):
    for ch in ("x", "facebook"):
        publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, ch), ready, ch)
    data = metrics.log_metrics(office, ready)
    assert data["rondas_control"] == {"7": 1, "12": 1}
    assert data["a_tiempo"] is True
    assert set(data["canales"]) == {"x", "facebook"}
    assert set(data["tiempo_por_actividad_segundos"]) >= {"5", "7", "12", "14"}
    assert metrics.log_metrics(office, ready) == data  # logged once
    assert office.need(ready).status == "publicada"

    record = export.record(office, ready)
    json.dumps(record)  # serialisable as is
    assert [r["numero"] for r in record["revisiones"]] == [1, 1]
    assert record["eventos"][0]["actividad"] == 1 and record["eventos"][-1]["accion"] == "metricas_registradas"
    page = export.record_html(office, ready)
    assert "Ley 1712" in page and "Trazabilidad" in page and TEXTS["x"] in page


def test_metrics_compute_late_and_rounds():
    from datetime import date, datetime, timedelta
    from types import SimpleNamespace

    t0 = datetime(2026, 11, 1, 14, tzinfo=UTC)
    events = [SimpleNamespace(activity=a, at=t0 + timedelta(hours=h)) for a, h in ((1, 0), (5, 2), (7, 3), (14, 10))]
    need = SimpleNamespace(id=1, deadline=date(2026, 11, 1))
    data = metrics.compute(
        need,
        events,
        [{"control_point": 7, "decision": P.REJECTED}, {"control_point": 7, "decision": P.APPROVED}],
        [t0 + timedelta(days=1)],
    )
    assert data["a_tiempo"] is False
    assert data["rondas_control"]["7"] == 2 and data["devoluciones_control"]["7"] == 1
    assert data["tiempo_por_actividad_segundos"] == {"5": 7200.0, "7": 3600.0, "14": 25200.0}
    assert data["tiempo_total_horas"] == 10.0


def test_media_refused_before_upload_is_recorded_as_the_channels_outcome(office, ready):
    from cvp.publishers.base import MediaRejected

    class Picky(OutboxPublisher):
        def validate(self, piece):
            raise MediaRejected("El archivo supera el máximo del canal.", channel=self.channel)

    with pytest.raises(MediaRejected):
        publishing.publish_once(office, Picky(office.cfg.outbox_dir, "x"), ready, "x")
    [row] = office.publications(ready)
    assert row.state == publishing.FAILED and "máximo" in row.error
    assert any(e.action == "publicacion_fallida" and "supera" in e.summary for e in office.events(ready))


def test_a_need_is_published_when_every_channel_is_even_after_a_confirmation(office, ready):
    from cvp.errors import NotFound

    publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, "x"), ready, "x")
    assert office.need(ready).status == "en_curso"  # facebook still missing
    lost = Recording(office.cfg.outbox_dir, "facebook", fail_with=RuntimeError("worker killed"))
    with pytest.raises(RuntimeError):
        publishing.publish_once(office, lost, ready, "facebook")
    with pytest.raises(publishing.Unconfirmed, match=f"/cvp/necesidades/{ready}"):
        publishing.publish_once(office, Recording(office.cfg.outbox_dir, "facebook"), ready, "facebook")
    row = [p for p in office.publications(ready) if p.channel == "facebook"][0]
    publishing.confirm(office, row.id, "https://facebook.com/cvp/posts/1", "1", "profesional")
    assert office.need(ready).status == "publicada"
    with pytest.raises(NotFound, match="n.º 999"):
        publishing.allow_retry(office, 999, "profesional")
