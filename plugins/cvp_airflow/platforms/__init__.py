"""One Airflow hook per platform: the only readers of the channels' Connections.

Each hook wraps one connection (types ``cvp_x``, ``cvp_facebook``, ``cvp_instagram``, ``cvp_youtube``,
declared by :mod:`cvp_airflow.provider`) and hands out the channel's publisher, its metrics collector
and its health (:meth:`check`, the connection form's "Test" button and the daily check).
"""

from __future__ import annotations

import os

from cvp import procedure as P
from cvp_airflow.platforms.base import (
    CheckUnavailable,
    ConnectionMisconfigured,
    PlatformHook,
    TokenRefused,
    connection_extra,
)
from cvp_airflow.platforms.meta import FacebookPageHook, InstagramHook
from cvp_airflow.platforms.x import XHook
from cvp_airflow.platforms.youtube import YouTubeHook

HOOKS: dict[str, type[PlatformHook]] = {
    "x": XHook,
    "facebook": FacebookPageHook,
    "instagram": InstagramHook,
    "youtube": YouTubeHook,
}

__all__ = [
    "HOOKS",
    "CheckUnavailable",
    "ConnectionMisconfigured",
    "FacebookPageHook",
    "InstagramHook",
    "PlatformHook",
    "TokenRefused",
    "XHook",
    "YouTubeHook",
    "conn_id_for",
    "connection_extra",
    "hook_for",
]


def conn_id_for(channel: str) -> str | None:
    """The Airflow Connection id of ``channel`` (``None`` for a channel without a platform).

    The channel registry's default (``x_default``...), unless ``CVP_<CANAL>_CONN_ID`` names another.
    """
    if channel not in P.CHANNEL:
        raise ValueError(f"Canal desconocido: {channel!r}")
    if channel in P.OUTBOX_CHANNELS:
        return None
    return os.environ.get(f"CVP_{channel.upper()}_CONN_ID") or P.CHANNEL[channel].conn_id


def hook_for(channel: str, *, connection=None) -> PlatformHook:
    """The hook of ``channel``'s connection; ``connection`` when the caller already read it."""
    conn_id = conn_id_for(channel)
    if conn_id is None:
        raise ValueError(f"El canal {channel!r} no tiene plataforma: sus piezas van a la bandeja de salida.")
    return HOOKS[channel](conn_id, connection=connection)
