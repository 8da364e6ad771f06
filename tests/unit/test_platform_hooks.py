"""The platform hooks at the HTTP wire, in each API's documented shape: the connection form's "Test"
button (ok, bad token, missing permission) and the token's renewal (accepted, refused).

Shapes: X ``GET /2/users/me`` and ``POST /2/oauth2/token`` (docs.x.com, OAuth 2.0 authorization code
with PKCE: refresh tokens); Meta ``GET /me``, ``/debug_token``, ``/oauth/access_token`` with
``grant_type=fb_exchange_token`` and ``/{page-id}?fields=access_token`` (developers.facebook.com,
access tokens); Google's token endpoint and YouTube ``channels.list`` (developers.google.com).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import responses

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from airflow.sdk import Connection, Variable  # noqa: E402

from cvp.channel_health import ChannelState  # noqa: E402
from cvp_airflow.platforms import FacebookPageHook, InstagramHook, XHook, YouTubeHook, base  # noqa: E402

X_ME = "https://api.x.com/2/users/me"
X_TOKEN_URL = "https://api.x.com/2/oauth2/token"
GRAPH = "https://graph.facebook.com/v25.0"
GOOGLE_TOKEN = "https://oauth2.googleapis.com/token"
YT_CHANNELS = "https://youtube.googleapis.com/youtube/v3/channels"

X_ACCESS = "x-access-SECRET-1"
X_REFRESH = "x-refresh-SECRET-2"
PAGE_TOKEN = "EAAB-page-SECRET-3"
USER_TOKEN = "EAAB-user-SECRET-4"
YT = {
    "client_id": "123-cvp.apps.googleusercontent.com",
    "client_secret": "GOCSPX-SECRET-5",
    "refresh_token": "1//refresh-SECRET-6",
}
BOTH_YT = "https://www.googleapis.com/auth/youtube.upload https://www.googleapis.com/auth/youtube.readonly"
FB_SCOPES = ["pages_show_list", "pages_manage_posts", "pages_read_engagement", "read_insights"]


def conn(conn_id: str, conn_type: str, *, login=None, password=None, **extra) -> Connection:
    return Connection(conn_id=conn_id, conn_type=conn_type, login=login, password=password, extra=json.dumps(extra))


@pytest.fixture
def variables(monkeypatch):
    """Airflow Variables in a dict, as inside a task (where renewed tokens are kept)."""
    store: dict[str, str] = {}
    monkeypatch.setattr(base, "in_task", lambda: True)
    monkeypatch.setattr(
        Variable, "get", staticmethod(lambda key, default=None, deserialize_json=False: store.get(key, default))
    )
    monkeypatch.setattr(
        Variable,
        "set",
        staticmethod(lambda key, value, description=None, serialize_json=False: store.__setitem__(key, value)),
    )
    return store


def body(call) -> str:
    raw = call.request.body
    return raw.decode() if isinstance(raw, bytes) else raw


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlparse(call.request.url).query)


# -- X ---------------------------------------------------------------------------------------------


@responses.activate
def test_x_button_ok_names_the_account():
    responses.get(
        X_ME, json={"data": {"id": "2244994945", "name": "Caja de la Vivienda Popular", "username": "CVPBogota"}}
    )
    hook = XHook(connection=conn("x_default", "cvp_x", password=X_ACCESS))
    ok, message = hook.test_connection()
    assert ok, message
    assert message == "Conexión correcta como «@CVPBogota»."
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {X_ACCESS}"


@responses.activate
def test_x_button_bad_token():
    responses.get(
        X_ME, status=401, json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}
    )
    ok, message = XHook(
        connection=conn("x_cvp", "http", password=X_ACCESS)
    ).test_connection()  # an old http type still reads
    assert not ok
    assert "401" in message and "'x_cvp'" in message and X_ACCESS not in message


@responses.activate
def test_x_renewal_stores_the_rotated_tokens_and_finds_a_missing_scope(variables):
    responses.post(
        X_TOKEN_URL,
        json={
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": "x-access-NEW",
            "scope": "tweet.read users.read offline.access",
            "refresh_token": "x-refresh-NEW",
        },
    )
    responses.get(X_ME, json={"data": {"id": "1", "name": "CVP", "username": "CVPBogota"}})
    connection = conn("x_default", "cvp_x", password=X_ACCESS, client_id="cid", refresh_token=X_REFRESH)
    ok, message = XHook(connection=connection).test_connection()

    assert not ok and "tweet.write" in message and "media.write" in message
    sent = parse_qs(body(responses.calls[0]))
    assert sent == {"grant_type": ["refresh_token"], "refresh_token": [X_REFRESH], "client_id": ["cid"]}
    assert responses.calls[1].request.headers["Authorization"] == "Bearer x-access-NEW"
    stored = json.loads(variables["cvp_token_x_default"])
    assert (stored["access_token"], stored["refresh_token"]) == ("x-access-NEW", "x-refresh-NEW")
    # The next task reads the renewed tokens, not the connection's spent refresh token...
    assert XHook(connection=connection).tokens()["refresh_token"] == "x-refresh-NEW"
    # ...until a person saves new credentials in the connection.
    edited = conn("x_default", "cvp_x", password="x-access-EDITED", client_id="cid", refresh_token="x-refresh-EDITED")
    assert XHook(connection=edited).tokens()["refresh_token"] == "x-refresh-EDITED"


@responses.activate
def test_x_renewal_refused_when_the_refresh_token_was_revoked(variables):
    responses.post(
        X_TOKEN_URL,
        status=400,
        json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
    )
    hook = XHook(connection=conn("x_default", "cvp_x", password=X_ACCESS, client_id="cid", refresh_token=X_REFRESH))
    health = hook.check()
    assert health.state(datetime.now(UTC)) is ChannelState.BROKEN
    assert "Value passed for the token was invalid" in health.reason and "autorice de nuevo" in health.reason
    assert variables == {}
    assert [c.request.url for c in responses.calls] == [X_TOKEN_URL]  # no call with a token known to be dead


@responses.activate
def test_x_publisher_gets_a_renewed_token_when_the_stored_one_expired(variables):
    responses.post(
        X_TOKEN_URL,
        json={"token_type": "bearer", "expires_in": 7200, "access_token": "x-access-NEW", "refresh_token": "r2"},
    )
    past = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    hook = XHook(
        connection=conn(
            "x_default",
            "cvp_x",
            password=X_ACCESS,
            client_id="cid",
            client_secret="cs",
            refresh_token=X_REFRESH,
            expires_at=past,
        )
    )
    publisher = hook.publisher()
    assert publisher._transport._bearer == "x-access-NEW"
    assert responses.calls[0].request.headers["Authorization"].startswith("Basic ")  # confidential client


def test_x_button_outside_a_task_does_not_spend_the_rotating_refresh_token():
    with responses.RequestsMock() as wire:
        wire.get(X_ME, status=401, json={"title": "Unauthorized", "status": 401, "detail": "Unauthorized"})
        hook = XHook(connection=conn("x_default", "cvp_x", password=X_ACCESS, client_id="cid", refresh_token=X_REFRESH))
        ok, message = hook.test_connection()
        assert [c.request.url for c in wire.calls] == [X_ME]
    assert ok and "2 horas" in message


# -- Facebook and Instagram -----------------------------------------------------------------------------


def debug_body(token_type: str, scopes: list[str], expires_at: int = 0) -> dict:
    return {
        "data": {
            "app_id": "1234",
            "type": token_type,
            "application": "CVP Publicaciones",
            "data_access_expires_at": int(time.time()) + 90 * 86400,
            "expires_at": expires_at,
            "is_valid": True,
            "scopes": scopes,
            "user_id": "987",
        }
    }


def fb(**extra) -> Connection:
    return conn(
        "facebook_default",
        "cvp_facebook",
        login="104",
        password=PAGE_TOKEN,
        app_id="1234",
        app_secret="appsecret",
        **extra,
    )


@responses.activate
def test_facebook_button_ok_with_the_page_token_that_does_not_expire():
    responses.get(f"{GRAPH}/me", json={"id": "104", "name": "Caja de la Vivienda Popular"})
    responses.get(f"{GRAPH}/debug_token", json=debug_body("PAGE", FB_SCOPES))
    ok, message = FacebookPageHook(connection=fb()).test_connection()
    assert ok and message == "Conexión correcta como «Caja de la Vivienda Popular»."
    me, debug = responses.calls
    assert query(me)["fields"] == ["id,name"] and "appsecret_proof" in query(me)
    assert query(debug)["input_token"] == [PAGE_TOKEN] and query(debug)["access_token"] == ["1234|appsecret"]


@responses.activate
def test_facebook_button_bad_token():
    responses.get(
        f"{GRAPH}/me",
        status=400,
        json={
            "error": {
                "message": "Error validating access token: Session has expired on Tuesday, 01-Dec-26 10:00:00 PST.",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
                "fbtrace_id": "AbC",
            }
        },
    )
    ok, message = FacebookPageHook(connection=fb()).test_connection()
    assert not ok and "código 190" in message and "Session has expired" in message and PAGE_TOKEN not in message


@responses.activate
def test_instagram_button_missing_permission():
    responses.get(f"{GRAPH}/me", json={"id": "17841400000000001", "name": "cvpbogota"})
    responses.get(f"{GRAPH}/debug_token", json=debug_body("USER", ["instagram_basic", "instagram_manage_insights"]))
    hook = InstagramHook(
        connection=conn("instagram_default", "http", login="178", password=USER_TOKEN, app_id="1234", app_secret="s")
    )
    ok, message = hook.test_connection()
    assert not ok and "instagram_content_publish" in message and "instagram_manage_insights" not in message


@responses.activate
def test_facebook_user_token_is_exchanged_for_a_page_token_that_does_not_expire(variables):
    soon = int((datetime.now(UTC) + timedelta(days=3)).timestamp())
    responses.get(f"{GRAPH}/me", json={"id": "987", "name": "Jefa OAC"})
    responses.get(f"{GRAPH}/debug_token", json=debug_body("USER", FB_SCOPES, soon))
    responses.get(
        f"{GRAPH}/oauth/access_token",
        json={"access_token": "EAAB-long-lived", "token_type": "bearer", "expires_in": 5183944},
    )
    responses.get(f"{GRAPH}/104", json={"access_token": "EAAB-page-NEW", "id": "104"})
    connection = conn(
        "facebook_default", "cvp_facebook", login="104", password=USER_TOKEN, app_id="1234", app_secret="s"
    )
    health = FacebookPageHook(connection=connection).check()

    assert health.renewed and health.expires_at is None and health.state(datetime.now(UTC)) is ChannelState.OK
    exchange = query(responses.calls[2])
    assert exchange["grant_type"] == ["fb_exchange_token"] and exchange["fb_exchange_token"] == [USER_TOKEN]
    assert query(responses.calls[3])["access_token"] == ["EAAB-long-lived"]
    assert json.loads(variables["cvp_token_facebook_default"])["access_token"] == "EAAB-page-NEW"
    assert FacebookPageHook(connection=connection).publisher().api._token == "EAAB-page-NEW"


@responses.activate
def test_facebook_exchange_refused_leaves_the_token_expiring_and_says_why(variables):
    soon = int((datetime.now(UTC) + timedelta(days=3)).timestamp())
    responses.get(f"{GRAPH}/me", json={"id": "987", "name": "Jefa OAC"})
    responses.get(f"{GRAPH}/debug_token", json=debug_body("USER", FB_SCOPES, soon))
    responses.get(
        f"{GRAPH}/oauth/access_token",
        status=400,
        json={
            "error": {
                "message": "Error validating access token: The session has been invalidated because the user changed their password.",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 460,
            }
        },
    )
    connection = conn(
        "facebook_default", "cvp_facebook", login="104", password=USER_TOKEN, app_id="1234", app_secret="s"
    )
    health = FacebookPageHook(connection=connection).check()
    assert health.state(datetime.now(UTC)) is ChannelState.EXPIRING and not health.renewed
    assert "changed their password" in health.reason and "no renovó" in health.reason
    assert variables == {}


# -- YouTube ---------------------------------------------------------------------------------------------


def youtube(**extra) -> Connection:
    return conn("youtube_default", "google_cloud_platform", **YT, **extra)


@responses.activate
def test_youtube_button_ok():
    responses.post(
        GOOGLE_TOKEN, json={"access_token": "ya29.fresh", "expires_in": 3599, "scope": BOTH_YT, "token_type": "Bearer"}
    )
    responses.get(
        YT_CHANNELS,
        json={
            "kind": "youtube#channelListResponse",
            "etag": "e",
            "items": [{"kind": "youtube#channel", "etag": "e", "id": "UCcvp"}],
        },
    )
    ok, message = YouTubeHook(connection=youtube()).test_connection()
    assert ok and message == "Conexión correcta como «UCcvp»."
    assert parse_qs(body(responses.calls[0]))["grant_type"] == ["refresh_token"]
    assert query(responses.calls[1]) == {"part": ["id"], "mine": ["true"]}
    assert responses.calls[1].request.headers["Authorization"] == "Bearer ya29.fresh"


@responses.activate
def test_youtube_refresh_token_revoked():
    responses.post(
        GOOGLE_TOKEN,
        status=400,
        json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."},
    )
    ok, message = YouTubeHook(connection=youtube()).test_connection()
    assert not ok and "invalid_grant" in message and "autorizar de nuevo" in message
    assert YT["refresh_token"] not in message and len(responses.calls) == 1


@responses.activate
def test_youtube_missing_upload_scope():
    responses.post(
        GOOGLE_TOKEN,
        json={
            "access_token": "ya29.x",
            "expires_in": 3599,
            "scope": "https://www.googleapis.com/auth/youtube.readonly",
            "token_type": "Bearer",
        },
    )
    responses.get(YT_CHANNELS, json={"kind": "youtube#channelListResponse", "items": [{"id": "UCcvp"}]})
    ok, message = YouTubeHook(connection=youtube()).test_connection()
    assert not ok and "youtube.upload" in message


@responses.activate
def test_youtube_insufficient_permissions_answer():
    responses.post(GOOGLE_TOKEN, json={"access_token": "ya29.x", "expires_in": 3599, "token_type": "Bearer"})
    responses.get(
        YT_CHANNELS,
        status=403,
        json={
            "error": {
                "code": 403,
                "message": "Request had insufficient authentication scopes.",
                "errors": [
                    {"message": "Insufficient Permission", "domain": "global", "reason": "insufficientPermissions"}
                ],
                "status": "PERMISSION_DENIED",
            }
        },
    )
    ok, message = YouTubeHook(connection=youtube()).test_connection()
    assert not ok and "insufficient authentication scopes" in message


@responses.activate
def test_a_platform_that_does_not_answer_is_not_called_broken():
    responses.get(X_ME, status=503, body="upstream")
    hook = XHook(connection=conn("x_default", "cvp_x", password=X_ACCESS))
    with pytest.raises(base.CheckUnavailable):
        hook.check()
    ok, message = hook.test_connection()
    assert not ok and "503" in message


# -- the form --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", [XHook, FacebookPageHook, InstagramHook, YouTubeHook])
def test_form_fields_and_behaviour_follow_airflows_schema(hook):
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "customized_form_field_behaviours.schema.json").read_text())
    behaviour = hook.get_ui_field_behaviour()
    jsonschema.validate(behaviour, schema)
    widgets = hook.get_connection_form_widgets()
    assert set(behaviour["placeholders"]) <= set(widgets) | {"login", "password", "host", "schema", "port", "extra"}
    assert all(str(w.args[0]) for w in widgets.values())  # every field has a (Spanish) label
    assert hook.conn_type.startswith("cvp_") and hook().conn_id == hook.default_conn_name


def test_youtube_without_any_google_credentials_is_broken_and_says_what_to_add(monkeypatch):
    from airflow.providers.google.common.hooks.discovery_api import GoogleDiscoveryApiHook
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(self):
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(GoogleDiscoveryApiHook, "get_credentials", no_credentials)
    connection = conn("youtube_default", "cvp_youtube", privacy_status="unlisted")
    monkeypatch.setenv("AIRFLOW_CONN_YOUTUBE_DEFAULT", connection.as_json())
    hook = YouTubeHook(connection=connection)
    ok, message = hook.test_connection()
    assert not ok and "DefaultCredentialsError" in message and "client_id" in message
