"""What every platform hook shares: reading its one Connection, renewed tokens, the form's widgets.

Airflow 3.3's Task SDK reads connections but offers tasks no way to write one (its Execution API has
``GET connections/{id}`` and nothing else), so a token a hook renews is kept in an Airflow Variable
beside the connection (``cvp_token_<conn_id>``, encrypted with the Fernet key and masked in the UI as
any key holding "token"). The Variable records a fingerprint of the connection's own secrets: when a
person saves new credentials in the connection, the fingerprint no longer matches and the Variable is
ignored, so the connection as edited wins.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from cvp.publishers.base import AuthError, PublishError

log = logging.getLogger(__name__)

TOKEN_VARIABLE = "cvp_token_{conn_id}"
HTTP_TIMEOUT = (10.0, 30.0)


class ConnectionMisconfigured(AuthError):
    """The connection exists but lacks a field the channel needs: a person fixes the connection."""


class TokenRefused(AuthError):
    """The platform refused to renew the token (revoked, expired refresh token): a person authorizes again."""


class CheckUnavailable(PublishError):
    """The platform did not answer (network, 5xx, rate limit): the state is unknown, not broken."""

    retryable = True


def utcnow() -> datetime:
    return datetime.now(UTC)


def connection_extra(conn) -> dict:
    extra = getattr(conn, "extra_dejson", None)
    if extra is None:
        extra = json.loads(conn.extra or "{}")
    return dict(extra or {})


def text(value: Any) -> str | None:
    return str(value).strip() or None if value not in (None, "") else None


def secret(value: Any) -> str | None:
    """A credential as a client takes it, registered with Airflow's log masker first."""
    value = text(value)
    if value:
        from airflow.sdk.log import mask_secret

        mask_secret(value)
    return value


def required(value: Any, field: str, what: str, channel: str, conn_id: str) -> str:
    value = text(value)
    if not value:
        raise ConnectionMisconfigured(
            f"Falta {what} en el campo «{field}» de la conexión de Airflow '{conn_id}'.", channel=channel
        )
    return value


def fingerprint(*values: Any) -> str:
    return hashlib.sha256("\x1f".join(str(v or "") for v in values).encode()).hexdigest()[:16]


def in_task() -> bool:
    """Whether this process runs a task (and so may write Variables).

    Outside one (the API server's "Test" button, a test, a shell) the hooks neither read nor write
    renewed tokens, and do not renew a token that the platform would rotate: the renewal could not be kept.
    """
    runner = sys.modules.get("airflow.sdk.execution_time.task_runner")
    return getattr(runner, "SUPERVISOR_COMMS", None) is not None


class TokenStore:
    """Renewed tokens of one connection, in an Airflow Variable (see the module's docstring)."""

    def __init__(self, conn_id: str):
        self.key = TOKEN_VARIABLE.format(conn_id=conn_id)

    def load(self, base: str) -> dict:
        """The renewed tokens derived from the connection whose fingerprint is ``base``; else ``{}``."""
        if not in_task():
            return {}
        try:
            from airflow.sdk import Variable

            raw = Variable.get(self.key, default=None)
        except Exception:  # noqa: BLE001 - outside a task (the API server's test button): the connection alone
            return {}
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return {}
        if not isinstance(data, dict) or data.get("base") != base:
            return {}
        for key in ("access_token", "refresh_token"):
            secret(data.get(key))
        return data

    def save(self, base: str, data: dict) -> bool:
        if not in_task():
            log.warning("Fuera de una tarea no se guarda el token renovado (variable %s)", self.key)
            return False
        try:
            from airflow.sdk import Variable

            Variable.set(
                self.key,
                json.dumps({**data, "base": base}),
                description="Token renovado por el sistema (la conexión de Airflow no se puede escribir desde una tarea).",
            )
        except Exception as exc:  # noqa: BLE001 - Variable.set works only inside a task
            log.warning(
                "No se pudo guardar el token renovado en la variable %s (%s): la conexión conserva el anterior",
                self.key,
                type(exc).__name__,
            )
            return False
        return True


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


class PlatformHook(BaseHook):
    """One platform's Airflow Connection, read here and nowhere else.

    Subclasses name their ``conn_name_attr`` (``x_conn_id``...), build the publisher and the metrics
    collector, and answer :meth:`check`; :meth:`test_connection` is the connection form's button.
    """

    channel: ClassVar[str] = ""
    label: ClassVar[str] = ""

    def __init__(self, conn_id: str | None = None, *, connection=None):
        super().__init__()
        setattr(self, self.conn_name_attr, conn_id or getattr(connection, "conn_id", None) or self.default_conn_name)
        self._connection = connection

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from cvp_airflow.connection_forms import ui_field_behaviour

        return ui_field_behaviour(cls.conn_type)

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from cvp_airflow.connection_forms import FORMS

        return form_widgets(FORMS[cls.conn_type]["fields"])

    @property
    def conn_id(self) -> str:
        return getattr(self, self.conn_name_attr)

    @property
    def connection(self):
        if self._connection is None:
            self._connection = self.get_connection(self.conn_id)
        return self._connection

    @property
    def extra(self) -> dict:
        return connection_extra(self.connection)

    def publisher(self, **options: Any):
        raise NotImplementedError

    def collector(self):
        raise NotImplementedError

    def check(self, now: datetime | None = None):
        """The platform's answer about this connection (:class:`cvp.channel_health.Health`)."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        from cvp.channel_health import ChannelState

        now = utcnow()
        try:
            health = self.check(now)
        except PublishError as exc:
            return False, exc.message
        return health.state(now) is not ChannelState.BROKEN, health.message(now)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.conn_id!r})"


def http_get(url: str, *, label: str, **kwargs):
    """A GET to a platform; no answer at all is :class:`CheckUnavailable`, not a broken connection."""
    import requests

    try:
        return requests.get(url, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise CheckUnavailable(
            f"{label} no respondió ({type(exc).__name__}): se verifica de nuevo más tarde."
        ) from None


def http_post(url: str, *, label: str, **kwargs):
    import requests

    try:
        return requests.post(url, timeout=HTTP_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        raise CheckUnavailable(
            f"{label} no respondió ({type(exc).__name__}): se verifica de nuevo más tarde."
        ) from None


def unavailable(label: str, response) -> CheckUnavailable | None:
    """A rate limit or a server error: the platform could not say whether the token works."""
    if response.status_code == 429 or response.status_code >= 500:
        return CheckUnavailable(
            f"{label} respondió {response.status_code}: no se pudo verificar la conexión ahora; se intenta de nuevo más tarde."
        )
    return None


def json_of(response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def form_widgets(fields: dict[str, tuple[str, bool]]) -> dict[str, Any]:
    """Extra fields of the connection form: ``name: (Spanish label, is_secret)``, as providers declare them."""
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import PasswordField, StringField

    return {
        name: PasswordField(lazy_gettext(label), widget=BS3PasswordFieldWidget())
        if is_secret
        else StringField(lazy_gettext(label), widget=BS3TextFieldWidget())
        for name, (label, is_secret) in fields.items()
    }
