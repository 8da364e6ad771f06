"""The forms' pages (Spanish, server-rendered, usable without JavaScript; the script only adds live checks).

Each page shows one moment of the procedure to the role that acts on it; a post calls the same
action as the JSON API, then redirects to the need's page (303) or shows the form again with the
person's input and the refusal, announced to screen readers.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from cvp import export, inbox, joint_actions
from cvp import procedure as P
from cvp import state as S
from cvp.config import TIMEZONE, settings
from cvp.errors import CvpError, InvalidInput
from cvp.mail import Mailer
from cvp.office import UPLOAD_TYPES, Office
from cvp.rendering import fecha
from cvp_airflow.web import actions, views
from cvp_airflow.web.api import base_of, receive_design
from cvp_airflow.web.channel_state import channel_board, need_warnings
from cvp_airflow.web.inputs import RecordId, form_instant, form_text, record_id, showable
from cvp_airflow.web.schemas import file_url
from cvp_airflow.web.security import CSRF_FIELD, Viewer, csrf_protect, csrf_token, current_viewer
from cvp_airflow.web.services import deliver_later, get_mailer, get_office
from cvp_airflow.web.uploads import ACCEPTED, max_upload_bytes
from cvp_airflow.web.waiting_line import broker_problem, waiting_line

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_viewer)])
STATIC_DIR = Path(__file__).parent / "static"

NOTICES = {
    "reunion_registrada": "Registro de reunión guardado (actividad 2).",
    "plan_registrado": "Plan de contenidos guardado (actividad 3).",
    "texto_presentado": "Texto presentado para aprobación de la Jefe OAC.",
    "texto_aprobado": "Texto aprobado (punto de control 7): pasa al Técnico Operativo para el diseño.",
    "texto_devuelto": "Texto devuelto con su comentario al Profesional Universitario.",
    "diseno_cargado": "Diseño cargado y enviado para aprobación de la Jefe OAC.",
    "diseno_aprobado": "Diseño aprobado (punto de control 12): la pieza pasa a publicación.",
    "diseno_devuelto": "Diseño devuelto con su comentario al Técnico Operativo.",
    "ya_registrada": "Esa decisión ya estaba registrada: no se registró otra.",
    "publicacion_confirmada": "Publicación confirmada: quedó registrada como publicada, con su enlace, a su nombre. "
    "Limpie la tarea «14. Publicar la pieza comunicativa» de ese canal en Airflow para que "
    "la ejecución termine (no se vuelve a publicar).",
    "reenvio_autorizado": "Reenvío autorizado: la publicación volvió a «pendiente». Limpie la tarea «14. Publicar la "
    "pieza comunicativa» de ese canal en Airflow para que se envíe.",
    "necesidad_cancelada": "Necesidad cancelada: los pasos pendientes terminan sin realizarse, no se publica nada y "
    "el motivo quedó en el expediente a su nombre.",
}


# --- rendering -----------------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _env(templates_dir: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fecha"] = fecha
    env.filters["miles"] = lambda n: f"{n:,}".replace(",", ".") if isinstance(n, int) else n
    env.filters["tamano"] = _size
    env.globals.update(
        P=P,
        CANALES=P.CHANNELS,
        ROLES=P.ROLE_NAMES,
        ACTIVIDADES=P.ACTIVITY,
        V=views,
        FUENTES=P.SOURCES,
        PUBLICOS=P.AUDIENCES,
        DEPENDENCIAS=P.DEPARTMENTS,
    )
    return env


def _size(n: int) -> str:
    if n >= 1048576:
        return f"{n / 1048576:.1f} MB".replace(".", ",")
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


@lru_cache(maxsize=1)
def _static_version() -> str:
    """Cache-busting suffix of the static files (they change only with a deployment and a restart)."""
    stamps = [int(p.stat().st_mtime) for p in STATIC_DIR.iterdir() if p.is_file()]
    return str(max(stamps, default=0))


def render(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    viewer: Viewer | None = getattr(request.state, "cvp_viewer", None)
    base = base_of(request)
    notice = NOTICES.get(request.query_params.get("aviso", ""))
    html = (
        _env(str(settings().templates_dir))
        .get_template(f"web/{template}")
        .render(
            request=request,
            viewer=viewer,
            base=base,
            csrf=csrf_token(viewer.username) if viewer else "",
            csrf_field=CSRF_FIELD,
            airflow_url=base.rsplit("/", 1)[0] + "/",
            static_version=_static_version(),
            notice=notice,
            current_path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(showable(html), status_code=status_code)  # rows kept before the refusal at the door


def error_page(request: Request, status_code: int, message: str, details: list[str] | None = None) -> HTMLResponse:
    return render(request, "error.html.j2", status_code, message=message, details=details or [], status=status_code)


def to_need(request: Request, need_id: int, notice: str) -> RedirectResponse:
    return RedirectResponse(f"{base_of(request)}/necesidades/{need_id}?aviso={notice}", status_code=303)


def _need_context(office: Office, need_id: int) -> dict:
    """The need's file and where it stands: every form offers only what the procedure allows now (cvp.state)."""
    f = views.need_file(office, need_id)
    return {"f": f, "need": f.need, "step": f.step, "standing": f.standing}


# --- inbox, list, need page ----------------------------------------------------------------------

OTHERS_PAGE = 20  # the inbox shows the longest waits of the others; the need list has them all
ROLE_ACTIVITIES = {P.HEAD: (2, 3, 7, 12, 14), P.PROFESSIONAL: (5, 8, 14), P.TECHNICIAN: (10,)}
WAITING_ROLES = (P.HEAD, P.PROFESSIONAL, P.TECHNICIAN, P.SYSTEM)


def _activity(value: str | None) -> int | None:
    """An activity filter from the query string (1 to 14); anything else shows every activity."""
    return int(value) if value and value.isdigit() and 1 <= int(value) <= 14 else None


def _next_url(request: Request, key: str | None, name: str = "desde") -> str | None:
    return str(request.url.include_query_params(**{name: key})) if key else None


def _first_url(request: Request, name: str = "desde") -> str | None:
    return str(request.url.remove_query_params(name)) if request.query_params.get(name) else None


@router.get("/", response_class=HTMLResponse)
def inbox_page(
    request: Request,
    desde: str | None = None,
    otras: str | None = None,
    actividad: str | None = None,
    viewer: Viewer = Depends(current_viewer),
    office: Office = Depends(get_office),
):
    activity = _activity(actividad)
    with office.session() as s:
        mine = inbox.inbox_page(s, viewer.username, viewer.role, after=desde, activity=activity)
        others = inbox.others_page(
            s,
            viewer.username,
            viewer.role,
            after=otras,
            limit=OTHERS_PAGE,
            mine_total=mine.total if activity is None else None,
        )
    return render(
        request,
        "inbox.html.j2",
        channels=channel_board(office, viewer),
        mine=mine.items,
        others=others.items,
        mine_page=mine,
        others_page=others,
        mine_next=_next_url(request, mine.next),
        mine_first=_first_url(request),
        others_next=_next_url(request, others.next, "otras"),
        after=desde,
        actividad=activity,
        activities=ROLE_ACTIVITIES.get(viewer.role, ()),
        today=inbox.today_bogota(),
        now=datetime.now(TIMEZONE),
        line=waiting_line(),
        broker=broker_problem(),
        joint_actions=joint_actions.waiting(office) if viewer.role == P.HEAD else [],
    )


@router.get("/necesidades", response_class=HTMLResponse)
def needs_page(
    request: Request,
    estado: str = "en_curso",
    rol: str | None = None,
    actividad: str | None = None,
    desde: str | None = None,
    office: Office = Depends(get_office),
):
    estado = estado if estado in inbox.NEED_STATES else "en_curso"
    rol = rol if rol in WAITING_ROLES else None
    activity = _activity(actividad)
    with office.session() as s:
        page = inbox.needs_page(s, status=estado, role=rol, activity=activity, after=desde)
    return render(
        request,
        "needs.html.j2",
        rows=page.items,
        page=page,
        estado=estado,
        rol=rol,
        actividad=activity,
        waiting_roles=WAITING_ROLES,
        activities=range(1, 15),
        next_url=_next_url(request, page.next),
        first_url=_first_url(request),
        today=inbox.today_bogota(),
        line=waiting_line(),
        broker=broker_problem(),
        refused=office.refused_needs(10),
    )


def _need_page_context(
    request: Request, office: Office, need_id: int, pub_error: dict | None = None, cancel_error: dict | None = None
) -> dict:
    ctx = _need_context(office, need_id)
    f = ctx["f"]
    publications = office.publications(need_id)
    ctx.update(
        text_diff=views.text_diff(f.previous_text, f.current_text) if f.current_text else [],
        publications=publications,
        documents=office.documents(need_id),
        file_url=lambda rev: file_url(base_of(request), rev),
        today=inbox.today_bogota(),
        publication_roles=actions.PUBLICATION_ROLES,
        pub_error=pub_error or {"id": None, "form": "", "error": None, "url": "", "remote_id": ""},
        cancellable=f.standing.allows(S.CANCEL),  # the rule Office.cancel_need applies
        cancel_roles=actions.CANCEL_ROLES,
        reason_max=actions.CANCEL_REASON_MAX,
        cancel_error=cancel_error or {"error": None, "motivo": ""},
        channel_warnings=need_warnings(office, f.need),
    )
    return ctx


@router.get("/necesidades/{need_id}", response_class=HTMLResponse)
def need_page(request: Request, need_id: RecordId, office: Office = Depends(get_office)):
    return render(request, "need.html.j2", **_need_page_context(request, office, need_id))


# --- the head withdraws a need still in course ---------------------------------------------------


@router.post("/necesidades/{need_id}/cancelar", response_class=HTMLResponse)
async def cancel_need(
    request: Request, need_id: RecordId, viewer: Viewer = Depends(csrf_protect), office: Office = Depends(get_office)
):
    form = await request.form()
    reason = form_text(form, "motivo")
    try:
        await asyncio.to_thread(actions.cancel_need, office, viewer, need_id, reason)
    except CvpError as exc:
        ctx = await asyncio.to_thread(
            _need_page_context, request, office, need_id, cancel_error={"error": exc, "motivo": reason}
        )
        return await asyncio.to_thread(render, request, "need.html.j2", exc.status, **ctx)
    return to_need(request, need_id, "necesidad_cancelada")


# --- activity 14: publications whose outcome is unknown ------------------------------------------


@router.post("/necesidades/{need_id}/publicaciones/{publication_id}/confirmar", response_class=HTMLResponse)
async def confirm_publication(
    request: Request,
    need_id: RecordId,
    publication_id: RecordId,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    form = await request.form()
    url, remote_id = form_text(form, "url").strip(), form_text(form, "remote_id").strip()
    try:
        await asyncio.to_thread(actions.confirm_publication, office, viewer, publication_id, url, remote_id, need_id)
    except CvpError as exc:
        ctx = await asyncio.to_thread(
            _need_page_context,
            request,
            office,
            need_id,
            {"id": publication_id, "form": "confirmar", "error": exc, "url": url, "remote_id": remote_id},
        )
        return await asyncio.to_thread(render, request, "need.html.j2", exc.status, **ctx)
    return to_need(request, need_id, "publicacion_confirmada")


@router.post("/necesidades/{need_id}/publicaciones/{publication_id}/reintentar", response_class=HTMLResponse)
async def retry_publication(
    request: Request,
    need_id: RecordId,
    publication_id: RecordId,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
):
    form = await request.form()
    reviewed = form.get("revisado") == "si"
    try:
        await asyncio.to_thread(actions.allow_publication_retry, office, viewer, publication_id, reviewed, need_id)
    except CvpError as exc:
        ctx = await asyncio.to_thread(
            _need_page_context,
            request,
            office,
            need_id,
            {"id": publication_id, "form": "reintentar", "error": exc, "url": "", "remote_id": ""},
        )
        return await asyncio.to_thread(render, request, "need.html.j2", exc.status, **ctx)
    return to_need(request, need_id, "reenvio_autorizado")


# --- activities 2 and 3 --------------------------------------------------------------------------


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").splitlines() if line.strip()]


def _document_form(kind: str):
    fields = actions.MEETING_FIELDS if kind == "reunion" else actions.PLAN_FIELDS
    allowed = actions.MEETING_ROLES if kind == "reunion" else actions.PLAN_ROLES
    template = "meeting.html.j2"

    def get(
        request: Request,
        need_id: RecordId,
        viewer: Viewer = Depends(current_viewer),
        office: Office = Depends(get_office),
    ):
        office.team.require(viewer.username, *allowed)
        ctx = _need_context(office, need_id)
        blocked = ctx["standing"].refusals.get(S.MEETING if kind == "reunion" else S.PLAN)
        return render(
            request,
            template,
            kind=kind,
            es_reunion=kind == "reunion",
            fields=fields,
            values={},
            error=None,
            blocked=blocked,
            **ctx,
        )

    async def post(
        request: Request,
        need_id: RecordId,
        tasks: BackgroundTasks,
        viewer: Viewer = Depends(csrf_protect),
        office: Office = Depends(get_office),
        mail: Mailer = Depends(get_mailer),
    ):
        form = await request.form()
        values = {k: form_text(form, k) for k in fields}
        data = {k: _lines(v) for k, v in values.items()}
        action = actions.record_meeting if kind == "reunion" else actions.record_plan
        try:
            await asyncio.to_thread(action, office, viewer, need_id, data)
        except CvpError as exc:
            ctx = await asyncio.to_thread(_need_context, office, need_id)
            return await asyncio.to_thread(
                render,
                request,
                template,
                exc.status,
                kind=kind,
                es_reunion=kind == "reunion",
                fields=fields,
                values=values,
                error=exc,
                blocked=None,
                **ctx,
            )
        deliver_later(tasks, office, mail, need_id)
        return to_need(request, need_id, "reunion_registrada" if kind == "reunion" else "plan_registrado")

    return get, post


for _kind in ("reunion", "plan"):
    _get, _post = _document_form(_kind)
    router.add_api_route(f"/necesidades/{{need_id}}/{_kind}", _get, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/necesidades/{{need_id}}/{_kind}", _post, methods=["POST"], response_class=HTMLResponse)


# --- activities 5 and 8: the editor --------------------------------------------------------------


def _editor_context(
    office: Office, need_id: int, texts: dict | None = None, title: str | None = None, note: str = ""
) -> dict:
    ctx = _need_context(office, need_id)
    f = ctx["f"]
    current = f.current_text
    editable = f.standing.allows(S.TEXT)
    if texts is None:
        texts = dict(current.texts) if current is not None else office.drafts(need_id)
    if title is None:
        title = current.title if current is not None and current.title else f.need.title
    checks = {c: actions.check(c, texts.get(c, ""), title) for c in f.need.channels}
    ctx.update(
        editable=editable,
        texts=texts,
        title=title,
        note=note,
        checks=checks,
        returned=f.last_returned_text if editable else None,
        limits=actions.LENGTH_LIMITS,
        blocked=f.standing.refusals.get(S.TEXT),
    )
    return ctx


@router.get("/necesidades/{need_id}/texto", response_class=HTMLResponse)
def editor_page(
    request: Request, need_id: RecordId, viewer: Viewer = Depends(current_viewer), office: Office = Depends(get_office)
):
    office.team.require(viewer.username, P.PROFESSIONAL)
    return render(request, "editor.html.j2", error=None, **_editor_context(office, need_id))


@router.post("/necesidades/{need_id}/texto", response_class=HTMLResponse)
async def editor_submit(
    request: Request,
    need_id: RecordId,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    form = await request.form()
    need = await asyncio.to_thread(office.need, need_id)
    texts = {c: form_text(form, f"texto_{c}") for c in need.channels}
    title, note = form_text(form, "titulo"), form_text(form, "nota")
    try:
        await asyncio.to_thread(actions.submit_text, office, viewer, need_id, texts, title, note)
    except CvpError as exc:
        ctx = await asyncio.to_thread(_editor_context, office, need_id, texts, title, note)
        return await asyncio.to_thread(render, request, "editor.html.j2", exc.status, error=exc, **ctx)
    deliver_later(tasks, office, mail, need_id)
    return to_need(request, need_id, "texto_presentado")


# --- control points 7 and 12: the head's reviews -------------------------------------------------


def _review_context(request: Request, office: Office, need_id: int, kind: str) -> dict:
    ctx = _need_context(office, need_id)
    f = ctx["f"]
    base = base_of(request)
    if kind == P.TEXT:
        current, previous = f.current_text, f.previous_text
        text = current
    else:
        current, previous = f.current_design, f.previous_design
        text = f.approved_text
    action = S.TEXT_DECISION if kind == P.TEXT else S.DESIGN_DECISION
    ctx.update(
        kind=kind,
        current=current,
        previous=previous,
        text=text,
        pending=current is not None and current.state == "presentado" and f.standing.allows(action),
        blocked=f.standing.refusals.get(action),
        diff=views.text_diff(previous, current) if kind == P.TEXT and current else [],
        media=views.media_of(current, file_url(base, current)) if kind == P.DESIGN and current else None,
        previous_media=views.media_of(previous, file_url(base, previous)) if kind == P.DESIGN and previous else None,
        previews=[views.preview(c, text.texts.get(c, ""), text.title) for c in f.need.channels] if text else [],
        control_point=7 if kind == P.TEXT else 12,
        es_texto=kind == P.TEXT,
    )
    return ctx


def _review(kind: str):
    template = "review.html.j2"
    control_point = 7 if kind == P.TEXT else 12

    def get(
        request: Request,
        need_id: RecordId,
        viewer: Viewer = Depends(current_viewer),
        office: Office = Depends(get_office),
    ):
        office.team.require(viewer.username, P.HEAD)
        return render(
            request, template, error=None, comment="", publish_at="", **_review_context(request, office, need_id, kind)
        )

    async def post(
        request: Request,
        need_id: RecordId,
        tasks: BackgroundTasks,
        viewer: Viewer = Depends(csrf_protect),
        office: Office = Depends(get_office),
        mail: Mailer = Depends(get_mailer),
    ):
        form = await request.form()
        comment = form_text(form, "comentario")
        publish_raw = form_text(form, "publicar_en").strip()
        try:
            revision_id = record_id(form.get("revision_id", ""))
            decision = str(form.get("decision", ""))
            publish_at = None
            if publish_raw:
                try:
                    publish_at = datetime.fromisoformat(publish_raw)
                except ValueError:
                    raise InvalidInput("La fecha y hora de publicación no es válida (AAAA-MM-DD HH:MM).") from None
                publish_at = form_instant(publish_at if publish_at.tzinfo else publish_at.replace(tzinfo=TIMEZONE))
            out = await asyncio.to_thread(
                actions.decide, office, viewer, need_id, revision_id, control_point, decision, comment, publish_at
            )
        except CvpError as exc:
            ctx = await asyncio.to_thread(_review_context, request, office, need_id, kind)
            return await asyncio.to_thread(
                render, request, template, exc.status, error=exc, comment=comment, publish_at=publish_raw, **ctx
            )
        deliver_later(tasks, office, mail, need_id)
        notice = "ya_registrada" if out.already_recorded else f"{kind}_{out.decision.decision}"
        return to_need(request, need_id, notice)

    return get, post


for _kind, _path in ((P.TEXT, "revision-texto"), (P.DESIGN, "revision-diseno")):
    _get, _post = _review(_kind)
    router.add_api_route(f"/necesidades/{{need_id}}/{_path}", _get, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(f"/necesidades/{{need_id}}/{_path}", _post, methods=["POST"], response_class=HTMLResponse)


# --- activity 10: the design upload --------------------------------------------------------------


def _upload_context(request: Request, office: Office, need_id: int, alt_text: str = "", note: str = "") -> dict:
    ctx = _need_context(office, need_id)
    f = ctx["f"]
    base = base_of(request)
    current = f.current_design
    text_ok = f.current_text is not None and f.current_text.state == P.APPROVED
    editable = f.standing.allows(S.DESIGN)
    ctx.update(
        current=current,
        editable=editable,
        text_ok=text_ok,
        text=f.approved_text,
        media=views.media_of(current, file_url(base, current)) if current else None,
        returned=f.last_returned_design if editable else None,
        alt_text=alt_text,
        note=note,
        blocked=f.standing.refusals.get(S.DESIGN),
        max_bytes=max_upload_bytes(),
        accepted=ACCEPTED,
        accept=",".join([*UPLOAD_TYPES, *sorted(set(UPLOAD_TYPES.values())), ".jpeg"]),
    )
    return ctx


@router.get("/necesidades/{need_id}/diseno", response_class=HTMLResponse)
def upload_page(
    request: Request, need_id: RecordId, viewer: Viewer = Depends(current_viewer), office: Office = Depends(get_office)
):
    office.team.require(viewer.username, P.TECHNICIAN)
    return render(request, "upload.html.j2", error=None, **_upload_context(request, office, need_id))


@router.post("/necesidades/{need_id}/diseno", response_class=HTMLResponse)
async def upload_submit(
    request: Request,
    need_id: RecordId,
    tasks: BackgroundTasks,
    viewer: Viewer = Depends(current_viewer),
    office: Office = Depends(get_office),
    mail: Mailer = Depends(get_mailer),
):
    form = None
    try:
        await asyncio.to_thread(office.team.require, viewer.username, P.TECHNICIAN)
        form = await receive_design(request, viewer, office)
        await asyncio.to_thread(
            actions.submit_design,
            office,
            viewer,
            need_id,
            form.path,
            form.filename,
            form_text(form.fields, "alt_text"),
            form_text(form.fields, "note"),
        )
    except CvpError as exc:
        fields = form.fields if form else getattr(exc, "fields", {})
        ctx = await asyncio.to_thread(
            _upload_context, request, office, need_id, fields.get("alt_text", ""), fields.get("note", "")
        )
        return await asyncio.to_thread(render, request, "upload.html.j2", exc.status, error=exc, **ctx)
    finally:
        if form is not None:
            await asyncio.to_thread(form.discard)
    deliver_later(tasks, office, mail, need_id)
    return to_need(request, need_id, "diseno_cargado")


# --- export, calendar, API documentation ---------------------------------------------------------


@router.get("/necesidades/{need_id}/expediente", response_class=HTMLResponse)
def record_page(need_id: RecordId, descargar: bool = False, office: Office = Depends(get_office)):
    html = showable(export.record_html(office, need_id))
    headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"}
    if descargar:
        headers["Content-Disposition"] = f'attachment; filename="expediente-necesidad-{need_id}.html"'
    return HTMLResponse(html, headers=headers)


@router.get("/calendario", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    mes: str | None = None,
    canal: str | None = None,
    tipo: str | None = None,
    dia: str | None = None,
    desde: str | None = None,
    office: Office = Depends(get_office),
):
    canal = canal if canal in P.CHANNELS else None
    tipo = tipo if tipo in inbox.KIND_NAMES else None
    year, month = views.parse_month(mes)
    m = views.month(office, year, month, canal, kind=tipo, day=views.parse_day(dia, year, month), after=desde)
    m.next_url, m.first_url = _next_url(request, m.next_key), _first_url(request)
    return render(
        request, "calendar.html.j2", month=m, canal=canal, tipo=tipo, kinds=inbox.KIND_NAMES, weekdays=views.WEEKDAYS
    )


@router.get("/documentacion-api", response_class=HTMLResponse)
def api_docs_page(request: Request):
    doc = request.app.openapi()
    operations = []
    for path, methods in doc.get("paths", {}).items():
        for method, op in methods.items():
            operations.append(
                {
                    "method": method.upper(),
                    "path": base_of(request) + path,
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "roles": [P.ROLE_NAMES[r] for r in op.get("x-cvp-roles", [])],
                }
            )
    return render(
        request, "api_docs.html.j2", operations=operations, openapi_url=f"{base_of(request)}/api/openapi.json"
    )


def static_response(name: str) -> Response:
    from fastapi.responses import FileResponse

    from cvp.errors import NotFound

    types = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
    missing = NotFound("No existe ese recurso.")
    if len(name) > 100 or "/" in name or "\0" in name or name.startswith("."):
        raise missing  # a name past the file system's limit raised OSError (a 500)
    path = STATIC_DIR / name
    try:
        if path.suffix not in types or not path.is_file():
            raise missing
    except (OSError, ValueError):
        raise missing from None
    return FileResponse(path, media_type=types[path.suffix], headers={"Cache-Control": "private, max-age=3600"})
