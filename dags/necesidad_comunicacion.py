"""
# Necesidad de comunicación (procedimiento 208-COM-Pr-04, Community Manager)

Cada ejecución es **una necesidad de comunicación** de la Oficina Asesora de Comunicaciones (OAC)
de la Caja de la Vivienda Popular, de su identificación (actividad 1) a su publicación (actividad 14).

| Actividad | Quién | Cómo avanza |
|---|---|---|
| 1. Identificar las necesidades | Jefe OAC | Formulario de esta ejecución. ¿Acción puntual? Sí → 5; No → 2 |
| 2. Reunión del equipo (208-SADM-Ft-54) | Jefe OAC | Espera el registro de reunión |
| 3. Definir contenidos con las dependencias | Jefe OAC y equipo | Espera el plan de contenidos |
| 4. Red Distrital de Redes Sociales | Sistema | Registro y correo de la solicitud |
| 5. Producir contenidos | Profesional Universitario | Borradores por canal; espera el texto |
| 6. Presentar para aprobación | Profesional Universitario | Correo institucional a la Jefe OAC |
| 7. Revisar contenidos (punto de control) | Jefe OAC | Espera la aprobación de la revisión vigente |
| 8. Ajustes | Profesional Universitario | Dentro de la espera de la actividad 7: cada devolución con comentario pide una nueva revisión, que vuelve a la 6 |
| 9. Entregar al Técnico Operativo | Sistema | Correo con los textos aprobados |
| 10. Elaborar el diseño | Técnico Operativo | Espera el archivo de diseño |
| 11. Enviar diseño para aprobación | Técnico Operativo | Correo a la Jefe OAC |
| 12. Revisar el diseño (punto de control) | Jefe OAC | Espera la aprobación; devuelto → rediseño (10) |
| 13. Entregar la pieza definitiva | Técnico Operativo | Archivo definitivo y correo al Profesional |
| 14. Publicar | Profesional Universitario | Espera la fecha y hora de publicación, si la hay (sin ocupar un trabajador); una tarea por canal, sin duplicados; luego métricas |

Los pasos humanos esperan en el *triggerer* (no ocupan un trabajador) a que exista el registro
correspondiente, escrito desde los formularios en `/cvp` o con `python -m cvp`.
Todo queda en la base de registros (Ley 1712 de 2014): quién, qué y cuándo.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task

from cvp import procedure as P
from cvp_airflow import steps
from cvp_airflow.sensors import PublicationTimeSensor, RecordSensor, TextProductionSensor

DEFAULT_MAX_ACTIVE_NEEDS = 500  # a whole district's needs in flight at once


def max_active_needs() -> int:
    """How many needs may be in flight (``CVP_MAX_ACTIVE_NEEDS``); a bad value falls back to the default
    with a warning, rather than leaving the office without its DAG."""
    raw = os.environ.get("CVP_MAX_ACTIVE_NEEDS", "").strip()
    if not raw:
        return DEFAULT_MAX_ACTIVE_NEEDS
    if raw.isascii() and raw.isdigit() and int(raw) > 0:
        return int(raw)
    logging.getLogger(__name__).warning(
        "CVP_MAX_ACTIVE_NEEDS=%r no es un número entero positivo: se usa el valor por omisión, %s necesidades en curso.",
        raw,
        DEFAULT_MAX_ACTIVE_NEEDS,
    )
    return DEFAULT_MAX_ACTIVE_NEEDS


with DAG(
    dag_id="necesidad_comunicacion",
    dag_display_name="Necesidad de comunicación (208-COM-Pr-04)",
    description="Una necesidad de comunicación, de la actividad 1 a la 14 del procedimiento Community Manager.",
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # How many needs may be in flight at once; more wait queued and the forms say so.
    max_active_runs=max_active_needs(),
    tags=["cvp", "208-COM-Pr-04", "comunicaciones"],
    default_args={"owner": "oac", "retries": 2, "retry_delay": timedelta(seconds=20)},
    params={
        "titulo": Param(
            type="string",
            minLength=5,
            maxLength=200,
            title="Título",
            description="Nombre corto de la necesidad, p. ej. «Entrega de títulos en Ciudad Bolívar».",
        ),
        "necesidad": Param(
            type="string",
            minLength=10,
            maxLength=5000,
            format="multiline",
            title="Necesidad de comunicación",
            description="Qué se necesita comunicar, a quién y por qué (mínimo 10 caracteres).",
        ),
        "fuente": Param(
            "plan_accion",
            type="string",
            enum=list(P.SOURCES),
            values_display=P.SOURCES,
            title="Fuente de la necesidad",
            description="Documento del que surge la necesidad (actividad 1 del procedimiento).",
        ),
        "referencia_fuente": Param(
            "",
            type=["string", "null"],
            maxLength=250,
            title="Referencia de la fuente",
            description="Obligatoria si la fuente es un comité (n.º de acta) u otra.",
        ),
        "publicos_interes": Param(
            ["ciudadania"],
            type="array",
            minItems=1,
            uniqueItems=True,
            items={"type": "string", "enum": list(P.AUDIENCES)},
            examples=list(P.AUDIENCES),
            values_display=P.AUDIENCES,
            title="Públicos de interés",
            description="Elija al menos uno.",
        ),
        "canales": Param(
            ["x", "facebook"],
            type="array",
            minItems=1,
            uniqueItems=True,
            items={"type": "string", "enum": list(P.CHANNELS)},
            examples=list(P.CHANNELS),
            values_display=P.CHANNELS,
            title="Canales",
            description="Dónde se publicará la pieza. Elija al menos uno.",
        ),
        "accion_puntual": Param(
            False,
            type="boolean",
            title="¿Es una acción puntual?",
            description="Sí: pasa directo a producir contenidos (actividad 5). "
            "No: reunión del equipo de la OAC (actividad 2).",
        ),
        "fecha_limite": Param(
            type="string",
            format="date",
            title="Fecha límite",
            description="Fecha en que la pieza debe estar publicada (hora de Bogotá).",
        ),
        "dependencia": Param(
            "comunicaciones",
            type="string",
            enum=list(P.DEPARTMENTS),
            values_display=P.DEPARTMENTS,
            title="Dependencia solicitante",
        ),
        "publicar_en": Param(
            None,
            type=["null", "string"],
            format="date-time",
            title="Fecha y hora de publicación (opcional)",
            description="Si se indica, la pieza aprobada espera hasta ese momento (hora de Bogotá). "
            "La Jefe OAC también puede fijarla al aprobar el diseño.",
        ),
    },
) as dag:

    @task.branch(task_id="identificar_necesidad", task_display_name=P.display_name(1))
    def identificar_necesidad(**context):
        return steps.identify_need(context)

    reunion = RecordSensor(task_id="reunion_equipo", task_display_name=P.display_name(2), condition=P.WAIT_MEETING)
    contenidos = RecordSensor(
        task_id="definir_contenidos", task_display_name=P.display_name(3), condition=P.WAIT_CONTENT_PLAN
    )

    @task(task_id="red_distrital", task_display_name=P.display_name(4))
    def red_distrital(**context):
        steps.request_red_distrital(context)

    producir = TextProductionSensor(
        task_id="producir_contenidos",
        task_display_name=P.display_name(5),
        condition=P.WAIT_TEXT_SUBMITTED,
        trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
    )

    @task(task_id="presentar_contenidos", task_display_name=P.display_name(6))
    def presentar_contenidos(**context):
        return steps.present(context, P.TEXT)

    revisar = RecordSensor(
        task_id="revisar_contenidos", task_display_name=P.display_name(7), condition=P.WAIT_TEXT_APPROVED
    )

    @task(task_id="entregar_material", task_display_name=P.display_name(9))
    def entregar_material(**context):
        steps.hand_off_to_technician(context)

    disenar = RecordSensor(
        task_id="elaborar_diseno", task_display_name=P.display_name(10), condition=P.WAIT_DESIGN_SUBMITTED
    )

    @task(task_id="enviar_diseno", task_display_name=P.display_name(11))
    def enviar_diseno(**context):
        return steps.present(context, P.DESIGN)

    revisar_diseno = RecordSensor(
        task_id="revisar_diseno", task_display_name=P.display_name(12), condition=P.WAIT_DESIGN_APPROVED
    )

    @task(task_id="entregar_pieza", task_display_name=P.display_name(13))
    def entregar_pieza(**context):
        return steps.deliver_final(context)

    esperar = PublicationTimeSensor(
        task_id="esperar_publicacion", task_display_name="14. Esperar la fecha y hora de publicación"
    )

    @task(
        task_id="publicar_pieza",
        task_display_name=P.display_name(14),
        map_index_template="{{ canal }}",
        retries=6,
        retry_exponential_backoff=2.0,
        max_retry_delay=timedelta(hours=1),
    )
    def publicar_pieza(canal: str):
        context = get_current_context()
        context["canal"] = P.CHANNELS.get(canal, canal)
        return steps.publish(canal, context)

    @task(
        task_id="registrar_metricas",
        task_display_name="14. Registrar métricas de publicación",
        trigger_rule=TriggerRule.ALL_DONE,
    )
    def registrar_metricas(**context):
        return steps.log_metrics(context)

    inicio = identificar_necesidad()
    canales = entregar_pieza()
    inicio >> [reunion, producir]
    reunion >> contenidos >> red_distrital() >> producir
    (
        producir
        >> presentar_contenidos()
        >> revisar
        >> entregar_material()
        >> disenar
        >> enviar_diseno()
        >> revisar_diseno
        >> canales
    )
    publicados = publicar_pieza.expand(canal=canales)
    canales >> esperar >> publicados >> registrar_metricas()
