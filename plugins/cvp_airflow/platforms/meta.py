"""Facebook and Instagram (Meta Graph API): the connections ``cvp_facebook`` and ``cvp_instagram``.

The check is ``GET /me?fields=id,name`` with the connection's token; with the app's ``app_id`` and
``app_secret`` in the connection it also asks ``/debug_token`` for the token's expiry and permissions.
A user token that expires is exchanged for a long-lived one (``grant_type=fb_exchange_token``, about
60 days); for Facebook the page token obtained with it does not expire at all, so the page stops
needing renewals. Renewed tokens are stored as :mod:`.base` explains.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from cvp_airflow.connection_forms import FORMS
from cvp_airflow.platforms import base
from cvp_airflow.platforms.base import (
    CheckUnavailable,
    ConnectionMisconfigured,
    PlatformHook,
    TokenRefused,
    TokenStore,
    fingerprint,
    http_get,
    json_of,
    parse_time,
    required,
    secret,
    text,
    unavailable,
    utcnow,
)

log = logging.getLogger(__name__)

RENEW_WITHIN = timedelta(days=7)


class GraphHook(PlatformHook):
    """What Facebook pages and Instagram accounts share: a Graph token, its app, its renewal."""

    needed_scopes: tuple[str, ...] = ()

    def __init__(self, conn_id: str | None = None, *, connection=None):
        super().__init__(conn_id, connection=connection)
        self._store = TokenStore(self.conn_id)
        self._renewed: dict | None = None

    # --- credentials ------------------------------------------------------------------------------

    @property
    def version(self) -> str:
        from cvp.publishers.graph import GRAPH_VERSION

        return self.extra.get("version") or GRAPH_VERSION

    @property
    def root(self) -> str:
        from cvp.publishers.graph import GRAPH_BASE_URL

        return f"{(self.extra.get('base_url') or GRAPH_BASE_URL).rstrip('/')}/{self.version}"

    def _base(self) -> str:
        return fingerprint(self.connection.password)

    def token(self) -> str | None:
        """The connection's token, or the one renewed since the connection was last edited."""
        if self._renewed is not None:
            return self._renewed["access_token"]
        renewed = self._store.load(self._base())
        return renewed.get("access_token") or secret(self.connection.password)

    def _app(self) -> tuple[str | None, str | None]:
        return text(self.extra.get("app_id")), secret(self.extra.get("app_secret"))

    def _get(self, path: str, params: dict, token: str):
        params = {**params, "access_token": token}
        _, app_secret = self._app()
        if app_secret:
            params["appsecret_proof"] = hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        return http_get(f"{self.root}/{path}", params=params, label=self.label)

    def _error(self, response) -> dict:
        """The Graph error of a refused call; rate limits and outages are :class:`CheckUnavailable`."""
        from cvp.publishers.graph import GRAPH_RATE_CODES, GRAPH_TRANSIENT_CODES

        if problem := unavailable(self.label, response):
            raise problem
        error = json_of(response).get("error") or {}
        if error.get("code") in GRAPH_RATE_CODES | GRAPH_TRANSIENT_CODES:
            raise CheckUnavailable(f"{self.label} pidió esperar (código {error.get('code')}): se verifica más tarde.")
        return error

    def debug(self, token: str) -> dict | None:
        """``/debug_token`` with the app's token: validity, type, expiry, permissions; ``None`` without the app."""
        app_id, app_secret = self._app()
        if not (app_id and app_secret):
            return None
        response = http_get(
            f"{self.root}/debug_token",
            params={"input_token": token, "access_token": f"{app_id}|{app_secret}"},
            label=self.label,
        )
        if response.status_code != 200:
            self._error(response)
            return None
        return json_of(response).get("data") or None

    def refresh(self, token: str | None = None) -> dict:
        """Exchange the user token for a long-lived one (and, for a page, take the page's token)."""
        token = token or self.token()
        app_id, app_secret = self._app()
        if not (app_id and app_secret and token):
            raise TokenRefused(
                f"Para renovar el token de {self.label} la conexión de Airflow '{self.conn_id}' necesita "
                "«app_id» y «app_secret».",
                channel=self.channel,
            )
        response = http_get(
            f"{self.root}/oauth/access_token",
            params={
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": app_secret,
                "fb_exchange_token": token,
            },
            label=self.label,
        )
        body = json_of(response)
        if response.status_code != 200 or not body.get("access_token"):
            error = self._error(response) if response.status_code != 200 else {}
            raise TokenRefused(
                f"{self.label} no renovó el token de la conexión de Airflow '{self.conn_id}' "
                f"({error.get('message') or f'HTTP {response.status_code}'}): genere un token nuevo en Meta "
                "(Graph API Explorer o Business Manager) y guárdelo en la conexión.",
                channel=self.channel,
            )
        token = secret(body["access_token"])
        expires = utcnow() + timedelta(seconds=int(body["expires_in"])) if body.get("expires_in") else None
        token, expires = self._after_exchange(token, expires)
        renewed = {"access_token": token, "expires_at": expires.isoformat() if expires else None}
        self._store.save(self._base(), renewed)
        self._renewed = renewed
        log.info("Canal %s: token de la conexión '%s' renovado", self.channel, self.conn_id)
        return renewed

    def _after_exchange(self, token: str, expires: datetime | None) -> tuple[str, datetime | None]:
        return token, expires

    def _should_renew(self, info: dict, expires: datetime | None, now: datetime) -> bool:
        return info.get("type") == "USER" and expires is not None and expires - now <= RENEW_WITHIN

    # --- the check ----------------------------------------------------------------------------------

    def check(self, now: datetime | None = None):
        from cvp.channel_health import Health

        now = now or utcnow()
        token = self.token()
        if not token:
            return Health(
                False, f"La conexión de Airflow '{self.conn_id}' no tiene token de acceso (campo «Token de acceso»)."
            )
        response = self._get("me", {"fields": "id,name"}, token)
        if response.status_code != 200:
            error = self._error(response)
            return Health(
                False,
                f"{self.label} rechazó el token de la conexión de Airflow '{self.conn_id}' (código "
                f"{error.get('code', response.status_code)}: {error.get('message') or 'sin detalle'}). Genere un "
                "token nuevo y guárdelo en la conexión.",
            )
        me = json_of(response)
        info = self.debug(token)
        if info is None:
            return Health(
                True,
                "Sin «app_id» y «app_secret» en la conexión no se conocen el vencimiento ni los permisos del token.",
                account=me.get("name") or me.get("id") or "",
            )
        if not info.get("is_valid", False):
            message = (info.get("error") or {}).get("message") or "el token no es válido"
            return Health(False, f"{self.label}: {message} (conexión de Airflow '{self.conn_id}').")
        expires = _epoch(info.get("expires_at"))
        renewed, remark = False, ""
        if self._should_renew(info, expires, now) and base.in_task():
            try:
                fresh = self.refresh(token)
                expires, renewed = parse_time(fresh["expires_at"]), True
                remark = "Token renovado" + ("; ya no vence." if expires is None else ".")
            except TokenRefused as exc:
                remark = exc.message
        scopes = tuple(info.get("scopes") or ())
        return Health(
            True,
            remark,
            expires_at=expires,
            scopes=scopes,
            missing=tuple(s for s in self.needed_scopes if s not in scopes),
            account=me.get("name") or me.get("id") or "",
            renewed=renewed,
        )


def _epoch(value: Any) -> datetime | None:
    """Graph's expiry: seconds since the epoch, 0 for never."""
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


class FacebookPageHook(GraphHook):
    """The CVP's Facebook page: ``login`` is the page id, ``password`` the page's token."""

    channel = "facebook"
    label = "Facebook"
    conn_name_attr = "facebook_conn_id"
    default_conn_name = "facebook_default"
    conn_type = "cvp_facebook"
    hook_name = FORMS["cvp_facebook"]["hook_name"]
    needed_scopes = ("pages_manage_posts", "pages_read_engagement", "read_insights")

    def __init__(self, facebook_conn_id: str | None = None, *, connection=None):
        super().__init__(facebook_conn_id, connection=connection)

    def _after_exchange(self, token: str, expires: datetime | None) -> tuple[str, datetime | None]:
        """A page token obtained with a long-lived user token does not expire: keep that one."""
        page_id = text(self.connection.login)
        if not page_id:
            return token, expires
        response = self._get(page_id, {"fields": "access_token"}, token)
        page_token = json_of(response).get("access_token") if response.status_code == 200 else None
        return (secret(page_token), None) if page_token else (token, expires)

    def _should_renew(self, info: dict, expires: datetime | None, now: datetime) -> bool:
        return info.get("type") == "USER" and expires is not None  # a page token ends the renewals

    def publisher(self, **options: Any):
        from cvp.publishers.facebook import FacebookPublisher
        from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION

        extra = self.extra
        return FacebookPublisher(
            page_id=required(
                self.connection.login, "login", "el id de la página de Facebook", "facebook", self.conn_id
            ),
            access_token=self.token() or "",
            base_url=extra.get("base_url") or GRAPH_BASE_URL,
            video_base_url=extra.get("video_base_url") or None,
            version=extra.get("version") or GRAPH_VERSION,
            app_secret=secret(extra.get("app_secret")),
            conn_id=self.conn_id,
            **options,
        )

    def collector(self):
        from cvp.engagement import FacebookCollector

        return _collector(self, FacebookCollector)


class InstagramHook(GraphHook):
    """The CVP's Instagram professional account: ``login`` is the IG user id, ``password`` the token."""

    channel = "instagram"
    label = "Instagram"
    conn_name_attr = "instagram_conn_id"
    default_conn_name = "instagram_default"
    conn_type = "cvp_instagram"
    hook_name = FORMS["cvp_instagram"]["hook_name"]
    needed_scopes = ("instagram_basic", "instagram_content_publish", "instagram_manage_insights")

    def __init__(self, instagram_conn_id: str | None = None, *, connection=None):
        super().__init__(instagram_conn_id, connection=connection)

    def publisher(self, **options: Any):
        from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION
        from cvp.publishers.instagram import InstagramPublisher

        extra = self.extra
        return InstagramPublisher(
            ig_user_id=required(
                self.connection.login, "login", "el id de la cuenta de Instagram", "instagram", self.conn_id
            ),
            access_token=self.token() or "",
            storage=self.public_storage(),
            base_url=extra.get("base_url") or GRAPH_BASE_URL,
            version=extra.get("version") or GRAPH_VERSION,
            app_secret=secret(extra.get("app_secret")),
            conn_id=self.conn_id,
            **options,
        )

    def collector(self):
        from cvp.engagement import InstagramCollector

        return _collector(self, InstagramCollector)

    def public_storage(self):
        """Where Instagram downloads each file from: a public bucket, a served folder, or signed URLs."""
        extra = self.extra
        if extra.get("bucket"):
            from cvp_airflow.channels import GcsPublicStorage

            return GcsPublicStorage(
                extra["bucket"],
                gcp_conn_id=extra.get("gcp_conn_id") or "google_cloud_default",
                public_base_url=extra.get("public_base_url") or None,
            )
        if extra.get("storage_dir") and extra.get("public_base_url"):
            from cvp.publishers.storage import LocalDirStorage

            return LocalDirStorage(extra["storage_dir"], extra["public_base_url"])
        from cvp_airflow.storage import product_storage

        storage = product_storage()
        if storage.can_publish():  # gs:// signs its own URLs: the design is fetched where it is stored
            from cvp.publishers.storage import StoragePublicUrls

            return StoragePublicUrls(storage)
        raise ConnectionMisconfigured(
            "Instagram descarga cada imagen o video desde una dirección pública y la conexión de "
            f"Airflow '{self.conn_id}' no indica dónde dejarlos. Agregue al campo extra \"bucket\" (Google "
            'Cloud Storage) o "storage_dir" y "public_base_url" (carpeta servida por la web), o '
            "guarde los archivos en un bucket (CVP_STORAGE_URL=gs://…): sus direcciones firmadas sirven.",
            channel="instagram",
        )


def _collector(hook: GraphHook, cls):
    from cvp.publishers.graph import GRAPH_BASE_URL, GRAPH_VERSION

    extra = hook.extra
    return cls(
        access_token=hook.token() or "",
        app_secret=secret(extra.get("app_secret")),
        version=extra.get("version") or GRAPH_VERSION,
        base_url=extra.get("base_url") or GRAPH_BASE_URL,
        conn_id=hook.conn_id,
    )
