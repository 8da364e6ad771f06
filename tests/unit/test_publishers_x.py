"""XPublisher against X API v2 at the HTTP wire (``responses`` intercepts requests/tweepy)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
import requests
import responses

from cvp.checks.xlength import x_weighted_length as weighted_length
from cvp.publishers.base import (
    AuthError,
    MediaRejected,
    OutcomeUnknown,
    Publisher,
    RateLimited,
    TransientError,
)
from cvp.publishers.x import XPublisher
from tests.unit.fakes import NOW, clock, media_file, piece  # noqa: F401 (clock is a fixture)

API = "https://api.x.test"
UPLOAD = "https://upload.x.test"
TOKEN = "user-context-token-SECRET"


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def x(clock):
    return XPublisher(
        bearer_token=TOKEN,
        username="cvpbogota",
        base_url=API,
        upload_base_url=UPLOAD,
        conn_id="x_cvp",
        sleep=clock.sleep,
        clock=clock,
    )


def calls_to(wire, method: str, url: str) -> list:
    return [c for c in wire.calls if c.request.method == method and c.request.url.split("?")[0] == url]


def upload_ok(wire, media_id: str, status: int = 200) -> None:
    wire.add(
        responses.POST,
        f"{UPLOAD}/2/media/upload",
        json={"data": {"id": media_id, "media_key": f"3_{media_id}", "size": 256, "expires_after_secs": 86400}},
        status=status,
    )


def tweet_ok(wire, tweet_id: str = "1894000000000000001", text: str = "") -> None:
    wire.add(
        responses.POST,
        f"{API}/2/tweets",
        json={"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}},
        status=201,
    )


def test_is_a_publisher(x):
    assert isinstance(x, Publisher)


def test_publish_images_uploads_sets_alt_text_and_attaches_ids(wire, x, tmp_path):
    img1 = media_file(tmp_path, "a.png", "image/png", alt_text="Familia recibe su vivienda")
    img2 = media_file(tmp_path, "b.jpg", "image/jpeg", alt_text="Mapa de Ciudad Bolívar")
    upload_ok(wire, "1001")
    upload_ok(wire, "1002")
    wire.add(responses.POST, f"{UPLOAD}/2/media/metadata", json={"data": {"id": "1001"}})
    tweet_ok(wire)

    result = x.publish(piece("x", "Entregamos 20 viviendas en Ciudad Bolívar", img1, img2))

    assert result.remote_id == "1894000000000000001"
    assert result.url == "https://x.com/cvpbogota/status/1894000000000000001"
    uploads = calls_to(wire, "POST", f"{UPLOAD}/2/media/upload")
    assert len(uploads) == 2
    body = uploads[0].request.body
    assert b'name="media_category"\r\n\r\ntweet_image' in body
    assert b'name="media"; filename="a.png"' in body
    assert uploads[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    metadata = [json.loads(c.request.body) for c in calls_to(wire, "POST", f"{UPLOAD}/2/media/metadata")]
    assert metadata == [
        {"id": "1001", "metadata": {"alt_text": {"text": "Familia recibe su vivienda"}}},
        {"id": "1002", "metadata": {"alt_text": {"text": "Mapa de Ciudad Bolívar"}}},
    ]
    (post,) = calls_to(wire, "POST", f"{API}/2/tweets")
    assert json.loads(post.request.body) == {
        "text": "Entregamos 20 viviendas en Ciudad Bolívar",
        "media": {"media_ids": ["1001", "1002"]},
    }
    assert [c.request.url.split("?")[0] for c in wire.calls][-1] == f"{API}/2/tweets"


def test_publish_video_chunked_waits_for_processing(wire, x, clock, tmp_path):
    x.chunk_size = 10
    video = media_file(tmp_path, "v.mp4", "video/mp4", content=b"0123456789" * 2 + b"abcde")
    wire.add(
        responses.POST,
        f"{UPLOAD}/2/media/upload/initialize",
        json={"data": {"id": "2001", "media_key": "13_2001", "expires_after_secs": 1295999}},
    )
    wire.add(responses.POST, f"{UPLOAD}/2/media/upload/2001/append", body="")
    wire.add(
        responses.POST,
        f"{UPLOAD}/2/media/upload/2001/finalize",
        json={
            "data": {
                "id": "2001",
                "media_key": "13_2001",
                "size": 25,
                "expires_after_secs": 86400,
                "processing_info": {"state": "pending", "check_after_secs": 2},
            }
        },
    )
    wire.add(
        responses.GET,
        f"{UPLOAD}/2/media/upload",
        json={
            "data": {
                "id": "2001",
                "processing_info": {"state": "in_progress", "check_after_secs": 3, "progress_percent": 40},
            }
        },
    )
    wire.add(
        responses.GET,
        f"{UPLOAD}/2/media/upload",
        json={"data": {"id": "2001", "processing_info": {"state": "succeeded", "progress_percent": 100}}},
    )
    tweet_ok(wire)

    x.publish(piece("x", "Video de la entrega", video))

    (init,) = calls_to(wire, "POST", f"{UPLOAD}/2/media/upload/initialize")
    assert json.loads(init.request.body) == {
        "media_type": "video/mp4",
        "total_bytes": 25,
        "media_category": "tweet_video",
    }
    appends = calls_to(wire, "POST", f"{UPLOAD}/2/media/upload/2001/append")
    assert len(appends) == 3
    for index, call in enumerate(appends):
        assert f'name="segment_index"\r\n\r\n{index}'.encode() in call.request.body
    assert b"abcde" in appends[2].request.body
    statuses = calls_to(wire, "GET", f"{UPLOAD}/2/media/upload")
    assert len(statuses) == 2
    assert "command=STATUS" in statuses[0].request.url and "media_id=2001" in statuses[0].request.url
    assert clock.sleeps == [2.0, 3.0]
    (post,) = calls_to(wire, "POST", f"{API}/2/tweets")
    assert json.loads(post.request.body)["media"] == {"media_ids": ["2001"]}


def test_processing_failure_stops_before_posting(wire, x, tmp_path):
    video = media_file(tmp_path, "v.mp4", "video/mp4")
    wire.add(responses.POST, f"{UPLOAD}/2/media/upload/initialize", json={"data": {"id": "3"}})
    wire.add(responses.POST, f"{UPLOAD}/2/media/upload/3/append", body="")
    wire.add(
        responses.POST,
        f"{UPLOAD}/2/media/upload/3/finalize",
        json={
            "data": {
                "id": "3",
                "processing_info": {
                    "state": "failed",
                    "error": {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"},
                },
            }
        },
    )
    with pytest.raises(Exception) as err:
        x.publish(piece("x", "Video", video))
    assert "Unsupported video format" in err.value.message
    assert not calls_to(wire, "POST", f"{API}/2/tweets")


def test_expired_token_names_the_connection(wire, x):
    wire.add(
        responses.POST,
        f"{API}/2/tweets",
        json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
        status=401,
    )
    with pytest.raises(AuthError) as err:
        x.publish(piece("x", "Hola Bogotá"))
    assert "'x_cvp'" in err.value.message
    assert "Renueve el token" in err.value.message


def test_rate_limit_carries_reset(wire, x, tmp_path):
    img = media_file(tmp_path, "a.png", "image/png")
    wire.add(
        responses.POST,
        f"{UPLOAD}/2/media/upload",
        json={"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        status=429,
        headers={"x-rate-limit-limit": "17", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1767225600"},
    )
    with pytest.raises(RateLimited) as err:
        x.publish(piece("x", "Hola", img))
    assert err.value.reset_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert err.value.retryable
    assert len(wire.calls) == 1  # not hammered, nothing posted


def test_upload_500_then_success_is_retried_once(wire, x, clock, tmp_path):
    img = media_file(tmp_path, "a.png", "image/png")
    wire.add(responses.POST, f"{UPLOAD}/2/media/upload", json={"title": "Internal Server Error"}, status=500)
    upload_ok(wire, "1001")
    tweet_ok(wire)

    result = x.publish(piece("x", "Hola", img))

    assert result.remote_id == "1894000000000000001"
    assert len(calls_to(wire, "POST", f"{UPLOAD}/2/media/upload")) == 2
    assert len(clock.sleeps) == 1
    assert len(calls_to(wire, "POST", f"{API}/2/tweets")) == 1


def test_timeout_after_post_sent_is_outcome_unknown_and_sent_once(wire, x, tmp_path):
    img = media_file(tmp_path, "a.png", "image/png")
    upload_ok(wire, "1001")
    wire.add(responses.POST, f"{API}/2/tweets", body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(OutcomeUnknown) as err:
        x.publish(piece("x", "Hola", img))

    assert err.value.outcome_unknown and not err.value.retryable
    assert len(calls_to(wire, "POST", f"{API}/2/tweets")) == 1


def test_server_error_on_post_is_not_retried(wire, x):
    wire.add(responses.POST, f"{API}/2/tweets", json={"title": "Service Unavailable"}, status=503)
    with pytest.raises(OutcomeUnknown):
        x.publish(piece("x", "Hola"))
    assert len(calls_to(wire, "POST", f"{API}/2/tweets")) == 1


def test_connect_timeout_on_post_is_transient(wire, x):
    wire.add(responses.POST, f"{API}/2/tweets", body=requests.exceptions.ConnectTimeout("connect"))
    with pytest.raises(TransientError):
        x.publish(piece("x", "Hola"))
    assert len(calls_to(wire, "POST", f"{API}/2/tweets")) == 1


def test_duplicate_content_is_reconciled_not_failed(wire, x):
    wire.add(
        responses.POST,
        f"{API}/2/tweets",
        json={
            "detail": "You are not allowed to create a Tweet with duplicate content.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
        status=403,
    )
    with pytest.raises(OutcomeUnknown):
        x.publish(piece("x", "Hola"))


@pytest.mark.parametrize(
    "media, text",
    [
        ([("big.png", "image/png", 5 * 1024 * 1024 + 1)], "Hola"),
        ([("v.mp4", "video/mp4", 512 * 1024 * 1024 + 1)], "Hola"),
        ([(f"{i}.png", "image/png", 100) for i in range(5)], "Hola"),
        ([("a.png", "image/png", 100), ("v.mp4", "video/mp4", 100)], "Hola"),
        ([("doc.pdf", "application/pdf", 100)], "Hola"),
        ([], "á" * 281),
    ],
)
def test_unfit_piece_is_rejected_before_any_request(wire, x, tmp_path, media, text):
    files = [media_file(tmp_path, n, t, declared_size=s) for n, t, s in media]
    with pytest.raises(MediaRejected):
        x.publish(piece("x", text, *files))
    assert len(wire.calls) == 0


def test_weighted_length_counts_urls_as_23_and_emoji_as_2():
    assert weighted_length("Hola") == 4
    assert weighted_length("Vea https://www.cajaviviendapopular.gov.co/noticias/una-muy-larga") == 4 + 23
    assert weighted_length("cvp.gov.co") == 23
    assert weighted_length("🏠") == 2
    assert weighted_length("Vivienda digna para Bogotá 🏠 " + "a" * 250) <= 280


def test_find_published_matches_text_with_shortened_links(wire, x, tmp_path):
    x._username = None
    wire.add(
        responses.GET, f"{API}/2/users/me", json={"data": {"id": "99", "name": "CVP", "username": "CajaViviendaBog"}}
    )
    wire.add(
        responses.GET,
        f"{API}/2/users/99/tweets",
        json={
            "data": [
                {
                    "id": "1",
                    "text": "Otra publicación",
                    "created_at": "2025-11-28T14:00:00.000Z",
                    "edit_history_tweet_ids": ["1"],
                },
                {
                    "id": "1894000000000000001",
                    "text": "Inscripciones abiertas  https://t.co/AbC123 &amp; requisitos https://t.co/XyZ",
                    "created_at": "2025-11-28T14:59:00.000Z",
                    "attachments": {"media_keys": ["3_1001"]},
                    "edit_history_tweet_ids": ["1894000000000000001"],
                },
            ],
            "meta": {"result_count": 2},
        },
    )
    img = media_file(tmp_path, "a.png", "image/png")
    found = x.find_published(
        piece(
            "x", "Inscripciones abiertas https://cvp.gov.co/inscripciones & requisitos", img, extra={"not_before": NOW}
        )
    )
    assert found is not None
    assert found.remote_id == "1894000000000000001"
    assert found.url == "https://x.com/CajaViviendaBog/status/1894000000000000001"
    (listing,) = calls_to(wire, "GET", f"{API}/2/users/99/tweets")
    assert "exclude=retweets%2Creplies" in listing.request.url
    assert "start_time=2025-11-28T14%3A55%3A00Z" in listing.request.url
    assert x.find_published(piece("x", "Texto que no se publicó")) is None


def test_tokens_never_logged(wire, x, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    upload_ok(wire, "1001")
    tweet_ok(wire)
    x.publish(piece("x", "Hola", media_file(tmp_path, "a.png", "image/png")))
    assert TOKEN not in caplog.text


def test_oauth1_user_context_signs_requests(wire, tmp_path):
    pub = XPublisher(
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        username="cvp",
        base_url=API,
        sleep=lambda s: None,
    )
    upload = "https://api.x.test/2/media/upload"
    wire.add(responses.POST, upload, json={"data": {"id": "1"}})
    tweet_ok(wire)
    pub.publish(piece("x", "Hola", media_file(tmp_path, "a.png", "image/png")))
    for call in wire.calls:
        header = call.request.headers["Authorization"]
        header = header.decode() if isinstance(header, bytes) else header
        assert header.startswith("OAuth ") and 'oauth_consumer_key="ck"' in header


def test_missing_credentials_name_the_connection():
    with pytest.raises(AuthError) as err:
        XPublisher(conn_id="x_cvp")
    assert "'x_cvp'" in err.value.message


def test_a_video_in_the_product_store_goes_out_byte_for_byte_as_from_a_local_file(wire, x, tmp_path):
    """Workers read media through the store (memory:// here, a bucket in production): same requests."""
    import uuid

    from cvp.publishers.base import MediaFile
    from cvp.storage import Storage

    content = b"0123456789" * 2 + b"abcde"
    local = media_file(tmp_path, "v.mp4", "video/mp4", content=content)
    store = Storage.from_url(f"memory:///cvp-{uuid.uuid4().hex}")
    store.write_bytes("archivos/1/v.mp4", content)
    stored = MediaFile(store.path("archivos/1/v.mp4"), "video/mp4", local.size, local.sha256)
    x.chunk_size = 10
    bodies = []
    for media in (local, stored):
        wire.reset()
        wire.add(responses.POST, f"{UPLOAD}/2/media/upload/initialize", json={"data": {"id": "2001"}})
        wire.add(responses.POST, f"{UPLOAD}/2/media/upload/2001/append", body="")
        wire.add(responses.POST, f"{UPLOAD}/2/media/upload/2001/finalize", json={"data": {"id": "2001"}})
        tweet_ok(wire)
        x.publish(piece("x", "Video de la entrega", media))
        bodies.append([c.request.body for c in calls_to(wire, "POST", f"{UPLOAD}/2/media/upload/2001/append")])
    assert len(bodies[1]) == 3 and b"abcde" in bodies[1][2]

    def parts(body: bytes) -> list[bytes]:  # the multipart boundary is random per request
        boundary = body.split(b"\r\n", 1)[0]
        return body.split(boundary)

    assert [parts(b) for b in bodies[0]] == [parts(b) for b in bodies[1]]
