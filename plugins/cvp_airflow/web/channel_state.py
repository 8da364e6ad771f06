"""The channels' connection state as the forms show it: the head's inbox and a need's page.

Read from the records (the daily check's last answer, :mod:`cvp.channel_health`), never from the
platforms: a page never waits on X or Meta.
"""

from __future__ import annotations

from cvp import channel_health
from cvp import procedure as P


def channel_board(office, viewer=None) -> list[channel_health.ChannelView]:
    """Each platform channel's state: on the dashboard for everyone; in an inbox, only the head's (who renews
    the tokens)."""
    if viewer is not None and viewer.role != P.HEAD:
        return []
    with office.session() as s:
        return channel_health.board(s)


def need_warnings(office, need) -> dict[str, str]:
    """Of a need in course, the channels whose connection is broken now: a piece for them would not go out."""
    if need.status != P.NeedStatus.IN_COURSE:
        return {}
    with office.session() as s:
        return {P.CHANNELS.get(c, c): text for c, text in channel_health.broken_among(s, need.channels).items()}
