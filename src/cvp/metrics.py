"""Publication metrics logged at the end of activity 14: cycle time per activity, rounds at each
control point, and whether the piece went out on time against the need's deadline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from cvp import procedure as P
from cvp.config import bogota_date
from cvp.office import Office
from cvp.records.models import Document, Event, Need


def compute(need: Need, events: list[Event], decisions: list[dict], published_at: list[datetime]) -> dict:
    """Pure computation from the records, so it is testable without a database."""
    per_activity: dict[int, float] = {}
    for prev, ev in zip(events, events[1:], strict=False):
        per_activity[ev.activity] = per_activity.get(ev.activity, 0.0) + (ev.at - prev.at).total_seconds()
    rounds = {cp: sum(1 for d in decisions if d["control_point"] == cp) for cp in P.REVIEW_AT}
    returns = {
        cp: sum(1 for d in decisions if d["control_point"] == cp and d["decision"] == P.REJECTED) for cp in P.REVIEW_AT
    }
    last = max(published_at) if published_at else None
    on_time = None if last is None else bogota_date(last) <= need.deadline
    return {
        "necesidad": need.id,
        "tiempo_total_horas": round((events[-1].at - events[0].at).total_seconds() / 3600, 3) if events else 0,
        "tiempo_por_actividad_segundos": {str(k): round(v, 1) for k, v in sorted(per_activity.items())},
        "rondas_control": {str(k): v for k, v in rounds.items()},
        "devoluciones_control": {str(k): v for k, v in returns.items()},
        "fecha_limite": need.deadline.isoformat(),
        "publicado_en": last.isoformat() if last else None,
        "a_tiempo": on_time,
    }


def log_metrics(office: Office, need_id: int) -> dict:
    """Compute, keep as a record, and tell the team (idempotent per need)."""
    with office.session() as s:
        need = office.records.need(s, need_id)
        if need.status == P.NeedStatus.CANCELLED:
            return {}
        existing = s.scalar(
            select(Document).where(Document.need_id == need_id, Document.kind == P.DocumentKind.METRICS)
        )
        if existing is not None:
            return existing.data
        events = list(s.scalars(select(Event).where(Event.need_id == need_id).order_by(Event.id)))
    revisions = office.revisions(need_id)
    decisions = [
        {"control_point": r.decision.control_point, "decision": r.decision.decision}
        for r in revisions
        if r.decision is not None
    ]
    pubs = office.publications(need_id)
    published = [p.published_at for p in pubs if p.published_at is not None]
    data = compute(need, events, decisions, published)
    data["canales"] = {p.channel: {"estado": p.state, "url": p.url} for p in pubs}
    with office.session() as s:
        need = office.records.need(s, need_id)
        rendered = office.renderer.render("reportes/metricas_necesidad.txt.j2", necesidad=need, m=data)
        s.add(
            Document(
                need_id=need_id, activity=14, kind=P.DocumentKind.METRICS, data=data, rendered=rendered, author=P.SYSTEM
            )
        )
        office.outbox.queue(
            s,
            need,
            14,
            "equipo",
            list(office.team.team_emails) or office.team.emails_for(P.HEAD),
            "publicacion_equipo",
            m=data,
        )
        verdict = {True: "a tiempo", False: "fuera de la fecha límite", None: "sin publicación"}[data["a_tiempo"]]
        office.records.event(
            s,
            need_id,
            14,
            "metricas_registradas",
            P.SYSTEM,
            f"Métricas de publicación registradas: {verdict}; rondas de revisión "
            f"{data['rondas_control'][str(P.REVIEWS[P.TEXT].control_point)]} (contenidos) y "
            f"{data['rondas_control'][str(P.REVIEWS[P.DESIGN].control_point)]} (diseño).",
            **{"a_tiempo": data["a_tiempo"]},
        )
    return data
