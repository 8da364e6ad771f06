"""
# Conexiones de los canales: verificación diaria

Cada mañana (6:00, hora de Bogotá) el sistema pregunta a cada plataforma si la conexión de Airflow
del canal sigue sirviendo para publicar y leer métricas: **X**, **Facebook**, **Instagram** y
**YouTube** (los canales sin conexión publican en la bandeja de salida y no se verifican).

1. **Verificar las conexiones**: el token funciona, hasta cuándo, y con qué permisos. Donde la
   plataforma lo permite, el token se renueva (X con su token de actualización; Facebook e Instagram
   con el intercambio por un token de larga duración; YouTube con las credenciales de Google). El
   estado de cada canal (ok / vence el … / roto: por qué) queda en la base de registros (tabla
   `channel_checks`) y se ve en la bandeja de la Jefe OAC.
2. **Avisar a la Jefe OAC**: un correo 7 días y otro 1 día antes de que venza un token, y uno en
   cuanto un canal deja de funcionar o le falta un permiso; cada aviso una sola vez (tabla
   `channel_notices`).

Así un token vencido no se descubre en la actividad 14, el día en que la pieza debe salir.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, task

from cvp_airflow import connection_checks

with DAG(
    dag_id="conexiones_canales",
    dag_display_name="Conexiones de los canales: verificación diaria",
    description="Verifica los tokens de X, Facebook, Instagram y YouTube y avisa a la Jefe OAC antes de que venzan.",
    doc_md=__doc__,
    schedule="0 6 * * *",
    start_date=datetime(2026, 11, 1, tzinfo=ZoneInfo("America/Bogota")),
    catchup=False,
    max_active_runs=1,
    tags=["cvp", "208-COM-Pr-04", "conexiones"],
    default_args={"owner": "oac", "retries": 3, "retry_delay": timedelta(minutes=10)},
) as dag:

    @task(task_id="verificar_conexiones", task_display_name="Verificar las conexiones de los canales")
    def verificar_conexiones(**context):
        return connection_checks.check_channels(context)

    @task(
        task_id="avisar_a_la_jefe",
        task_display_name="Avisar a la Jefe OAC de vencimientos y conexiones rotas",
        trigger_rule="all_done",
    )
    def avisar_a_la_jefe(**context):
        return connection_checks.notify_head(context)

    verificar_conexiones() >> avisar_a_la_jefe()
