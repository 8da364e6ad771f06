"""Activity 14 end to end: the ledger, publishers built from Airflow Connections, a fake of the platforms.

An approved need is published with ``cvp.publishing.publish_once`` through publishers that
``cvp_airflow.channels.publisher_for`` builds from Connections pointing at
``tests.fakes_platforms`` (real HTTP on 127.0.0.1). Then the failures a platform produces, each
through the ledger: an answer lost after the post was accepted, an expired token, a rate limit, a
server error, and one channel failing while the others publish.
"""

from __future__ import annotations

import hashlib
import json
import logging
import struct
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from airflow.sdk import Connection, Variable  # noqa: E402
from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: E402

from cvp import procedure as P  # noqa: E402
from cvp import publishing  # noqa: E402
from cvp.publishers.base import AuthError, PublishError, RateLimited  # noqa: E402
from cvp.publishers.outbox import OutboxPublisher  # noqa: E402
from cvp.publishers.youtube import next_pacific_midnight  # noqa: E402
from cvp_airflow import channels  # noqa: E402
from tests import fakes_platforms as F  # noqa: E402
from tests.conftest import NEED, ONE_OFF, tiny_png  # noqa: E402

CONN_IDS = {"x": "x_cvp", "facebook": "facebook_cvp", "instagram": "instagram_cvp", "youtube": "youtube_cvp"}
ALL = ["x", "facebook", "instagram", "youtube", "sitio_web"]
IMAGE_CHANNELS = ["x", "facebook", "instagram", "sitio_web"]
TITLE = NEED["titulo"]
ALT = "Afiche: una familia de Ciudad Bolívar recibe su título de propiedad"
TEXTS = {
    "x": "Hoy entregamos 120 títulos de propiedad en Ciudad Bolívar. #CVPCumple",
    "facebook": "Hoy entregamos 120 títulos de propiedad a hogares de Ciudad Bolívar. ¡Felicitaciones!",
    "instagram": "120 hogares de Ciudad Bolívar ya tienen su título de propiedad. #CVP #Bogotá",
    "youtube": "Así fue la entrega de 120 títulos de propiedad en Ciudad Bolívar.\nCaja de la Vivienda Popular.",
    "sitio_web": "La Caja de la Vivienda Popular entregó 120 títulos de propiedad en Ciudad Bolívar.",
}


# -- media -------------------------------------------------------------------------------------


def tiny_jpeg(w: int = 1080, h: int = 1080) -> bytes:
    """Headers of a baseline JPEG: enough for the checks, which read the size from SOF0."""
    out = b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
    out += b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00" + b"\x00" * 10
    return out + b"\xff\xd9"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def tiny_mp4(seconds: float = 12, w: int = 1280, h: int = 720, mdat: int = 4096) -> bytes:
    """An MP4 with ftyp, moov/mvhd (duration) and a video track header (size); nobody decodes it."""
    timescale = 600
    mvhd = b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, timescale, int(seconds * timescale)) + b"\x00" * 80
    tkhd = b"\x00\x00\x00\x07" + struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\x00" * 8
    tkhd += struct.pack(">hhhh", 0, 0, 0, 0)
    tkhd += struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd += struct.pack(">II", w << 16, h << 16)
    moov = _box(b"moov", _box(b"mvhd", mvhd) + _box(b"trak", _box(b"tkhd", tkhd)))
    return _box(b"ftyp", b"isom\x00\x00\x02\x00isommp41") + moov + _box(b"mdat", b"\x00" * mdat)


def approved_need(office, chans: list[str], design: bytes, filename: str, alt_text: str = "") -> int:
    """A need with its text (activity 7) and design (activity 12) approved, delivered (13)."""
    need = office.register_need({**ONE_OFF, "canales": chans}, "jefe", run_id=f"r-{uuid.uuid4().hex[:8]}")
    text = office.submit_text(need.id, "profesional", {c: TEXTS[c] for c in chans})
    office.decide(need.id, text.id, 7, P.APPROVED, "jefe")
    rev = office.submit_design(need.id, "tecnico", design, filename, alt_text=alt_text)
    office.decide(need.id, rev.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need.id)
    return need.id


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def fake(tmp_path):
    (tmp_path / "publico").mkdir()
    with F.FakePlatforms(tmp_path / "publico") as platforms:
        yield platforms


@pytest.fixture
def variables(monkeypatch):
    """Airflow Variables in a dict: ``Variable.set`` reaches the API server only inside a task."""
    store: dict[str, str] = {}
    monkeypatch.setattr(
        Variable, "get", staticmethod(lambda key, default=None, deserialize_json=False: store.get(key, default))
    )
    monkeypatch.setattr(
        Variable,
        "set",
        staticmethod(lambda key, value, description=None, serialize_json=False: store.__setitem__(key, value)),
    )
    return store


@pytest.fixture
def connections(fake, monkeypatch) -> dict[str, Connection]:
    """The office's connections, as an administrator would enter them, pointing at the fake."""
    for channel, conn_id in CONN_IDS.items():
        monkeypatch.setenv(f"CVP_{channel.upper()}_CONN_ID", conn_id)

    def make(conn_id, conn_type, login=None, password=None, **extra):
        return Connection(conn_id=conn_id, conn_type=conn_type, login=login, password=password, extra=json.dumps(extra))

    return {
        "x_cvp": make(
            "x_cvp", "http", password=F.X_BEARER, user_id=F.X_USER_ID, username=F.X_USERNAME, base_url=fake.url
        ),
        "facebook_cvp": make(
            "facebook_cvp",
            "http",
            login=F.FB_PAGE_ID,
            password=F.FB_TOKEN,
            app_secret=F.META_APP_SECRET,
            base_url=fake.url,
        ),
        "instagram_cvp": make(
            "instagram_cvp",
            "http",
            login=F.IG_USER_ID,
            password=F.IG_TOKEN,
            app_secret=F.META_APP_SECRET,
            base_url=fake.url,
            storage_dir=str(fake.public_dir),
            public_base_url=fake.public_url,
        ),
        "youtube_cvp": make(
            "youtube_cvp",
            "google_cloud_platform",
            client_id=F.YT_CLIENT_ID,
            client_secret=F.YT_CLIENT_SECRET,
            refresh_token=F.YT_REFRESH_TOKEN,
            token_uri=f"{fake.url}/token",
            base_url=fake.url,
            privacy_status="unlisted",
        ),
    }


@pytest.fixture
def naps() -> list[float]:
    """Every wait a publisher asked for: none is slept for real."""
    return []


@pytest.fixture
def get_connection(connections):
    """What ``BaseHook.get_connection`` does, over the ``connections`` fixture."""

    def get_connection(conn_id: str) -> Connection:
        if conn_id not in connections:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return connections[conn_id]

    return get_connection


@pytest.fixture
def build(get_connection, naps, variables, cvp_env):
    def build(channel: str, **options):
        options.setdefault("sleep", naps.append)
        return channels.publisher_for(channel, get_connection=get_connection, **options)

    return build


def publish(office, build, need_id: int, channel: str):
    return publishing.publish_once(office, build(channel), need_id, channel)


def events(office, need_id: int, action: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for e in office.events(need_id):
        if e.action == action:
            found.setdefault(e.detail.get("canal"), []).append(e)
    return found


# -- the happy path ----------------------------------------------------------------------------


def test_a_video_need_is_published_once_on_every_channel(office, fake, build, naps, variables, caplog):
    video = tiny_mp4()
    need = approved_need(office, ALL, video, "entrega.mp4")

    with caplog.at_level(logging.DEBUG):
        rows = {c: publish(office, build, need, c) for c in ALL}

    assert {c: r.state for c, r in rows.items()} == dict.fromkeys(ALL, publishing.PUBLISHED)
    for channel in ("x", "instagram", "youtube"):
        [post] = fake.posts[channel]
        assert rows[channel].remote_id == post.id
    # X: chunked upload, processing polled, the post carries the video
    [post] = fake.posts["x"]
    assert rows["x"].url == f"https://x.com/{F.X_USERNAME}/status/{post.id}"
    assert post.media[0]["size"] == len(video) and post.media[0]["category"] == "tweet_video"
    assert [r.path.rsplit("/", 1)[-1] for r in fake.requests("x", path="/2/media/upload")] == [
        "initialize",
        "append",
        "finalize",
        "upload",
        "upload",
    ]  # two STATUS checks
    assert 1.0 in naps  # check_after_secs, not slept
    # Facebook: the video with its description
    [post] = fake.posts["facebook"]
    assert post.text == TEXTS["facebook"] and post.title == TITLE
    assert post.media[0]["sha256"] == sha(video)
    video_id = post.media[0]["id"]
    assert rows["facebook"].remote_id == video_id
    assert rows["facebook"].url == f"https://www.facebook.com/{F.FB_PAGE_ID}/videos/{video_id}/"
    # Instagram: a Reel fetched from the public folder, container polled until FINISHED
    [post] = fake.posts["instagram"]
    assert post.text == TEXTS["instagram"] and rows["instagram"].url == post.url
    [item] = post.media
    assert item["media_type"] == "REELS" and item["downloaded_bytes"] == len(video)
    assert item["video_url"].startswith(fake.public_url + "/instagram/")
    assert 5.0 in naps
    # YouTube: resumable upload with the metadata, privacy from the connection
    [post] = fake.posts["youtube"]
    assert (post.title, post.text) == (TITLE, TEXTS["youtube"])
    assert post.media[0]["sha256"] == sha(video) and post.media[0]["media_type"] == "video/mp4"
    [init] = fake.requests("youtube", "POST", "/upload/youtube/v3/videos")
    assert init.json["status"]["privacyStatus"] == "unlisted" and init.query["uploadType"] == "resumable"
    assert rows["youtube"].url == f"https://www.youtube.com/watch?v={post.id}"
    assert json.loads(variables["cvp_youtube_quota"])["spent"] == 1600
    # the web site: the local outbox
    assert rows["sitio_web"].url.startswith("file://")
    assert (office.cfg.outbox_dir / "sitio_web").is_dir()

    # the need's record
    assert {p.channel: (p.state, p.url) for p in office.publications(need)} == {
        c: (publishing.PUBLISHED, rows[c].url) for c in ALL
    }
    published = events(office, need, "publicado")
    assert set(published) == set(ALL)
    for channel, [event] in published.items():
        assert event.activity == 14 and rows[channel].url in event.summary
        assert P.CHANNELS[channel] in event.summary and event.detail["url"] == rows[channel].url

    # no credential anywhere: logs, what the platforms saw recorded, the records
    shown = caplog.text + repr(fake.recorded)
    shown += "".join(e.summary + json.dumps(e.detail) for e in office.events(need))
    shown += "".join(p.error + p.url for p in office.publications(need))
    for secret in F.SECRETS:
        assert secret not in shown
    assert {r.auth for r in fake.recorded if r.platform in ("x", "facebook", "instagram", "youtube")} == {"Bearer"}


def test_an_image_need_carries_its_alt_text_everywhere(office, fake, build):
    image = tiny_jpeg()
    need = approved_need(office, IMAGE_CHANNELS, image, "afiche.jpg", alt_text=ALT)

    rows = {c: publish(office, build, need, c) for c in IMAGE_CHANNELS}

    assert {r.state for r in rows.values()} == {publishing.PUBLISHED}
    [x_post] = fake.posts["x"]
    assert x_post.media[0]["sha256"] == sha(image) and x_post.media[0]["alt_text"] == ALT
    [metadata] = fake.requests("x", "POST", "/2/media/metadata")
    assert metadata.json["metadata"]["alt_text"]["text"] == ALT
    [fb_post] = fake.posts["facebook"]
    assert fb_post.text == TEXTS["facebook"]
    assert fb_post.media[0]["sha256"] == sha(image) and fb_post.media[0]["alt_text"] == ALT
    [photo] = fake.requests("facebook", "POST", "/photos$")
    assert photo.files[0].content_type == "image/jpeg" and "appsecret_proof" in photo.query
    [ig_post] = fake.posts["instagram"]
    assert ig_post.media[0]["alt_text"] == ALT and ig_post.media[0]["downloaded_bytes"] == len(image)
    manifest = json.loads(next((office.cfg.outbox_dir / "sitio_web").glob("*/pieza.json")).read_text("utf-8"))
    assert manifest["medios"][0]["texto_alternativo"] == ALT
    # a second run of every task sends nothing
    before = len(fake.recorded)
    for c in IMAGE_CHANNELS:
        assert publish(office, build, need, c).state == publishing.PUBLISHED
    assert len(fake.recorded) == before


def test_a_png_design_is_refused_at_upload_for_instagram_and_reaches_the_others(office, fake, build):
    """Instagram's content publishing API takes JPEG only: the checks refuse a PNG at activity 10,
    long before activity 14; without Instagram the same PNG reaches X, Facebook and the web."""
    from cvp.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Instagram: .*PNG"):
        approved_need(office, IMAGE_CHANNELS, tiny_png(), "afiche.png", alt_text=ALT)
    assert fake.recorded == []

    need = approved_need(office, ["x", "facebook", "sitio_web"], tiny_png(), "afiche.png", alt_text=ALT)
    for channel in ("x", "facebook", "sitio_web"):
        assert publish(office, build, need, channel).state == publishing.PUBLISHED
    assert fake.posts["x"][0].media[0]["media_type"] == "image/png"
    assert fake.posts["facebook"][0].media[0]["content_type"] == "image/png"
    assert fake.posts["x"][0].media[0]["alt_text"] == fake.posts["facebook"][0].media[0]["alt_text"] == ALT
    assert fake.requests("instagram") == []


def test_x_with_oauth1_keys_looks_up_its_account(office, fake, build, connections):
    connections["x_cvp"] = Connection(
        conn_id="x_cvp",
        conn_type="http",
        extra=json.dumps(
            {
                "consumer_key": F.X_CONSUMER_KEY,
                "consumer_secret": F.X_CONSUMER_SECRET,
                "access_token": F.X_ACCESS_TOKEN,
                "access_token_secret": F.X_ACCESS_TOKEN_SECRET,
                "base_url": fake.url,
            }
        ),
    )
    need = approved_need(office, ["x"], tiny_jpeg(), "afiche.jpg", alt_text=ALT)

    row = publish(office, build, need, "x")

    assert row.url == f"https://x.com/{F.X_USERNAME}/status/{fake.posts['x'][0].id}"
    assert {r.auth for r in fake.requests("x")} == {"OAuth"}
    assert len(fake.requests("x", "GET", "/2/users/me")) == 1


def test_a_channel_without_connection_goes_to_the_outbox(office, fake, build, connections, get_connection):
    del connections["youtube_cvp"]
    need = approved_need(office, ["youtube"], tiny_mp4(), "entrega.mp4")

    assert isinstance(build("youtube"), OutboxPublisher)
    row = publish(office, build, need, "youtube")

    assert row.state == publishing.PUBLISHED and row.url.startswith("file://")
    assert fake.requests("youtube") == [] and fake.requests("google_oauth") == []
    assert channels.connection_status(["x", "youtube"], get_connection=get_connection) == {
        "x": "x_cvp",
        "youtube": None,
    }


def test_youtube_thumbnail_goes_to_the_video(fake, build, tmp_path):
    from tests.unit.fakes import media_file, piece

    video = media_file(tmp_path, "v.mp4", "video/mp4", content=tiny_mp4())
    thumb = media_file(tmp_path, "mini.png", "image/png", content=tiny_png())
    result = build("youtube").publish(
        piece("youtube", "Descripción", video, title="Entrega", extra={"thumbnail": thumb})
    )
    [request] = fake.requests("youtube", "POST", "/thumbnails/set")
    assert request.query["videoId"] == result.remote_id
    assert fake.thumbnails == {result.remote_id: len(tiny_png())}


# -- an answer lost after the post was accepted -------------------------------------------------


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram"])
def test_lost_answer_after_the_post_reconciles_without_posting_twice(office, fake, build, channel):
    need = approved_need(office, ["x", "facebook", "instagram"], tiny_jpeg(), "afiche.jpg", alt_text=ALT)
    fake.drop_after_accept(channel)

    row = publish(office, build, need, channel)

    [post] = fake.posts[channel]
    assert row.state == publishing.PUBLISHED and row.remote_id == post.id and row.attempts == 1
    post_calls = [r for r in fake.requests(channel) if F._POST_CALLS[channel](r)]
    assert [r.status for r in post_calls] == [None]  # sent once, never answered, never resent
    [event] = events(office, need, "publicado")[channel]
    assert "confirmada al reconciliar" in event.summary
    # a retried task afterwards sends nothing either
    assert publish(office, build, need, channel).state == publishing.PUBLISHED
    assert len(fake.posts[channel]) == 1


@pytest.mark.parametrize("drops, reconciled", [(2, False), (None, True)], ids=["resumed", "reconciled"])
def test_youtube_lost_answer_to_the_last_chunk(office, fake, build, naps, drops, reconciled):
    """httplib2 resends a request once when the connection drops before any answer; the
    publisher then asks the upload session (``Content-Range: bytes */N``), which answers with the
    video. If every answer is lost, the ledger reconciles through the uploads playlist."""
    need = approved_need(office, ["youtube"], tiny_mp4(), "entrega.mp4")
    fake.drop_after_accept("youtube", times=drops)

    row = publish(office, build, need, "youtube")

    [video] = fake.posts["youtube"]
    assert row.state == publishing.PUBLISHED and row.remote_id == video.id
    status_queries = [r for r in fake.requests("youtube", "PUT") if r.headers["content-range"].startswith("bytes */")]
    assert status_queries  # the resumable protocol, not a second upload
    assert len(fake.requests("youtube", "POST", "/upload/youtube/v3/videos")) == 1
    [event] = events(office, need, "publicado")["youtube"]
    assert ("confirmada al reconciliar" in event.summary) is reconciled
    assert bool(fake.requests("youtube", "GET", "/playlistItems")) is reconciled


# -- failures that stop a channel ---------------------------------------------------------------


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "youtube"])
def test_expired_token_names_the_connection_to_renew(office, fake, build, channel):
    need = approved_need(office, ["x", "facebook", "instagram", "youtube"], tiny_mp4(), "entrega.mp4")
    fake.expire_token(channel)

    with pytest.raises(AuthError) as err:
        publish(office, build, need, channel)

    assert f"conexión de Airflow '{CONN_IDS[channel]}'" in err.value.message
    [row] = office.publications(need)
    assert (row.state, row.error) == (publishing.FAILED, err.value.message)
    [event] = events(office, need, "publicacion_fallida")[channel]
    assert CONN_IDS[channel] in event.summary
    assert fake.posts[channel] == []


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "youtube"])
def test_rate_limit_says_when_to_come_back(office, fake, build, channel):
    need = approved_need(office, ["x", "facebook", "instagram", "youtube"], tiny_mp4(), "entrega.mp4")
    reset = (datetime.now(UTC) + timedelta(minutes=15)).replace(microsecond=0)
    fake.rate_limit(channel, reset_at=reset)

    with pytest.raises(RateLimited) as err:
        publish(office, build, need, channel)

    if channel == "x":
        assert err.value.reset_at == reset  # x-rate-limit-reset
    elif channel == "youtube":  # quotaExceeded: the daily quota resets at Pacific midnight
        assert err.value.reset_at == next_pacific_midnight(datetime.now(UTC))
    else:  # estimated_time_to_regain_access, in minutes
        assert abs(err.value.reset_at - reset) < timedelta(minutes=2)
    [row] = office.publications(need)
    assert row.state == publishing.FAILED and fake.posts[channel] == []


def test_a_server_error_on_an_upload_is_retried_without_duplicating(office, fake, build, naps):
    need = approved_need(office, ["x", "instagram"], tiny_jpeg(), "afiche.jpg", alt_text=ALT)
    fake.fail("x", path="^/2/media/upload$")
    fake.fail("instagram", status=503, method="POST", path=f"/{F.IG_USER_ID}/media$")

    for channel in ("x", "instagram"):
        assert publish(office, build, need, channel).state == publishing.PUBLISHED
        assert len(fake.posts[channel]) == 1
    assert [r.status for r in fake.requests("x", "POST", "^/2/media/upload$")] == [500, 200]
    assert [r.status for r in fake.requests("instagram", "POST", "/media$")] == [503, 200]
    assert naps.count(2.0) == 2  # one backoff each, not slept


def test_a_server_error_on_the_post_call_is_never_resent_blindly(office, fake, build):
    need = approved_need(office, ["x"], tiny_jpeg(), "afiche.jpg", alt_text=ALT)
    fake.fail("x", path="^/2/tweets$")

    with pytest.raises(publishing.Unconfirmed, match="No se pudo confirmar"):
        publish(office, build, need, "x")
    [row] = office.publications(need)
    assert row.state == publishing.UNCONFIRMED and fake.posts["x"] == []
    with pytest.raises(publishing.Unconfirmed):  # a retried task waits for a person
        publish(office, build, need, "x")
    assert len(fake.requests("x", "POST", "^/2/tweets$")) == 1

    publishing.allow_retry(office, row.id, "profesional")  # a person looked: nothing there
    assert publish(office, build, need, "x").state == publishing.PUBLISHED
    assert len(fake.posts["x"]) == 1


def test_one_channel_failing_does_not_stop_the_others(office, fake, build):
    need = approved_need(office, ALL, tiny_mp4(), "entrega.mp4")
    fake.expire_token("facebook")

    outcome = {}
    for channel in ALL:  # as the DAG does: one mapped task per channel
        try:
            outcome[channel] = publish(office, build, need, channel).state
        except PublishError as exc:
            outcome[channel] = type(exc).__name__

    assert outcome == {
        "x": publishing.PUBLISHED,
        "facebook": "AuthError",
        "instagram": publishing.PUBLISHED,
        "youtube": publishing.PUBLISHED,
        "sitio_web": publishing.PUBLISHED,
    }
    assert {c: len(p) for c, p in fake.posts.items()} == {"x": 1, "facebook": 0, "instagram": 1, "youtube": 1}
    assert set(events(office, need, "publicado")) == {"x", "instagram", "youtube", "sitio_web"}
    assert set(events(office, need, "publicacion_fallida")) == {"facebook"}

    fake.renew_token("facebook")  # the connection renewed, the task retried
    assert publish(office, build, need, "facebook").state == publishing.PUBLISHED
    assert len(fake.posts["facebook"]) == 1


@pytest.mark.parametrize("case", ["several_chunks", "5xx_then_resume"])
def test_youtube_resumable_upload_survives_308(office, fake, build, case):
    need = approved_need(office, ["youtube"], tiny_mp4(mdat=600_000), "entrega.mp4")
    if case == "5xx_then_resume":
        fake.fail("youtube", status=503, method="PUT")
        publisher = build("youtube")
    else:
        publisher = build("youtube", chunksize=256 * 1024)

    row = publishing.publish_once(office, publisher, need, "youtube")

    assert row.state == publishing.PUBLISHED and len(fake.posts["youtube"]) == 1
