"""Joined joint actions posted once: X repost and quote, Facebook share, at the HTTP wire; retries never post twice."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
import requests
import responses
import respx

from cvp import joint_actions as J
from cvp import joint_amplification as A
from cvp.errors import Conflict
from cvp.publishers.amplify import FacebookAmplifier, OutboxAmplifier, XAmplifier, amplifier_for
from cvp.publishers.facebook import FacebookPublisher
from cvp.publishers.x import XPublisher
from tests.unit.fakes import clock  # noqa: F401 (fixture)

SAMPLE = Path(__file__).resolve().parents[2] / "include" / "ejemplos" / "red_distrital_agenda.csv"
DAY = date(2026, 12, 1)
X_API = "https://api.x.test"
GRAPH = "https://graph.fb.test/v25.0"
PAGE = "104857600"
ME = "1500000000000000000"
REPOSTED, QUOTED = "1863000000000000001", "1863000000000000002"


@pytest.fixture
def wire():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(
            responses.GET, f"{X_API}/2/users/me", json={"data": {"id": ME, "username": "cvpbogota", "name": "CVP"}}
        )
        yield rsps


@pytest.fixture
def graph():
    with respx.mock(base_url=GRAPH, assert_all_called=False) as router:
        yield router


@pytest.fixture
def x(clock):
    return XAmplifier(XPublisher(bearer_token="tok", base_url=X_API, conn_id="x_cvp", sleep=clock.sleep, clock=clock))


@pytest.fixture
def fb(clock):
    pub = FacebookPublisher(page_id=PAGE, access_token="tok", base_url="https://graph.fb.test", sleep=clock.sleep)
    return FacebookAmplifier(pub)


@pytest.fixture
def joined(office):
    """The sample agenda recorded, every action joined: [repost on X, quote on X + share on Facebook, share]."""
    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    ids = [v.action.id for v in J.actions_of_day(office, DAY)]
    for i in ids:
        J.decide(office, "jefe", i, J.JOIN)
    return ids


def posts(wire, url):
    return [c for c in wire.calls if c.request.method == "POST" and c.request.url.split("?")[0] == url]


def test_x_repost_is_sent_once_in_the_documented_shape(office, wire, x, joined):
    retweets = f"{X_API}/2/users/{ME}/retweets"
    wire.add(responses.POST, retweets, json={"data": {"retweeted": True}})
    row = A.amplify_once(office, x, joined[0], "x")
    assert (row.state, row.mode) == ("publicado", J.REPOST)
    assert row.url == f"https://x.com/cvpbogota/status/{REPOSTED}"
    [call] = posts(wire, retweets)
    assert json.loads(call.request.body) == {"tweet_id": REPOSTED}
    assert call.request.headers["Authorization"] == "Bearer tok"
    again = A.amplify_once(office, x, joined[0], "x")  # a retried task
    assert again.id == row.id and len(posts(wire, retweets)) == 1


def test_x_quote_carries_the_message_the_hashtag_and_the_quoted_post(office, wire, x, joined):
    wire.add(responses.POST, f"{X_API}/2/tweets", json={"data": {"id": "1900", "text": "..."}}, status=201)
    row = A.amplify_once(office, x, joined[1], "x")
    [call] = posts(wire, f"{X_API}/2/tweets")
    body = json.loads(call.request.body)
    assert body["quote_tweet_id"] == QUOTED and body["text"].endswith("#BogotáCuidadora")
    assert (row.state, row.remote_id, row.url) == ("publicado", "1900", "https://x.com/cvpbogota/status/1900")


def test_facebook_share_posts_the_link_once(office, graph, fb, joined):
    feed = graph.post(f"/{PAGE}/feed").mock(return_value=httpx.Response(200, json={"id": f"{PAGE}_77"}))
    graph.get(f"/{PAGE}_77").mock(
        return_value=httpx.Response(200, json={"permalink_url": "https://www.facebook.com/cvp/posts/77"})
    )
    row = A.amplify_once(office, fb, joined[2], "facebook")
    assert feed.call_count == 1
    form = parse_qs(feed.calls.last.request.content.decode())
    assert form["link"] == ["https://www.facebook.com/AlcaldiaBogota/posts/1234567890"]
    assert form["message"][0].endswith("#BogotáConDerechos")
    assert (row.state, row.mode, row.url) == ("publicado", J.SHARE, "https://www.facebook.com/cvp/posts/77")
    A.amplify_once(office, fb, joined[2], "facebook")
    assert feed.call_count == 1


def test_a_lost_answer_is_reconciled_on_the_platform_not_sent_again(office, wire, x, joined):
    retweets = f"{X_API}/2/users/{ME}/retweets"
    wire.add(responses.POST, retweets, body=requests.exceptions.ReadTimeout("lost"))
    timeline = wire.add(
        responses.GET,
        f"{X_API}/2/users/{ME}/tweets",
        json={
            "data": [
                {
                    "id": "1999",
                    "text": "RT @Bogota: ...",
                    "created_at": "2099-01-01T00:00:00.000Z",
                    "referenced_tweets": [{"type": "retweeted", "id": REPOSTED}],
                }
            ]
        },
    )
    row = A.amplify_once(office, x, joined[0], "x")
    assert (row.state, row.remote_id) == ("publicado", "1999")
    assert len(posts(wire, retweets)) == 1 and timeline.call_count == 1
    assert "referenced_tweets" in wire.calls[-1].request.url


def test_a_task_that_died_mid_call_reconciles_and_an_unfound_post_waits_for_a_person(office, wire, x, joined):
    tweets = f"{X_API}/2/tweets"
    wire.add(responses.POST, tweets, json={"data": {"id": "1900"}}, status=201)
    wire.add(responses.GET, f"{X_API}/2/users/{ME}/tweets", json={"data": [], "meta": {"result_count": 0}})

    class Dies(XAmplifier):
        def post(self, mode, text, target, before_post):
            before_post()
            raise SystemExit("worker killed")

    with pytest.raises(SystemExit):
        A.amplify_once(office, Dies(x.x), joined[1], "x")
    [view] = [v for v in J.actions_of_day(office, DAY) if v.action.id == joined[1]]
    assert view.posts[0].state == "enviando"
    with pytest.raises(A.Unconfirmed, match="Revise la cuenta"):
        A.amplify_once(office, x, joined[1], "x")  # the retry asks X first: nothing found
    with pytest.raises(A.Unconfirmed):
        A.amplify_once(office, x, joined[1], "x")  # and never sends on its own
    assert posts(wire, tweets) == []


def test_a_refusal_is_recorded_and_a_later_attempt_may_post(office, graph, fb, joined):
    feed = graph.post(f"/{PAGE}/feed")
    feed.side_effect = [
        httpx.Response(400, json={"error": {"message": "Invalid link", "type": "OAuthException", "code": 100}}),
        httpx.Response(200, json={"id": f"{PAGE}_78"}),
    ]
    graph.get(f"/{PAGE}_78").mock(return_value=httpx.Response(200, json={}))
    with pytest.raises(Exception) as refused:
        A.amplify_once(office, fb, joined[2], "facebook")
    assert not isinstance(refused.value, A.Unconfirmed)
    assert J.action(office, joined[2]).posts[0].state == "fallido"
    assert A.amplify_once(office, fb, joined[2], "facebook").state == "publicado"


def test_only_joined_actions_are_posted(office, x):
    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    first, second, _ = (v.action.id for v in J.actions_of_day(office, DAY))
    with pytest.raises(Conflict, match="unirse"):
        A.amplify_once(office, x, first, "x")
    J.decide(office, "jefe", second, J.DECLINE, "No aplica")
    with pytest.raises(Conflict):
        A.amplify_once(office, x, second, "x")


def test_the_day_pass_goes_to_the_outbox_without_connections_and_twice_creates_nothing(office, tmp_path):
    J.record_agenda(office, J.read_sample(SAMPLE, DAY), DAY, "ejemplo")
    a, b, c = (v.action.id for v in J.actions_of_day(office, DAY))
    J.decide(office, "jefe", a, J.JOIN)
    J.decide(office, "jefe", b, J.JOIN)
    J.decide(office, "jefe", c, J.DECLINE, "No aplica")
    written = []

    class Counting(OutboxAmplifier):
        def post(self, *args):
            written.append(self.folder)
            return super().post(*args)

    out = A.amplify_day(office, lambda i, ch: Counting(tmp_path, ch, i), DAY)
    assert out.errors == [] and sorted((p.action_id, p.channel) for p in out.posted) == [
        (a, "x"),
        (b, "facebook"),
        (b, "x"),
    ]
    assert json.loads((tmp_path / f"red_distrital/x/accion-{b}/accion.json").read_text())["modo"] == J.QUOTE
    A.amplify_day(office, lambda i, ch: Counting(tmp_path, ch, i), DAY)
    assert len(written) == 3
    assert isinstance(amplifier_for(object.__new__(XPublisher), "x", 1), XAmplifier)
