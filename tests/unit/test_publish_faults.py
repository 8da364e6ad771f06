"""Activity 14 under the faults of issue 10 (items 9, 11 and 12), through the real ledger.

9: a crash between the ledger row, its 'publicado' event and the need's closing leaves no half-closed
publication, and a half-closed row left by an older version is repaired by the next attempt.
11: an authorised resend of an unconfirmed post looks for it again first: a post that showed late
is adopted, not duplicated. 12: 'enviando' is written right before the post call, after the uploads;
a crash during an upload leaves the row retryable.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from cvp import procedure as P
from cvp import publishing
from cvp.publishers.outbox import OutboxPublisher
from cvp.records.models import Publication
from tests.conftest import ONE_OFF, tiny_png
from tests.fakes_platforms import _POST_CALLS
from tests.unit import test_publish_end_to_end as e2e
from tests.unit.test_office import TEXTS
from tests.unit.test_publish_end_to_end import approved_need, tiny_jpeg, tiny_mp4

# The fake platforms and the publishers built from Connections pointing at them.
fake, connections, get_connection, naps, variables, build = (
    e2e.fake,
    e2e.connections,
    e2e.get_connection,
    e2e.naps,
    e2e.variables,
    e2e.build,
)


class Killed(BaseException):
    """The worker dies here (kill -9, SIGTERM, an out-of-memory kill): no except clause of ours runs."""


@pytest.fixture
def only_x(office):
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need, d.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need)
    return need


def published_events(office, need: int) -> list:
    return [e for e in office.events(need) if e.action == "publicado"]


def outbox(office, channel: str = "x") -> OutboxPublisher:
    return OutboxPublisher(office.cfg.outbox_dir, channel)


# --- 9: closing a publication -------------------------------------------------------------------


def _die_once(monkeypatch, target, name, when=lambda *a, **k: True):
    real = getattr(target, name)
    state = {"armed": True}

    def dying(*args, **kwargs):
        if state["armed"] and when(*args, **kwargs):
            state["armed"] = False
            raise Killed("el proceso murió aquí")
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


@pytest.mark.parametrize("where", ["before_the_event", "before_the_need_closes"])
def test_a_crash_while_closing_leaves_no_half_closed_publication(office, only_x, monkeypatch, where):
    if where == "before_the_event":
        _die_once(
            monkeypatch, office.records, "event", when=lambda s, need, act, action, *a, **k: action == "publicado"
        )
    else:
        _die_once(monkeypatch, publishing, "_close_need_if_done")
    with pytest.raises(Killed):
        publishing.publish_once(office, outbox(office), only_x, "x")
    [row] = office.publications(only_x)
    # Nothing of the closing stayed: neither a published row without its event nor an event without the need.
    assert row.state == publishing.SENDING and published_events(office, only_x) == []
    assert office.need(only_x).status == "en_curso"

    again = publishing.publish_once(office, outbox(office), only_x, "x")  # Airflow's retry

    assert again.state == publishing.PUBLISHED
    [event] = published_events(office, only_x)
    assert event.detail["canal"] == "x" and event.detail["url"] == again.url
    assert office.need(only_x).status == "publicada"
    assert len(list((office.cfg.outbox_dir / "x").glob("*/pieza.json"))) == 1  # posted once


def test_a_half_closed_row_left_by_an_older_version_is_repaired_by_the_retry(office, only_x):
    publisher = outbox(office)
    result = publisher.publish(publishing.build_piece(office, only_x, "x")[0])  # the post went out
    row = publishing._claim(office, only_x, *publishing.build_piece(office, only_x, "x")[1:], "x", "huella")
    with office.session() as s:  # what three separate transactions left after a crash after the first
        fresh = s.get(Publication, row.id)
        fresh.state, fresh.url, fresh.remote_id = publishing.PUBLISHED, result.url, result.remote_id

    repaired = publishing.publish_once(office, publisher, only_x, "x")
    publishing.publish_once(office, publisher, only_x, "x")  # and again: nothing more

    assert repaired.state == publishing.PUBLISHED and repaired.url == result.url
    [event] = published_events(office, only_x)
    assert event.detail["publicacion"] == row.id and "confirmada al reconciliar" in event.summary
    assert office.need(only_x).status == "publicada"


# --- 11: an authorised resend looks again ------------------------------------------------------


def test_an_authorised_resend_adopts_a_post_that_showed_late(office, fake, build):
    need = approved_need(office, ["x"], tiny_jpeg(), "afiche.jpg", alt_text="Afiche")
    fake.list_late("x")  # the post exists but the account's timeline does not show it yet
    fake.drop_after_accept("x")  # and the answer to the post call is lost
    with pytest.raises(publishing.Unconfirmed):
        publishing.publish_once(office, build("x"), need, "x")
    [row] = office.publications(need)
    assert row.state == publishing.UNCONFIRMED and len(fake.posts["x"]) == 1

    publishing.allow_retry(office, row.id, "profesional")  # a person looked and did not see it yet
    fake.list_now("x")  # meanwhile the platform lists it
    again = publishing.publish_once(office, build("x"), need, "x")

    [post] = fake.posts["x"]  # adopted, not duplicated
    assert again.state == publishing.PUBLISHED and again.remote_id == post.id
    assert len(fake.requests("x", "POST", "^/2/tweets$")) == 1
    [event] = published_events(office, need)
    assert "confirmada al reconciliar" in event.summary
    assert office.need(need).status == "publicada"


def test_an_authorised_resend_posts_when_the_platform_still_shows_nothing(office, fake, build):
    need = approved_need(office, ["x"], tiny_jpeg(), "afiche.jpg", alt_text="Afiche")
    fake.fail("x", method="POST", path="^/2/tweets$", status=503)  # 5xx on the post: unknown, nothing posted
    with pytest.raises(publishing.Unconfirmed):
        publishing.publish_once(office, build("x"), need, "x")
    [row] = office.publications(need)
    publishing.allow_retry(office, row.id, "profesional")
    lookups = len(fake.requests("x", "GET", r"^/2/users/\d+/tweets$"))

    again = publishing.publish_once(office, build("x"), need, "x")

    assert again.state == publishing.PUBLISHED and len(fake.posts["x"]) == 1
    assert len(fake.requests("x", "GET", r"^/2/users/\d+/tweets$")) == lookups + 1  # looked right before


def test_an_authorised_resend_waits_when_the_platform_cannot_be_asked(office, fake, build):
    from cvp.publishers.base import TransientError

    need = approved_need(office, ["x"], tiny_jpeg(), "afiche.jpg", alt_text="Afiche")
    fake.fail("x", method="POST", path="^/2/tweets$", status=503)
    with pytest.raises(publishing.Unconfirmed):
        publishing.publish_once(office, build("x"), need, "x")
    [row] = office.publications(need)
    publishing.allow_retry(office, row.id, "profesional")
    fake.fail("x", method="GET", path=r"^/2/users/\d+/tweets$", times=None)

    with pytest.raises(TransientError, match="se reintentará sin reenviar todavía"):
        publishing.publish_once(office, build("x"), need, "x")

    assert fake.posts["x"] == [] and len(fake.requests("x", "POST", "^/2/tweets$")) == 1
    [row] = office.publications(need)
    assert row.state == publishing.PENDING  # still authorised: the next attempt looks again


# --- 12: 'enviando' only right before the post call --------------------------------------------


def test_a_crash_during_the_upload_leaves_the_row_retryable(office, fake, build):
    need = approved_need(office, ["x"], tiny_mp4(), "entrega.mp4")

    def killed_while_x_processes_the_video(seconds):
        raise Killed("el trabajador murió esperando el procesamiento del video")

    with pytest.raises(Killed):
        publishing.publish_once(office, build("x", sleep=killed_while_x_processes_the_video), need, "x")
    [row] = office.publications(need)
    assert row.state == publishing.PENDING and row.attempts == 0  # nothing can have been posted
    assert fake.requests("x", "POST", "^/2/tweets$") == []

    again = publishing.publish_once(office, build("x"), need, "x")  # Airflow's retry, no person needed

    assert again.state == publishing.PUBLISHED and len(fake.posts["x"]) == 1


def _completes_the_video(rec) -> bool:
    """YouTube: the chunk that carries the file's last byte is the one that makes the video exist."""
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", rec.headers.get("content-range", ""))
    return rec.method == "PUT" and match is not None and int(match[2]) + 1 == int(match[3])


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "youtube"])
def test_the_row_says_sending_only_during_the_post_call(office, fake, build, channel):
    need = approved_need(office, [channel], tiny_mp4(mdat=600_000), "entrega.mp4")
    is_post_call = _completes_the_video if channel == "youtube" else _POST_CALLS[channel]
    seen = []

    def state_at(rec):  # read from the records, as the platform receives each request
        if rec.platform == channel:
            with office.session() as s:
                state = s.scalar(select(Publication.state).where(Publication.need_id == need))
            seen.append((is_post_call(rec), rec.method, rec.path, state))

    fake.on_request = state_at
    options = {"chunksize": 256 * 1024} if channel == "youtube" else {}  # several chunks, the last one posts
    row = publishing.publish_once(office, build(channel, **options), need, channel)
    fake.on_request = None

    assert row.state == publishing.PUBLISHED
    first_post = next(i for i, (is_post, *_) in enumerate(seen) if is_post)
    before, [post] = seen[:first_post], [r for r in seen if r[0]]
    assert all(state == publishing.PENDING for *_, state in before), before  # uploads, containers, processing
    assert post[-1] == publishing.SENDING, post
    if channel != "facebook":  # a small Facebook video is uploaded by its post call itself
        assert before, seen


def test_a_need_cancelled_during_the_upload_is_not_posted(office, fake, build):
    from cvp.errors import Conflict

    need = approved_need(office, ["x"], tiny_mp4(), "entrega.mp4")

    def the_head_cancels_meanwhile(seconds):
        if office.need(need).status == "en_curso":
            office.cancel_need(need, "jefe", "El evento se aplazó")

    with pytest.raises(Conflict, match="fue cancelada"):
        publishing.publish_once(office, build("x", sleep=the_head_cancels_meanwhile), need, "x")
    assert fake.posts["x"] == [] and fake.requests("x", "POST", "^/2/tweets$") == []
    [row] = office.publications(need)
    assert row.state == publishing.PENDING and office.need(need).status == "cancelada"


def test_a_publisher_that_does_not_announce_its_post_gets_sending_before_it(office, only_x):
    class Legacy(OutboxPublisher):  # overrides publish without announcing its post call
        def publish(self, piece):
            raise RuntimeError("el trabajador murió durante la llamada")

    with pytest.raises(RuntimeError):
        publishing.publish_once(office, Legacy(office.cfg.outbox_dir, "x"), only_x, "x")
    [row] = office.publications(only_x)
    assert row.state == publishing.SENDING  # unknown: reconciled before anything is sent again
