"""Activity 14 exactly once: the publication ledger around every platform call.

Airflow runs a task at least once. A retry after a timeout that in fact reached the platform would
post twice, so each (need, approved text, approved design, channel) has one ledger row whose state
is written before and after the call: pendiente → enviando → publicado | sin_confirmar | fallido.
A row found in 'enviando' on a later attempt is reconciled against the platform before anything is
sent again; what cannot be reconciled becomes 'sin_confirmar' and waits for a person.
"""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cvp import procedure as P
from cvp.errors import Conflict, NotFound
from cvp.office import Office
from cvp.publishers.base import (
    BEFORE_POST,
    MediaFile,
    OutcomeUnknown,
    Piece,
    Publisher,
    PublishError,
    PublishResult,
    TransientError,
    publish_announces,
)
from cvp.records.models import Event, Publication, utcnow

log = logging.getLogger(__name__)

_S = P.PublicationState
PENDING, SENDING, PUBLISHED, UNCONFIRMED, FAILED = _S.PENDING, _S.SENDING, _S.PUBLISHED, _S.UNCONFIRMED, _S.FAILED


class Unconfirmed(PublishError):
    """The platform may hold the post but it could not be found: a person must confirm before any resend."""

    outcome_unknown = True


def build_piece(office: Office, need_id: int, channel: str) -> tuple[Piece, int, int]:
    """The approved text for ``channel`` and the approved design, as a Piece."""
    with office.session() as s:
        need = office.records.need(s, need_id)
        text = office.records.current(s, need_id, P.TEXT)
        design = office.records.current(s, need_id, P.DESIGN)
        if text is None or text.state != P.APPROVED or design is None or design.state != P.APPROVED:
            raise Conflict("Solo se publica una pieza con texto y diseño aprobados (actividades 7 y 12).")
        if channel not in need.channels:
            raise Conflict(f"El canal «{channel}» no fue pedido en la necesidad n.º {need_id}.")
        media = (
            MediaFile(office.design_media(design), design.media_type, design.size, design.sha256, design.alt_text),
        )
        piece = Piece(
            need_id=need_id,
            channel=channel,
            text=text.texts[channel],
            title=text.title,
            media=media,
            text_revision=text.number,
            design_revision=design.number,
        )
        return piece, text.id, design.id


def publish_once(
    office: Office, publisher: Publisher, need_id: int, channel: str, actor: str = P.SYSTEM
) -> Publication:
    """Publish the need's approved piece on one channel, never twice whatever the retries."""
    piece, text_id, design_id = build_piece(office, need_id, channel)
    row = _claim(office, need_id, text_id, design_id, channel, piece.fingerprint)
    # Reconciliation must not mistake an older identical post for this one.
    piece.extra["not_before"] = row.created_at
    if row.state == PUBLISHED:
        log.info("Need %s already published on %s (%s): nothing sent", need_id, channel, row.url)
        return _repair_closing(office, row, actor)
    if row.state == UNCONFIRMED:
        raise Unconfirmed(_unconfirmed_message(channel, row), channel=channel)
    if row.state == SENDING:
        # A previous attempt died during the call: ask the platform before sending anything.
        return _reconcile(office, publisher, piece, row, actor)
    try:
        publisher.validate(piece)
    except PublishError as exc:
        _record_failure(office, row.id, need_id, channel, actor, exc)
        raise
    if row.state == PENDING and row.attempts > 0:
        # A person authorised a resend of an unconfirmed post: a late post may have appeared since.
        found = _look_again(office, publisher, piece, row)
        if found is not None:
            return _mark_published(office, row.id, need_id, channel, found, actor, reconciled=True)
    announced = []

    def before_post() -> None:
        if not announced:
            _mark_sending(office, row.id, need_id, channel)
            announced.append(True)

    if publish_announces(publisher):
        piece.extra[BEFORE_POST] = before_post  # 'enviando' right before the post call, after the uploads
    else:
        before_post()
    try:
        result = publisher.publish(piece)
    except OutcomeUnknown as exc:
        log.warning("Outcome unknown on %s for need %s: reconciling", channel, need_id)
        return _reconcile(office, publisher, piece, _get(office, row.id), actor, cause=exc)
    except PublishError as exc:
        _record_failure(office, row.id, need_id, channel, actor, exc)
        raise
    except Exception as exc:
        # After 'enviando' we cannot tell whether the post went out: the row stays for reconciliation.
        # Before it nothing was posted: the row stays retryable.
        _update(office, row.id, error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    return _mark_published(office, row.id, need_id, channel, result, actor)


def _mark_sending(office: Office, row_id: int, need_id: int, channel: str) -> None:
    """The last write before the post call; refused if the need was cancelled during the uploads."""
    with office.session() as s:
        need = office.records.need(s, need_id, for_update=True)  # serialised with cancel_need
        if need.status == P.NeedStatus.CANCELLED:
            raise Conflict(f"La necesidad n.º {need_id} fue cancelada: no se publica en {P.CHANNELS[channel]}.")
        row = s.get(Publication, row_id)
        row.state, row.attempts, row.error, row.updated_at = SENDING, row.attempts + 1, "", utcnow()


def _look_again(office: Office, publisher: Publisher, piece: Piece, row: Publication) -> PublishResult | None:
    """Before an authorised resend: the post the person did not see may have appeared since.

    If the platform cannot be asked now, nothing is sent: the row stays authorised and is retried.
    """
    try:
        return publisher.find_published(piece)
    except PublishError as exc:
        _update(office, row.id, error=exc.message)
        raise TransientError(
            f"No se pudo verificar en {P.CHANNELS[piece.channel]} si la pieza ya aparece antes "
            f"del reenvío autorizado ({exc.message}); se reintentará sin reenviar todavía.",
            channel=piece.channel,
            detail=exc.detail,
        ) from exc


def _claim(office: Office, need_id, text_id, design_id, channel, fingerprint) -> Publication:
    with office.session() as s:
        row = s.scalar(
            select(Publication).where(
                Publication.need_id == need_id,
                Publication.text_revision_id == text_id,
                Publication.design_revision_id == design_id,
                Publication.channel == channel,
            )
        )
        if row is not None:
            return row
    try:
        with office.session() as s:
            row = Publication(
                need_id=need_id,
                text_revision_id=text_id,
                design_revision_id=design_id,
                channel=channel,
                state=PENDING,
                fingerprint=fingerprint,
            )
            s.add(row)
            s.flush()
            return row
    except IntegrityError:  # another worker claimed it first
        return _claim(office, need_id, text_id, design_id, channel, fingerprint)


def _reconcile(
    office: Office, publisher: Publisher, piece: Piece, row: Publication, actor: str, cause: Exception | None = None
) -> Publication:
    try:
        found = publisher.find_published(piece)
    except PublishError as exc:
        found, why = None, exc.message
    else:
        why = "no se encontró la publicación entre las recientes de la cuenta"
    if found is not None:
        log.info("Reconciled need %s on %s: post %s exists", piece.need_id, piece.channel, found.remote_id)
        return _mark_published(office, row.id, piece.need_id, piece.channel, found, actor, reconciled=True)
    _update(office, row.id, state=UNCONFIRMED, error=why)
    message = _unconfirmed_message(piece.channel, row)
    _event(office, piece.need_id, piece.channel, "publicacion_sin_confirmar", actor, message, error=why)
    raise Unconfirmed(message, channel=piece.channel, detail=str(cause or why))


def _unconfirmed_message(channel: str, row: Publication) -> str:
    return (
        f"No se pudo confirmar si la pieza quedó publicada en {P.CHANNELS[channel]} (registro de publicación "
        f"n.º {row.id}). Revise la cuenta: si la publicación existe, confírmela con su enlace en la página de la "
        f"necesidad (/cvp/necesidades/{row.need_id}) o con `python -m cvp publicacion confirmar {row.id} "
        f"--url URL`; si no existe, autorice el reenvío allí o con `python -m cvp publicacion reintentar "
        f"{row.id}`. No se reenvía automáticamente para no duplicarla."
    )


def _mark_published(
    office: Office, row_id: int, need_id: int, channel: str, result: PublishResult, actor: str, reconciled: bool = False
) -> Publication:
    """Close the publication in one transaction: ledger row, its 'publicado' event, the need if done."""
    with office.session() as s:
        office.records.need(s, need_id, for_update=True)  # one closer at a time: the last channel closes the need
        row = s.get(Publication, row_id)
        row.state, row.remote_id, row.url = PUBLISHED, result.remote_id, result.url
        row.published_at, row.error, row.updated_at = result.published_at or utcnow(), "", utcnow()
        s.flush()
        _close_in(office, s, row, actor, reconciled=reconciled)
    return _get(office, row_id)


def _close_in(office: Office, s, row: Publication, actor: str, reconciled: bool = False) -> None:
    """The 'publicado' event of this row (once) and the need's closing, inside the caller's transaction."""
    if not _has_published_event(s, row):
        how = " (confirmada al reconciliar)" if reconciled else ""
        office.records.event(
            s,
            row.need_id,
            14,
            "publicado",
            actor,
            f"Publicado en {P.CHANNELS[row.channel]}{how}: {row.url}",
            canal=row.channel,
            url=row.url,
            remote_id=row.remote_id,
            publicacion=row.id,
        )
    _close_need_if_done(office, s, row.need_id)


def _has_published_event(s, row: Publication) -> bool:
    for detail in s.scalars(
        select(Event.detail).where(Event.need_id == row.need_id, Event.activity == 14, Event.action == "publicado")
    ):
        detail = detail or {}
        if detail.get("publicacion") == row.id or (
            "publicacion" not in detail and detail.get("canal") == row.channel and detail.get("url") == row.url
        ):
            return True
    return False


def _repair_closing(office: Office, row: Publication, actor: str) -> Publication:
    """A row published by a version that closed in several transactions may lack its event or the need's
    closing (a crash between them): a later attempt completes what is missing, once."""
    with office.session() as s:
        need = office.records.need(s, row.need_id)
        if _has_published_event(s, row) and need.status != P.NeedStatus.IN_COURSE:
            return row
        office.records.need(s, row.need_id, for_update=True)
        fresh = s.get(Publication, row.id)
        if not _has_published_event(s, fresh):
            log.warning("Publication %s was published without its audit event: recording it now", row.id)
        _close_in(office, s, fresh, actor, reconciled=True)
    return _get(office, row.id)


def _close_need_if_done(office: Office, s, need_id: int) -> None:
    """A need is published once its approved piece is published on every requested channel."""
    need = office.records.need(s, need_id)
    text, design = office.records.current(s, need_id, P.TEXT), office.records.current(s, need_id, P.DESIGN)
    done = set(
        s.scalars(
            select(Publication.channel).where(
                Publication.need_id == need_id,
                Publication.state == PUBLISHED,
                Publication.text_revision_id == text.id,
                Publication.design_revision_id == design.id,
            )
        )
    )
    if need.status == P.NeedStatus.IN_COURSE and set(need.channels) <= done:
        need.status = P.NeedStatus.PUBLISHED


def confirm(office: Office, row_id: int, url: str, remote_id: str, actor: str) -> Publication:
    """A person confirms that an unconfirmed publication exists on the platform."""
    row = _get(office, row_id)
    if row.state not in (UNCONFIRMED, SENDING):
        raise Conflict(f"El registro de publicación {row_id} está «{row.state}»: no requiere confirmación.")
    return _mark_published(
        office, row_id, row.need_id, row.channel, PublishResult(remote_id, url), actor, reconciled=True
    )


def allow_retry(office: Office, row_id: int, actor: str) -> Publication:
    """A person checked the platform and found nothing: the next attempt may send again."""
    row = _get(office, row_id)
    if row.state != UNCONFIRMED:
        raise Conflict(f"El registro de publicación {row_id} está «{row.state}»: solo se reintenta uno sin confirmar.")
    _update(office, row_id, state=PENDING, error="")
    _event(
        office,
        row.need_id,
        row.channel,
        "reenvio_autorizado",
        actor,
        f"Reenvío autorizado en {P.CHANNELS[row.channel]} tras verificar que no se publicó; antes de reenviar "
        "se busca de nuevo en la cuenta.",
        publicacion=row_id,
    )
    return _get(office, row_id)


def _get(office: Office, row_id: int) -> Publication:
    with office.session() as s:
        row = s.get(Publication, row_id)
    if row is None:
        raise NotFound(f"No existe el registro de publicación n.º {row_id}.")
    return row


def _record_failure(office, row_id: int, need_id: int, channel: str, actor: str, exc: PublishError) -> None:
    """The platform refused without publishing: the ledger row is 'fallido' and the trail says why."""
    _update(office, row_id, state=FAILED, error=exc.message)
    _event(
        office,
        need_id,
        channel,
        "publicacion_fallida",
        actor,
        f"No se publicó en {P.CHANNELS[channel]}: {exc.message}",
        error=exc.message,
    )


def _update(office: Office, row_id: int, **values) -> None:
    with office.session() as s:
        row = s.get(Publication, row_id)
        for k, v in values.items():
            setattr(row, k, v)
        row.updated_at = utcnow()


def _event(office: Office, need_id: int, channel: str, action: str, actor: str, summary: str, **detail) -> None:
    with office.session() as s:
        office.records.event(s, need_id, 14, action, actor, summary, canal=channel, **detail)
