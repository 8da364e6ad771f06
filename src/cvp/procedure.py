"""The procedure 208-COM-Pr-04 v3 (Community Manager) as data: activities, roles, sources, channels.

Names are the office's own words, so that every screen, record and e-mail speaks the procedure. This is
the one home of the procedure's vocabulary: the channels (a registry with each platform's limits and
media rules), the states of a need, a revision and a publication (``StrEnum``: the stored values and
the JSON stay the plain strings they always were), the kinds of document, and how each kind of
revision goes through its control point. Other modules read them from here instead of spelling them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

PROCEDURE_CODE = "208-COM-Pr-04"
PROCEDURE_VERSION = 3
PROCEDURE_NAME = "Community Manager (Administrador de redes sociales y/o medios digitales)"
MEETING_FORM_CODE = "208-SADM-Ft-54"

# Roles of the procedure.
HEAD = "jefe_oac"
PROFESSIONAL = "profesional"
TECHNICIAN = "tecnico"
READER = "lector"
SYSTEM = "sistema"

ROLE_NAMES = {
    HEAD: "Jefe Oficina Asesora de Comunicaciones",
    PROFESSIONAL: "Profesional Universitario Oficina Asesora de Comunicaciones",
    TECHNICIAN: "Técnico Operativo Oficina Asesora de Comunicaciones",
    READER: "Consulta",
    SYSTEM: "Sistema (programador de Airflow)",
}


@dataclass(frozen=True)
class Activity:
    number: int
    key: str
    name: str  # as in section 8 of the procedure, shortened for screens
    role: str
    record: str = ""


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        1,
        "identificar_necesidad",
        "Identificar las necesidades de comunicación",
        HEAD,
        "Plan Estratégico, PAG, Plan de Mejoramiento o acta de comité",
    ),
    Activity(
        2,
        "reunion_equipo",
        "Realizar reunión con el equipo de la OAC",
        HEAD,
        f"{MEETING_FORM_CODE} Registro de reunión",
    ),
    Activity(3, "definir_contenidos", "Definir contenidos y acciones con los enlaces de las dependencias", HEAD),
    Activity(
        4,
        "red_distrital",
        "Establecer contacto con la Red Distrital de Redes Sociales",
        HEAD,
        "Correos con jefes de prensa del Distrito",
    ),
    Activity(
        5, "producir_contenidos", "Producir contenidos de divulgación", PROFESSIONAL, "Texto para elaboración de pieza"
    ),
    Activity(
        6, "presentar_contenidos", "Presentar los contenidos para aprobación", PROFESSIONAL, "Correo institucional"
    ),
    Activity(7, "revisar_contenidos", "Revisar los contenidos", HEAD),
    Activity(8, "ajustar_contenidos", "Realizar los ajustes correspondientes", PROFESSIONAL, "Correo institucional"),
    Activity(
        9,
        "entregar_material",
        "Entregar el material al Técnico Operativo para diseño",
        PROFESSIONAL,
        "Correo institucional",
    ),
    Activity(10, "elaborar_diseno", "Elaborar el diseño (o rediseño) de la pieza comunicativa", TECHNICIAN),
    Activity(11, "enviar_diseno", "Enviar el diseño para aprobación", TECHNICIAN),
    Activity(12, "revisar_diseno", "Revisar y aprobar el diseño o pieza comunicativa", HEAD),
    Activity(
        13,
        "entregar_pieza",
        "Entregar la pieza comunicativa definitiva al Profesional Universitario",
        TECHNICIAN,
        "Correo institucional; pieza gráfica, PDF, video",
    ),
    Activity(
        14, "publicar_pieza", "Publicar la pieza comunicativa", PROFESSIONAL, "Correo electrónico; pieza publicada"
    ),
)
ACTIVITY = {a.number: a for a in ACTIVITIES}
# The main DAG's task ids and their activity: each activity's task is named by its key, and activity 14
# has two more (the wait for the publication time and the metrics).
TASK_ACTIVITY = {a.key: a.number for a in ACTIVITIES} | {"esperar_publicacion": 14, "registrar_metricas": 14}

# Control points (section 9 of the procedure).
CONTROL_POINTS = {
    7: "Oportunidad y veracidad de la información",
    12: "Los temas a publicar según la importancia y necesidad de comunicación",
}


class RevisionKind(StrEnum):
    """What a revision holds: the texts per channel (activities 5-8) or the design (activities 10-12)."""

    TEXT = "texto"
    DESIGN = "diseno"


class RevisionState(StrEnum):
    """A revision waits for the head's decision, then is approved or returned (the decision's value too)."""

    SUBMITTED = "presentado"
    APPROVED = "aprobado"
    REJECTED = "devuelto"


TEXT = RevisionKind.TEXT
DESIGN = RevisionKind.DESIGN
SUBMITTED = RevisionState.SUBMITTED
APPROVED = RevisionState.APPROVED
REJECTED = RevisionState.REJECTED
#: The head's two possible decisions at a control point (a decision stores one of these values).
DECISIONS: tuple[RevisionState, ...] = (APPROVED, REJECTED)
REVISION_STATE_NAMES = {SUBMITTED: "Pendiente de decisión", APPROVED: "Aprobado", REJECTED: "Devuelto con comentarios"}


@dataclass(frozen=True)
class Review:
    """How one kind of revision goes through the procedure, so no caller writes "text if ... else design".

    Who submits it (and hears of a return), the activities that produce, adjust and present it, the
    control point where the head decides on it, and the activity that follows its approval.
    """

    kind: RevisionKind
    name: str  # "Texto" / "Diseño", at the start of a sentence or a heading
    noun: str  # "texto" / "diseño", inside a sentence
    author_role: str
    produce_activity: int
    adjust_activity: int
    present_activity: int
    presented: str  # the event's summary when it is presented
    control_point: int
    after_approval: int
    wait_submitted: str
    wait_approved: str
    reviewer_role: str = HEAD


REVIEWS: dict[RevisionKind, Review] = {
    TEXT: Review(
        TEXT,
        "Texto",
        "texto",
        PROFESSIONAL,
        produce_activity=5,
        adjust_activity=8,
        present_activity=6,
        presented="Contenidos presentados",
        control_point=7,
        after_approval=9,
        wait_submitted="texto_presentado",
        wait_approved="texto_aprobado",
    ),
    DESIGN: Review(
        DESIGN,
        "Diseño",
        "diseño",
        TECHNICIAN,
        produce_activity=10,
        adjust_activity=10,
        present_activity=11,
        presented="Diseño presentado",
        control_point=12,
        after_approval=13,
        wait_submitted="diseno_presentado",
        wait_approved="diseno_aprobado",
    ),
}
#: The review decided at each control point (7: the text, 12: the design).
REVIEW_AT: dict[int, Review] = {r.control_point: r for r in REVIEWS.values()}
CONTROL_POINT_KIND = {cp: r.kind for cp, r in REVIEW_AT.items()}


class NeedStatus(StrEnum):
    """A need is in course until its piece is out on every requested channel, or the head cancels it."""

    IN_COURSE = "en_curso"
    PUBLISHED = "publicada"
    CANCELLED = "cancelada"


NEED_STATUS_NAMES = {
    NeedStatus.IN_COURSE: "En curso",
    NeedStatus.PUBLISHED: "Publicada",
    NeedStatus.CANCELLED: "Cancelada",
}


class PublicationState(StrEnum):
    """A row of the publication ledger: pendiente → enviando → publicado | sin_confirmar | fallido.

    'sin_confirmar' waits for a person (the platform may hold the post); see cvp.publishing.
    """

    PENDING = "pendiente"
    SENDING = "enviando"
    PUBLISHED = "publicado"
    UNCONFIRMED = "sin_confirmar"
    FAILED = "fallido"


PUBLICATION_STATE_NAMES = {
    PublicationState.PENDING: "Pendiente",
    PublicationState.SENDING: "Enviando",
    PublicationState.PUBLISHED: "Publicada",
    PublicationState.UNCONFIRMED: "Sin confirmar",
    PublicationState.FAILED: "Fallida",
}


class DocumentKind(StrEnum):
    """The records an activity keeps besides revisions (``documents.kind``)."""

    MEETING = "registro_reunion"  # activity 2, form 208-SADM-Ft-54
    CONTENT_PLAN = "plan_contenidos"  # activity 3
    RED_DISTRITAL_REQUEST = "solicitud_red_distrital"  # activity 4
    DRAFTS = "borradores"  # activity 5, drafts per channel from the templates
    METRICS = "metricas"  # activity 14, the need's publication metrics


SOURCES = {
    "plan_estrategico": "Plan Estratégico de la OAC vigente",
    "plan_accion": "Plan de Acción de Gestión (PAG) vigente",
    "plan_mejoramiento": "Plan de Mejoramiento de la OAC vigente",
    "comite": "Necesidad de la Alta Dirección en comité (según acta)",
    "otra": "Otra fuente",
}

# --- channels ----------------------------------------------------------------------------------------
# Media types as the checks' probe names them (cvp.checks.probe); spelt here so that this module imports
# nothing of the package.
_JPEG, _PNG, _GIF, _WEBP, _BMP, _TIFF = "image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp", "image/tiff"
_MP4, _MOV, _AVI, _WMV, _FLV = "video/mp4", "video/quicktime", "video/x-msvideo", "video/x-ms-wmv", "video/x-flv"
_WEBM, _MKV, _MPEG_PS, _3GPP, _3GPP2 = "video/webm", "video/x-matroska", "video/mpeg", "video/3gpp", "video/3gpp2"
_MB = 1024 * 1024
_GB = 1024 * _MB


@dataclass(frozen=True)
class TextRules:
    """What a platform's API accepts as the text of a post (published limits: above them it refuses)."""

    max_length: int | None = None  # counted in ``unit``; None: no limit
    unit: str = "caracteres"  # X weighs characters, YouTube counts UTF-8 bytes
    max_hashtags: int | None = None
    max_mentions: int | None = None
    title_max_chars: int | None = None  # YouTube's video title
    needs_text_or_media: bool = False  # a post with neither is refused


@dataclass(frozen=True)
class KindLimits:
    """Limits for one kind of file (image or video) on one channel."""

    formats: frozenset[str]
    max_size: int
    max_size_by_format: dict[str, int] = field(default_factory=dict)
    min_duration: float | None = None
    max_duration: float | None = None
    min_aspect: float | None = None
    max_aspect: float | None = None
    aspect_label: str = ""

    def size_limit(self, media_type: str) -> int:
        return self.max_size_by_format.get(media_type, self.max_size)


@dataclass(frozen=True)
class ChannelMedia:
    """The files a post on one channel may carry (the platforms' limits for organic posts by API)."""

    images: KindLimits | None
    videos: KindLimits | None
    max_items: int | None = None
    max_images: int | None = None
    max_videos: int | None = None
    allow_mixed: bool = True
    requires_media: bool = False
    requires_video: bool = False
    alt_text_max: int | None = None
    any_file: bool = False  # a person publishes by hand: PDF or any file goes (the website)


_VIDEO_ANY = frozenset({_MP4, _MOV, _AVI, _WMV, _FLV, _WEBM, _MPEG_PS, _3GPP, _3GPP2})


@dataclass(frozen=True)
class Channel:
    """One channel of the procedure: its names, its platform's limits and where Airflow finds its credentials.

    ``conn_id`` is the default id of its Airflow Connection (``CVP_<CANAL>_CONN_ID`` overrides it on the
    Airflow side); ``None`` for a channel without a platform, whose pieces always go to the outbox.
    """

    key: str
    name: str  # as forms and records show it: "X (Twitter)"
    label: str  # as messages name the platform: "X"
    in_sentence: str  # inside a sentence: "X", "el sitio web"
    text: TextRules
    media: ChannelMedia
    conn_id: str | None = None

    @property
    def has_platform(self) -> bool:
        return self.conn_id is not None


CHANNEL: dict[str, Channel] = {
    c.key: c
    for c in (
        Channel(
            "x",
            "X (Twitter)",
            "X",
            "X",
            TextRules(max_length=280, unit="caracteres ponderados", needs_text_or_media=True),
            ChannelMedia(
                images=KindLimits(frozenset({_JPEG, _PNG, _GIF, _WEBP}), 5 * _MB, {_GIF: 15 * _MB}),
                videos=KindLimits(frozenset({_MP4, _MOV}), 512 * _MB, min_duration=0.5, max_duration=140),
                max_images=4,
                max_videos=1,
                allow_mixed=False,
                alt_text_max=1000,
            ),
            conn_id="x_default",
        ),
        Channel(
            "facebook",
            "Facebook",
            "Facebook",
            "Facebook",
            TextRules(max_length=63_206, needs_text_or_media=True),
            ChannelMedia(
                # Page photos: the formats Meta documents (WebP is not among them).
                images=KindLimits(frozenset({_JPEG, _PNG, _GIF, _BMP, _TIFF}), 10 * _MB),
                videos=KindLimits(_VIDEO_ANY | {_MKV}, 10 * _GB, max_duration=240 * 60),
            ),
            conn_id="facebook_default",
        ),
        Channel(
            "instagram",
            "Instagram",
            "Instagram",
            "Instagram",
            TextRules(max_length=2_200, max_hashtags=30, max_mentions=20),
            ChannelMedia(
                # Meta's content publishing API takes JPEG only for Instagram images.
                images=KindLimits(
                    frozenset({_JPEG}), 8 * _MB, min_aspect=0.8, max_aspect=1.91, aspect_label="4:5 y 1,91:1"
                ),
                videos=KindLimits(
                    frozenset({_MP4, _MOV}),
                    300 * _MB,
                    min_duration=3,
                    max_duration=15 * 60,
                    min_aspect=0.5625,
                    max_aspect=1.91,
                    aspect_label="9:16 y 1,91:1",
                ),
                max_items=10,
                requires_media=True,
            ),
            conn_id="instagram_default",
        ),
        Channel(
            "youtube",
            "YouTube",
            "YouTube",
            "YouTube",
            TextRules(max_length=5_000, unit="bytes", title_max_chars=100),
            ChannelMedia(
                images=None,
                videos=KindLimits(frozenset({_MP4, _MOV, _AVI, _WMV, _FLV, _WEBM, _MPEG_PS, _3GPP}), 256 * _GB),
                max_videos=1,
                requires_video=True,
            ),
            conn_id="youtube_default",
        ),
        Channel(
            "sitio_web",
            "Sitio web de la CVP",
            "Sitio web",
            "el sitio web",
            TextRules(),
            ChannelMedia(images=None, videos=None, any_file=True),
        ),
    )
}
#: Each channel's name as forms, records and templates show it (``CANALES`` in templates).
CHANNELS = {key: c.name for key, c in CHANNEL.items()}
#: The channels with a platform behind them (an Airflow Connection, a publisher, engagement to read).
PLATFORM_CHANNELS = tuple(key for key, c in CHANNEL.items() if c.has_platform)
#: The channels whose pieces always go to the outbox, to be published by hand.
OUTBOX_CHANNELS = tuple(key for key, c in CHANNEL.items() if not c.has_platform)

AUDIENCES = {
    "ciudadania": "Ciudadanía en general",
    "hogares_beneficiarios": "Hogares beneficiarios de los programas",
    "comunidades_territorio": "Comunidades en territorio",
    "medios": "Medios de comunicación",
    "entidades_distritales": "Entidades distritales",
    "servidores": "Servidoras y servidores de la CVP",
    "organos_control": "Organismos de control",
}

DEPARTMENTS = {
    "direccion_general": "Dirección General",
    "reasentamientos": "Dirección de Reasentamientos",
    "mejoramiento_vivienda": "Dirección de Mejoramiento de Vivienda",
    "mejoramiento_barrios": "Dirección de Mejoramiento de Barrios",
    "urbanizaciones_titulacion": "Dirección de Urbanizaciones y Titulación",
    "juridica": "Dirección Jurídica",
    "gestion_corporativa": "Dirección de Gestión Corporativa",
    "planeacion": "Oficina Asesora de Planeación",
    "comunicaciones": "Oficina Asesora de Comunicaciones",
    "control_interno": "Asesoría de Control Interno",
}

# What each human step waits for (see cvp.records.store.Store.condition_met).
WAIT_MEETING = "reunion_registrada"
WAIT_CONTENT_PLAN = "plan_contenidos_registrado"
WAIT_TEXT_SUBMITTED = REVIEWS[TEXT].wait_submitted
WAIT_TEXT_APPROVED = REVIEWS[TEXT].wait_approved
WAIT_DESIGN_SUBMITTED = REVIEWS[DESIGN].wait_submitted
WAIT_DESIGN_APPROVED = REVIEWS[DESIGN].wait_approved
WAIT_CONDITIONS = (
    WAIT_MEETING,
    WAIT_CONTENT_PLAN,
    WAIT_TEXT_SUBMITTED,
    WAIT_TEXT_APPROVED,
    WAIT_DESIGN_SUBMITTED,
    WAIT_DESIGN_APPROVED,
)


def display_name(number: int) -> str:
    """Task display name as users see it in Airflow: '7. Revisar los contenidos'."""
    return f"{number}. {ACTIVITY[number].name}"
