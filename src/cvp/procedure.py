"""The procedure 208-COM-Pr-04 v3 (Community Manager) as data: activities, roles, sources, channels.

Names are the office's own words, so that every screen, record and e-mail speaks the procedure.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    Activity(1, "identificar_necesidad", "Identificar las necesidades de comunicación", HEAD,
             "Plan Estratégico, PAG, Plan de Mejoramiento o acta de comité"),
    Activity(2, "reunion_equipo", "Realizar reunión con el equipo de la OAC", HEAD,
             f"{MEETING_FORM_CODE} Registro de reunión"),
    Activity(3, "definir_contenidos", "Definir contenidos y acciones con los enlaces de las dependencias", HEAD),
    Activity(4, "red_distrital", "Establecer contacto con la Red Distrital de Redes Sociales", HEAD,
             "Correos con jefes de prensa del Distrito"),
    Activity(5, "producir_contenidos", "Producir contenidos de divulgación", PROFESSIONAL,
             "Texto para elaboración de pieza"),
    Activity(6, "presentar_contenidos", "Presentar los contenidos para aprobación", PROFESSIONAL,
             "Correo institucional"),
    Activity(7, "revisar_contenidos", "Revisar los contenidos", HEAD),
    Activity(8, "ajustar_contenidos", "Realizar los ajustes correspondientes", PROFESSIONAL, "Correo institucional"),
    Activity(9, "entregar_material", "Entregar el material al Técnico Operativo para diseño", PROFESSIONAL,
             "Correo institucional"),
    Activity(10, "elaborar_diseno", "Elaborar el diseño (o rediseño) de la pieza comunicativa", TECHNICIAN),
    Activity(11, "enviar_diseno", "Enviar el diseño para aprobación", TECHNICIAN),
    Activity(12, "revisar_diseno", "Revisar y aprobar el diseño o pieza comunicativa", HEAD),
    Activity(13, "entregar_pieza", "Entregar la pieza comunicativa definitiva al Profesional Universitario",
             TECHNICIAN, "Correo institucional; pieza gráfica, PDF, video"),
    Activity(14, "publicar_pieza", "Publicar la pieza comunicativa", PROFESSIONAL,
             "Correo electrónico; pieza publicada"),
)
ACTIVITY = {a.number: a for a in ACTIVITIES}

# Control points (section 9 of the procedure).
CONTROL_POINTS = {
    7: "Oportunidad y veracidad de la información",
    12: "Los temas a publicar según la importancia y necesidad de comunicación",
}
TEXT = "texto"
DESIGN = "diseno"
CONTROL_POINT_KIND = {7: TEXT, 12: DESIGN}

APPROVED = "aprobado"
REJECTED = "devuelto"

SOURCES = {
    "plan_estrategico": "Plan Estratégico de la OAC vigente",
    "plan_accion": "Plan de Acción de Gestión (PAG) vigente",
    "plan_mejoramiento": "Plan de Mejoramiento de la OAC vigente",
    "comite": "Necesidad de la Alta Dirección en comité (según acta)",
    "otra": "Otra fuente",
}

CHANNELS = {
    "x": "X (Twitter)",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "youtube": "YouTube",
    "sitio_web": "Sitio web de la CVP",
}

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
WAIT_TEXT_SUBMITTED = "texto_presentado"
WAIT_TEXT_APPROVED = "texto_aprobado"
WAIT_DESIGN_SUBMITTED = "diseno_presentado"
WAIT_DESIGN_APPROVED = "diseno_aprobado"
WAIT_CONDITIONS = (WAIT_MEETING, WAIT_CONTENT_PLAN, WAIT_TEXT_SUBMITTED, WAIT_TEXT_APPROVED,
                   WAIT_DESIGN_SUBMITTED, WAIT_DESIGN_APPROVED)


def display_name(number: int) -> str:
    """Task display name as users see it in Airflow: '7. Revisar los contenidos'."""
    return f"{number}. {ACTIVITY[number].name}"
