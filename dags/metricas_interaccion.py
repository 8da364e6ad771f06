"""
# Métricas de interacción e informes (procedimiento 208-COM-Pr-04)

Todos los días a las **20:00 (hora de Bogotá)** este flujo lee cómo le fue a lo que la Oficina
Asesora de Comunicaciones (OAC) publicó en la actividad 14 y arma los informes para la Jefe OAC.

| Tarea | Qué hace |
|---|---|
| Recolectar métricas de interacción | Lee en cada plataforma las cifras de las publicaciones de los últimos 35 días y guarda una lectura por publicación en la base de registros |
| Construir el informe | Informe en HTML y CSV (Excel) en `informes/` dentro de la carpeta de datos, con su registro |
| Enviar el informe a la Jefe OAC | Correo con el resumen y la ubicación de los archivos, una sola vez por informe |

**Qué se lee en cada canal.** X: impresiones, me gusta, respuestas, reposts, citas y guardados.
Facebook: reacciones, comentarios, veces compartida y, si el token tiene permiso de estadísticas,
impresiones. Instagram: alcance, me gusta, comentarios, guardados y veces compartida. YouTube:
reproducciones, me gusta y comentarios. El sitio web y la bandeja local no tienen cifras que leer.
Un canal sin su conexión de Airflow (`x_default`, `facebook_default`, `instagram_default`,
`youtube_default`) se omite y queda anotado en el registro de la tarea. Si un canal falla (token
vencido, límite de uso, caída), los demás se guardan igual, la tarea queda **fallida** con el
motivo en español y se reintenta leyendo solo lo que faltó; el informe se construye de todos modos
con la última lectura disponible.

**Qué informe se construye cada día.**

- **Lunes**: informe **semanal** de la semana anterior (lunes a domingo).
- **Día 1 de cada mes**: informe **mensual** del mes anterior (si el 1 cae en lunes, ambos).
- **Los demás días**: informe del **mes en curso** (del día 1 a hoy), que reemplaza al del día
  anterior: un solo informe vigente por mes.

Solo los informes de periodos cerrados (semanal y mensual) se envían por correo a la Jefe OAC
(rol `jefe_oac` en el archivo del equipo); el del mes en curso queda en la carpeta para consulta y
la tarea de envío aparece como omitida. Reconstruir un informe (por ejemplo, al volver a ejecutar
el día) actualiza sus cifras y archivos, pero no lo vuelve a enviar.

**Qué contiene el informe.** Interacción por canal y por necesidad (última lectura de cada
publicación del periodo) y la oportunidad del procedimiento para las necesidades publicadas en el
periodo: a tiempo frente a la fecha límite, mediana del tiempo total y por actividad, rondas y
devoluciones en los puntos de control 7 (contenidos) y 12 (diseño).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, TriggerRule, task

with DAG(
    dag_id="metricas_interaccion",
    dag_display_name="Métricas de interacción e informes",
    description="Lectura diaria de la interacción en cada plataforma e informes semanales y mensuales para la Jefe OAC.",
    doc_md=__doc__,
    schedule="0 20 * * *",
    start_date=datetime(2026, 1, 1, tzinfo=ZoneInfo("America/Bogota")),
    catchup=False,
    max_active_runs=1,
    tags=["cvp", "208-COM-Pr-04", "metricas"],
    default_args={"owner": "oac", "retries": 2, "retry_delay": timedelta(minutes=5)},
) as dag:

    @task(
        task_id="recolectar_metricas",
        task_display_name="Recolectar métricas de interacción",
        execution_timeout=timedelta(minutes=30),
    )
    def recolectar_metricas(**context):
        from cvp_airflow.engagement_tasks import collect_engagement

        return collect_engagement(context)

    @task(
        task_id="construir_informe",
        task_display_name="Construir el informe",
        trigger_rule=TriggerRule.ALL_DONE,
        execution_timeout=timedelta(minutes=15),
    )
    def construir_informe(**context):
        from cvp_airflow.engagement_tasks import build_reports

        return build_reports(context)

    @task(
        task_id="enviar_informe",
        task_display_name="Enviar el informe a la Jefe OAC",
        execution_timeout=timedelta(minutes=5),
    )
    def enviar_informe(informes: list[dict]):
        from cvp_airflow.engagement_tasks import send_reports

        return send_reports(informes)

    informes = construir_informe()
    recolectar_metricas() >> informes
    enviar_informe(informes)
