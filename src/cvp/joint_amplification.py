"""A joined joint action is posted exactly once per channel, whatever Airflow's retries.

The same ledger idea as activity 14 (:mod:`cvp.publishing`): one row per (action, channel), claimed
before the call and written after it: pendiente → enviando → publicado | sin_confirmar | fallido. A
row found in 'enviando' on a later attempt is reconciled against the platform before anything is
sent again; what cannot be found becomes 'sin_confirmar' and waits for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cvp import joint_actions as J
from cvp import procedure as P
from cvp.errors import Conflict
from cvp.office import Office
from cvp.publishers.base import OutcomeUnknown, PublishError, PublishResult
from cvp.records.models import JointAmplification, utcnow

log = logging.getLogger(__name__)

_S = P.PublicationState
PENDING, SENDING, PUBLISHED, UNCONFIRMED, FAILED = _S.PENDING, _S.SENDING, _S.PUBLISHED, _S.UNCONFIRMED, _S.FAILED


class Unconfirmed(PublishError):
    """The platform may hold the post but it could not be found: a person checks before any resend."""

    outcome_unknown = True


def amplify_once(office: Office, amplifier, action_id: int, channel: str) -> JointAmplification:
    """Post a joined action on one channel, never twice."""
    view = J.action(office, action_id)
    if view.status != J.JOIN:
        raise Conflict(f"La acción conjunta n.º {action_id} no tiene la decisión «unirse»: no se publica.")
    if channel not in view.action.channels:
        raise Conflict(f"La acción conjunta n.º {action_id} no pide el canal «{channel}».")
    plan = J.plan(view.action, channel)
    row = _claim(office, action_id, plan)
    if row.state == PUBLISHED:
        log.info("Joint action %s already on %s (%s): nothing sent", action_id, channel, row.url)
        return row
    if row.state == UNCONFIRMED:
        raise Unconfirmed(_unconfirmed_message(row), channel=channel)
    if row.state == SENDING:
        return _reconcile(office, amplifier, plan, row)

    def before_post() -> None:
        _update(office, row.id, state=SENDING, attempts=row.attempts + 1, error="")

    try:
        result = amplifier.post(plan.mode, plan.text, plan.target, before_post)
    except OutcomeUnknown as exc:
        log.warning("Outcome unknown on %s for joint action %s: reconciling", channel, action_id)
        return _reconcile(office, amplifier, plan, _get(office, row.id), cause=exc)
    except PublishError as exc:
        _update(office, row.id, state=FAILED, error=exc.message)
        raise
    except Exception as exc:
        # After 'enviando' nobody knows whether it went out: the row stays for reconciliation.
        _update(office, row.id, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return _published(office, row.id, result)


def _claim(office: Office, action_id: int, plan: J.Plan) -> JointAmplification:
    with office.session() as s:
        row = s.scalar(
            select(JointAmplification).where(
                JointAmplification.action_id == action_id, JointAmplification.channel == plan.channel
            )
        )
        if row is not None:
            return row
    try:
        with office.session() as s:
            now = utcnow()
            row = JointAmplification(
                action_id=action_id,
                channel=plan.channel,
                mode=plan.mode,
                state=PENDING,
                fingerprint=plan.fingerprint,
                remote_id="",
                url="",
                attempts=0,
                error="",
                created_at=now,
                updated_at=now,
            )
            s.add(row)
            s.flush()
            return row
    except IntegrityError:  # another worker claimed it first
        return _claim(office, action_id, plan)


def _reconcile(
    office: Office, amplifier, plan: J.Plan, row: JointAmplification, cause: Exception | None = None
) -> JointAmplification:
    try:
        found = amplifier.find(plan.mode, plan.text, plan.target, row.created_at)
    except PublishError as exc:
        found, why = None, exc.message
    else:
        why = "no se encontró la publicación entre las recientes de la cuenta"
    if found is not None:
        log.info("Reconciled joint action %s on %s: %s exists", row.action_id, row.channel, found.remote_id)
        return _published(office, row.id, found)
    _update(office, row.id, state=UNCONFIRMED, error=why)
    raise Unconfirmed(_unconfirmed_message(row), channel=row.channel, detail=str(cause or why))


def _unconfirmed_message(row: JointAmplification) -> str:
    return (
        f"No se pudo confirmar si la acción conjunta n.º {row.action_id} quedó publicada en "
        f"{P.CHANNELS[row.channel]} (registro n.º {row.id}). Revise la cuenta antes de cualquier reenvío: "
        "no se reenvía automáticamente para no duplicarla."
    )


def _published(office: Office, row_id: int, result: PublishResult) -> JointAmplification:
    _update(
        office,
        row_id,
        state=PUBLISHED,
        remote_id=result.remote_id,
        url=result.url,
        published_at=result.published_at or utcnow(),
        error="",
    )
    return _get(office, row_id)


def _update(office: Office, row_id: int, **values) -> None:
    with office.session() as s:
        row = s.get(JointAmplification, row_id)
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = utcnow()


def _get(office: Office, row_id: int) -> JointAmplification:
    with office.session() as s:
        return s.get(JointAmplification, row_id)


@dataclass
class DayOutcome:
    """What one amplification pass did: posts made or found, and the failures (Spanish), per channel."""

    posted: list[JointAmplification] = field(default_factory=list)
    errors: list[PublishError | Conflict] = field(default_factory=list)

    @property
    def retryable(self) -> bool:
        return any(getattr(e, "retryable", False) for e in self.errors)


def amplify_day(office: Office, amplifier_for: Callable[[int, str], object], day: date) -> DayOutcome:
    """Every joined action of the day on each of its channels; one failure does not stop the others."""
    out = DayOutcome()
    for view in J.actions_of_day(office, day):
        if view.status != J.JOIN:
            continue
        for channel in view.action.channels:
            try:
                out.posted.append(amplify_once(office, amplifier_for(view.action.id, channel), view.action.id, channel))
            except (PublishError, Conflict) as exc:
                log.warning("Joint action %s on %s: %s", view.action.id, channel, getattr(exc, "message", exc))
                out.errors.append(exc)
    return out
