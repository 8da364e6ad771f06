"""The shapes of the forms' JSON API (/cvp/api): what a client sends and what it reads back.

Every field name is Spanish, as the office speaks (ASCII, snake_case), and means the same in every
shape; the error body keeps FastAPI's ``detail`` because tools look for it. One vocabulary::

    need (its number)      necesidad           run_id of Airflow      ejecucion
    title, description     titulo, descripcion status, state          estado
    channel, channels      canal, canales      role, its name         rol, nombre_rol
    activity               actividad           control point          punto_control
    revision (its id)      revision            revision number        numero_revision
    comment, note          comentario, nota    texts by channel       textos
    since, deadline        desde, fecha_limite publish at             publicar_en
    created, updated at    creado_en, ...      when it happened       fecha
    kind, number, author   tipo, numero, autor findings of the checks hallazgos

Values keep their codes: channel keys (``x``, ``sitio_web``), states (``en_curso``), roles
(``jefe_oac``), severities (``error``, ``warning``, ``info``) and finding codes. Each output shape
knows how to build itself from the domain's object (``of``), so the routes in api.py stay routes.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from cvp import inbox
from cvp import procedure as P
from cvp.checks.findings import finding_es
from cvp.records.models import Decision, Need, Publication, Revision
from cvp_airflow.web import actions
from cvp_airflow.web.inputs import Instant, RecordId, Text
from cvp_airflow.web.security import CSRF_HEADER

Channel = Literal["x", "facebook", "instagram", "youtube", "sitio_web"]

#: The error classes of the domain and of the web layer, as the error body's ``codigo`` names them.
ERROR_CODES = {
    "InvalidInput": "datos_invalidos",
    "NotFound": "no_encontrado",
    "Conflict": "conflicto",
    "PermissionDenied": "sin_permiso",
    "Unavailable": "no_disponible",
    "StorageUnavailable": "almacenamiento_no_disponible",
    "NotAuthenticated": "sin_sesion",
    "HTTPError": "error_http",
}


def error_code(name: str) -> str:
    """The ``codigo`` of an error class (its own name, snake_case, when it has no Spanish one)."""
    return ERROR_CODES.get(name) or "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def error_body(message: str, details: list[str], code: str) -> dict:
    """The body of every refusal of the API (see ErrorOut)."""
    return {"detail": message, "detalles": details, "codigo": error_code(code)}


class ErrorOut(BaseModel):
    detail: str = Field(description="Qué pasó y qué hacer, en español (nombre estándar de FastAPI).")
    detalles: list[str] = Field(default_factory=list, description="Cada problema, p. ej. «textos.x: falta este dato».")
    codigo: str = Field(description="Clase de error: " + ", ".join(sorted(set(ERROR_CODES.values()))) + ".")


# --- who I am ------------------------------------------------------------------------------------


class MeOut(BaseModel):
    usuario: str
    rol: str
    nombre_rol: str
    nombre: str
    codigo_csrf: str = Field(description=f"Para el encabezado `{CSRF_HEADER}` de las escrituras con cookie.")


# --- needs, steps and their file -----------------------------------------------------------------


def need_url(base: str, need_id: int) -> str:
    return f"{base}/necesidades/{need_id}"


class StepOut(BaseModel):
    necesidad: int = Field(description="Número de la necesidad.")
    titulo: str
    rol: str = Field(description="A quién espera: jefe_oac, profesional, tecnico o sistema.")
    nombre_rol: str
    actividad: int
    nombre_actividad: str
    etiqueta: str = Field(description="Qué hay que hacer, en una frase.")
    desde: datetime
    fecha_limite: date
    dias_esperando: int
    dias_restantes: int = Field(description="Días hasta la fecha límite (negativo: vencida).")
    revision: int | None = Field(description="La revisión que espera una decisión o fue devuelta, si la hay.")
    numero_revision: int | None
    comentario: str = Field(description="El comentario de la Jefe OAC cuando el paso sigue a una devolución.")
    url: str

    @classmethod
    def of(cls, st: inbox.Step, base: str) -> StepOut:
        now, today = datetime.now(st.since.tzinfo), inbox.today_bogota()
        return cls(
            necesidad=st.need_id,
            titulo=st.title,
            rol=st.role,
            nombre_rol=P.ROLE_NAMES[st.role],
            actividad=st.activity,
            nombre_actividad=P.ACTIVITY[st.activity].name,
            etiqueta=st.label,
            desde=st.since,
            fecha_limite=st.deadline,
            dias_esperando=st.days_waiting(now),
            dias_restantes=st.days_left(today),
            revision=st.revision_id,
            numero_revision=st.revision_number,
            comentario=st.comment,
            url=need_url(base, st.need_id),
        )


class DecisionOut(BaseModel):
    punto_control: int
    decision: str = Field(description="aprobado o devuelto.")
    comentario: str
    decidido_por: str
    decidido_en: datetime
    publicar_en: datetime | None

    @classmethod
    def of(cls, d: Decision) -> DecisionOut:
        return cls(
            punto_control=d.control_point,
            decision=d.decision,
            comentario=d.comment,
            decidido_por=d.decided_by,
            decidido_en=d.decided_at,
            publicar_en=d.publish_at,
        )


class FindingOut(BaseModel):
    codigo: str = Field(description="Código estable del hallazgo, p. ej. `x.length`.")
    severidad: Literal["error", "warning", "info"]
    mensaje: str
    canal: str | None = None
    inicio: int | None = Field(None, description="Posición (carácter) donde empieza, si aplica.")
    fin: int | None = None
    sugerencia: str | None = None
    campo: str | None = Field(None, description="«texto» o «titulo» (YouTube): a qué se refieren las posiciones.")

    @classmethod
    def of(cls, f: dict) -> FindingOut:
        """From a finding as the checks give it and the revisions keep it (``Finding.to_dict``)."""
        return cls(**finding_es(f))


def file_url(base: str, rev: Revision) -> str:
    return f"{base}/api/necesidades/{rev.need_id}/disenos/{rev.id}/archivo"


def _decision_of(rev: Revision) -> Decision | None:
    """The revision's decision if it was loaded (a revision just submitted has none and is detached)."""
    from sqlalchemy import inspect as sa_inspect

    return None if "decision" in sa_inspect(rev).unloaded else rev.decision


class RevisionOut(BaseModel):
    id: int
    tipo: str = Field(description="texto o diseno.")
    numero: int
    estado: str
    autor: str
    creado_en: datetime
    titulo: str
    textos: dict[str, str] = Field(description="Texto por canal (revisiones de texto).")
    nota: str
    hallazgos: list[FindingOut] = Field(description="Lo que encontró la revisión previa al presentarla.")
    nombre_archivo: str
    tipo_medio: str = Field(description="Tipo MIME del diseño reconocido por su contenido.")
    tamano: int = Field(description="Bytes del diseño.")
    sha256: str
    texto_alternativo: str
    decision: DecisionOut | None
    url_archivo: str | None

    @classmethod
    def of(cls, rev: Revision, base: str) -> RevisionOut:
        decision = _decision_of(rev)
        return cls(
            id=rev.id,
            tipo=rev.kind,
            numero=rev.number,
            estado=rev.state,
            autor=rev.author,
            creado_en=rev.created_at,
            titulo=rev.title,
            textos=rev.texts or {},
            nota=rev.note,
            hallazgos=[FindingOut.of(f) for f in rev.checks or []],
            nombre_archivo=rev.filename,
            tipo_medio=rev.media_type,
            tamano=rev.size,
            sha256=rev.sha256,
            texto_alternativo=rev.alt_text,
            decision=DecisionOut.of(decision) if decision else None,
            url_archivo=file_url(base, rev) if rev.kind == P.DESIGN else None,
        )


class EventOut(BaseModel):
    actividad: int
    accion: str
    actor: str
    fecha: datetime
    resumen: str
    detalle: dict = Field(description="Datos del evento (claves en español, p. ej. `canal`, `documento`).")


class TimelineOut(BaseModel):
    actividad: int
    nombre: str
    rol: str
    estado: str
    eventos: list[EventOut]

    @classmethod
    def of(cls, t) -> TimelineOut:
        return cls(
            actividad=t.activity,
            nombre=t.name,
            rol=t.role,
            estado=t.status,
            eventos=[
                EventOut(
                    actividad=e.activity,
                    accion=e.action,
                    actor=e.actor,
                    fecha=e.at,
                    resumen=e.summary,
                    detalle=e.detail or {},
                )
                for e in t.events
            ],
        )


class PublicationOut(BaseModel):
    id: int = Field(description="Número del registro de publicación (para confirmarla o autorizar el reenvío).")
    canal: str
    estado: str = Field(
        description="pendiente, enviando, publicado, sin_confirmar (espera a una persona) o "
        "fallido (se reintenta limpiando la tarea en Airflow)."
    )
    url: str
    id_plataforma: str = Field(description="Identificador de la publicación en la plataforma, si se conoce.")
    publicado_en: datetime | None
    error: str = Field(description="Por qué quedó sin confirmar o falló, si es el caso.")
    intentos: int
    actualizado_en: datetime

    @classmethod
    def of(cls, p: Publication) -> PublicationOut:
        return cls(
            id=p.id,
            canal=p.channel,
            estado=p.state,
            url=p.url,
            id_plataforma=p.remote_id,
            publicado_en=p.published_at,
            error=p.error,
            intentos=p.attempts,
            actualizado_en=p.updated_at,
        )


class NeedSummaryOut(BaseModel):
    id: int
    ejecucion: str | None = Field(description="run_id de la ejecución en Airflow que la abrió.")
    titulo: str
    estado: str = Field(description="en_curso, publicada o cancelada.")
    fecha_limite: date
    canales: list[str]
    accion_puntual: bool = Field(description="Acción puntual (verdadero) o necesidad planeada (falso).")
    publicar_en: datetime | None
    paso: StepOut | None = Field(description="El paso que espera, si sigue en curso.")
    url: str

    @staticmethod
    def fields_of(need: Need, step: inbox.Step | None, base: str) -> dict:
        return dict(
            id=need.id,
            ejecucion=need.run_id,
            titulo=need.title,
            estado=need.status,
            fecha_limite=need.deadline,
            canales=list(need.channels),
            accion_puntual=need.one_off,
            publicar_en=need.publish_at,
            paso=StepOut.of(step, base) if step else None,
            url=need_url(base, need.id),
        )

    @classmethod
    def of(cls, need: Need, step: inbox.Step | None, base: str) -> NeedSummaryOut:
        return cls(**cls.fields_of(need, step, base))


class NeedOut(NeedSummaryOut):
    descripcion: str
    fuente: str
    referencia_fuente: str
    publicos_interes: list[str]
    dependencia: str
    solicitado_por: str
    creado_en: datetime
    linea_tiempo: list[TimelineOut] = Field(description="Las 14 actividades con quién y cuándo.")
    revisiones: list[RevisionOut]
    publicaciones: list[PublicationOut]

    @classmethod
    def of_file(cls, f, publications: list[Publication], base: str) -> NeedOut:
        """From the need's file as the pages show it (views.need_file)."""
        n = f.need
        return cls(
            **NeedSummaryOut.fields_of(n, f.step, base),
            descripcion=n.description,
            fuente=n.source,
            referencia_fuente=n.source_reference,
            publicos_interes=list(n.audiences),
            dependencia=n.department,
            solicitado_por=n.requested_by,
            creado_en=n.created_at,
            linea_tiempo=[TimelineOut.of(t) for t in f.timeline],
            revisiones=[RevisionOut.of(r, base) for r in [*f.texts, *f.designs]],
            publicaciones=[PublicationOut.of(p) for p in publications],
        )


class DocumentOut(BaseModel):
    id: int
    actividad: int
    tipo: str
    autor: str
    creado_en: datetime

    @classmethod
    def of(cls, doc) -> DocumentOut:
        return cls(id=doc.id, actividad=doc.activity, tipo=doc.kind, autor=doc.author, creado_en=doc.created_at)


# --- what the team sends -------------------------------------------------------------------------


class TextIn(BaseModel):
    textos: dict[Text, Text] = Field(description='Texto por canal de la necesidad: {"x": "...", ...}.')
    titulo: Text = Field("", max_length=200, description="Título (YouTube lo usa como título del video).")
    nota: Text = Field("", max_length=5000, description="Qué cambió respecto de la revisión devuelta.")


class DecisionIn(BaseModel):
    revision: RecordId = Field(description="La revisión que se vio: si ya no es la vigente, 409 y nada cambia.")
    punto_control: Literal[7, 12]
    decision: Literal["aprobado", "devuelto"]
    comentario: Text = Field("", max_length=10000, description="Obligatorio para devolver.")
    publicar_en: Instant | None = Field(
        None, description="Fecha y hora de publicación (hora de Bogotá si no trae zona), al aprobar el diseño."
    )


class DecisionResult(BaseModel):
    decision: DecisionOut
    revision: int
    ya_registrada: bool = Field(description="Verdadero si esta misma decisión ya estaba registrada (doble clic).")


class MeetingIn(BaseModel):
    """The meeting record (208-SADM-Ft-54): its fields are the document's, stored as they come."""

    temas: list[Text]
    fuentes: list[Text]
    productos: list[Text]
    canales: list[Text]
    asistentes: list[Text]


class PlanIn(BaseModel):
    """The content plan of activity 3: its fields are the document's, stored as they come."""

    contenidos: list[Text]
    enlaces: list[Text]


class ConfirmPublicationIn(BaseModel):
    url: Text = Field(max_length=2000, description="Enlace de la publicación encontrada en la cuenta: https://...")
    id_plataforma: Text = Field(
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


# --- the checks while writing --------------------------------------------------------------------


class MediaIn(BaseModel):
    tipo_medio: Text = Field(max_length=200, description="Tipo MIME, p. ej. image/png o video/mp4.")
    tamano: int = Field(ge=0, le=2**63 - 1, description="Bytes.")
    ancho: int | None = Field(None, ge=0, le=1_000_000, description="Píxeles.")
    alto: int | None = Field(None, ge=0, le=1_000_000, description="Píxeles.")
    duracion: float | None = Field(None, ge=0, allow_inf_nan=False, description="Segundos (videos).")
    texto_alternativo: Text | None = Field(None, max_length=10_000)
    tiene_subtitulos: bool | None = None
    nombre: Text | None = Field(None, max_length=1000)

    def media_info(self) -> dict:
        """The keyword arguments of the checks' MediaInfo."""
        return dict(
            media_type=self.tipo_medio,
            size=self.tamano,
            width=self.ancho,
            height=self.alto,
            duration=self.duracion,
            alt_text=self.texto_alternativo,
            has_captions=self.tiene_subtitulos,
            name=self.nombre,
        )


class CheckIn(BaseModel):
    canal: Channel
    texto: Text = Field(max_length=100_000)
    titulo: Text = Field("", max_length=1000)
    medios: list[MediaIn] = Field(
        default_factory=list, description="Opcional: sin medios se omiten los hallazgos `media.*`."
    )


class LengthOut(BaseModel):
    valor: int
    limite: int | None
    unidad: str

    @classmethod
    def of(cls, d: dict | None) -> LengthOut | None:
        return None if d is None else cls(valor=d["value"], limite=d["limit"], unidad=d["unit"])


class CheckOut(BaseModel):
    canal: str
    bloqueante: bool = Field(description="Hay errores que impiden presentar el texto.")
    longitud_ponderada_x: int | None = Field(description="Longitud ponderada de X (límite 280); null en otros canales.")
    conteo: dict[str, int] = Field(description="Hallazgos por severidad: error, warning, info.")
    hallazgos: list[FindingOut]
    longitud: LengthOut
    longitud_titulo: LengthOut | None

    @classmethod
    def of(cls, report: dict) -> CheckOut:
        """From the report of ``actions.check``."""
        return cls(
            canal=report["channel"],
            bloqueante=report["blocking"],
            longitud_ponderada_x=report["x_weighted_length"],
            conteo=report["counts"],
            hallazgos=[FindingOut.of(f) for f in report["findings"]],
            longitud=LengthOut.of(report["length"]),
            longitud_titulo=LengthOut.of(report["title_length"]),
        )


# --- calendar and waiting line -------------------------------------------------------------------


class CalendarEntryOut(BaseModel):
    dia: date
    fecha: datetime | None = Field(description="Fecha y hora publicada o programada, si la hay.")
    canal: str
    nombre_canal: str
    tipo: str = Field(description="publicada, programada o fecha_limite.")
    nombre_tipo: str
    necesidad: int
    titulo: str
    url: str

    @classmethod
    def of(cls, e, base: str) -> CalendarEntryOut:
        return cls(
            dia=e.day,
            fecha=e.at,
            canal=e.channel,
            nombre_canal=P.CHANNELS.get(e.channel, e.channel),
            tipo=e.kind,
            nombre_tipo=e.kind_name,
            necesidad=e.need_id,
            titulo=e.title,
            url=e.url or need_url(base, e.need_id),
        )


class WaitingLineOut(BaseModel):
    conocida: bool = Field(description="Si se pudo leer la cola en la base de datos de Airflow")
    en_cola: int | None = Field(
        description="Necesidades disparadas que aún no empiezan (en cola más de CVP_QUEUE_GRACE_SECONDS); "
        "null si la cola no se conoce"
    )
    en_curso: int | None = Field(description="Ejecuciones de necesidades en curso en Airflow; null si no se conoce")
    maximo: int | None = Field(
        description="Máximo de necesidades en curso (CVP_MAX_ACTIVE_NEEDS); null si no se conoce"
    )
    desde: datetime | None = Field(description="Desde cuándo espera la más antigua")
    retenidas: bool = Field(description="Si esperan porque se alcanzó el máximo")
    mensaje: str | None = Field(None, description="Por qué esperan, o por qué no se conoce la cola")
    intermediario: str | None = Field(None, description="Problema con el intermediario de tareas, si lo hay")


class RefusedNeedOut(BaseModel):
    ejecucion: str | None = Field(description="run_id de la ejecución de Airflow que pidió abrir la necesidad")
    solicitado_por: str = Field(description="Usuario de Airflow que disparó la ejecución")
    titulo: str = Field(description="Título que traía el formulario")
    motivo: str = Field(description="Por qué no se abrió (en español)")
    fecha: datetime
