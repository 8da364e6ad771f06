"""Engagement collectors at the HTTP wire, in each API's documented shape, and the daily collection.

X through ``responses`` (requests), the Graph API through ``respx`` (httpx), YouTube through
googleapiclient's ``HttpMockSequence``. Publications come from the ledger, as activity 14 writes them.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
import responses
import respx
from sqlalchemy import select

from cvp import engagement, publishing
from cvp import procedure as P
from cvp.engagement import (
    METRIC_KEYS,
    Collector,
    FacebookCollector,
    InstagramCollector,
    XCollector,
    YouTubeCollector,
)
from cvp.publishers.base import AuthError, PublishResult, RateLimited, TransientError
from cvp.publishers.outbox import OutboxPublisher
from cvp.records.models import EngagementSnapshot
from tests.conftest import ONE_OFF, tiny_png
from tests.unit.fakes import NOW, RecordingHttp, clock  # noqa: F401 (clock is a fixture)
from tests.unit.test_office import TEXTS

ROOT = Path(__file__).resolve().parents[2]
X_API = "https://api.x.test"
X_TOKEN = "x-bearer-SECRET"
GRAPH_BASE = "https://graph.fb.test"
GRAPH = f"{GRAPH_BASE}/v25.0"
META_TOKEN = "meta-token-SECRET"
YT_KEY = "yt-api-key-SECRET"


def tweet(tweet_id: str, impressions=0, likes=0, replies=0, retweets=0, quotes=0, bookmarks=0) -> dict:
    return {
        "id": tweet_id,
        "text": "Hoy entregamos 120 títulos en Ciudad Bolívar.",
        "edit_history_tweet_ids": [tweet_id],
        "public_metrics": {
            "retweet_count": retweets,
            "reply_count": replies,
            "like_count": likes,
            "quote_count": quotes,
            "bookmark_count": bookmarks,
            "impression_count": impressions,
        },
    }


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> httpx.Response:
    err = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    if subcode:
        err["error_subcode"] = subcode
    return httpx.Response(status, json={"error": err})


def insight(name: str, value: int) -> dict:
    return {
        "name": name,
        "period": "lifetime",
        "values": [{"value": value}],
        "title": name,
        "description": "",
        "id": f"1/insights/{name}/lifetime",
    }


# --------------------------------------------------------------------------------------------
# X
# --------------------------------------------------------------------------------------------


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def x(clock):
    return XCollector(bearer_token=X_TOKEN, base_url=X_API, conn_id="x_cvp", sleep=clock.sleep)


def test_x_reads_public_metrics_in_batches_of_100(wire, x):
    ids = [str(1894000000000000000 + i) for i in range(150)]

    def answer(request):
        asked = parse_qs(urlsplit(request.url).query)["ids"][0].split(",")
        return (
            200,
            {},
            json.dumps(
                {
                    "data": [
                        tweet(i, impressions=1000, likes=40, replies=3, retweets=5, quotes=2, bookmarks=7)
                        for i in asked
                    ]
                }
            ),
        )

    wire.add_callback(responses.GET, f"{X_API}/2/tweets", callback=answer)
    found = x.fetch(ids)

    assert set(found) == set(ids)
    assert [len(parse_qs(urlsplit(c.request.url).query)["ids"][0].split(",")) for c in wire.calls] == [100, 50]
    query = parse_qs(urlsplit(wire.calls[0].request.url).query)
    assert query["tweet.fields"] == ["public_metrics"]
    assert wire.calls[0].request.headers["Authorization"] == f"Bearer {X_TOKEN}"
    m = found[ids[0]]
    assert {k: m[k] for k in METRIC_KEYS} == {
        "impresiones": 1000,
        "alcance": None,
        "reacciones": 40,
        "comentarios": 3,
        "compartidos": 7,
        "reproducciones": None,
    }
    assert m["plataforma"] == {
        "impressions": 1000,
        "likes": 40,
        "replies": 3,
        "reposts": 5,
        "quotes": 2,
        "bookmarks": 7,
    }


def test_x_leaves_out_deleted_posts_reported_as_partial_errors(wire, x):
    wire.add(
        responses.GET,
        f"{X_API}/2/tweets",
        json={
            "data": [tweet("11", likes=1)],
            "errors": [
                {
                    "value": "12",
                    "detail": "Could not find tweet with ids: [12].",
                    "title": "Not Found Error",
                    "resource_type": "tweet",
                    "parameter": "ids",
                    "resource_id": "12",
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            ],
        },
    )
    assert set(x.fetch(["11", "12"])) == {"11"}


def test_x_retries_a_5xx_then_reads(wire, x, clock):
    wire.add(responses.GET, f"{X_API}/2/tweets", status=503, json={"title": "Service Unavailable"})
    wire.add(responses.GET, f"{X_API}/2/tweets", json={"data": [tweet("11", likes=2)]})
    assert x.fetch(["11"])["11"]["reacciones"] == 2
    assert len(wire.calls) == 2 and clock.sleeps == [2.0]


def test_x_gives_up_after_bounded_retries(wire, x, clock):
    wire.add(responses.GET, f"{X_API}/2/tweets", status=502, body="Bad Gateway")
    with pytest.raises(TransientError):
        x.fetch(["11"])
    assert len(wire.calls) == 3 and clock.sleeps == [2.0, 4.0]


def test_x_expired_token_names_the_connection_and_hides_the_token(wire, x, caplog):
    caplog.set_level(logging.DEBUG)
    wire.add(
        responses.GET,
        f"{X_API}/2/tweets",
        status=401,
        json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )
    with pytest.raises(AuthError) as err:
        x.fetch(["11"])
    assert "'x_cvp'" in err.value.message and "Renueve" in err.value.message
    assert len(wire.calls) == 1  # credentials are not retried
    assert X_TOKEN not in caplog.text and X_TOKEN not in err.value.message


def test_x_rate_limit_carries_the_announced_reset(wire, x):
    reset = int((NOW + timedelta(minutes=15)).timestamp())
    wire.add(
        responses.GET,
        f"{X_API}/2/tweets",
        status=429,
        json={"title": "Too Many Requests"},
        headers={"x-rate-limit-reset": str(reset)},
    )
    with pytest.raises(RateLimited) as err:
        x.fetch(["11"])
    assert err.value.reset_at == NOW + timedelta(minutes=15)
    assert len(wire.calls) == 1


def test_x_oauth1_signs_and_every_read_has_a_timeout(wire, clock):
    class Recording(requests.Session):
        def __init__(self):
            super().__init__()
            self.timeouts = []

        def request(self, *args, **kwargs):
            self.timeouts.append(kwargs.get("timeout"))
            return super().request(*args, **kwargs)

    session = Recording()
    collector = XCollector(
        consumer_key="ck",
        consumer_secret="cs",
        access_token="at",
        access_token_secret="ats",
        base_url=X_API,
        session=session,
        sleep=clock.sleep,
    )
    wire.add(responses.GET, f"{X_API}/2/tweets", json={"data": [tweet("11")]})
    collector.fetch(["11"])
    signature = wire.calls[0].request.headers["Authorization"]
    assert (signature.decode() if isinstance(signature, bytes) else signature).startswith("OAuth ")
    assert session.timeouts == [(10.0, 30.0)]


def test_x_without_credentials_is_refused_in_spanish():
    with pytest.raises(AuthError, match="Faltan las credenciales de X.*'x_default'"):
        XCollector()


# --------------------------------------------------------------------------------------------
# Facebook and Instagram (Graph API)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def graph():
    with respx.mock(base_url=GRAPH, assert_all_called=False) as router:
        yield router


@pytest.fixture
def fb(clock):
    return FacebookCollector(access_token=META_TOKEN, base_url=GRAPH_BASE, conn_id="facebook_cvp", sleep=clock.sleep)


@pytest.fixture
def ig(clock):
    return InstagramCollector(access_token=META_TOKEN, base_url=GRAPH_BASE, conn_id="instagram_cvp", sleep=clock.sleep)


def fb_post(post_id: str, reactions: int, comments: int, shares: int | None) -> dict:
    body = {
        "id": post_id,
        "reactions": {"data": [], "summary": {"total_count": reactions, "viewer_reaction": "NONE"}},
        "comments": {"data": [], "summary": {"order": "ranked", "total_count": comments, "can_comment": True}},
    }
    if shares is not None:  # the Graph API leaves "shares" out when nobody shared the post
        body["shares"] = {"count": shares}
    return body


def test_facebook_reads_counts_and_impressions(graph, fb, caplog):
    caplog.set_level(logging.DEBUG)
    post = graph.get("/104_1").mock(return_value=httpx.Response(200, json=fb_post("104_1", 25, 4, 6)))
    insights = graph.get("/104_1/insights").mock(
        return_value=httpx.Response(200, json={"data": [insight("post_impressions", 1800)]})
    )
    graph.get("/104_2").mock(return_value=httpx.Response(200, json=fb_post("104_2", 3, 0, None)))
    graph.get("/104_2/insights").mock(return_value=httpx.Response(200, json={"data": []}))

    found = fb.fetch(["104_1", "104_2"])

    request = post.calls.last.request
    assert request.url.params["fields"] == "shares,reactions.summary(total_count),comments.summary(total_count)"
    assert request.headers["Authorization"] == f"Bearer {META_TOKEN}"
    assert META_TOKEN not in str(request.url) and META_TOKEN not in caplog.text
    assert insights.calls.last.request.url.params["metric"] == "post_impressions"
    assert {k: found["104_1"][k] for k in METRIC_KEYS} == {
        "impresiones": 1800,
        "alcance": None,
        "reacciones": 25,
        "comentarios": 4,
        "compartidos": 6,
        "reproducciones": None,
    }
    assert found["104_2"]["compartidos"] == 0 and found["104_2"]["impresiones"] is None


def test_facebook_without_insights_permission_keeps_the_other_metrics_and_stops_asking(graph, fb):
    graph.get("/104_1").mock(return_value=httpx.Response(200, json=fb_post("104_1", 5, 1, 1)))
    graph.get("/104_2").mock(return_value=httpx.Response(200, json=fb_post("104_2", 7, 2, 0)))
    insights = graph.get(url__regex=r".*/insights").mock(
        return_value=graph_error(10, "(#10) Requires read_insights permission", status=403)
    )

    found = fb.fetch(["104_1", "104_2"])

    assert found["104_1"]["reacciones"] == 5 and found["104_2"]["reacciones"] == 7
    assert found["104_1"]["impresiones"] is None and found["104_2"]["impresiones"] is None
    assert insights.call_count == 1


def test_facebook_skips_a_deleted_post_and_reads_the_rest(graph, fb):
    graph.get("/104_1").mock(
        return_value=graph_error(100, "Unsupported get request. Object with ID '104_1' does not exist", subcode=33)
    )
    graph.get("/104_2").mock(return_value=httpx.Response(200, json=fb_post("104_2", 9, 1, 2)))
    graph.get("/104_2/insights").mock(
        return_value=httpx.Response(200, json={"data": [insight("post_impressions", 90)]})
    )
    assert set(fb.fetch(["104_1", "104_2"])) == {"104_2"}


def test_facebook_expired_token_stops_the_channel(graph, fb):
    graph.get("/104_1").mock(
        return_value=graph_error(190, "Error validating access token: Session has expired.", subcode=463)
    )
    with pytest.raises(AuthError) as err:
        fb.fetch(["104_1", "104_2"])
    assert "'facebook_cvp'" in err.value.message


def test_facebook_retries_a_5xx(graph, fb, clock):
    route = graph.get("/104_1")
    route.side_effect = [
        httpx.Response(500, json={"error": {"message": "An unknown error", "code": 1}}),
        httpx.Response(200, json=fb_post("104_1", 1, 1, 1)),
    ]
    graph.get("/104_1/insights").mock(return_value=httpx.Response(200, json={"data": []}))
    assert fb.fetch(["104_1"])["104_1"]["reacciones"] == 1
    assert route.call_count == 2 and clock.sleeps == [2.0]


def test_instagram_reads_media_insights(graph, ig):
    route = graph.get("/17890001/insights").mock(
        return_value=httpx.Response(
            200,
            json={
                "data": [
                    insight("reach", 3200),
                    insight("likes", 210),
                    insight("comments", 14),
                    insight("saved", 33),
                    insight("shares", 12),
                ]
            },
        )
    )
    found = ig.fetch(["17890001"])
    assert route.calls.last.request.url.params["metric"] == "reach,likes,comments,saved,shares"
    m = found["17890001"]
    assert {k: m[k] for k in METRIC_KEYS} == {
        "impresiones": None,
        "alcance": 3200,
        "reacciones": 210,
        "comentarios": 14,
        "compartidos": 12,
        "reproducciones": None,
    }
    assert m["plataforma"]["saved"] == 33


def test_instagram_total_value_shape_and_missing_metrics(graph, ig):
    graph.get("/17890002/insights").mock(
        return_value=httpx.Response(
            200, json={"data": [{"name": "reach", "period": "lifetime", "total_value": {"value": 77}, "id": "x"}]}
        )
    )
    m = ig.fetch(["17890002"])["17890002"]
    assert m["alcance"] == 77 and m["reacciones"] is None and m["compartidos"] is None


def test_instagram_media_without_enough_viewers_is_skipped_not_an_auth_failure(graph, ig):
    graph.get("/17890003/insights").mock(
        return_value=graph_error(10, "(#10) Not enough viewers for the media to show insights", status=400)
    )
    graph.get("/17890004/insights").mock(return_value=httpx.Response(200, json={"data": [insight("reach", 5)]}))
    assert set(ig.fetch(["17890003", "17890004"])) == {"17890004"}


def test_instagram_revoked_permission_stops_the_channel(graph, ig):
    graph.get("/17890003/insights").mock(
        return_value=graph_error(10, "(#10) Application does not have permission for this action", status=403)
    )
    with pytest.raises(AuthError, match="'instagram_cvp'"):
        ig.fetch(["17890003"])


def test_graph_collectors_need_a_token():
    with pytest.raises(AuthError, match="Falta el token de acceso de Instagram.*'instagram_default'"):
        InstagramCollector(access_token="")


# --------------------------------------------------------------------------------------------
# YouTube
# --------------------------------------------------------------------------------------------


def yt_list(*items: dict) -> tuple[dict, str]:
    return {"status": "200"}, json.dumps(
        {
            "kind": "youtube#videoListResponse",
            "items": list(items),
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
    )


def yt_video(video_id: str, **stats: str) -> dict:
    return {"kind": "youtube#video", "etag": "e", "id": video_id, "statistics": stats}


def yt_error(status: int, reason: str, message: str) -> tuple[dict, str]:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube.quota", "reason": reason}],
        }
    }
    return {"status": str(status), "content-type": "application/json"}, json.dumps(body)


def youtube(clock, *responses_, **kw) -> tuple[YouTubeCollector, RecordingHttp]:
    http = RecordingHttp(list(responses_))
    kw.setdefault("api_key", YT_KEY)
    return YouTubeCollector(http=http, conn_id="youtube_cvp", sleep=clock.sleep, **kw), http


def test_youtube_reads_statistics_with_the_key_in_a_header(clock, caplog):
    caplog.set_level(logging.DEBUG)
    yt, http = youtube(
        clock,
        yt_list(
            yt_video("a1B2c3D4e5F", viewCount="1520", likeCount="48", favoriteCount="0", commentCount="6"),
            yt_video("z9Y8x7W6v5U", viewCount="30", favoriteCount="0"),
        ),
    )  # likes hidden, comments off

    found = yt.fetch(["a1B2c3D4e5F", "z9Y8x7W6v5U", "gone0000000"])

    [(uri, method, _, headers)] = http.request_sequence
    query = parse_qs(urlsplit(uri).query)
    assert method == "GET" and urlsplit(uri).path == "/youtube/v3/videos"
    assert query["part"] == ["statistics"] and query["id"] == ["a1B2c3D4e5F,z9Y8x7W6v5U,gone0000000"]
    assert headers["x-goog-api-key"] == YT_KEY and YT_KEY not in uri and YT_KEY not in caplog.text
    assert {k: found["a1B2c3D4e5F"][k] for k in METRIC_KEYS} == {
        "impresiones": None,
        "alcance": None,
        "reacciones": 48,
        "comentarios": 6,
        "compartidos": None,
        "reproducciones": 1520,
    }
    assert found["z9Y8x7W6v5U"]["reacciones"] is None and found["z9Y8x7W6v5U"]["reproducciones"] == 30
    assert "gone0000000" not in found  # a deleted video is simply not in the answer


def test_youtube_batches_of_50(clock):
    ids = [f"vid{i:08d}" for i in range(60)]
    yt, http = youtube(clock, yt_list(), yt_list())
    yt.fetch(ids)
    assert [len(parse_qs(urlsplit(r[0]).query)["id"][0].split(",")) for r in http.request_sequence] == [50, 10]


def test_youtube_quota_exhausted_is_a_rate_limit(clock):
    yt, http = youtube(
        clock, yt_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota.")
    )
    with pytest.raises(RateLimited, match="cuota"):
        yt.fetch(["a1B2c3D4e5F"])
    assert len(http.request_sequence) == 1


def test_youtube_bad_key_names_the_connection(clock):
    yt, _ = youtube(clock, yt_error(400, "keyInvalid", "API key not valid. Please pass a valid API key."))
    with pytest.raises(AuthError, match="'youtube_cvp'"):
        yt.fetch(["a1B2c3D4e5F"])


def test_youtube_retries_5xx_and_timeouts(clock):
    yt, http = youtube(
        clock,
        yt_error(503, "backendError", "Backend Error"),
        ({"status": "200"}, TimeoutError()),
        yt_list(yt_video("a1B2c3D4e5F", viewCount="9")),
    )
    assert yt.fetch(["a1B2c3D4e5F"])["a1B2c3D4e5F"]["reproducciones"] == 9
    assert len(http.request_sequence) == 3 and clock.sleeps == [2.0, 4.0]


def test_youtube_without_credentials_is_refused():
    with pytest.raises(AuthError, match="Faltan las credenciales de YouTube"):
        YouTubeCollector()


def test_every_collector_is_a_collector(x, fb, ig, clock):
    yt, _ = youtube(clock)
    assert all(isinstance(c, Collector) for c in (x, fb, ig, yt))


# --------------------------------------------------------------------------------------------
# collect(): one snapshot per published post, one channel's failure isolated
# --------------------------------------------------------------------------------------------


class Platform:
    """Stands for a platform in activity 14: returns the id and URL the real one would."""

    def __init__(self, channel: str, remote_id: str, url: str):
        self.channel, self.remote_id, self.url = channel, remote_id, url

    def validate(self, piece):
        pass

    def publish(self, piece):
        return PublishResult(self.remote_id, self.url, datetime.now(UTC))

    def find_published(self, piece):
        return None


def approved_need(office, run_id: str = "r", **changes) -> int:
    need = office.register_need(dict(ONE_OFF, **changes), "jefe", run_id=run_id)
    text = office.submit_text(need.id, "profesional", TEXTS)
    office.decide(need.id, text.id, 7, P.APPROVED, "jefe")
    design = office.submit_design(need.id, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need.id, design.id, 12, P.APPROVED, "jefe")
    office.deliver_final(need.id)
    return need.id


@pytest.fixture
def published(office):
    """One need published on X and Facebook through the ledger."""
    need_id = approved_need(office)
    publishing.publish_once(
        office, Platform("x", "1894000000000000001", "https://x.com/CVPBogota/status/1894000000000000001"), need_id, "x"
    )
    publishing.publish_once(
        office, Platform("facebook", "104_1", "https://www.facebook.com/104_1"), need_id, "facebook"
    )
    return need_id


class Fixed:
    """A collector answering fixed numbers, counting the ids it was asked for."""

    def __init__(self, channel: str, error: Exception | None = None, **metrics):
        self.channel, self.error, self.metrics, self.asked = channel, error, metrics, []

    def fetch(self, remote_ids):
        self.asked.extend(remote_ids)
        if self.error:
            raise self.error
        return {r: engagement.normalised(**self.metrics) for r in remote_ids}


def snapshots(office) -> list[EngagementSnapshot]:
    with office.session() as s:
        return list(s.scalars(select(EngagementSnapshot).order_by(EngagementSnapshot.id)))


SINCE = datetime.now(UTC) - timedelta(days=35)


def test_collect_stores_one_snapshot_per_published_post(office, published, wire, graph, clock):
    wire.add(
        responses.GET, f"{X_API}/2/tweets", json={"data": [tweet("1894000000000000001", impressions=500, likes=20)]}
    )
    graph.get("/104_1").mock(return_value=httpx.Response(200, json=fb_post("104_1", 30, 2, 1)))
    graph.get("/104_1/insights").mock(
        return_value=httpx.Response(200, json={"data": [insight("post_impressions", 900)]})
    )
    x = XCollector(bearer_token=X_TOKEN, base_url=X_API, sleep=clock.sleep)
    fb = FacebookCollector(access_token=META_TOKEN, base_url=GRAPH_BASE, sleep=clock.sleep)

    stored = engagement.collect(office, {"x": x, "facebook": fb}, SINCE, clock=clock)

    assert stored == 2 and stored.failures == {} and stored.skipped == ()
    pubs = {p.channel: p.id for p in office.publications(published)}
    got = {s.channel: s for s in snapshots(office)}
    assert got["x"].publication_id == pubs["x"] and got["x"].metrics["impresiones"] == 500
    assert got["facebook"].metrics["reacciones"] == 30 and got["facebook"].metrics["impresiones"] == 900
    assert got["x"].taken_at == NOW


def test_one_channel_failing_does_not_stop_the_others(office, published, wire, graph, clock, caplog):
    wire.add(responses.GET, f"{X_API}/2/tweets", status=401, json={"title": "Unauthorized"})
    graph.get("/104_1").mock(return_value=httpx.Response(200, json=fb_post("104_1", 30, 2, 1)))
    graph.get("/104_1/insights").mock(return_value=httpx.Response(200, json={"data": []}))
    collectors = {
        "x": XCollector(bearer_token=X_TOKEN, base_url=X_API, conn_id="x_cvp", sleep=clock.sleep),
        "facebook": FacebookCollector(access_token=META_TOKEN, base_url=GRAPH_BASE, sleep=clock.sleep),
    }

    stored = engagement.collect(office, collectors, SINCE)

    assert stored == 1
    assert set(stored.failures) == {"x"} and "'x_cvp'" in stored.failures["x"]
    assert [s.channel for s in snapshots(office)] == ["facebook"]
    assert "X (Twitter): no se leyeron las métricas" in caplog.text and X_TOKEN not in caplog.text


def test_an_unexpected_error_is_isolated_too(office, published):
    broken = Fixed("x", error=KeyError("public_metrics"))
    stored = engagement.collect(office, {"x": broken, "facebook": Fixed("facebook", reacciones=4)}, SINCE)
    assert stored == 1 and "Error inesperado" in stored.failures["x"]


def test_channels_without_collector_and_outbox_posts_are_skipped(office, published):
    other = approved_need(office, run_id="r2")
    publishing.publish_once(office, OutboxPublisher(office.cfg.outbox_dir, "x"), other, "x")  # file: URL
    x = Fixed("x", reacciones=1)

    stored = engagement.collect(office, {"x": x}, SINCE)

    assert stored == 1 and stored.skipped == ("facebook",)
    assert x.asked == ["1894000000000000001"]  # the outbox folder name is never sent to X


def test_posts_published_before_since_are_not_read(office, published):
    x = Fixed("x", reacciones=1)
    assert engagement.collect(office, {"x": x}, datetime.now(UTC) + timedelta(minutes=5)) == 0
    assert x.asked == []


def test_a_retry_reads_only_what_it_missed(office, published):
    started = datetime.now(UTC) - timedelta(seconds=1)
    first = engagement.collect(
        office,
        {"x": Fixed("x", reacciones=1), "facebook": Fixed("facebook", error=TransientError("caída"))},
        SINCE,
        fresh_since=started,
    )
    x, fb = Fixed("x", reacciones=2), Fixed("facebook", reacciones=3)
    second = engagement.collect(office, {"x": x, "facebook": fb}, SINCE, fresh_since=started)
    assert (first, second) == (1, 1)
    assert x.asked == [] and fb.asked == ["104_1"]


def test_readings_without_any_number_are_not_stored(office, published):
    assert engagement.collect(office, {"x": Fixed("x"), "facebook": Fixed("facebook")}, SINCE) == 0


def test_collect_refuses_a_naive_since(office):
    with pytest.raises(ValueError):
        engagement.collect(office, {}, datetime(2026, 1, 1))


# --------------------------------------------------------------------------------------------
# The Airflow-side factory: collectors from Connections
# --------------------------------------------------------------------------------------------


def test_factory_builds_from_connections_and_skips_missing_ones(monkeypatch, caplog):
    monkeypatch.syspath_prepend(str(ROOT / "plugins"))
    from cvp_airflow import engagement_tasks

    masked = []
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    monkeypatch.setenv("CVP_X_CONN_ID", "x_cvp")
    caplog.set_level(logging.INFO)
    conns = {
        "x_cvp": SimpleNamespace(password=X_TOKEN, extra_dejson={"base_url": "https://api.x.test"}),
        "facebook_default": SimpleNamespace(password="", extra_dejson={}),
        "youtube_default": SimpleNamespace(password="", extra_dejson={"api_key": YT_KEY}),
    }
    built, problems = engagement_tasks.collectors(get_connection=conns.get)

    assert set(built) == {"x", "youtube"}
    assert built["x"].base_url == "https://api.x.test" and built["x"].conn_id == "x_cvp"
    assert set(problems) == {"facebook"} and "'facebook_default'" in problems["facebook"]
    assert "Sin la conexión de Airflow 'instagram_default'" in caplog.text
    assert masked == [X_TOKEN, YT_KEY]  # registered with Airflow's log masker
    assert X_TOKEN not in caplog.text and YT_KEY not in caplog.text
