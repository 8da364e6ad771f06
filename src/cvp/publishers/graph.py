"""The Meta Graph API client shared by the Facebook Page and Instagram publishers and collectors.

It maps Graph's errors to the publishers' (token, rate limit with Meta's own reset time, transient,
rejected), retries the calls that are safe to repeat and sends the post call exactly once. Tokens
travel in the ``Authorization`` header, never in a URL, so that neither our logs nor the HTTP
client's request logs carry them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from cvp.publishers.base import (
    AuthError,
    OutcomeUnknown,
    PublishError,
    RateLimited,
    TransientError,
)
from cvp.publishers.retry import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BASE_DELAY,
    DEFAULT_MAX_DELAY,
    DEFAULT_TIMEOUT,
    Clock,
    Sleep,
    utcnow,
    with_retries,
)

log = logging.getLogger(__name__)

GRAPH_BASE_URL = "https://graph.facebook.com"
GRAPH_VERSION = "v25.0"

#: Token expired, revoked or invalidated (190), session (102), permissions (10, 200–299).
GRAPH_AUTH_CODES = frozenset({102, 190, 10} | set(range(200, 300)))
#: Application, user, page and business-use-case throttling.
GRAPH_RATE_CODES = frozenset({4, 9, 17, 32, 613} | set(range(80001, 80015)))
#: "Unknown error" and "Service temporarily unavailable".
GRAPH_TRANSIENT_CODES = frozenset({1, 2})

_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def graph_reset_at(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When Meta says access returns, from its usage headers, if it says.

    ``x-business-use-case-usage`` maps business ids to lists of usage objects carrying
    ``estimated_time_to_regain_access`` in minutes; ``x-app-usage`` and ``x-page-usage`` may
    carry the same key. The longest wait announced wins.
    """
    minutes: list[float] = []

    def collect(obj: Any) -> None:
        if isinstance(obj, dict):
            value = obj.get("estimated_time_to_regain_access")
            if isinstance(value, (int, float)) and value > 0:
                minutes.append(float(value))
            for item in obj.values():
                if isinstance(item, (dict, list)):
                    collect(item)
        elif isinstance(obj, list):
            for item in obj:
                collect(item)

    for name in ("x-business-use-case-usage", "x-app-usage", "x-page-usage"):
        raw = headers.get(name)
        if not raw:
            continue
        try:
            collect(json.loads(raw))
        except ValueError:
            continue
    if not minutes:
        return None
    return now + timedelta(minutes=max(minutes))


class GraphApi:
    """A small client for the Graph API, shared by the Facebook and Instagram publishers.

    ``get`` and ``upload`` are retried on 5xx and network failures (bounded, with backoff);
    ``publish`` is the guarded post call and is sent exactly once: a network failure or a 5xx
    after the request could have reached Meta raises :class:`OutcomeUnknown`.
    """

    def __init__(
        self,
        *,
        access_token: str,
        label: str,
        channel: str,
        conn_id: str,
        base_url: str = GRAPH_BASE_URL,
        version: str = GRAPH_VERSION,
        app_secret: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        base_delay: float = DEFAULT_BASE_DELAY,
        max_delay: float = DEFAULT_MAX_DELAY,
        sleep: Sleep = time.sleep,
        clock: Clock = utcnow,
    ):
        if not access_token:
            raise AuthError(
                f"Falta el token de acceso de {label}. Configúrelo en la conexión de Airflow '{conn_id}'.",
                channel=channel,
            )
        self.label = label
        self.channel = channel
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.version = version.strip("/")
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.clock = clock
        self._token = access_token
        self._proof = (
            hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest() if app_secret else None
        )
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._client = client or httpx.Client(timeout=self._timeout)

    def close(self) -> None:
        self._client.close()

    # -- public calls ------------------------------------------------------------------------

    def url(self, path: str, base_url: str | None = None) -> str:
        base = (base_url or self.base_url).rstrip("/")
        return f"{base}/{self.version}/{path.lstrip('/')}"

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> dict:
        """A read, retried on transient failures."""
        return self._retrying(lambda: self._send("GET", path, params=params, guarded=False), what)

    def upload(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
        *,
        what: str,
        base_url: str | None = None,
    ) -> dict:
        """A POST that creates nothing public (unpublished photo, container, upload chunk).

        Repeating it is safe: at worst it leaves an unpublished object that Meta discards. Pass
        ``files`` as a callable so that each attempt reopens the file from its start.
        """

        def once() -> dict:
            return self._send(
                "POST",
                path,
                data=data,
                files=files() if callable(files) else files,
                guarded=False,
                base_url=base_url,
            )

        return self._retrying(once, what)

    def try_get(self, path: str, params: Mapping[str, Any] | None = None, *, what: str) -> dict:
        """A read whose failure is only logged: for details fetched after a post succeeded."""
        try:
            return self.get(path, params, what=what)
        except PublishError as exc:
            log.warning("%s: %s falló: %s", self.label, what, exc.message)
            return {}

    def publish(
        self,
        path: str,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        *,
        base_url: str | None = None,
    ) -> dict:
        """The post call: sent once, never retried here."""
        return self._send("POST", path, data=data, files=files, guarded=True, base_url=base_url)

    # -- plumbing ----------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], dict], what: str) -> dict:
        return with_retries(
            call,
            what=what,
            attempts=self.attempts,
            base_delay=self.base_delay,
            max_delay=self.max_delay,
            sleep=self.sleep,
        )

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        files: Mapping[str, Any] | None = None,
        guarded: bool,
        base_url: str | None = None,
    ) -> dict:
        url = self.url(path, base_url)
        query = dict(params or {})
        if self._proof:
            query["appsecret_proof"] = self._proof
        headers = {"Authorization": f"Bearer {self._token}"}
        log.debug("%s: %s %s", self.label, method, url)
        try:
            response = self._client.request(
                method,
                url,
                params=query or None,
                data={k: _form_value(v) for k, v in (data or {}).items()} or None,
                files=files,
                headers=headers,
                timeout=self._timeout,
            )
        except _BEFORE_SENDING as exc:
            raise TransientError(
                f"No fue posible conectarse con {self.label}. Revise la conexión a Internet del "
                "servidor; el envío se puede reintentar sin riesgo de duplicar.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        except httpx.TransportError as exc:
            if guarded:
                raise OutcomeUnknown(
                    f"Se perdió la comunicación con {self.label} después de enviar la "
                    "publicación: no se sabe si quedó publicada. Se verificará en la cuenta "
                    "antes de volver a enviar.",
                    channel=self.channel,
                    detail=f"{type(exc).__name__}: {exc}",
                ) from exc
            raise TransientError(
                f"{self.label} no respondió a tiempo. El envío se reintentará.",
                channel=self.channel,
                detail=f"{type(exc).__name__}: {exc}",
            ) from exc
        if response.is_success:
            try:
                body = response.json()
            except ValueError:
                body = {}
            return body if isinstance(body, dict) else {"data": body}
        raise self._error(response, guarded=guarded)

    def _error(self, response: httpx.Response, *, guarded: bool) -> PublishError:
        try:
            err = response.json().get("error") or {}
        except (ValueError, AttributeError):
            err = {}
        if not isinstance(err, dict):
            err = {}
        code = err.get("code")
        subcode = err.get("error_subcode")
        detail = (
            f"HTTP {response.status_code}; code={code} subcode={subcode} "
            f"type={err.get('type')} fbtrace_id={err.get('fbtrace_id')}: {err.get('message', '')}"
        )
        status = response.status_code
        if code in GRAPH_RATE_CODES or status == 429:
            reset_at = graph_reset_at(response.headers, self.clock())
            when = f" Meta indica que el acceso se restablece hacia las {reset_at:%H:%M} UTC." if reset_at else ""
            return RateLimited(
                f"{self.label} limitó temporalmente las llamadas de la aplicación (límite de "
                f"uso).{when} Espere y vuelva a intentar; no reenvíe de inmediato.",
                reset_at=reset_at,
                channel=self.channel,
                detail=detail,
            )
        if code in GRAPH_AUTH_CODES or status == 401:
            if code == 190 or status == 401:
                what = "El token de acceso venció o fue revocado"
            else:
                what = "El token de acceso no tiene los permisos necesarios"
            return AuthError(
                f"{what} ({self.label}). Renueve el token en la conexión de Airflow "
                f"'{self.conn_id}' y vuelva a intentar.",
                channel=self.channel,
                detail=detail,
            )
        transient = status >= 500 or code in GRAPH_TRANSIENT_CODES or err.get("is_transient")
        if transient and guarded:
            return OutcomeUnknown(
                f"{self.label} respondió con un error interno al publicar: no se sabe si la "
                "publicación quedó hecha. Se verificará en la cuenta antes de volver a enviar.",
                channel=self.channel,
                detail=detail,
            )
        if transient:
            return TransientError(
                f"{self.label} tuvo un error temporal. El envío se reintentará.",
                channel=self.channel,
                detail=detail,
            )
        message = err.get("error_user_msg") or err.get("message") or response.reason_phrase
        return PublishError(
            f"{self.label} rechazó la solicitud: {message}. Corrija la pieza o la configuración "
            f"del canal y vuelva a intentar.",
            channel=self.channel,
            detail=detail,
        )


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def graph_items(body: Mapping[str, Any]) -> Iterable[dict]:
    data = body.get("data")
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
