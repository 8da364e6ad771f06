"""The Red Distrital's joint actions in the forms: the day's agenda, the head's decision, the daily summary.

A page per day (what was asked, what each channel would post, what the agency joined, declined and why,
what still waits) and a page per action with the head's decision (join / decline with a reason /
adapt); the same decision as JSON under /api/red-distrital. The decision is the domain's
(:func:`cvp.joint_actions.decide`): only the head, once, with who and when.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from cvp import joint_actions as J
from cvp import procedure as P
from cvp.config import bogota_date
from cvp.errors import CvpError, InvalidInput
from cvp.office import Office
from cvp_airflow.web.inputs import RecordId, ShownJSONResponse, Text, form_text
from cvp_airflow.web.pages import render
from cvp_airflow.web.security import Viewer, csrf_protect, current_viewer
from cvp_airflow.web.services import get_office

log = logging.getLogger(__name__)

ActionId = Annotated[RecordId, PathParam(alias="accion", description="Número de la acción conjunta.")]

router = APIRouter(include_in_schema=False, dependencies=[Depends(current_viewer)])
api_router = APIRouter(
    prefix="/api/red-distrital",
    tags=["Red Distrital"],
    dependencies=[Depends(current_viewer)],
    default_response_class=ShownJSONResponse,
)

NOTICES = {
    J.JOIN: "Decisión registrada: la OAC se une a la acción conjunta; se publicará una sola vez en cada canal.",
    J.DECLINE: "Decisión registrada: la OAC declina la acción conjunta; el motivo quedó en el registro.",
    J.ADAPT: "Decisión registrada: la acción se adapta; se abrirá una necesidad de comunicación puntual con sus datos.",
    "ya_registrada": "Esa decisión ya estaba registrada: no se registró otra.",
}


def _day(raw: str | None) -> date:
    if not raw:
        return bogota_date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"La fecha «{raw}» no es válida (AAAA-MM-DD).") from None


def _decide(office: Office, viewer: Viewer, action_id: int, decision: str, reason: str) -> J.DecisionResult:
    out = J.decide(office, viewer.username, action_id, decision, reason)
    if not out.already_recorded:
        log.info("Joint action %s: %s by %s", action_id, decision, viewer.username)
    return out


# --- pages ---------------------------------------------------------------------------------------


def _render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    return render(
        request,
        template,
        status,
        DECISIONES=J.DECISIONS,
        red_notice=NOTICES.get(request.query_params.get("aviso_red", "")),
        **context,
    )


def _day_context(office: Office, day: date) -> dict:
    views = J.actions_of_day(office, day)
    by_status = {s: [v for v in views if v.status == s] for s in (J.JOIN, J.DECLINE, J.ADAPT, None)}
    return {
        "day": day,
        "views": views,
        "joined": by_status[J.JOIN],
        "declined": by_status[J.DECLINE],
        "adapted": by_status[J.ADAPT],
        "pending": by_status[None],
        "loads": J.loads_of_day(office, day),
        "plans": {v.action.id: J.plans(v.action) for v in views},
        "today": bogota_date(),
    }


@router.get("/red-distrital", response_class=HTMLResponse)
def day_page(request: Request, dia: str | None = None, office: Office = Depends(get_office)):
    return _render(request, "red_distrital.html.j2", **_day_context(office, _day(dia)))


def _action_context(office: Office, action_id: int) -> dict:
    view = J.action(office, action_id)
    return {"v": view, "plans": J.plans(view.action), "reason_max": J.REASON_MAX}


@router.get("/red-distrital/acciones/{accion}", response_class=HTMLResponse)
def action_page(request: Request, action_id: ActionId, office: Office = Depends(get_office)):
    return _render(
        request, "red_accion.html.j2", error=None, decision="", motivo="", **_action_context(office, action_id)
    )


@router.post("/red-distrital/acciones/{accion}", response_class=HTMLResponse)
async def action_submit(
    request: Request, action_id: ActionId, viewer: Viewer = Depends(csrf_protect), office: Office = Depends(get_office)
):
    form = await request.form()
    decision, reason = form_text(form, "decision"), form_text(form, "motivo")
    try:
        out = await asyncio.to_thread(_decide, office, viewer, action_id, decision, reason)
    except CvpError as exc:
        ctx = await asyncio.to_thread(_action_context, office, action_id)
        return await asyncio.to_thread(
            _render, request, "red_accion.html.j2", exc.status, error=exc, decision=decision, motivo=reason, **ctx
        )
    notice = "ya_registrada" if out.already_recorded else out.decision.decision
    day = (await asyncio.to_thread(J.action, office, action_id)).action.day
    base = request.scope.get("root_path", "").rstrip("/")
    return RedirectResponse(f"{base}/red-distrital?dia={day.isoformat()}&aviso_red={notice}", status_code=303)


# --- JSON ----------------------------------------------------------------------------------------


class PreviewOut(BaseModel):
    canal: str
    modo: str = Field(description="repost | cita | compartir | mensaje")
    nombre_modo: str
    texto: str
    objetivo: str = Field(description="El id de la publicación de X (repost, cita) o el enlace compartido")


class DecisionOut(BaseModel):
    decision: str
    motivo: str
    decidido_por: str
    decidido_en: datetime


class PostOut(BaseModel):
    canal: str
    modo: str
    estado: str
    url: str
    error: str


class ActionOut(BaseModel):
    id: int
    fecha: date
    entidad: str
    tema: str
    hashtag: str
    mensaje_sugerido: str
    enlace: str
    publicacion_a_amplificar: str
    canales: list[str]
    estado: str = Field(description="pendiente | unirse | declinar | adaptar")
    decision: DecisionOut | None
    vistas_previas: list[PreviewOut]
    publicaciones: list[PostOut]
    ejecucion_necesidad: str = Field(description="La ejecución de necesidad_comunicacion que abrió «adaptar»")

    @classmethod
    def of(cls, v: J.ActionView) -> ActionOut:
        a, d = v.action, v.decision
        return cls(
            id=a.id,
            fecha=a.day,
            entidad=a.entity,
            tema=a.theme,
            hashtag=a.hashtag,
            mensaje_sugerido=a.message,
            enlace=a.link,
            publicacion_a_amplificar=a.post_url,
            canales=list(a.channels),
            estado=v.status or "pendiente",
            decision=DecisionOut(
                decision=d.decision, motivo=d.reason, decidido_por=d.decided_by, decidido_en=d.decided_at
            )
            if d
            else None,
            vistas_previas=[
                PreviewOut(canal=p.channel, modo=p.mode, nombre_modo=p.mode_name, texto=p.text, objetivo=p.target)
                for p in J.plans(a)
            ],
            publicaciones=[
                PostOut(canal=p.channel, modo=p.mode, estado=p.state, url=p.url, error=p.error) for p in v.posts
            ],
            ejecucion_necesidad=a.need_run_id,
        )


class DecisionIn(BaseModel):
    decision: Literal["unirse", "declinar", "adaptar"]
    motivo: Text = Field("", max_length=J.REASON_MAX, description="Obligatorio para declinar")


class DecisionResultOut(BaseModel):
    accion: ActionOut
    ya_registrada: bool


@api_router.get("/acciones", response_model=list[ActionOut], summary="Acciones conjuntas de un día")
def list_actions(dia: str | None = None, office: Office = Depends(get_office)) -> list[ActionOut]:
    return [ActionOut.of(v) for v in J.actions_of_day(office, _day(dia))]


@api_router.get("/acciones/{accion}", response_model=ActionOut, summary="Una acción conjunta")
def get_action(action_id: ActionId, office: Office = Depends(get_office)) -> ActionOut:
    return ActionOut.of(J.action(office, action_id))


@api_router.post(
    "/acciones/{accion}/decision",
    response_model=DecisionResultOut,
    status_code=201,
    summary="Decisión de la Jefe OAC: unirse, declinar (con motivo) o adaptar",
    description="Solo la Jefe OAC; una decisión registrada no se cambia (409); repetir la misma no registra otra "
    "(200). Roles: " + P.ROLE_NAMES[P.HEAD] + ".",
)
def decide(
    action_id: ActionId,
    body: DecisionIn,
    response: Response,
    viewer: Viewer = Depends(csrf_protect),
    office: Office = Depends(get_office),
) -> DecisionResultOut:
    out = _decide(office, viewer, action_id, body.decision, body.motivo)
    if out.already_recorded:
        response.status_code = 200
    return DecisionResultOut(accion=ActionOut.of(J.action(office, action_id)), ya_registrada=out.already_recorded)
