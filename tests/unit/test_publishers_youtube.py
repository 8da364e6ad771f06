"""YouTubePublisher at the httplib2 wire, with googleapiclient's ``HttpMockSequence``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from google.oauth2.credentials import Credentials

from cvp.publishers.base import (
    AuthError,
    MediaRejected,
    OutcomeUnknown,
    Publisher,
    RateLimited,
)
from cvp.publishers.youtube import InMemoryQuota, YouTubePublisher, next_pacific_midnight, video_title
from tests.unit.fakes import NOW, RecordingHttp, clock, media_file, piece  # noqa: F401 (clock is a fixture)

SESSION = "https://www.googleapis.com/upload/youtube/v3/videos?uploadType=resumable&upload_id=U1"
VIDEO = {
    "kind": "youtube#video",
    "id": "a1B2c3D4e5F",
    "snippet": {"publishedAt": "2025-11-28T15:00:30Z", "title": "Entrega de viviendas"},
    "status": {"uploadStatus": "uploaded", "privacyStatus": "public"},
}
OK_INIT = ({"status": "200", "location": SESSION}, "")
OK_VIDEO = ({"status": "200"}, json.dumps(VIDEO))
THUMB_OK = (
    {"status": "200"},
    json.dumps({"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": "https://i.ytimg.com/x.jpg"}}]}),
)


def api_error(status: int, reason: str, message: str) -> tuple[dict, str]:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube", "reason": reason}],
        }
    }
    return {"status": str(status), "content-type": "application/json"}, json.dumps(body)


@pytest.fixture
def make(clock):
    def make(*responses, **kw) -> tuple[YouTubePublisher, RecordingHttp]:
        http = RecordingHttp(list(responses))
        kw.setdefault("quota", InMemoryQuota(clock))
        pub = YouTubePublisher(http=http, conn_id="youtube_cvp", sleep=clock.sleep, clock=clock, **kw)
        return pub, http

    return make


def data_puts(http: RecordingHttp) -> list:
    """PUTs that carried video bytes (not the empty status queries of the resumable protocol)."""
    return [
        r for r in http.request_sequence if r[1] == "PUT" and not r[3].get("Content-Range", "").startswith("bytes */")
    ]


def test_is_a_publisher(make):
    assert isinstance(make()[0], Publisher)


def test_publish_resumable_with_metadata_and_thumbnail(make, tmp_path):
    video = media_file(tmp_path, "entrega.mp4", "video/mp4", content=b"v" * 1000)
    thumb = media_file(tmp_path, "mini.jpg", "image/jpeg")
    yt, http = make(OK_INIT, OK_VIDEO, THUMB_OK)
    quota = yt.quota

    result = yt.publish(
        piece(
            "youtube",
            "Entrega de viviendas en Bosa <2025>\nDetalles del proyecto.",
            video,
            title="Entrega de viviendas",
            tags=("vivienda", "Bogotá humana"),
            extra={"thumbnail": thumb},
        )
    )

    assert result.remote_id == "a1B2c3D4e5F"
    assert result.url == "https://www.youtube.com/watch?v=a1B2c3D4e5F"
    assert result.published_at == datetime(2025, 11, 28, 15, 0, 30, tzinfo=UTC)
    init, put, thumbnail = http.request_sequence
    uri = urlsplit(init[0])
    assert uri.path == "/upload/youtube/v3/videos" and init[1] == "POST"
    query = parse_qs(uri.query)
    assert query["uploadType"] == ["resumable"] and query["part"] == ["snippet,status"]
    assert query["notifySubscribers"] == ["true"]
    body = json.loads(init[2])
    assert body["snippet"] == {
        "title": "Entrega de viviendas",
        "description": "Entrega de viviendas en Bosa ‹2025›\nDetalles del proyecto.",
        "categoryId": "29",
        "tags": ["vivienda", "Bogotá humana"],
        "defaultLanguage": "es",
    }
    assert body["status"] == {"privacyStatus": "public", "selfDeclaredMadeForKids": False}
    assert init[3]["X-Upload-Content-Type"] == "video/mp4" and init[3]["X-Upload-Content-Length"] == "1000"
    assert put[0] == SESSION and put[1] == "PUT" and put[3]["Content-Range"] == "bytes 0-999/1000"
    assert urlsplit(thumbnail[0]).path == "/upload/youtube/v3/thumbnails/set"
    assert parse_qs(urlsplit(thumbnail[0]).query)["videoId"] == ["a1B2c3D4e5F"]
    assert quota.spent_today() == 1600 + 50


def test_thumbnail_failure_does_not_fail_a_published_video(make, tmp_path):
    video = media_file(tmp_path, "v.mp4", "video/mp4")
    thumb = media_file(tmp_path, "mini.png", "image/png")
    forbidden = api_error(
        403, "forbidden", "The authenticated user doesnt have permissions to upload and set custom video thumbnails."
    )
    yt, _ = make(OK_INIT, OK_VIDEO, forbidden)
    assert yt.publish(piece("youtube", "Video", video, extra={"thumbnail": thumb})).remote_id == "a1B2c3D4e5F"


def test_expired_token_names_the_connection(make, tmp_path):
    yt, _ = make(api_error(401, "authError", "Request had invalid authentication credentials."))
    with pytest.raises(AuthError) as err:
        yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert "'youtube_cvp'" in err.value.message


def test_revoked_refresh_token_is_auth_error(clock, tmp_path):
    http = RecordingHttp(
        [
            (
                {"status": "400", "content-type": "application/json"},
                json.dumps({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
            ),
        ]
    )
    creds = Credentials(
        token=None,
        refresh_token="1//refresh",
        token_uri="https://oauth2.test/token",
        client_id="cid",
        client_secret="csecret",
    )
    yt = YouTubePublisher(creds, http=http, conn_id="youtube_cvp", sleep=clock.sleep, clock=clock)
    with pytest.raises(AuthError) as err:
        yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert "'youtube_cvp'" in err.value.message
    assert http.request_sequence[0][0] == "https://oauth2.test/token"


def test_quota_exceeded_resets_at_pacific_midnight(make, tmp_path):
    yt, http = make(
        api_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota.")
    )
    with pytest.raises(RateLimited) as err:
        yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert err.value.reset_at == datetime(2025, 11, 29, 8, 0, tzinfo=UTC)
    assert yt.quota.spent_today() == 10_000  # the platform said so: no more calls today
    assert len(http.request_sequence) == 1


def test_insufficient_local_quota_refuses_before_any_call(make, clock, tmp_path):
    quota = InMemoryQuota(clock)
    quota.spend(9000)
    yt, http = make(quota=quota)
    with pytest.raises(RateLimited) as err:
        yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert "cuota diaria" in err.value.message
    assert err.value.reset_at == next_pacific_midnight(NOW)
    assert http.request_sequence == []


def test_chunk_500_then_success_resumes_the_session(make, clock, tmp_path):
    video = media_file(tmp_path, "v.mp4", "video/mp4", content=b"v" * 300_000)
    yt, http = make(
        OK_INIT,
        ({"status": "308", "range": "bytes=0-262143"}, ""),
        api_error(503, "backendError", "Backend Error"),
        ({"status": "308", "range": "bytes=0-262143"}, ""),  # what the session holds
        OK_VIDEO,
        chunksize=256 * 1024,
    )

    assert yt.publish(piece("youtube", "Video", video)).remote_id == "a1B2c3D4e5F"

    ranges = [r[3].get("Content-Range") for r in http.request_sequence[1:]]
    assert ranges == [
        "bytes 0-262143/300000",
        "bytes 262144-299999/300000",
        "bytes */300000",
        "bytes 262144-299999/300000",
    ]
    assert len(clock.sleeps) == 1


def test_timeout_after_last_chunk_is_outcome_unknown_and_sent_once(make, tmp_path):
    yt, http = make(
        OK_INIT,
        ({}, TimeoutError("timed out")),
        ({}, TimeoutError("timed out")),
        ({}, TimeoutError("timed out")),
        max_chunk_retries=2,
    )
    with pytest.raises(OutcomeUnknown):
        yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert len(data_puts(http)) == 1
    assert sum(1 for r in http.request_sequence if r[1] == "POST") == 1


def test_timeout_after_last_chunk_then_session_reports_the_video(make, tmp_path):
    yt, http = make(OK_INIT, ({}, TimeoutError("timed out")), OK_VIDEO)
    assert yt.publish(piece("youtube", "Video", media_file(tmp_path, "v.mp4", "video/mp4"))).remote_id == "a1B2c3D4e5F"
    assert len(data_puts(http)) == 1
    assert http.request_sequence[2][3]["Content-Range"].startswith("bytes */")


@pytest.mark.parametrize(
    "media, extra",
    [
        ([("a.mp4", "video/mp4", 100), ("b.mp4", "video/mp4", 100)], {}),
        ([("a.jpg", "image/jpeg", 100)], {}),
        ([], {}),
        ([("a.mp4", "video/mp4", 257 * 1024**3)], {}),
        ([("a.mp4", "video/mp4", 100)], {"thumbnail": ("t.jpg", "image/jpeg", 3 * 1024 * 1024)}),
        ([("a.mp4", "video/mp4", 100)], {"thumbnail": ("t.gif", "image/gif", 100)}),
    ],
)
def test_unfit_piece_is_rejected_before_any_request(make, tmp_path, media, extra):
    files = [media_file(tmp_path, n, t, declared_size=s) for n, t, s in media]
    if "thumbnail" in extra:
        extra = {"thumbnail": media_file(tmp_path, *extra["thumbnail"][:2], declared_size=extra["thumbnail"][2])}
    yt, http = make()
    with pytest.raises(MediaRejected):
        yt.publish(piece("youtube", "Video", *files, extra=extra))
    assert http.request_sequence == []


def test_title_is_first_line_truncated_to_100():
    title = video_title(piece("youtube", "  " + "x" * 150 + "\nresto"))
    assert len(title) == 100 and title.endswith("…")


def test_find_published_searches_the_uploads_playlist(make):
    channels = {"items": [{"id": "UCcvp", "contentDetails": {"relatedPlaylists": {"likes": "", "uploads": "UUcvp"}}}]}
    items = {
        "items": [
            {
                "snippet": {
                    "title": "Otro",
                    "description": "x",
                    "publishedAt": "2025-11-27T10:00:00Z",
                    "resourceId": {"kind": "youtube#video", "videoId": "old"},
                }
            },
            {
                "snippet": {
                    "title": "Entrega de viviendas",
                    "description": "Entrega de viviendas en Bosa https://cvp.gov.co",
                    "publishedAt": "2025-11-28T15:00:30Z",
                    "resourceId": {"kind": "youtube#video", "videoId": "a1B2c3D4e5F"},
                }
            },
        ]
    }
    yt, http = make(
        ({"status": "200"}, json.dumps(channels)),
        ({"status": "200"}, json.dumps(items)),
        ({"status": "200"}, json.dumps(items)),
    )
    wanted = piece("youtube", "Entrega de viviendas en Bosa https://cvp.gov.co", title="Entrega de viviendas")
    found = yt.find_published(wanted)
    assert found is not None and found.remote_id == "a1B2c3D4e5F"
    assert found.url == "https://www.youtube.com/watch?v=a1B2c3D4e5F"
    assert parse_qs(urlsplit(http.request_sequence[0][0]).query)["mine"] == ["true"]
    assert parse_qs(urlsplit(http.request_sequence[1][0]).query)["playlistId"] == ["UUcvp"]
    assert yt.find_published(piece("youtube", "Nada", title="No publicado")) is None
    assert len(http.request_sequence) == 3  # the uploads playlist id is looked up once
