"""The forms' JSON API under /cvp/api: every action a page can take, with the same login and roles.

Reads are open to every member of the team (the read-only role included); each write names the
roles allowed in its description and in the OpenAPI extension ``x-cvp-roles``. Writes authenticated
by the ``_token`` cookie carry the anti-forgery token in ``X-CSRF-Token`` (``GET /api/yo`` gives
it); writes authenticated by an ``Authorization: Bearer`` header are exempt (see security.py).
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field

from cvp import export, inbox
from cvp import procedure as P
from cvp.errors import NotFound
from cvp.mail import Mailer
from cvp.office import Office
from cvp.records.models import Decision, Need, Publication, Revision
from cvp.storage import check_key, is_legacy_path
from cvp_airflow.web import actions, views
from cvp_airflow.web.inputs import Instant, RecordId, ShownJSONResponse, Text
from cvp_airflow.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    Viewer,
    check_csrf,
    csrf_protect,
    csrf_token,
    current_viewer,
)
from cvp_airflow.web.services import deliver_later, get_mailer, get_office
from cvp_airflow.web.uploads import receive_upload

Channel = Literal["x", "facebook", "instagram", "youtube", "sitio_web"]
ROLE_DOC = {
    P.HEAD: "Jefe OAC",
    P.PROFESSIONAL: "Profesional Universitario",
    P.TECHNICIAN: "Técnico Operativo",
    P.READER: "Consulta",
}


def roles(*allowed: str) -> dict:
    """OpenAPI extension naming who may call the route."""
    return {"x-cvp-roles": list(allowed)}


def roles_text(*allowed: str) -> str:
    return "Roles: " + ", ".join(ROLE_DOC[r] for r in allowed) + "."


ERRORS = {
    401: {"description": "Sin sesión de Airflow (cookie `_token` o `Authorization: Bearer`)."},
    403: {"description": "Rol no autorizado, usuario fuera del equipo o falta el código anti-falsificación."},
}
WRITE_ERRORS = {
    **ERRORS,
    404: {"description": "La necesidad o la revisión no existe."},
    409: {
        "description": "La acción ya no aplica: revisión no vigente, ya decidida, trabajo propio, orden del "
        "procedimiento."
    },
    422: {"description": "Datos incompletos o con errores bloqueantes (ver `details`)."},
}


# --- shapes --------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    detail: str = Field(description="Qué pasó y qué hacer, en español.")
    details: list[str] = Field(default_factory=list)
    code: str = Field(description="Clase de error: InvalidInput, NotFound, Conflict, PermissionDenied...")


class MeOut(BaseModel):
    username: str
    role: str
    role_name: str
    name: str
    csrf_token: str = Field(description=f"Para el encabezado `{CSRF_HEADER}` de las escrituras con cookie.")


class StepOut(BaseModel):
    need_id: int
    title: str
    role: str
    role_name: str
    activity: int
    activity_name: str
    label: str
    since: datetime
    deadline: date
    days_waiting: int
    days_left: int = Field(description="Días hasta la fecha límite (negativo: vencida).")
    revision_id: int | None
    revision_number: int | None
    comment: str
    url: str


class DecisionOut(BaseModel):
    control_point: int
    decision: str
    comment: str
    decided_by: str
    decided_at: datetime
    publish_at: datetime | None


class RevisionOut(BaseModel):
    id: int
    kind: str
    number: int
    state: str
    author: str
    created_at: datetime
    title: str
    texts: dict[str, str]
    note: str
    checks: list[dict]
    filename: str
    media_type: str
    size: int
    sha256: str
    alt_text: str
    decision: DecisionOut | None
    file_url: str | None


class EventOut(BaseModel):
    activity: int
    action: str
    actor: str
    at: datetime
    summary: str
    detail: dict


class TimelineOut(BaseModel):
    activity: int
    name: str
    role: str
    status: str
    events: list[EventOut]


class PublicationOut(BaseModel):
    id: int = Field(description="Número del registro de publicación (para confirmarla o autorizar el reenvío).")
    channel: str
    state: str = Field(
        description="pendiente, enviando, publicado, sin_confirmar (espera a una persona) o "
        "fallido (se reintenta limpiando la tarea en Airflow)."
    )
    url: str
    remote_id: str = Field(description="Identificador de la publicación en la plataforma, si se conoce.")
    published_at: datetime | None
    error: str = Field(description="Por qué quedó sin confirmar o falló, si es el caso.")
    attempts: int
    updated_at: datetime


class NeedSummaryOut(BaseModel):
    id: int
    run_id: str | None
    title: str
    status: str
    deadline: date
    channels: list[str]
    one_off: bool
    publish_at: datetime | None
    step: StepOut | None
    url: str


class NeedOut(NeedSummaryOut):
    description: str
    source: str
    source_reference: str
    audiences: list[str]
    department: str
    requested_by: str
    created_at: datetime
    timeline: list[TimelineOut]
    revisions: list[RevisionOut]
    publications: list[PublicationOut]


class TextIn(BaseModel):
    texts: dict[Text, Text] = Field(description='Texto por canal de la necesidad: {"x": "...", ...}.')
    title: Text = Field("", max_length=200, description="Título (YouTube lo usa como título del video).")
    note: Text = Field("", max_length=5000, description="Qué cambió respecto de la revisión devuelta.")


class DecisionIn(BaseModel):
    revision_id: RecordId = Field(description="La revisión que se vio: si ya no es la vigente, 409 y nada cambia.")
    control_point: Literal[7, 12]
    decision: Literal["aprobado", "devuelto"]
    comment: Text = Field("", max_length=10000, description="Obligatorio para devolver.")
    publish_at: Instant | None = Field(
        None, description="Fecha y hora de publicación (hora de Bogotá si no trae zona), al aprobar el diseño."
    )


class DecisionResult(BaseModel):
    decision: DecisionOut
    revision_id: int
    already_recorded: bool = Field(description="Verdadero si esta misma decisión ya estaba registrada (doble clic).")


class MeetingIn(BaseModel):
    temas: list[Text]
    fuentes: list[Text]
    productos: list[Text]
    canales: list[Text]
    asistentes: list[Text]


class PlanIn(BaseModel):
    contenidos: list[Text]
    enlaces: list[Text]


class ConfirmPublicationIn(BaseModel):
    url: Text = Field(max_length=2000, description="Enlace de la publicación encontrada en la cuenta: https://...")
    remote_id: Text = Field(
        "",
        max_length=2000,
        description="Identificador de la publicación en la plataforma (opcional; en X y YouTube se toma del enlace).",
    )


class RetryPublicationIn(BaseModel):
    revisado: bool = Field(
        False, strict=True, description="Debe ser `true`: «Revisé la cuenta y la publicación no existe»."
    )


class CancelIn(BaseModel):
    motivo: Text = Field(
        "",
        max_length=actions.CANCEL_REASON_MAX,
        description="Por qué se retira la necesidad (obligatorio; queda en el expediente).",
    )


class DocumentOut(BaseModel):
    id: int
    activity: int
    kind: str
    author: str
    created_at: datetime


class MediaIn(BaseModel):
    media_type: Text = Field(max_length=200, description="Tipo MIME, p. ej. image/png o video/mp4.")
    size: int = Field(ge=0, le=2**63 - 1, description="Bytes.")
    width: int | None = Field(None, ge=0, le=1_000_000, description="Píxeles.")
    height: int | None = Field(None, ge=0, le=1_000_000, description="Píxeles.")
    duration: float | None = Field(None, ge=0, allow_inf_nan=False, description="Segundos (videos).")
    alt_text: Text | None = Field(None, max_length=10_000)
    has_captions: bool | None = None
    name: Text | None = Field(None, max_length=1000)


class CheckIn(BaseModel):
    channel: Channel
    text: Text = Field(max_length=100_000)
    title: Text = Field("", max_length=1000)
    media: list[MediaIn] = Field(
        default_factory=list, description="Opcional: sin medios se omiten los hallazgos `media.*`."
    )


class FindingOut(BaseModel):
    code: str
    severity: Literal["error", "warning", "info"]
    message: str
    channel: str | None
    start: int | None = Field(description="Posición (carácter) donde empieza, si aplica.")
    end: int | None
    suggestion: str | None
    field: str | None = Field(description="«text» o «title» (YouTube).")


class LengthOut(BaseModel):
    value: int
    limit: int | None
    unit: str


class CheckOut(BaseModel):
    channel: str
    blocking: bool = Field(description="Hay errores que impiden presentar el texto.")
    x_weighted_length: int | None = Field(description="Longitud ponderada de X (límite 280); null en otros canales.")
    counts: dict[str, int]
    findings: list[FindingOut]
    length: LengthOut
    title_length: LengthOut | None


class CalendarEntryOut(BaseModel):
    day: date
    at: datetime | None
    channel: str
    channel_name: str
    kind: str
    kind_name: str
    need_id: int
    title: str
    url: str


# --- serializers ---------------------------------------------------------------------------------


def base_of(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


def step_out(st: inbox.Step, base: str) -> StepOut:
    now, today = datetime.now(st.since.tzinfo), inbox.today_bogota()
    return StepOut(
        need_id=st.need_id,
        title=st.title,
        role=st.role,
        role_name=P.ROLE_NAMES[st.role],
        activity=st.activity,
        activity_name=P.ACTIVITY[st.activity].name,
        label=st.label,
        since=st.since,
        deadline=st.deadline,
        days_waiting=st.days_waiting(now),
        days_left=st.days_left(today),
        revision_id=st.revision_id,
        revision_number=st.revision_number,
        comment=st.comment,
        url=f"{base}/necesidades/{st.need_id}",
    )


def decision_out(d: Decision) -> DecisionOut:
    return DecisionOut(
        control_point=d.control_point,
        decision=d.decision,
        comment=d.comment,
        decided_by=d.decided_by,
        decided_at=d.decided_at,
        publish_at=d.publish_at,
    )


def file_url(base: str, rev: Revision) -> str:
    return f"{base}/api/necesidades/{rev.need_id}/disenos/{rev.id}/archivo"


def _decision_of(rev: Revision) -> Decision | None:
    """The revision's decision if it was loaded (a revision just submitted has none and is detached)."""
    from sqlalchemy import inspect as sa_inspect

    return None if "decision" in sa_inspect(rev).unloaded else rev.decision


def revision_out(rev: Revision, base: str) -> RevisionOut:
    decision = _decision_of(rev)
    return RevisionOut(
        id=rev.id,
        kind=rev.kind,
        number=rev.number,
        state=rev.state,
        author=rev.author,
        created_at=rev.created_at,
        title=rev.title,
        texts=rev.texts or {},
        note=rev.note,
        checks=rev.checks or [],
        filename=rev.filename,
        media_type=rev.media_type,
        size=rev.size,
        sha256=rev.sha256,
        alt_text=rev.alt_text,
        decision=decision_out(decision) if decision else None,
        file_url=file_url(base, rev) if rev.kind == P.DESIGN else None,
    )


def publication_out(p: Publication) -> PublicationOut:
    return PublicationOut(
        id=p.id,
        channel=p.channel,
        state=p.state,
        url=p.url,
        remote_id=p.remote_id,
        published_at=p.published_at,
        error=p.error,
        attempts=p.attempts,
        updated_at=p.updated_at,
    )


def summary_out(need: Need, step: inbox.Step | None, base: str) -> dict:
    return dict(
        id=need.id,
        run_id=need.run_id,
        title=need.title,
        status=need.status,
        deadline=need.deadline,
        channels=list(need.channels),
        one_off=need.one_off,
        publish_at=need.publish_at,
        step=step_out(step, base) if step else None,
        url=f"{base}/necesidades/{need.id}",
    )


# --- routes --------------------------------------------------------------------------------------

router = APIRouter(
    prefix="/api",
    tags=["Formularios CVP"],
    responses=ERRORS,
    dependencies=[Depends(current_viewer)],
    default_response_class=ShownJSONResponse,
)


@router.get(
    "/yo",
    response_model=MeOut,
    summary="Quién soy: usuario, rol y código anti-falsificación",
    openapi_extra=roles(*actions.ANY_ROLE),
)
def me(viewer: Viewer = Depends(current_viewer)) -> MeOut:
    return MeOut(
        username=viewer.username,
        role=viewer.role,
        role_name=viewer.role_name,
        name=viewer.name,
        csrf_token=csrf_token(viewer.username),
    )


PAGE_DOC = (
    "Paginado por clave (sin saltos ni repeticiones aunque lleguen registros nuevos): el cuerpo es la "
    'lista de la página; el encabezado `Link` trae la página siguiente (`rel="next"`, parámetro '
    "`desde`) y `X-Total-Count` cuántos hay en total con esos filtros."
)
PageKey = Query(
    None,
    max_length=80,
    pattern=r"^[0-9.\-_]*$",
    description="Clave de la página siguiente, tal como viene en el encabezado `Link`.",
)
PageSize = Query(inbox.PAGE_SIZE, ge=1, le=inbox.MAX_PAGE_SIZE, description="Elementos por página.")
ActivityFilter = Query(None, ge=1, le=14, description="Solo los pasos de esta actividad (1 a 14).")
WaitingRole = Literal["jefe_oac", "profesional", "tecnico", "sistema"]


def paged(request: Request, response: Response, total: int, next_key: str | None) -> None:
    """The page links of a list, in headers: the body stays the plain list older clients read."""
    response.headers["X-Total-Count"] = str(total)
    if next_key:
        response.headers["Link"] = f'<{request.url.include_query_params(desde=next_key)}>; rel="next"'


@router.get(
    "/bandeja",
    response_model=list[StepOut],
    summary="Lo que espera por mí, lo más antiguo primero",
    description="Pasos del procedimiento que esperan al rol del usuario, con su antigüedad frente a la "
    "fecha límite. La Jefe OAC no ve aquí revisiones de su propia autoría. "
    + PAGE_DOC
    + " "
    + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def my_inbox(
    request: Request,
    response: Response,
    desde: str | None = PageKey,
    limite: int = PageSize,
    actividad: int | None = ActivityFilter,
    viewer: Viewer = Depends(current_viewer),
    office: Office = Depends(get_office),
):
    with office.session() as s:
        page = inbox.inbox_page(s, viewer.username, viewer.role, after=desde, limit=limite, activity=actividad)
    paged(request, response, page.total or 0, page.next)
    return [step_out(st, base_of(request)) for st in page.items]


@router.get(
    "/necesidades",
    response_model=list[NeedSummaryOut],
    summary="Necesidades de comunicación",
    description="La fecha límite más próxima primero, con su paso actual; filtros por estado, a quién "
    "espera, actividad y ejecución de Airflow (`ejecucion`, el run_id). "
    + PAGE_DOC
    + " "
    + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def needs(
    request: Request,
    response: Response,
    estado: Literal["en_curso", "publicada", "cancelada", "todas"] = "en_curso",
    rol: WaitingRole | None = None,
    actividad: int | None = ActivityFilter,
    ejecucion: Text | None = Query(None, max_length=250, description="run_id de la ejecución en Airflow."),
    desde: str | None = PageKey,
    limite: int = PageSize,
    office: Office = Depends(get_office),
):
    base = base_of(request)
    with office.session() as s:
        page = inbox.needs_page(
            s, status=estado, role=rol, activity=actividad, run_id=ejecucion, after=desde, limit=limite
        )
    paged(request, response, page.total or 0, page.next)
    return [NeedSummaryOut(**summary_out(n, st, base)) for n, st in page.items]


@router.get(
    "/necesidades/{need_id}",
    response_model=NeedOut,
    summary="Expediente vivo de una necesidad",
    description="Datos, paso actual, línea de tiempo (las 14 actividades con quién y cuándo), revisiones "
    "con sus decisiones y comentarios, y publicaciones. " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def need_detail(need_id: RecordId, request: Request, office: Office = Depends(get_office)):
    base = base_of(request)
    f = views.need_file(office, need_id)
    n = f.need
    return NeedOut(
        **summary_out(n, f.step, base),
        description=n.description,
        source=n.source,
        source_reference=n.source_reference,
        audiences=list(n.audiences),
        department=n.department,
        requested_by=n.requested_by,
        created_at=n.created_at,
        timeline=[
            TimelineOut(
                activity=t.activity,
                name=t.name,
                role=t.role,
                status=t.status,
                events=[
                    EventOut(
                        activity=e.activity,
                        action=e.action,
                        actor=e.actor,
                        at=e.at,
                        summary=e.summary,
                        detail=e.detail or {},
                    )
                    for e in t.events
                ],
            )
            for t in f.timeline
        ],
        revisions=[revision_out(r, base) for r in [*f.texts, *f.designs]],
        publications=[publication_out(p) for p in office.publications(need_id)],
    )


@router.get(
    "/necesidades/{need_id}/borradores",
    response_model=dict[str, str],
    summary="Borradores por canal, desde las plantillas",
    openapi_extra=roles(*actions.ANY_ROLE),
)
def drafts(need_id: RecordId, office: Office = Depends(get_office)):
    return office.drafts(need_id)


@router.post(
    "/necesidades/{need_id}/reunion",
    response_model=DocumentOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividad 2: registro de reunión (208-SADM-Ft-54)",
    description=roles_text(*actions.MEETING_ROLES),
    openapi_extra=roles(*actions.MEETING_ROLES),
)
def meeting(
    need_id: RecordId,
    body: MeetingIn,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    doc = actions.record_meeting(office, viewer, need_id, body.model_dump())
    deliver_later(tasks, office, mail, need_id)
    return DocumentOut(id=doc.id, activity=doc.activity, kind=doc.kind, author=doc.author, created_at=doc.created_at)


@router.post(
    "/necesidades/{need_id}/plan",
    response_model=DocumentOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividad 3: contenidos y acciones con las dependencias",
    description=roles_text(*actions.PLAN_ROLES),
    openapi_extra=roles(*actions.PLAN_ROLES),
)
def plan(
    need_id: RecordId,
    body: PlanIn,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    doc = actions.record_plan(office, viewer, need_id, body.model_dump())
    deliver_later(tasks, office, mail, need_id)
    return DocumentOut(id=doc.id, activity=doc.activity, kind=doc.kind, author=doc.author, created_at=doc.created_at)


@router.post(
    "/necesidades/{need_id}/texto",
    response_model=RevisionOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividades 5 y 8: presentar el texto por canal para aprobación",
    description="Rechazado (422, con `details`) si un canal tiene errores bloqueantes; las advertencias "
    "quedan en la revisión para la Jefe OAC. " + roles_text(P.PROFESSIONAL),
    openapi_extra=roles(P.PROFESSIONAL),
)
def submit_text(
    need_id: RecordId,
    body: TextIn,
    request: Request,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    rev = actions.submit_text(office, viewer, need_id, body.texts, body.title, body.note)
    deliver_later(tasks, office, mail, need_id)
    return revision_out(rev, base_of(request))


@router.post(
    "/necesidades/{need_id}/decisiones",
    response_model=DecisionResult,
    status_code=201,
    responses={
        **WRITE_ERRORS,
        200: {"description": "La misma decisión ya estaba registrada (doble clic).", "model": DecisionResult},
    },
    summary="Puntos de control 7 y 12: aprobar o devolver con comentario",
    description="Solo sobre la revisión vigente (si no, 409 y nada cambia); nadie decide sobre su propio "
    "trabajo; repetir la misma decisión no registra otra. " + roles_text(P.HEAD),
    openapi_extra=roles(P.HEAD),
)
def decide(
    need_id: RecordId,
    body: DecisionIn,
    response: Response,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    publish_at = body.publish_at
    if publish_at is not None and publish_at.tzinfo is None:
        from cvp.config import TIMEZONE

        publish_at = publish_at.replace(tzinfo=TIMEZONE)
    out = actions.decide(
        office, viewer, need_id, body.revision_id, body.control_point, body.decision, body.comment, publish_at
    )
    if out.already_recorded:
        response.status_code = 200
    deliver_later(tasks, office, mail, need_id)
    return DecisionResult(
        decision=decision_out(out.decision), revision_id=out.decision.revision_id, already_recorded=out.already_recorded
    )


CANCEL_ERRORS = {
    **ERRORS,
    404: {"description": "La necesidad no existe."},
    409: {
        "description": "La necesidad ya no está en curso (publicada o ya cancelada), o la pieza ya se está "
        "publicando o se publicó."
    },
    422: {"description": "Falta el motivo (o es demasiado largo)."},
}


@router.post(
    "/necesidades/{need_id}/cancelar",
    response_model=NeedSummaryOut,
    responses=CANCEL_ERRORS,
    summary="Cancelar una necesidad en curso, con su motivo",
    description="La Jefe OAC retira una necesidad que sigue en curso y cuya pieza aún no se está "
    "publicando: queda «cancelada», el motivo y quién la canceló quedan en la trazabilidad "
    "(evento `necesidad_cancelada`), cada paso que esperaba termina omitido y no se publica "
    'nada. Como `python -m cvp cancelar N --como jefe --motivo "..."`. ' + roles_text(*actions.CANCEL_ROLES),
    openapi_extra=roles(*actions.CANCEL_ROLES),
)
def cancel(
    need_id: RecordId,
    body: CancelIn,
    request: Request,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    need = actions.cancel_need(office, viewer, need_id, body.motivo)
    return NeedSummaryOut(**summary_out(need, None, base_of(request)))


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["archivo"],
                "properties": {
                    CSRF_FIELD: {
                        "type": "string",
                        "description": "Código anti-falsificación (con cookie), antes del "
                        "archivo; o el encabezado X-CSRF-Token.",
                    },
                    "alt_text": {"type": "string", "description": "Texto alternativo: obligatorio para imágenes."},
                    "note": {"type": "string", "description": "Nota para la Jefe OAC."},
                    "archivo": {
                        "type": "string",
                        "format": "binary",
                        "description": "PNG, JPEG, GIF, WebP, PDF, MP4 o MOV; tamaño máximo CVP_MAX_UPLOAD_MB.",
                    },
                },
            }
        }
    },
}


async def receive_design(request: Request, viewer: Viewer, office: Office):
    """Stream the multipart body to a temporary file; the anti-forgery token must come before the file."""
    header_token = request.headers.get(CSRF_HEADER)

    def before_file(fields: dict[str, str]) -> None:
        check_csrf(viewer, header_token or fields.get(CSRF_FIELD))

    form = await receive_upload(
        request, file_field="archivo", tmp_dir=office.cfg.data_dir / "subidas-en-curso", before_file=before_file
    )
    return form


@router.post(
    "/necesidades/{need_id}/diseno",
    response_model=RevisionOut,
    status_code=201,
    responses={
        **WRITE_ERRORS,
        413: {"description": "Archivo más grande que el máximo."},
        415: {"description": "Tipo de archivo no admitido (se reconoce por su contenido)."},
    },
    summary="Actividad 10: cargar el diseño (o rediseño) de la pieza",
    description="Imagen, PDF o video; el tipo se reconoce por el contenido, se guarda fuera del sitio web con "
    "un nombre generado y su SHA-256. " + roles_text(P.TECHNICIAN),
    openapi_extra={**roles(P.TECHNICIAN), "requestBody": UPLOAD_BODY},
)
async def upload_design(
    need_id: RecordId,
    request: Request,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(current_viewer),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    await asyncio.to_thread(office.team.require, viewer.username, P.TECHNICIAN)  # refuse before reading the body
    form = await receive_design(request, viewer, office)
    try:
        rev = await asyncio.to_thread(
            actions.submit_design,
            office,
            viewer,
            need_id,
            form.path,
            form.filename,
            form.fields.get("alt_text", "").replace("\r\n", "\n"),
            form.fields.get("note", "").replace("\r\n", "\n"),
        )
    finally:
        await asyncio.to_thread(form.discard)
    deliver_later(tasks, office, mail, need_id)
    return revision_out(rev, base_of(request))


@router.get(
    "/necesidades/{need_id}/disenos/{revision_id}/archivo",
    summary="Archivo de un diseño",
    response_class=FileResponse,
    openapi_extra=roles(*actions.ANY_ROLE),
    responses={
        200: {
            "content": {t: {} for t in ("image/png", "image/jpeg", "application/pdf", "video/mp4")},
            "description": "El archivo, con su tipo reconocido y `nosniff`.",
        }
    },
)
def design_file(
    need_id: RecordId, revision_id: RecordId, descargar: bool = False, office: Office = Depends(get_office)
):
    with office.session() as s:
        rev = s.get(Revision, revision_id)
    if rev is None or rev.need_id != need_id or rev.kind != P.DESIGN:
        raise NotFound(f"La necesidad n.º {need_id} no tiene el diseño {revision_id}.")
    missing = NotFound("El archivo de este diseño no está en el almacenamiento de la oficina.")
    key, storage = rev.stored_path or "", office.storage
    if is_legacy_path(key):  # rows from before the store: only a file inside the old uploads folder
        local = Path(key).resolve()
        if not local.is_relative_to(office.cfg.uploads_dir.resolve()):
            raise missing
    else:
        try:
            parts = check_key(key).parts
        except ValueError:
            raise missing from None
        if parts[0] != "archivos" or len(parts) < 2:  # only designs are served here, never other kept files
            raise missing
        local = storage.local_path(key)
    name = f"diseno-necesidad-{need_id}-r{rev.number}{PurePosixPath(key).suffix}"
    disposition = "attachment" if descargar else "inline"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{disposition}; filename="{name}"',
        "Cache-Control": "private, max-age=3600",
    }
    if rev.media_type != "application/pdf":  # a CSP here would blank the browser's own PDF viewer
        headers["Content-Security-Policy"] = (
            "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
        )
    if local is not None:  # a folder on this host: served with ranges (video previews seek)
        if not local.is_file():
            raise missing
        return FileResponse(local, media_type=rev.media_type, headers=headers)
    if not storage.exists(key):
        raise missing
    headers["Content-Length"] = str(storage.size(key))
    return StreamingResponse(_chunks(storage.open(key)), media_type=rev.media_type, headers=headers)


def _chunks(handle, size: int = 1 << 20):
    """The stored file in pieces (read in the threadpool by Starlette), closed at the end."""
    with handle:
        while chunk := handle.read(size):
            yield chunk


PUBLICATION_ERRORS = {
    **ERRORS,
    404: {"description": "El registro de publicación no existe."},
    409: {
        "description": "El registro no está «sin_confirmar»: ya publicado, ya autorizado, enviándose o fallido "
        "(este se reintenta desde Airflow)."
    },
    422: {"description": "Enlace que no es https://, o falta marcar `revisado`."},
}


@router.post(
    "/publicaciones/{publication_id}/confirmar",
    response_model=PublicationOut,
    responses=PUBLICATION_ERRORS,
    summary="Actividad 14: confirmar que una publicación sin confirmar sí quedó publicada",
    description="Para un registro en «sin_confirmar» (no se supo si la plataforma recibió la pieza): quien "
    "revisó la cuenta y encontró la publicación registra su enlace https; queda «publicado» y "
    "en la trazabilidad a su nombre. Después, limpie la tarea «14. Publicar la pieza "
    "comunicativa» del canal en Airflow para que la ejecución termine (no se reenvía nada). "
    + roles_text(*actions.PUBLICATION_ROLES),
    openapi_extra=roles(*actions.PUBLICATION_ROLES),
)
def confirm_publication(
    publication_id: RecordId,
    body: ConfirmPublicationIn,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    return publication_out(actions.confirm_publication(office, viewer, publication_id, body.url, body.remote_id))


@router.post(
    "/publicaciones/{publication_id}/reintentar",
    response_model=PublicationOut,
    responses=PUBLICATION_ERRORS,
    summary="Actividad 14: autorizar el reenvío de una publicación sin confirmar",
    description="Para un registro en «sin_confirmar»: quien revisó la cuenta y comprobó que la publicación "
    "no existe lo declara con `revisado: true`; el registro vuelve a «pendiente» y el próximo "
    "intento (limpiar la tarea «14. Publicar la pieza comunicativa» del canal en Airflow) la "
    "envía. " + roles_text(*actions.PUBLICATION_ROLES),
    openapi_extra=roles(*actions.PUBLICATION_ROLES),
)
def retry_publication(
    publication_id: RecordId,
    body: RetryPublicationIn,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    return publication_out(actions.allow_publication_retry(office, viewer, publication_id, body.revisado))


@router.get(
    "/necesidades/{need_id}/expediente",
    summary="Expediente (Ley 1712 de 2014) en JSON",
    description="Todo lo registrado: necesidad, documentos, revisiones, decisiones, publicaciones, correos y "
    "trazabilidad. " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def record(need_id: RecordId, office: Office = Depends(get_office)) -> dict:
    return export.record(office, need_id)


@router.post(
    "/verificar",
    response_model=CheckOut,
    summary="Revisión previa de un texto mientras se escribe",
    description="Dado un canal y un texto (y opcionalmente título y metadatos de medios), los hallazgos "
    "(código, severidad, mensaje en español, posición, sugerencia), la longitud como la cuenta "
    "la plataforma y, para X, la longitud ponderada. No registra nada. " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def verify(body: CheckIn, viewer: Viewer = Depends(csrf_protect)):
    return actions.check(body.channel, body.text, body.title, [m.model_dump() for m in body.media])


@router.get(
    "/calendario",
    response_model=list[CalendarEntryOut],
    summary="Piezas publicadas y programadas del mes",
    description="Por día (hora de Bogotá) y canal: publicadas, programadas (fecha de publicación) o con su "
    "fecha límite, en orden de fecha y hora. " + PAGE_DOC + " " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def calendar(
    request: Request,
    response: Response,
    mes: str | None = Query(None, pattern=r"^\d{4}-\d{2}$", description="AAAA-MM"),
    canal: Channel | None = None,
    tipo: Literal["publicada", "programada", "fecha_limite"] | None = None,
    dia: str | None = Query(None, pattern=r"^\d{4}-\d{2}-\d{2}$", description="Solo este día (AAAA-MM-DD)."),
    desde: str | None = PageKey,
    limite: int = PageSize,
    office: Office = Depends(get_office),
):
    year, month = views.parse_month(mes)
    m = views.month(
        office, year, month, canal, kind=tipo, day=views.parse_day(dia, year, month), after=desde, limit=limite
    )
    base = base_of(request)
    paged(request, response, m.total, m.next_key)
    return [
        CalendarEntryOut(
            day=e.day,
            at=e.at,
            channel=e.channel,
            channel_name=P.CHANNELS.get(e.channel, e.channel),
            kind=e.kind,
            kind_name=e.kind_name,
            need_id=e.need_id,
            title=e.title,
            url=e.url or f"{base}/necesidades/{e.need_id}",
        )
        for e in m.entries
    ]
