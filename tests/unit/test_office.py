"""The procedure's actions on the records: order, revisions, decisions, files and mails (no Airflow)."""

from __future__ import annotations

import email
import email.header
import sys
from email import policy

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from cvp import procedure as P
from cvp.errors import Conflict, InvalidInput, NotFound
from cvp.office import Office
from tests.conftest import NEED, ONE_OFF, tiny_png

MEETING = {
    "temas": ["Entrega de títulos"],
    "fuentes": ["Dirección de Urbanizaciones"],
    "productos": ["Post"],
    "canales": ["x"],
    "asistentes": ["Jefe OAC", "Profesional"],
}
TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}


def approved_text(office: Office) -> int:
    need = office.register_need(ONE_OFF, "jefe", run_id="r1")
    rev = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, rev.id, 7, P.APPROVED, "jefe")
    return need.id


def test_register_need_records_event_and_is_idempotent_per_run(office):
    need = office.register_need(NEED, "jefe", run_id="run-1")
    again = office.register_need(NEED, "jefe", run_id="run-1")
    assert again.id == need.id
    events = office.events(need.id)
    assert [(e.activity, e.action, e.actor) for e in events] == [(1, "necesidad_registrada", "jefe")]
    assert "continúa en la actividad 2" in events[0].summary


def test_invalid_need_lists_every_problem_in_spanish_and_writes_nothing(office):
    bad = dict(NEED, titulo="", canales=[], fecha_limite="2020-01-01", fuente="rumor")
    with pytest.raises(InvalidInput) as exc:
        office.register_need(bad, "jefe", run_id="bad")
    text_ = str(exc.value)
    assert "«Título» es obligatorio" in text_
    assert "Canales" in text_ and "al menos 1" in text_
    assert "ya pasó" in text_
    assert "Fuente de la necesidad" in text_
    with pytest.raises(NotFound):
        office.need_by_run("bad")


def test_meeting_record_is_rendered_escaped_and_recorded_once(office):
    need = office.register_need(NEED, "jefe", run_id="r")
    with pytest.raises(InvalidInput, match="incompleto"):
        office.record_meeting(need.id, "jefe", {"temas": ["x"]})
    doc = office.record_meeting(need.id, "jefe", dict(MEETING, temas=["<script>alert(1)</script>"]))
    assert "208-SADM-Ft-54" in doc.rendered
    assert "<script>" not in doc.rendered and "&lt;script&gt;" in doc.rendered
    assert office.condition_met(need.id, P.WAIT_MEETING) == {"document_id": doc.id, "author": "jefe"}
    with pytest.raises(Conflict):
        office.record_meeting(need.id, "jefe", MEETING)


def test_text_loop_keeps_every_revision_and_comment(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    assert office.condition_met(need.id, P.WAIT_TEXT_SUBMITTED) is None
    with pytest.raises(InvalidInput, match="Falta el texto para Facebook"):
        office.submit_text(need.id, "profesional", {"x": "solo X"})
    rev1 = office.submit_text(need.id, "profesional", TEXTS)
    with pytest.raises(Conflict, match="pendiente de decisión"):
        office.submit_text(need.id, "profesional", TEXTS)
    with pytest.raises(InvalidInput, match="comentario"):
        office.decide(need.id, rev1.id, 7, P.REJECTED, "jefe", "  ")
    office.decide(need.id, rev1.id, 7, P.REJECTED, "jefe", "Precisar la cifra de títulos")
    assert office.condition_met(need.id, P.WAIT_TEXT_APPROVED) is None
    rev2 = office.submit_text(need.id, "profesional", dict(TEXTS, x="Hoy entregamos 118 títulos."), note="cifra")
    office.decide(need.id, rev2.id, 7, P.APPROVED, "jefe")
    met = office.condition_met(need.id, P.WAIT_TEXT_APPROVED)
    assert met["revision_id"] == rev2.id and met["rounds"] == 2

    revs = office.revisions(need.id, P.TEXT)
    assert [(r.number, r.state) for r in revs] == [(1, P.REJECTED), (2, P.APPROVED)]
    assert revs[0].texts["x"] == TEXTS["x"]  # the rejected revision is never overwritten
    assert revs[0].decision.comment == "Precisar la cifra de títulos"
    actions = [(e.activity, e.action) for e in office.events(need.id)]
    # Presenting (6) and the hand-off to the technician (9) happen with the act itself, so the
    # trail is in the procedure's order whatever the scheduler's pace.
    assert actions[1:] == [
        (5, "texto_producido"),
        (6, "texto_presentado"),
        (7, "texto_devuelto"),
        (8, "ajustes_realizados"),
        (6, "texto_presentado"),
        (7, "texto_aprobado"),
        (9, "material_entregado"),
    ]


def test_stale_and_repeated_decisions_change_nothing(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    rev1 = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, rev1.id, 7, P.REJECTED, "jefe", "Ajustar")
    rev2 = office.submit_text(need.id, "profesional", TEXTS)
    before = len(office.events(need.id))
    with pytest.raises(Conflict, match="ya fue decidida"):
        office.decide(need.id, rev1.id, 7, P.APPROVED, "jefe")
    first = office.decide(need.id, rev2.id, 7, P.APPROVED, "jefe")
    double_click = office.decide(need.id, rev2.id, 7, P.APPROVED, "jefe")
    assert not first.already_recorded and double_click.already_recorded
    assert double_click.decision.id == first.decision.id
    with pytest.raises(Conflict, match="no se cambia"):
        office.decide(need.id, rev2.id, 7, P.REJECTED, "jefe", "cambio de opinión")
    added = [e.action for e in office.events(need.id)][before:]
    assert added == ["texto_aprobado", "material_entregado"]  # once, despite the double click


def test_decision_on_a_revision_that_is_not_current_is_refused(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    rev1 = office.submit_text(need.id, "profesional", TEXTS)
    with office.session() as s:  # a newer revision over an undecided one cannot exist through the API
        s.execute(
            text(
                "INSERT INTO revisions (need_id, kind, number, state, author, created_at, texts, title, note, "
                "checks, filename, stored_path, media_type, size, sha256, alt_text) SELECT need_id, kind, 2, "
                "state, author, created_at, texts, title, note, checks, filename, stored_path, media_type, "
                "size, sha256, alt_text FROM revisions WHERE id = :r"
            ),
            {"r": rev1.id},
        )
    with pytest.raises(Conflict, match="ya no es la vigente: la vigente es la 2"):
        office.decide(need.id, rev1.id, 7, P.APPROVED, "jefe")


def test_nobody_approves_their_own_work_and_control_points_match_kind(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    rev = office.submit_text(need.id, "profesional", TEXTS)
    with pytest.raises(Conflict, match="propio trabajo"):
        office.decide(need.id, rev.id, 7, P.APPROVED, "profesional")
    with pytest.raises(NotFound):
        office.decide(need.id, rev.id, 12, P.APPROVED, "jefe")
    with pytest.raises(InvalidInput):
        office.decide(need.id, rev.id, 9, P.APPROVED, "jefe")


def test_design_requires_approved_text_and_checks_the_file(office, tmp_path):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    png = tiny_png()
    with pytest.raises(Conflict, match="texto está aprobado"):
        office.submit_design(need.id, "tecnico", png, "afiche.png", alt_text="Afiche")
    rev = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, rev.id, 7, P.APPROVED, "jefe")
    with pytest.raises(InvalidInput, match="Tipo de archivo no admitido"):
        office.submit_design(need.id, "tecnico", b"MZ\x90\x00 not an image", "afiche.png", alt_text="x")
    with pytest.raises(InvalidInput, match="texto alternativo"):
        office.submit_design(need.id, "tecnico", png, "afiche.png")
    with pytest.raises(InvalidInput, match="máximo"):
        office.submit_design(need.id, "tecnico", png, "afiche.png", alt_text="x", max_bytes=10)
    uploads = office.cfg.uploads_dir / str(need.id)
    assert not uploads.exists() or not any(uploads.iterdir())  # nothing written half
    design = office.submit_design(need.id, "tecnico", png, "../../etc/afiche.png", alt_text="Afiche de la entrega")
    import hashlib

    assert design.sha256 == hashlib.sha256(png).hexdigest()
    assert design.filename == "afiche.png"
    stored = office.cfg.uploads_dir / str(need.id)
    assert [p.read_bytes() for p in stored.iterdir()] == [png]
    # The record keeps the store's key (readable from any host), never this host's absolute path.
    assert design.stored_path.startswith(f"archivos/{need.id}/") and "afiche" not in design.stored_path
    assert office.storage.read_bytes(design.stored_path) == png


def test_design_loop_and_final_delivery(office):
    need_id = approved_text(office)
    d1 = office.submit_design(need_id, "tecnico", tiny_png(), "a.png", alt_text="Afiche")
    office.decide(need_id, d1.id, 12, P.REJECTED, "jefe", "Logo institucional más grande")
    with pytest.raises(Conflict, match="diseño aprobado"):
        office.deliver_final(need_id)
    d2 = office.submit_design(need_id, "tecnico", tiny_png(16, 16), "b.png", alt_text="Afiche")
    office.decide(need_id, d2.id, 12, P.APPROVED, "jefe")
    final = office.deliver_final(need_id)
    assert final == f"definitivas/{need_id}/pieza-{need_id}-d2.png"
    assert office.storage.read_bytes(final) == tiny_png(16, 16)
    assert office.deliver_final(need_id) == final
    [delivered] = [e for e in office.events(need_id) if e.activity == 13]
    assert delivered.detail["archivo"] == final
    actions = [(e.activity, e.action) for e in office.events(need_id)]
    assert actions[-7:] == [
        (10, "diseno_cargado"),
        (11, "diseno_presentado"),
        (12, "diseno_devuelto"),
        (10, "diseno_cargado"),
        (11, "diseno_presentado"),
        (12, "diseno_aprobado"),
        (13, "pieza_entregada"),
    ]
    assert actions.count((13, "pieza_entregada")) == 1


def test_mails_are_records_and_a_failed_transport_loses_nothing(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    office.submit_text(need.id, "profesional", TEXTS)  # presented to the head with its mail
    office.present_first(need.id, P.TEXT)  # task 6 and its retries add nothing
    office.present_first(need.id, P.TEXT)

    class Down:
        description = "SMTP caído"

        def send(self, mail):
            raise ConnectionRefusedError("sin servidor")

    assert office.deliver_pending(Down()) == 0
    [pending] = office.notifications(need.id)
    assert pending.sent_at is None and "sin servidor" in pending.error
    assert office.deliver_pending() == 1
    [sent] = office.notifications(need.id)
    assert sent.sent_at is not None and sent.transport.startswith("buzón local")
    [eml] = list(office.cfg.mailbox_dir.iterdir())
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "jefe.oac@cajaviviendapopular.gov.co"
    assert "Contenidos para aprobación" in msg["Subject"]
    assert f"/cvp/necesidades/{need.id}" in msg.get_content()


def test_audit_trail_is_append_only(records_url):
    office = Office(records_url)
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    with pytest.raises(DBAPIError):
        with office.session() as s:
            s.execute(text("UPDATE events SET actor = 'otro' WHERE need_id = :n"), {"n": need.id})
    with pytest.raises(DBAPIError):
        with office.session() as s:
            s.execute(text("DELETE FROM events WHERE need_id = :n"), {"n": need.id})
    assert [e.actor for e in office.events(need.id)] == ["jefe"]


def test_concurrent_double_click_records_one_decision_on_postgres(pg_url):
    from concurrent.futures import ThreadPoolExecutor

    office = Office(pg_url)
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    rev = office.submit_text(need.id, "profesional", TEXTS)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: office.decide(need.id, rev.id, 7, P.APPROVED, "jefe"), range(4)))
    assert len({o.decision.id for o in outcomes}) == 1
    assert sum(not o.already_recorded for o in outcomes) == 1
    assert [e.action for e in office.events(need.id)].count("texto_aprobado") == 1


def test_domain_imports_no_airflow():
    import subprocess

    code = (
        "import sys, cvp.office, cvp.publishing, cvp.metrics, cvp.export, cvp.__main__; "
        "print([m for m in sys.modules if m.startswith('airflow')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_checks_block_errors_and_keep_warnings_with_the_revision(office):
    need = office.register_need(ONE_OFF, "jefe", run_id="r")
    too_long = "Entrega de títulos " * 20
    with pytest.raises(InvalidInput, match="X \\(Twitter\\): .*280"):
        office.submit_text(need.id, "profesional", dict(TEXTS, x=too_long))
    assert office.revisions(need.id) == []
    rev = office.submit_text(need.id, "profesional", dict(TEXTS, x="Invitamos a los ciudadanos de Usme."))
    inclusive = [c for c in rev.checks if c["code"] == "lang.inclusive"]
    assert inclusive and inclusive[0]["channel"] == "x" and "ciudadanía" in inclusive[0]["suggestion"]


def test_design_checked_against_every_requested_channel(office):
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r")
    rev = office.submit_text(need.id, "profesional", {"x": TEXTS["x"]})
    office.decide(need.id, rev.id, 7, P.APPROVED, "jefe")
    with pytest.raises(InvalidInput, match="requisitos de los canales") as refused:
        office.submit_design(need.id, "tecnico", b"%PDF-1.4\n%%EOF\n", "pieza.pdf")
    assert "pieza.pdf" in str(refused.value)  # the person's file name, not the stored one
    assert office.storage.list(f"archivos/{need.id}") == []  # refused before anything reached the store


def test_command_line_mail_uses_airflows_smtp_connection_from_the_environment(tmp_path, monkeypatch):
    from cvp.mail import MailboxMailer, SmtpMailer, mailer_from_env

    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    assert isinstance(mailer_from_env(tmp_path), MailboxMailer)
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", "smtp://oac%40cvp.gov.co:cla%2Fve@smtp.cvp.gov.co:2525")
    m = mailer_from_env(tmp_path)
    assert isinstance(m, SmtpMailer)
    assert (m.host, m.port, m.user, m.password) == ("smtp.cvp.gov.co", 2525, "oac@cvp.gov.co", "cla/ve")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT", '{"conn_type": "smtp", "host": "h", "port": 465, "extra": {"disable_ssl": false}}'
    )
    m = mailer_from_env(tmp_path)
    assert (m.host, m.port, m.use_ssl) == ("h", 465, True)


def test_smtp_mailer_talks_smtp_to_a_real_server(tmp_path):
    """A local SMTP server (stdlib sockets) receives the institutional mail intact."""
    import socket
    import threading

    from cvp.mail import OutgoingMail, SmtpMailer

    received = []
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        f = conn.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 prueba")
        data = False
        body = []
        for raw in f:
            line = raw.decode().rstrip("\r\n")
            if data:
                if line == ".":
                    data = False
                    received.append("\n".join(body))
                    say("250 ok")
                else:
                    body.append(line)
                continue
            cmd = line.split(" ")[0].upper()
            if cmd in ("EHLO", "HELO"):
                say("250 prueba")
            elif cmd == "DATA":
                data = True
                say("354 adelante")
            elif cmd == "QUIT":
                say("221 adiós")
                break
            else:
                say("250 ok")
        conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    port = srv.getsockname()[1]
    SmtpMailer("127.0.0.1", port, starttls=False, timeout=5).send(
        OutgoingMail(("jefe@cvp.gov.co",), "Asunto con tildes: revisión", "Cuerpo con ñ", "oac@cvp.gov.co", "cvp-9")
    )
    t.join(5)
    srv.close()
    assert len(received) == 1
    msg = email.message_from_bytes(received[0].encode(), policy=policy.default)
    assert msg["Subject"] == "Asunto con tildes: revisión" and msg["To"] == "jefe@cvp.gov.co"
    assert msg.get_content().strip() == "Cuerpo con ñ"


def test_the_head_cancels_a_need_with_a_reason_and_every_wait_ends(office):
    need = office.register_need(NEED, "jefe", run_id="r")
    with pytest.raises(InvalidInput, match="motivo"):
        office.cancel_need(need.id, "jefe", " ")
    office.cancel_need(need.id, "jefe", "El evento se aplazó")
    assert office.need(need.id).status == "cancelada"
    assert office.condition_met(need.id, P.WAIT_TEXT_APPROVED) == {"cancelled": True}
    assert office.events(need.id)[-1].summary == "Necesidad cancelada: El evento se aplazó"
    with pytest.raises(Conflict, match="ya no está en curso"):
        office.submit_text(need.id, "profesional", TEXTS)
    with pytest.raises(Conflict):
        office.cancel_need(need.id, "jefe", "otra vez")
