"""FacebookPublisher against the Graph API at the HTTP wire (``respx`` intercepts httpx)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from cvp.publishers.base import (
    AuthError,
    MediaRejected,
    OutcomeUnknown,
    Publisher,
    RateLimited,
    TransientError,
)
from cvp.publishers.facebook import FacebookPublisher
from tests.unit.fakes import NOW, clock, media_file, piece  # noqa: F401 (clock is a fixture)

BASE = "https://graph.fb.test"
GRAPH = f"{BASE}/v25.0"
PAGE = "104857600"
TOKEN = "page-token-SECRET"


@pytest.fixture
def graph():
    with respx.mock(base_url=GRAPH, assert_all_called=False) as router:
        yield router


@pytest.fixture
def fb(clock):
    return FacebookPublisher(
        page_id=PAGE,
        access_token=TOKEN,
        base_url=BASE,
        conn_id="facebook_cvp",
        sleep=clock.sleep,
        clock=clock,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def part(request: httpx.Request, name: str) -> bytes:
    """Value of a multipart field (small values only)."""
    body = request.read()
    marker = f'name="{name}"'.encode()
    start = body.index(marker)
    value_start = body.index(b"\r\n\r\n", start) + 4
    return body[value_start : body.index(b"\r\n--", value_start)]


def graph_error(code: int, message: str, *, status: int = 400, subcode=None, **extra) -> httpx.Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode:
        error["error_subcode"] = subcode
    error.update(extra)
    return httpx.Response(status, json={"error": error})


def permalink(graph, object_id: str, url: str) -> None:
    graph.get(f"/{object_id}").mock(
        return_value=httpx.Response(
            200, json={"id": object_id, "permalink_url": url, "created_time": "2025-11-28T15:00:05+0000"}
        )
    )


def test_is_a_publisher(fb):
    assert isinstance(fb, Publisher)


def test_publish_one_photo_with_alt_text(graph, fb, tmp_path):
    img = media_file(tmp_path, "pieza.png", "image/png", alt_text="Familia frente a su casa nueva")
    photos = graph.post(f"/{PAGE}/photos").mock(
        return_value=httpx.Response(200, json={"id": "900", "post_id": f"{PAGE}_777"})
    )
    permalink(graph, f"{PAGE}_777", f"https://www.facebook.com/{PAGE}/posts/777")

    result = fb.publish(piece("facebook", "Entregamos títulos en Usme", img))

    assert result.remote_id == f"{PAGE}_777"
    assert result.url == f"https://www.facebook.com/{PAGE}/posts/777"
    assert result.published_at == datetime(2025, 11, 28, 15, 0, 5, tzinfo=UTC)
    request = photos.calls.last.request
    assert part(request, "caption") == "Entregamos títulos en Usme".encode()
    assert part(request, "alt_text_custom") == b"Familia frente a su casa nueva"
    assert part(request, "published") == b"true"
    assert b'name="source"; filename="pieza.png"' in request.content
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert photos.call_count == 1


def test_publish_album_uploads_unpublished_then_attaches(graph, fb, tmp_path):
    a = media_file(tmp_path, "a.jpg", "image/jpeg", alt_text="Antes")
    b = media_file(tmp_path, "b.jpg", "image/jpeg", alt_text="Después")
    photos = graph.post(f"/{PAGE}/photos").mock(
        side_effect=[httpx.Response(200, json={"id": "901"}), httpx.Response(200, json={"id": "902"})]
    )
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": f"{PAGE}_778"}))
    permalink(graph, f"{PAGE}_778", f"https://www.facebook.com/{PAGE}/posts/778")

    fb.publish(piece("facebook", "Mejoramiento de vivienda", a, b))

    assert [part(c.request, "published") for c in photos.calls] == [b"false", b"false"]
    assert [part(c.request, "alt_text_custom") for c in photos.calls] == [b"Antes", "Después".encode()]
    sent = form(feed.calls.last.request)
    assert sent["message"] == "Mejoramiento de vivienda"
    assert json.loads(sent["attached_media[0]"]) == {"media_fbid": "901"}
    assert json.loads(sent["attached_media[1]"]) == {"media_fbid": "902"}
    assert feed.call_count == 1


def test_publish_text_with_link(graph, fb):
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": f"{PAGE}_1"}))
    graph.get(f"/{PAGE}_1").mock(return_value=httpx.Response(500, json={}))  # permalink is best effort

    result = fb.publish(piece("facebook", "Convocatoria", extra={"link": "https://cvp.gov.co/c"}))

    assert form(feed.calls.last.request) == {"message": "Convocatoria", "link": "https://cvp.gov.co/c"}
    assert result.url == f"https://www.facebook.com/{PAGE}_1"


def test_publish_large_video_resumable(graph, fb, tmp_path):
    fb.resumable_threshold = 10
    video = media_file(tmp_path, "v.mp4", "video/mp4", content=b"A" * 10 + b"B" * 10)
    videos = graph.post(f"/{PAGE}/videos").mock(
        side_effect=[
            httpx.Response(
                200, json={"video_id": "v77", "start_offset": "0", "end_offset": "10", "upload_session_id": "s1"}
            ),
            httpx.Response(200, json={"start_offset": "10", "end_offset": "20"}),
            httpx.Response(200, json={"start_offset": "20", "end_offset": "20"}),
            httpx.Response(200, json={"success": True}),
        ]
    )
    graph.get("/v77").mock(return_value=httpx.Response(200, json={"permalink_url": f"/{PAGE}/videos/v77/"}))

    result = fb.publish(piece("facebook", "Recorrido por la obra", video, title="Recorrido"))

    start, first, second, finish = (c.request for c in videos.calls)
    assert form(start) == {"upload_phase": "start", "file_size": "20"}
    assert part(first, "upload_phase") == b"transfer" and part(first, "start_offset") == b"0"
    assert part(first, "video_file_chunk") == b"A" * 10
    assert part(second, "start_offset") == b"10" and part(second, "video_file_chunk") == b"B" * 10
    assert form(finish) == {
        "upload_phase": "finish",
        "upload_session_id": "s1",
        "description": "Recorrido por la obra",
        "title": "Recorrido",
    }
    assert result.remote_id == "v77"
    assert result.url == f"https://www.facebook.com/{PAGE}/videos/v77/"


def test_expired_token_names_the_connection(graph, fb):
    graph.post(f"/{PAGE}/feed").mock(
        return_value=graph_error(190, "Error validating access token: Session has expired.", subcode=463)
    )
    with pytest.raises(AuthError) as err:
        fb.publish(piece("facebook", "Hola"))
    assert "'facebook_cvp'" in err.value.message
    assert "venció" in err.value.message


def test_rate_limit_reads_business_use_case_header(graph, fb, tmp_path):
    a, b = media_file(tmp_path, "a.jpg", "image/jpeg"), media_file(tmp_path, "b.jpg", "image/jpeg")
    usage = {
        PAGE: [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 30,
                "total_time": 40,
                "estimated_time_to_regain_access": 15,
            }
        ]
    }
    photos = graph.post(f"/{PAGE}/photos").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "User request limit reached",
                    "type": "OAuthException",
                    "code": 32,
                    "fbtrace_id": "x",
                }
            },
            headers={"x-business-use-case-usage": json.dumps(usage)},
        )
    )
    with pytest.raises(RateLimited) as err:
        fb.publish(piece("facebook", "Hola", a, b))
    assert err.value.reset_at == NOW + timedelta(minutes=15)
    assert photos.call_count == 1  # a rate limit is not retried here


def test_app_rate_limit_without_header(graph, fb):
    graph.post(f"/{PAGE}/feed").mock(return_value=graph_error(4, "Application request limit reached"))
    with pytest.raises(RateLimited) as err:
        fb.publish(piece("facebook", "Hola"))
    assert err.value.reset_at is None


def test_upload_500_then_success_is_retried_once(graph, fb, clock, tmp_path):
    a, b = media_file(tmp_path, "a.jpg", "image/jpeg"), media_file(tmp_path, "b.jpg", "image/jpeg")
    photos = graph.post(f"/{PAGE}/photos").mock(
        side_effect=[
            graph_error(2, "Service temporarily unavailable", status=500, is_transient=True),
            httpx.Response(200, json={"id": "901"}),
            httpx.Response(200, json={"id": "902"}),
        ]
    )
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": f"{PAGE}_5"}))
    permalink(graph, f"{PAGE}_5", "https://www.facebook.com/p/5")

    result = fb.publish(piece("facebook", "Hola", a, b))

    assert result.remote_id == f"{PAGE}_5"
    assert photos.call_count == 3
    assert b'filename="a.jpg"' in photos.calls[1].request.content  # the same file, sent again
    assert len(clock.sleeps) == 1
    assert feed.call_count == 1


def test_timeout_after_post_sent_is_outcome_unknown_and_sent_once(graph, fb, tmp_path):
    img = media_file(tmp_path, "a.jpg", "image/jpeg")
    photos = graph.post(f"/{PAGE}/photos").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(OutcomeUnknown):
        fb.publish(piece("facebook", "Hola", img))
    assert photos.call_count == 1


def test_server_error_on_post_is_outcome_unknown(graph, fb):
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=graph_error(1, "An unknown error occurred", status=500))
    with pytest.raises(OutcomeUnknown):
        fb.publish(piece("facebook", "Hola"))
    assert feed.call_count == 1


def test_connection_refused_on_post_is_transient(graph, fb):
    feed = graph.post(f"/{PAGE}/feed").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(TransientError):
        fb.publish(piece("facebook", "Hola"))
    assert feed.call_count == 1


@pytest.mark.parametrize(
    "media",
    [
        [("big.jpg", "image/jpeg", 10 * 1024 * 1024 + 1)],
        [("a.jpg", "image/jpeg", 100), ("v.mp4", "video/mp4", 100)],
        [("doc.pdf", "application/pdf", 100)],
        [(f"{i}.jpg", "image/jpeg", 100) for i in range(11)],
        [("a.webp", "image/webp", 100)],
    ],
)
def test_unfit_piece_is_rejected_before_any_request(graph, fb, tmp_path, media):
    files = [media_file(tmp_path, n, t, declared_size=s) for n, t, s in media]
    with pytest.raises(MediaRejected):
        fb.publish(piece("facebook", "Hola", *files))
    assert len(graph.calls) == 0


def test_find_published_matches_message(graph, fb):
    posts = graph.get(f"/{PAGE}/posts").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    {
                        "id": f"{PAGE}_1",
                        "message": "Otra cosa",
                        "created_time": "2025-11-28T14:00:00+0000",
                        "permalink_url": "https://www.facebook.com/x/1",
                    },
                    {
                        "id": f"{PAGE}_2",
                        "message": "Entregamos  títulos\nen Usme",
                        "created_time": "2025-11-28T14:59:00+0000",
                        "permalink_url": f"https://www.facebook.com/{PAGE}/posts/2",
                    },
                ],
                "paging": {"cursors": {"before": "a", "after": "b"}},
            },
        )
    )
    found = fb.find_published(piece("facebook", "Entregamos títulos en Usme", extra={"not_before": NOW}))
    assert found is not None and found.remote_id == f"{PAGE}_2"
    assert found.url == f"https://www.facebook.com/{PAGE}/posts/2"
    params = posts.calls.last.request.url.params
    assert params["fields"] == "id,message,permalink_url,created_time" and params["limit"] == "25"
    assert fb.find_published(piece("facebook", "No publicado")) is None


def test_find_published_ignores_older_identical_post(graph, fb):
    graph.get(f"/{PAGE}/posts").mock(
        return_value=httpx.Response(
            200, json={"data": [{"id": "1", "message": "Hola", "created_time": "2025-10-01T10:00:00+0000"}]}
        )
    )
    assert fb.find_published(piece("facebook", "Hola", extra={"not_before": NOW})) is None


def test_tokens_never_logged(graph, fb, caplog):
    caplog.set_level(logging.DEBUG)
    graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": "1"}))
    permalink(graph, "1", "https://www.facebook.com/1")
    fb.publish(piece("facebook", "Hola"))
    assert TOKEN not in caplog.text


def test_app_secret_proof_is_sent(graph, clock):
    pub = FacebookPublisher(page_id=PAGE, access_token=TOKEN, app_secret="s3cret", base_url=BASE, sleep=clock.sleep)
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": "1"}))
    permalink(graph, "1", "https://www.facebook.com/1")
    pub.publish(piece("facebook", "Hola"))
    assert len(feed.calls.last.request.url.params["appsecret_proof"]) == 64


def test_publish_small_video_in_one_call(graph, fb, tmp_path):
    video = media_file(tmp_path, "v.mp4", "video/mp4")
    videos = graph.post(f"/{PAGE}/videos").mock(return_value=httpx.Response(200, json={"id": "v9"}))
    graph.get("/v9").mock(return_value=httpx.Response(200, json={"permalink_url": f"/{PAGE}/videos/v9/"}))

    result = fb.publish(piece("facebook", "Recorrido", video, title="Obra"))

    request = videos.calls.last.request
    assert part(request, "description") == b"Recorrido" and part(request, "title") == b"Obra"
    assert b'name="source"; filename="v.mp4"' in request.content
    assert videos.call_count == 1
    assert result.url == f"https://www.facebook.com/{PAGE}/videos/v9/"


def test_video_uploads_default_to_graph_video_host():
    pub = FacebookPublisher(page_id=PAGE, access_token=TOKEN)
    assert pub.video_base_url == "https://graph-video.facebook.com"
    assert pub.api.url(f"{PAGE}/feed") == f"https://graph.facebook.com/v25.0/{PAGE}/feed"
