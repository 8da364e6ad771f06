"""InstagramPublisher against the Graph API at the HTTP wire (``respx``), with local storage."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import httpx
import pytest
import respx

from cvp.publishers.base import (
    AuthError,
    MediaRejected,
    OutcomeUnknown,
    Publisher,
    PublishError,
    RateLimited,
    TransientError,
)
from cvp.publishers.instagram import InstagramPublisher
from cvp.publishers.storage import LocalDirStorage, PublicStorage
from tests.unit.fakes import NOW, clock, media_file, piece  # noqa: F401 (clock is a fixture)

BASE = "https://graph.ig.test"
GRAPH = f"{BASE}/v25.0"
IG = "17841400000000000"
TOKEN = "ig-token-SECRET"
PUBLIC = "https://media.cvp.test/publico"


@pytest.fixture
def graph():
    with respx.mock(base_url=GRAPH, assert_all_called=False) as router:
        yield router


@pytest.fixture
def storage(tmp_path):
    return LocalDirStorage(tmp_path / "publico", PUBLIC)


@pytest.fixture
def ig(clock, storage):
    return InstagramPublisher(
        ig_user_id=IG,
        access_token=TOKEN,
        storage=storage,
        base_url=BASE,
        conn_id="instagram_cvp",
        sleep=clock.sleep,
        clock=clock,
    )


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def status(*codes: str) -> list[httpx.Response]:
    return [httpx.Response(200, json={"status_code": code, "id": "x"}) for code in codes]


def published(graph, media_id: str = "18000000000000001") -> respx.Route:
    route = graph.post(f"/{IG}/media_publish").mock(return_value=httpx.Response(200, json={"id": media_id}))
    graph.get(f"/{media_id}").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": media_id,
                "permalink": "https://www.instagram.com/p/DAbc123/",
                "timestamp": "2025-11-28T15:00:09+0000",
            },
        )
    )
    return route


def test_is_a_publisher(ig, storage):
    assert isinstance(ig, Publisher)
    assert isinstance(storage, PublicStorage)


def test_publish_image_with_alt_text(graph, ig, clock, tmp_path):
    img = media_file(tmp_path, "pieza.jpg", "image/jpeg", alt_text="Entrega de llaves en Bosa")
    create = graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    poll = graph.get("/c1").mock(side_effect=status("IN_PROGRESS", "FINISHED"))
    publish = published(graph)

    result = ig.publish(piece("instagram", "Nuevas viviendas #CVP", img))

    sent = form(create.calls.last.request)
    assert sent == {
        "image_url": f"{PUBLIC}/instagram/42/{img.sha256}.jpg",
        "alt_text": "Entrega de llaves en Bosa",
        "caption": "Nuevas viviendas #CVP",
    }
    stored = tmp_path / "publico" / "instagram" / "42" / f"{img.sha256}.jpg"
    assert stored.read_bytes() == img.path.read_bytes()
    assert poll.calls.last.request.url.params["fields"] == "status_code,status"
    assert clock.sleeps == [5.0]
    assert form(publish.calls.last.request) == {"creation_id": "c1"}
    assert publish.call_count == 1
    assert result.remote_id == "18000000000000001"
    assert result.url == "https://www.instagram.com/p/DAbc123/"
    assert create.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_publish_carousel(graph, ig, tmp_path):
    a = media_file(tmp_path, "a.jpg", "image/jpeg", alt_text="Antes")
    b = media_file(tmp_path, "b.jpg", "image/jpeg")
    v = media_file(tmp_path, "v.mp4", "video/mp4")
    create = graph.post(f"/{IG}/media").mock(
        side_effect=[httpx.Response(200, json={"id": cid}) for cid in ("k1", "k2", "k3", "parent")]
    )
    for cid in ("k1", "k2", "k3", "parent"):
        graph.get(f"/{cid}").mock(side_effect=status("FINISHED"))
    publish = published(graph)

    ig.publish(piece("instagram", "Antes y después", a, b, v))

    children = [form(c.request) for c in create.calls[:3]]
    assert children[0] == {
        "image_url": f"{PUBLIC}/instagram/42/{a.sha256}.jpg",
        "alt_text": "Antes",
        "is_carousel_item": "true",
    }
    assert children[1] == {"image_url": f"{PUBLIC}/instagram/42/{b.sha256}.jpg", "is_carousel_item": "true"}
    assert children[2] == {
        "media_type": "VIDEO",
        "video_url": f"{PUBLIC}/instagram/42/{v.sha256}.mp4",
        "is_carousel_item": "true",
    }
    assert form(create.calls[3].request) == {
        "media_type": "CAROUSEL",
        "children": "k1,k2,k3",
        "caption": "Antes y después",
    }
    assert form(publish.calls.last.request) == {"creation_id": "parent"}


def test_publish_reel(graph, ig, tmp_path):
    v = media_file(tmp_path, "v.mp4", "video/mp4")
    create = graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "r1"}))
    graph.get("/r1").mock(side_effect=status("IN_PROGRESS", "IN_PROGRESS", "FINISHED"))
    published(graph)
    ig.publish(piece("instagram", "Recorrido", v))
    assert form(create.calls.last.request) == {
        "media_type": "REELS",
        "video_url": f"{PUBLIC}/instagram/42/{v.sha256}.mp4",
        "share_to_feed": "true",
        "caption": "Recorrido",
    }


def test_expired_token_names_the_connection(graph, ig, tmp_path):
    graph.post(f"/{IG}/media").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "Error validating access token: The session has been invalidated.",
                    "type": "OAuthException",
                    "code": 190,
                    "error_subcode": 460,
                    "fbtrace_id": "F1",
                }
            },
        )
    )
    with pytest.raises(AuthError) as err:
        ig.publish(piece("instagram", "Hola", media_file(tmp_path, "a.jpg", "image/jpeg")))
    assert "'instagram_cvp'" in err.value.message


def test_rate_limit_carries_reset(graph, ig, tmp_path):
    usage = {
        IG: [
            {
                "type": "instagram",
                "call_count": 100,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": 30,
            }
        ]
    }
    graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    graph.get("/c1").mock(side_effect=status("FINISHED"))
    publish = graph.post(f"/{IG}/media_publish").mock(
        return_value=httpx.Response(
            400,
            json={
                "error": {
                    "message": "Application request limit reached",
                    "type": "OAuthException",
                    "code": 4,
                    "fbtrace_id": "F",
                }
            },
            headers={"x-business-use-case-usage": json.dumps(usage)},
        )
    )
    with pytest.raises(RateLimited) as err:
        ig.publish(piece("instagram", "Hola", media_file(tmp_path, "a.jpg", "image/jpeg")))
    assert err.value.reset_at == NOW + timedelta(minutes=30)
    assert publish.call_count == 1


def test_container_500_then_success_is_retried_once(graph, ig, clock, tmp_path):
    create = graph.post(f"/{IG}/media").mock(
        side_effect=[
            httpx.Response(
                500, json={"error": {"message": "An unexpected error has occurred.", "code": 2, "is_transient": True}}
            ),
            httpx.Response(200, json={"id": "c1"}),
        ]
    )
    graph.get("/c1").mock(side_effect=status("FINISHED"))
    publish = published(graph)

    ig.publish(piece("instagram", "Hola", media_file(tmp_path, "a.jpg", "image/jpeg")))

    assert create.call_count == 2
    assert len(clock.sleeps) == 1
    assert publish.call_count == 1


def test_timeout_after_post_sent_is_outcome_unknown_and_sent_once(graph, ig, tmp_path):
    graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    graph.get("/c1").mock(side_effect=status("FINISHED"))
    publish = graph.post(f"/{IG}/media_publish").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(OutcomeUnknown):
        ig.publish(piece("instagram", "Hola", media_file(tmp_path, "a.jpg", "image/jpeg")))
    assert publish.call_count == 1


def test_container_error_stops_before_publishing(graph, ig, tmp_path):
    graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    graph.get("/c1").mock(
        return_value=httpx.Response(
            200,
            json={
                "status_code": "ERROR",
                "status": "Error: Media upload has failed with error code 2207026",
                "id": "c1",
            },
        )
    )
    publish = graph.post(f"/{IG}/media_publish")
    with pytest.raises(PublishError) as err:
        ig.publish(piece("instagram", "Hola", media_file(tmp_path, "a.jpg", "image/jpeg")))
    assert "2207026" in err.value.message
    assert publish.call_count == 0


def test_polling_is_bounded(graph, ig, clock, tmp_path):
    ig.max_wait = 12
    graph.post(f"/{IG}/media").mock(return_value=httpx.Response(200, json={"id": "c1"}))
    graph.get("/c1").mock(return_value=httpx.Response(200, json={"status_code": "IN_PROGRESS", "id": "c1"}))
    publish = graph.post(f"/{IG}/media_publish")
    with pytest.raises(TransientError):
        ig.publish(piece("instagram", "Hola", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert sum(clock.sleeps) <= 12
    assert publish.call_count == 0


@pytest.mark.parametrize(
    "media",
    [
        [],
        [("big.jpg", "image/jpeg", 8 * 1024 * 1024 + 1)],
        [("a.png", "image/png", 100)],
        [("doc.pdf", "application/pdf", 100)],
        [(f"{i}.jpg", "image/jpeg", 100) for i in range(11)],
        [("v.mp4", "video/mp4", 300 * 1024 * 1024 + 1)],
    ],
)
def test_unfit_piece_is_rejected_before_any_request(graph, ig, tmp_path, media):
    files = [media_file(tmp_path, n, t, declared_size=s) for n, t, s in media]
    with pytest.raises(MediaRejected):
        ig.publish(piece("instagram", "Hola", *files))
    assert len(graph.calls) == 0
    assert not (tmp_path / "publico").exists()


def test_find_published_matches_caption(graph, ig):
    media = graph.get(f"/{IG}/media").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    {
                        "id": "1",
                        "caption": "Otra",
                        "permalink": "https://www.instagram.com/p/1/",
                        "timestamp": "2025-11-28T14:00:00+0000",
                    },
                    {
                        "id": "2",
                        "caption": "Nuevas viviendas #CVP",
                        "permalink": "https://www.instagram.com/p/2/",
                        "timestamp": "2025-11-28T15:00:09+0000",
                    },
                ]
            },
        )
    )
    found = ig.find_published(piece("instagram", "Nuevas viviendas #CVP"))
    assert found is not None and found.remote_id == "2" and found.url == "https://www.instagram.com/p/2/"
    assert media.calls.last.request.url.params["fields"] == "id,caption,permalink,timestamp"
    assert ig.find_published(piece("instagram", "No publicado")) is None


def test_local_storage_rejects_escaping_keys(storage, tmp_path):
    src = media_file(tmp_path, "a.jpg", "image/jpeg")
    with pytest.raises(ValueError):
        storage.put(src.path, "../fuera.jpg", "image/jpeg")
    assert storage.put(src.path, "x/a b.jpg", "image/jpeg") == f"{PUBLIC}/x/a%20b.jpg"
