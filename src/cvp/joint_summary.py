"""The day's summary of the Red Distrital's joint actions, for the team: joined, declined and why, still waiting.

Sent once a day by e-mail (a ``red_items`` row records it, like the digest to the Red) and shown as a
page of the forms (/cvp/red-distrital?dia=...), both from :func:`day_summary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from cvp import joint_actions as J
from cvp.mail import Mailer
from cvp.office import Office
from cvp.records.models import RedItem, utcnow
from cvp.red_distrital import send_mail, team_recipients


@dataclass(frozen=True)
class DaySummary:
    day: date
    joined: list[J.ActionView]
    adapted: list[J.ActionView]
    declined: list[J.ActionView]
    waiting: list[J.ActionView]
    problems: list[dict]

    @property
    def total(self) -> int:
        return len(self.joined) + len(self.adapted) + len(self.declined) + len(self.waiting)


def day_summary(office: Office, day: date) -> DaySummary:
    views = J.actions_of_day(office, day)
    problems = [p for load in J.loads_of_day(office, day) for p in load.problems]
    seen, unique = set(), []
    for p in problems:  # the same refused row, read again by a retry, is reported once
        key = (p.get("linea"), p.get("motivo"))
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return DaySummary(
        day=day,
        joined=[v for v in views if v.status == J.JOIN],
        adapted=[v for v in views if v.status == J.ADAPT],
        declined=[v for v in views if v.status == J.DECLINE],
        waiting=[v for v in views if v.status is None],
        problems=unique,
    )


def send_summary(office: Office, mailer: Mailer | None, day: date) -> bool:
    """Mail the day's summary to the team once; False when it was already sent or there is nothing to say."""
    key = f"resumen-acciones:{day.isoformat()}"
    with office.session() as s:
        if s.scalar(select(RedItem.id).where(RedItem.dedupe_key == key)) is not None:
            return False
    summary = day_summary(office, day)
    if not summary.total and not summary.problems:
        return False
    if mailer is not None:
        send_mail(
            office,
            mailer,
            team_recipients(office),
            "red_distrital_resumen",
            f"red-resumen-{day.isoformat()}",
            r=summary,
            planes={v.action.id: J.plans(v.action) for v in summary.joined},
            enlace=f"{office.cfg.base_url}/cvp/red-distrital?dia={day.isoformat()}",
        )
    with office.session() as s:
        s.add(
            RedItem(
                day=day,
                direction="resumen",
                dedupe_key=key,
                entity="CVP",
                message=f"{len(summary.joined)} unidas, {len(summary.declined)} declinadas, "
                f"{len(summary.adapted)} adaptadas, {len(summary.waiting)} sin decisión",
                created_at=utcnow(),
            )
        )
    return True
