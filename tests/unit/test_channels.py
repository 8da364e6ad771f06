"""Channels from Airflow Connections: field mapping, the outbox fallback, secrets kept out of logs.

The connection getter is patched or injected, as the providers' hook tests patch
``BaseHook.get_connection``; publisher classes are patched where the test is about what they
receive, and built for real where it is about what they keep.
"""

from __future__ import annotations

import ast
import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

from airflow.sdk import BaseHook, Connection, Variable  # noqa: E402
from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: E402

from cvp.publishers.base import RateLimited  # noqa: E402
from cvp.publishers.facebook import FacebookPublisher  # noqa: E402
from cvp.publishers.instagram import InstagramPublisher  # noqa: E402
from cvp.publishers.outbox import OutboxPublisher  # noqa: E402
from cvp.publishers.storage import LocalDirStorage  # noqa: E402
from cvp.publishers.x import XPublisher  # noqa: E402
from cvp.publishers.youtube import YouTubePublisher  # noqa: E402
from cvp_airflow import channels  # noqa: E402

X_TOKEN = "x-user-token-SECRET-0001"
OAUTH1 = {
    "consumer_key": "ck-SECRET-0002",
    "consumer_secret": "cs-SECRET-0003",
    "access_token": "at-SECRET-0004",
    "access_token_secret": "ats-SECRET-0005",
}
FB_TOKEN = "EAAB-page-SECRET-0006"
IG_TOKEN = "EAAB-ig-SECRET-0007"
APP_SECRET = "app-secret-SECRET-0008"
YT = {
    "client_id": "123-cvp.apps.googleusercontent.com",
    "client_secret": "GOCSPX-SECRET-0009",
    "refresh_token": "1//refresh-SECRET-0010",
}
SECRETS = [X_TOKEN, *OAUTH1.values(), FB_TOKEN, IG_TOKEN, APP_SECRET, YT["client_secret"], YT["refresh_token"]]


def conn(conn_id: str, conn_type: str = "generic", *, login=None, password=None, **extra) -> Connection:
    return Connection(
        conn_id=conn_id, conn_type=conn_type, login=login, password=password, extra=json.dumps(extra) if extra else None
    )


class Connections:
    """A connection getter over a dict, raising what Airflow raises for an unknown id."""

    def __init__(self, *conns: Connection):
        self.conns = {c.conn_id: c for c in conns}
        self.asked: list[str] = []

    def __call__(self, conn_id: str) -> Connection:
        self.asked.append(conn_id)
        if conn_id not in self.conns:
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return self.conns[conn_id]


@pytest.fixture(autouse=True)
def default_conn_ids(monkeypatch):
    for channel in ("X", "FACEBOOK", "INSTAGRAM", "YOUTUBE"):
        monkeypatch.delenv(f"CVP_{channel}_CONN_ID", raising=False)


@pytest.fixture
def variables(monkeypatch):
    """Airflow Variables in a dict (``Variable.set`` needs a running task otherwise)."""
    store: dict[str, str] = {}

    def get(key, default=None, deserialize_json=False):
        return store.get(key, default)

    def set_(key, value, description=None, serialize_json=False):
        store[key] = value

    monkeypatch.setattr(Variable, "get", staticmethod(get))
    monkeypatch.setattr(Variable, "set", staticmethod(set_))
    return store


# -- mapping ---------------------------------------------------------------------------------


def test_x_oauth2_user_token_from_password():
    getter = Connections(
        conn(
            "x_default",
            "http",
            password=X_TOKEN,
            user_id="42",
            username="CVPBogota",
            base_url="https://proxy.test",
            upload_base_url="https://upload.test",
        )
    )
    with mock.patch("cvp.publishers.x.XPublisher") as cls:
        channels.publisher_for("x", get_connection=getter)
    kw = cls.call_args.kwargs
    assert kw["bearer_token"] == X_TOKEN
    assert [kw[k] for k in OAUTH1] == [None] * 4
    assert (kw["user_id"], kw["username"]) == ("42", "CVPBogota")
    assert (kw["base_url"], kw["upload_base_url"]) == ("https://proxy.test", "https://upload.test")
    assert kw["conn_id"] == "x_default"


def test_x_oauth1_keys_from_extra_and_default_hosts():
    getter = Connections(conn("x_default", "http", **OAUTH1))
    pub = channels.publisher_for("x", get_connection=getter)
    assert isinstance(pub, XPublisher) and pub.conn_id == "x_default"
    assert pub.base_url == pub.upload_base_url == "https://api.x.com"
    assert pub._transport._oauth1 is not None and pub._transport._bearer is None


def test_x_without_credentials_names_the_connection():
    getter = Connections(conn("x_default", "http", user_id="42"))
    with pytest.raises(channels.AuthError, match="'x_default'"):
        channels.publisher_for("x", get_connection=getter)


def test_facebook_page_id_token_and_graph_settings():
    getter = Connections(
        conn(
            "facebook_default",
            "http",
            login="104000000000001",
            password=FB_TOKEN,
            version="v24.0",
            app_secret=APP_SECRET,
            base_url="https://graph.test",
            video_base_url="https://video.test",
        )
    )
    with mock.patch("cvp.publishers.facebook.FacebookPublisher") as cls:
        channels.publisher_for("facebook", get_connection=getter)
    assert cls.call_args.kwargs == {
        "page_id": "104000000000001",
        "access_token": FB_TOKEN,
        "base_url": "https://graph.test",
        "video_base_url": "https://video.test",
        "version": "v24.0",
        "app_secret": APP_SECRET,
        "conn_id": "facebook_default",
    }


def test_facebook_defaults_to_graph_v25():
    getter = Connections(conn("facebook_default", "http", login="104", password=FB_TOKEN))
    pub = channels.publisher_for("facebook", get_connection=getter)
    assert isinstance(pub, FacebookPublisher)
    assert (pub.api.version, pub.api.base_url, pub.video_base_url) == (
        "v25.0",
        "https://graph.facebook.com",
        "https://graph-video.facebook.com",
    )
    assert pub.api._proof is None


def test_facebook_without_page_id_is_a_misconfigured_connection():
    getter = Connections(conn("facebook_default", "http", password=FB_TOKEN))
    with pytest.raises(channels.ConnectionMisconfigured, match="«login».*'facebook_default'"):
        channels.publisher_for("facebook", get_connection=getter)


def test_instagram_with_a_local_public_folder(tmp_path):
    getter = Connections(
        conn(
            "instagram_default",
            "http",
            login="17841400000000001",
            password=IG_TOKEN,
            app_secret=APP_SECRET,
            storage_dir=str(tmp_path),
            public_base_url="https://cvp.test/publico",
        )
    )
    pub = channels.publisher_for("instagram", get_connection=getter)
    assert isinstance(pub, InstagramPublisher) and pub.conn_id == "instagram_default"
    assert pub.ig_user_id == "17841400000000001" and pub.api.version == "v25.0"
    assert isinstance(pub.storage, LocalDirStorage)
    assert (pub.storage.base_dir, pub.storage.base_url) == (tmp_path, "https://cvp.test/publico")


def test_instagram_with_a_gcs_bucket_defaults():
    getter = Connections(
        conn(
            "instagram_default",
            "http",
            login="178",
            password=IG_TOKEN,
            bucket="cvp-publico",
            version="v24.0",
            base_url="https://graph.test",
        )
    )
    with mock.patch("cvp.publishers.instagram.InstagramPublisher") as cls:
        channels.publisher_for("instagram", get_connection=getter)
    kw = cls.call_args.kwargs
    storage = kw.pop("storage")
    assert kw == {
        "ig_user_id": "178",
        "access_token": IG_TOKEN,
        "base_url": "https://graph.test",
        "version": "v24.0",
        "app_secret": None,
        "conn_id": "instagram_default",
    }
    assert isinstance(storage, channels.GcsPublicStorage)
    assert (storage.bucket, storage.gcp_conn_id, storage.public_base_url) == (
        "cvp-publico",
        "google_cloud_default",
        "https://storage.googleapis.com/cvp-publico",
    )


def test_instagram_bucket_with_its_own_gcp_connection_and_url():
    getter = Connections(
        conn(
            "instagram_default",
            "http",
            login="178",
            password=IG_TOKEN,
            bucket="b",
            gcp_conn_id="gcp_cvp",
            public_base_url="https://cdn.cvp.test/",
        )
    )
    storage = channels.publisher_for("instagram", get_connection=getter).storage
    assert (storage.gcp_conn_id, storage.public_base_url) == ("gcp_cvp", "https://cdn.cvp.test")


def test_instagram_without_public_storage_says_what_to_add():
    getter = Connections(conn("instagram_default", "http", login="178", password=IG_TOKEN))
    with pytest.raises(channels.ConnectionMisconfigured, match="'instagram_default'.*bucket"):
        channels.publisher_for("instagram", get_connection=getter)


def test_gcs_storage_uploads_through_the_google_provider(tmp_path):
    path = tmp_path / "afiche.jpg"
    path.write_bytes(b"jpeg")
    storage = channels.GcsPublicStorage("cvp-publico", gcp_conn_id="gcp_cvp")
    with mock.patch("airflow.providers.google.cloud.hooks.gcs.GCSHook") as hook_cls:
        hook_cls.return_value.exists.return_value = False
        url = storage.put(path, "instagram/7/abc def.jpg", "image/jpeg")
    hook_cls.assert_called_once_with(gcp_conn_id="gcp_cvp")
    hook_cls.return_value.upload.assert_called_once_with(
        bucket_name="cvp-publico", object_name="instagram/7/abc def.jpg", filename=str(path), mime_type="image/jpeg"
    )
    assert url == "https://storage.googleapis.com/cvp-publico/instagram/7/abc%20def.jpg"


def test_gcs_storage_does_not_upload_an_object_twice(tmp_path):
    storage = channels.GcsPublicStorage("b", public_base_url="https://cdn.test")
    with mock.patch("airflow.providers.google.cloud.hooks.gcs.GCSHook") as hook_cls:
        hook_cls.return_value.exists.return_value = True
        assert (
            storage.put(tmp_path / "x.jpg", "instagram/1/x.jpg", "image/jpeg") == "https://cdn.test/instagram/1/x.jpg"
        )
    hook_cls.return_value.upload.assert_not_called()
    with pytest.raises(ValueError):
        storage.put(tmp_path / "x.jpg", "../x.jpg", "image/jpeg")


def test_youtube_with_an_oauth_client_and_refresh_token(variables):
    getter = Connections(
        conn("youtube_default", "google_cloud_platform", **YT, privacy_status="unlisted", category_id=25)
    )
    pub = channels.publisher_for("youtube", get_connection=getter)
    assert isinstance(pub, YouTubePublisher) and pub.conn_id == "youtube_default"
    assert (pub.privacy_status, pub.category_id) == ("unlisted", "25")
    assert isinstance(pub.quota, channels.RecordsQuota)
    creds = pub._yt._http.credentials
    assert creds.token is None and creds.refresh_token == YT["refresh_token"]
    assert (creds.client_id, creds.client_secret) == (YT["client_id"], YT["client_secret"])
    assert creds.token_uri == "https://oauth2.googleapis.com/token"
    assert creds.scopes == [
        "https://www.googleapis.com/auth/youtube.upload",
        "https://www.googleapis.com/auth/youtube.readonly",
    ]


def test_youtube_otherwise_uses_the_google_provider_credentials(variables):
    getter = Connections(
        conn("youtube_default", "google_cloud_platform", key_path="/secrets/sa.json", base_url="http://127.0.0.1:9/")
    )
    sentinel = mock.Mock(name="credentials")
    with (
        mock.patch("airflow.providers.google.common.hooks.discovery_api.GoogleDiscoveryApiHook") as hook_cls,
        mock.patch("cvp.publishers.youtube.YouTubePublisher") as pub_cls,
    ):
        hook_cls.return_value.get_credentials.return_value = sentinel
        channels.publisher_for("youtube", get_connection=getter)
    hook_cls.assert_called_once_with(api_service_name="youtube", api_version="v3", gcp_conn_id="youtube_default")
    args, kw = pub_cls.call_args
    assert args == (sentinel,)
    assert kw["base_url"] == "http://127.0.0.1:9/" and kw["conn_id"] == "youtube_default"
    assert (kw["privacy_status"], kw["category_id"]) == ("public", "29")


def test_options_reach_the_publisher():
    getter = Connections(conn("x_default", "http", password=X_TOKEN))
    naps: list[float] = []
    pub = channels.publisher_for("x", get_connection=getter, sleep=naps.append, attempts=5)
    assert pub.sleep == naps.append and pub.attempts == 5


# -- which connection, and the outbox --------------------------------------------------------


@pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "youtube"])
def test_missing_connection_publishes_to_the_outbox(channel, cvp_env, caplog):
    getter = Connections()
    with caplog.at_level(logging.WARNING, logger="cvp_airflow.channels"):
        pub = channels.publisher_for(channel, get_connection=getter)
    assert isinstance(pub, OutboxPublisher)
    # The outbox is the product store's salida/ (ObjectStoragePath on CVP_STORAGE_URL, here file:// + data dir).
    assert (pub.storage.description, pub.channel) == (str(cvp_env / "salida"), channel)
    assert type(pub.storage.root).__name__ == "ObjectStoragePath"
    assert getter.asked == [f"{channel}_default"]
    assert f"'{channel}_default'" in caplog.text


def test_sitio_web_is_always_the_outbox(cvp_env):
    getter = Connections(conn("sitio_web_default", password="irrelevante"))
    pub = channels.publisher_for("sitio_web", get_connection=getter)
    assert isinstance(pub, OutboxPublisher) and pub.channel == "sitio_web"
    assert getter.asked == []


def test_connection_ids_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CVP_X_CONN_ID", "x_cvp_oficial")
    getter = Connections(conn("x_cvp_oficial", "http", password=X_TOKEN))
    assert channels.publisher_for("x", get_connection=getter).conn_id == "x_cvp_oficial"
    assert channels.conn_id_for("facebook") == "facebook_default"
    assert channels.conn_id_for("sitio_web") is None


def test_connection_status_reports_missing_connections(monkeypatch):
    monkeypatch.setenv("CVP_YOUTUBE_CONN_ID", "yt_cvp")
    getter = Connections(conn("x_default", password=X_TOKEN), conn("yt_cvp"))
    assert channels.connection_status(["x", "facebook", "youtube", "sitio_web"], get_connection=getter) == {
        "x": "x_default",
        "facebook": None,
        "youtube": "yt_cvp",
        "sitio_web": None,
    }


def test_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="tiktok"):
        channels.publisher_for("tiktok", get_connection=Connections())


def test_default_lookup_goes_through_basehook_get_connection(cvp_env):
    with mock.patch.object(BaseHook, "get_connection") as get:
        get.return_value = conn("x_default", "http", password=X_TOKEN)
        assert isinstance(channels.publisher_for("x"), XPublisher)
        get.assert_called_once_with("x_default")
        get.side_effect = AirflowNotFoundException("The conn_id `facebook_default` isn't defined")
        assert isinstance(channels.publisher_for("facebook"), OutboxPublisher)


def test_airflow_conn_environment_variables_work_unpatched(monkeypatch, cvp_env):
    """The real SDK lookup: a connection from ``AIRFLOW_CONN_*``, and none → the outbox."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_X_DEFAULT",
        json.dumps({"conn_type": "http", "password": X_TOKEN, "extra": {"username": "CVPBogota"}}),
    )
    monkeypatch.delenv("AIRFLOW_CONN_FACEBOOK_DEFAULT", raising=False)
    assert channels.publisher_for("x")._transport._bearer == X_TOKEN
    assert isinstance(channels.publisher_for("facebook"), OutboxPublisher)
    assert channels.connection_status(["x", "facebook"]) == {"x": "x_default", "facebook": None}


# -- secrets ---------------------------------------------------------------------------------


def all_connections(tmp_path) -> Connections:
    return Connections(
        conn("x_default", "http", password=X_TOKEN, **OAUTH1),
        conn("facebook_default", "http", login="104", password=FB_TOKEN, app_secret=APP_SECRET),
        conn(
            "instagram_default",
            "http",
            login="178",
            password=IG_TOKEN,
            app_secret=APP_SECRET,
            storage_dir=str(tmp_path),
            public_base_url="https://cvp.test/p",
        ),
        conn("youtube_default", "google_cloud_platform", **YT),
    )


def test_secrets_never_reach_logs_or_reprs(tmp_path, caplog, variables):
    getter = all_connections(tmp_path)
    with caplog.at_level(logging.DEBUG):
        pubs = [channels.publisher_for(c, get_connection=getter) for c in ("x", "facebook", "instagram", "youtube")]
        pubs[3].quota.spend(1)
    shown = caplog.text + "".join(repr(p) + str(p) for p in pubs)
    shown += repr(pubs[2].storage) + repr(pubs[3].quota) + repr(pubs[3]._yt._http.credentials)
    shown += repr(channels.GcsPublicStorage("b"))
    assert "Canal x: se publica con la conexión de Airflow 'x_default'" in caplog.text
    for secret in SECRETS:
        assert secret not in shown


def test_every_credential_is_registered_with_the_log_masker(tmp_path, variables):
    getter = all_connections(tmp_path)
    with mock.patch("airflow.sdk.log.mask_secret") as mask:
        for channel in ("x", "facebook", "instagram", "youtube"):
            channels.publisher_for(channel, get_connection=getter)
    masked = {c.args[0] for c in mask.call_args_list if isinstance(c.args[0], str)}
    assert set(SECRETS) <= masked
    assert "104" not in masked and YT["client_id"] not in masked  # ids are not secrets


def test_error_messages_name_the_connection_but_carry_no_secret():
    getter = Connections(conn("instagram_default", "http", login="178", password=IG_TOKEN, app_secret=APP_SECRET))
    with pytest.raises(channels.ConnectionMisconfigured) as err:
        channels.publisher_for("instagram", get_connection=getter)
    assert "'instagram_default'" in err.value.message
    assert IG_TOKEN not in str(err.value) + err.value.detail and APP_SECRET not in str(err.value)


def test_heavy_libraries_are_imported_only_when_a_channel_is_built():
    tree = ast.parse((ROOT / "plugins" / "cvp_airflow" / "channels.py").read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            top.add(node.module or "")
    heavy = (
        "airflow.providers",
        "googleapiclient",
        "google.",
        "tweepy",
        "httpx",
        "requests",
        "cvp.publishers.x",
        "cvp.publishers.youtube",
        "cvp.publishers.facebook",
        "cvp.publishers.instagram",
    )
    assert not [m for m in top if m.startswith(heavy)]


# -- YouTube quota across task processes -------------------------------------------------------


def at(text: str):
    when = datetime.fromisoformat(text)
    return lambda: when


def test_quota_is_kept_in_an_airflow_variable(variables):
    quota = channels.RecordsQuota(clock=at("2025-11-28T15:00:00+00:00"))
    quota.spend(1600)
    quota.spend(1)
    assert json.loads(variables["cvp_youtube_quota"]) == {"day": "2025-11-28", "spent": 1601}
    # another task process, same Pacific day
    assert channels.RecordsQuota(clock=at("2025-11-29T07:59:00+00:00")).spent_today() == 1601


def test_quota_resets_at_pacific_midnight(variables):
    variables["cvp_youtube_quota"] = json.dumps({"day": "2025-11-28", "spent": 9000})
    quota = channels.RecordsQuota(clock=at("2025-11-29T08:00:00+00:00"))  # 00:00 in Los Angeles
    assert quota.spent_today() == 0
    quota.spend(50)
    assert json.loads(variables["cvp_youtube_quota"]) == {"day": "2025-11-29", "spent": 50}


def test_quota_variable_edited_by_hand_to_garbage_counts_as_zero(variables):
    variables["cvp_youtube_quota"] = "no sé"
    assert channels.RecordsQuota().spent_today() == 0


def test_quota_outside_a_task_counts_in_memory_with_one_warning(monkeypatch, caplog):
    def refuse(*a, **k):
        raise ImportError("cannot import name 'SUPERVISOR_COMMS'")

    monkeypatch.setattr(Variable, "get", staticmethod(lambda key, default=None, deserialize_json=False: default))
    monkeypatch.setattr(Variable, "set", staticmethod(refuse))
    quota = channels.RecordsQuota()
    with caplog.at_level(logging.WARNING, logger="cvp_airflow.channels"):
        quota.spend(1600)
        quota.spend(50)
    assert quota.spent_today() == 1650
    assert caplog.text.count("cvp_youtube_quota") == 1


def test_a_spent_quota_stops_the_upload_before_any_call(variables, tmp_path):
    from tests.unit.fakes import media_file, piece

    variables["cvp_youtube_quota"] = json.dumps(
        {"day": datetime.now(channels.PACIFIC).date().isoformat(), "spent": 9000}
    )
    getter = Connections(conn("youtube_default", "google_cloud_platform", **YT, base_url="http://127.0.0.1:9/"))
    pub = channels.publisher_for("youtube", get_connection=getter)
    with pytest.raises(RateLimited) as err:
        pub.publish(piece("youtube", "Entrega de viviendas", media_file(tmp_path, "v.mp4", "video/mp4")))
    assert err.value.reset_at > datetime.now(UTC)
