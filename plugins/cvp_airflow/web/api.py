"""The forms' JSON API under /cvp/api: every action a page can take, with the same login and roles.

Reads are open to every member of the team (the read-only role included); each write names the
roles allowed in its description and in the OpenAPI extension ``x-cvp-roles``. Writes authenticated
by the ``_token`` cookie carry the anti-forgery token in ``X-CSRF-Token`` (``GET /api/yo`` gives
it); writes authenticated by an ``Authorization: Bearer`` header are exempt (see security.py).
What each route takes and gives, with its Spanish field names, is in schemas.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, StreamingResponse

from cvp import export, inbox
from cvp import procedure as P
from cvp.errors import NotFound
from cvp.mail import Mailer
from cvp.office import Office
from cvp.records.models import Revision
from cvp.storage import check_key, is_legacy_path
from cvp_airflow.web import actions, views
from cvp_airflow.web.inputs import RecordId, ShownJSONResponse, Text
from cvp_airflow.web.schemas import (
    CalendarEntryOut,
    CancelIn,
    Channel,
    CheckIn,
    CheckOut,
    ConfirmPublicationIn,
    DecisionIn,
    DecisionOut,
    DecisionResult,
    DocumentOut,
    ErrorOut,
    MeetingIn,
    MeOut,
    NeedOut,
    NeedSummaryOut,
    PlanIn,
    PublicationOut,
    RetryPublicationIn,
    RevisionOut,
    StepOut,
    TextIn,
)
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


def refusal(description: str) -> dict:
    """An error answer in the OpenAPI document: its body is always ErrorOut."""
    return {"description": description, "model": ErrorOut}


ERRORS = {
    401: refusal("Sin sesión de Airflow (cookie `_token` o `Authorization: Bearer`)."),
    403: refusal("Rol no autorizado, usuario fuera del equipo o falta el código anti-falsificación."),
    422: refusal("Datos que no cumplen el formato pedido (ver `detalles`)."),
}
WRITE_ERRORS = {
    **ERRORS,
    404: refusal("La necesidad o la revisión no existe."),
    409: refusal("La acción ya no aplica: revisión no vigente, ya decidida, trabajo propio, orden del procedimiento."),
    422: refusal("Datos incompletos o con errores bloqueantes (ver `detalles`)."),
}


NeedId = Annotated[RecordId, PathParam(alias="necesidad", description="Número de la necesidad.")]
RevisionId = Annotated[RecordId, PathParam(alias="revision", description="Número de la revisión (del diseño).")]
PublicationId = Annotated[RecordId, PathParam(alias="publicacion", description="Número del registro de publicación.")]


def base_of(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


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
        usuario=viewer.username,
        rol=viewer.role,
        nombre_rol=viewer.role_name,
        nombre=viewer.name,
        codigo_csrf=csrf_token(viewer.username),
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
    base = base_of(request)
    return [StepOut.of(st, base) for st in page.items]


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
    return [NeedSummaryOut.of(n, st, base) for n, st in page.items]


@router.get(
    "/necesidades/{necesidad}",
    response_model=NeedOut,
    summary="Expediente vivo de una necesidad",
    description="Datos, paso actual, línea de tiempo (las 14 actividades con quién y cuándo), revisiones "
    "con sus decisiones y comentarios, y publicaciones. " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def need_detail(need_id: NeedId, request: Request, office: Office = Depends(get_office)):
    f = views.need_file(office, need_id)
    return NeedOut.of_file(f, office.publications(need_id), base_of(request))


@router.get(
    "/necesidades/{necesidad}/borradores",
    response_model=dict[str, str],
    summary="Borradores por canal, desde las plantillas",
    openapi_extra=roles(*actions.ANY_ROLE),
)
def drafts(need_id: NeedId, office: Office = Depends(get_office)):
    return office.drafts(need_id)


@router.post(
    "/necesidades/{necesidad}/reunion",
    response_model=DocumentOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividad 2: registro de reunión (208-SADM-Ft-54)",
    description=roles_text(*actions.MEETING_ROLES),
    openapi_extra=roles(*actions.MEETING_ROLES),
)
def meeting(
    need_id: NeedId,
    body: MeetingIn,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    doc = actions.record_meeting(office, viewer, need_id, body.model_dump())
    deliver_later(tasks, office, mail, need_id)
    return DocumentOut.of(doc)


@router.post(
    "/necesidades/{necesidad}/plan",
    response_model=DocumentOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividad 3: contenidos y acciones con las dependencias",
    description=roles_text(*actions.PLAN_ROLES),
    openapi_extra=roles(*actions.PLAN_ROLES),
)
def plan(
    need_id: NeedId,
    body: PlanIn,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    doc = actions.record_plan(office, viewer, need_id, body.model_dump())
    deliver_later(tasks, office, mail, need_id)
    return DocumentOut.of(doc)


@router.post(
    "/necesidades/{necesidad}/texto",
    response_model=RevisionOut,
    status_code=201,
    responses=WRITE_ERRORS,
    summary="Actividades 5 y 8: presentar el texto por canal para aprobación",
    description="Rechazado (422, con `detalles`) si un canal tiene errores bloqueantes; las advertencias "
    "quedan en la revisión para la Jefe OAC. " + roles_text(P.PROFESSIONAL),
    openapi_extra=roles(P.PROFESSIONAL),
)
def submit_text(
    need_id: NeedId,
    body: TextIn,
    request: Request,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    rev = actions.submit_text(office, viewer, need_id, body.textos, body.titulo, body.nota)
    deliver_later(tasks, office, mail, need_id)
    return RevisionOut.of(rev, base_of(request))


@router.post(
    "/necesidades/{necesidad}/decisiones",
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
    need_id: NeedId,
    body: DecisionIn,
    response: Response,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    publish_at = body.publicar_en
    if publish_at is not None and publish_at.tzinfo is None:
        from cvp.config import TIMEZONE

        publish_at = publish_at.replace(tzinfo=TIMEZONE)
    out = actions.decide(
        office, viewer, need_id, body.revision, body.punto_control, body.decision, body.comentario, publish_at
    )
    if out.already_recorded:
        response.status_code = 200
    deliver_later(tasks, office, mail, need_id)
    return DecisionResult(
        decision=DecisionOut.of(out.decision), revision=out.decision.revision_id, ya_registrada=out.already_recorded
    )


CANCEL_ERRORS = {
    **ERRORS,
    404: refusal("La necesidad no existe."),
    409: refusal(
        "La necesidad ya no está en curso (publicada o ya cancelada), o la pieza ya se está publicando o se publicó."
    ),
    422: refusal("Falta el motivo (o es demasiado largo)."),
}


@router.post(
    "/necesidades/{necesidad}/cancelar",
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
    need_id: NeedId,
    body: CancelIn,
    request: Request,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    need = actions.cancel_need(office, viewer, need_id, body.motivo)
    return NeedSummaryOut.of(need, None, base_of(request))


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
                    "texto_alternativo": {
                        "type": "string",
                        "description": "Texto alternativo: obligatorio para imágenes.",
                    },
                    "nota": {"type": "string", "description": "Nota para la Jefe OAC."},
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
    "/necesidades/{necesidad}/diseno",
    response_model=RevisionOut,
    status_code=201,
    responses={
        **WRITE_ERRORS,
        413: refusal("Archivo más grande que el máximo."),
        415: refusal("Tipo de archivo no admitido (se reconoce por su contenido)."),
    },
    summary="Actividad 10: cargar el diseño (o rediseño) de la pieza",
    description="Imagen, PDF o video; el tipo se reconoce por el contenido, se guarda fuera del sitio web con "
    "un nombre generado y su SHA-256. " + roles_text(P.TECHNICIAN),
    openapi_extra={**roles(P.TECHNICIAN), "requestBody": UPLOAD_BODY},
)
async def upload_design(
    need_id: NeedId,
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
            form.fields.get("texto_alternativo", "").replace("\r\n", "\n"),
            form.fields.get("nota", "").replace("\r\n", "\n"),
        )
    finally:
        await asyncio.to_thread(form.discard)
    deliver_later(tasks, office, mail, need_id)
    return RevisionOut.of(rev, base_of(request))


@router.get(
    "/necesidades/{necesidad}/disenos/{revision}/archivo",
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
    need_id: NeedId, revision_id: RevisionId, descargar: bool = False, office: Office = Depends(get_office)
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
    404: refusal("El registro de publicación no existe."),
    409: refusal(
        "El registro no está «sin_confirmar»: ya publicado, ya autorizado, enviándose o fallido "
        "(este se reintenta desde Airflow)."
    ),
    422: refusal("Enlace que no es https://, o falta marcar `revisado`."),
}


@router.post(
    "/publicaciones/{publicacion}/confirmar",
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
    publication_id: PublicationId,
    body: ConfirmPublicationIn,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    return PublicationOut.of(actions.confirm_publication(office, viewer, publication_id, body.url, body.id_plataforma))


@router.post(
    "/publicaciones/{publicacion}/reintentar",
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
    publication_id: PublicationId,
    body: RetryPublicationIn,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    return PublicationOut.of(actions.allow_publication_retry(office, viewer, publication_id, body.revisado))


@router.get(
    "/necesidades/{necesidad}/expediente",
    summary="Expediente (Ley 1712 de 2014) en JSON",
    description="Todo lo registrado: necesidad, documentos, revisiones, decisiones, publicaciones, correos y "
    "trazabilidad. " + roles_text(*actions.ANY_ROLE),
    openapi_extra=roles(*actions.ANY_ROLE),
)
def record(need_id: NeedId, office: Office = Depends(get_office)) -> dict:
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
    return CheckOut.of(actions.check(body.canal, body.texto, body.titulo, [m.media_info() for m in body.medios]))


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
    return [CalendarEntryOut.of(e, base) for e in m.entries]
