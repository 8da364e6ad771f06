"""Each channel's recorded state, and the head's notices: 7 days and 1 day before an expiry, and at once
when a channel breaks, each notice once however often the daily check runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cvp import channel_health as H
from cvp.channel_health import ChannelState, Health
from cvp.records.models import ChannelNotice

NOW = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)
EXPIRY = NOW + timedelta(days=6, hours=12)


class Inbox:
    description = "buzón de prueba"

    def __init__(self):
        self.mails = []

    def send(self, mail):
        self.mails.append(mail)


class Refusing(Inbox):
    def send(self, mail):
        raise ConnectionRefusedError("smtp caído")


def check(office, channel="facebook", at=NOW, **health):
    return H.record(office, channel, f"{channel}_default", Health(**{"valid": True, **health}), now=at)


def test_states_and_how_the_forms_say_them(office):
    check(office, "x")
    check(office, "facebook", expires_at=EXPIRY)
    check(office, "instagram", valid=False, reason="Instagram rechazó el token (código 190).")
    check(office, "youtube", scopes=("youtube.readonly",), missing=("https://www.googleapis.com/auth/youtube.upload",))
    with office.session() as s:
        board = {v.channel: v for v in H.board(s)}
        broken = H.broken_among(s, ["x", "instagram", "youtube", "sitio_web"])
    assert [board[c].state for c in ("x", "facebook", "instagram", "youtube")] == ["ok", "vence", "roto", "roto"]
    assert board["x"].text == "ok"
    assert board["facebook"].text == "vence el 7 de diciembre de 2026, 18:00"  # Bogotá time
    assert board["instagram"].text == "roto: Instagram rechazó el token (código 190)."
    assert "youtube.upload" in board["youtube"].text
    assert set(broken) == {"instagram", "youtube"}


def test_the_newest_check_is_the_state(office):
    check(office, "x", valid=False, reason="vencido", at=NOW - timedelta(days=1))
    check(office, "x")
    with office.session() as s:
        assert H.latest(s)["x"].state == ChannelState.OK
        assert H.broken_among(s, ["x"]) == {}


def test_expiry_mail_once_per_threshold(office):
    inbox = Inbox()
    check(office, expires_at=EXPIRY)
    assert H.send_notices(office, inbox, NOW) == [f"facebook:vence_7d:{EXPIRY:%Y-%m-%dT%H:%M}"]
    # The next days' checks: the same expiry, no second 7-day mail.
    for day in (1, 2, 3):
        check(office, expires_at=EXPIRY, at=NOW + timedelta(days=day))
        assert H.send_notices(office, inbox, NOW + timedelta(days=day)) == []
    # One day before: the second threshold, once.
    later = EXPIRY - timedelta(hours=20)
    check(office, expires_at=EXPIRY, at=later)
    assert H.send_notices(office, inbox, later) == [f"facebook:vence_1d:{EXPIRY:%Y-%m-%dT%H:%M}"]
    assert H.send_notices(office, inbox, later + timedelta(hours=1)) == []

    assert len(inbox.mails) == 2
    first, second = inbox.mails
    assert first.recipients == ("jefe.oac@cajaviviendapopular.gov.co",)
    assert first.subject == "[208-COM-Pr-04] La conexión de Facebook vence en 6 días"
    assert second.subject == "[208-COM-Pr-04] La conexión de Facebook vence mañana"
    assert "«facebook_default»" in first.body and "7 de diciembre de 2026, 18:00" in first.body
    with office.session() as s:
        assert s.query(ChannelNotice).filter(ChannelNotice.sent_at.is_not(None)).count() == 2


def test_a_renewed_token_with_a_new_expiry_is_warned_about_again(office):
    inbox = Inbox()
    check(office, expires_at=EXPIRY)
    H.send_notices(office, inbox, NOW)
    renewed = NOW + timedelta(days=5)
    check(office, expires_at=renewed, at=NOW + timedelta(hours=1))
    assert H.send_notices(office, inbox, NOW + timedelta(hours=1)) == [f"facebook:vence_7d:{renewed:%Y-%m-%dT%H:%M}"]


def test_a_far_expiry_or_none_sends_nothing(office):
    inbox = Inbox()
    check(office, "facebook", expires_at=NOW + timedelta(days=40))
    check(office, "x")
    assert H.send_notices(office, inbox, NOW) == [] and inbox.mails == []


def test_a_broken_channel_is_mailed_at_once_and_once_per_spell(office):
    inbox = Inbox()
    missing = ("instagram_content_publish",)
    check(office, "instagram", missing=missing, reason="")
    [key] = H.send_notices(office, inbox, NOW)
    assert inbox.mails[0].subject == "[208-COM-Pr-04] La conexión de Instagram no funciona: faltan permisos"
    assert "instagram_content_publish" in inbox.mails[0].body
    check(office, "instagram", missing=missing, at=NOW + timedelta(days=1))
    assert H.send_notices(office, inbox, NOW + timedelta(days=1)) == []
    # Fixed, then broken again: a new spell, a new mail.
    check(office, "instagram", at=NOW + timedelta(days=2))
    check(office, "instagram", valid=False, reason="Token revocado.", at=NOW + timedelta(days=3))
    [again] = H.send_notices(office, inbox, NOW + timedelta(days=3))
    assert again != key and "Token revocado." in inbox.mails[-1].body


def test_a_failed_send_is_retried_next_time(office):
    check(office, expires_at=EXPIRY)
    with pytest.raises(AssertionError):
        assert H.send_notices(office, Refusing(), NOW)
    with office.session() as s:
        [notice] = s.query(ChannelNotice).all()
        assert notice.sent_at is None and "smtp caído" in notice.error
    inbox = Inbox()
    assert len(H.send_notices(office, inbox, NOW + timedelta(hours=1))) == 1 and len(inbox.mails) == 1


def test_button_messages():
    assert Health(True, account="@CVPBogota").message(NOW) == "Conexión correcta como «@CVPBogota»."
    assert Health(True, expires_at=EXPIRY).message(NOW).startswith("Conexión correcta; vence el 7 de diciembre")
    assert Health(False, "X rechazó el token.").message(NOW) == "X rechazó el token."
    assert "tweet.write" in Health(True, missing=("tweet.write",)).message(NOW)


def test_the_domain_side_imports_no_airflow():
    import subprocess
    import sys

    code = "import sys, cvp.channel_health; print([m for m in sys.modules if m.startswith('airflow')])"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
