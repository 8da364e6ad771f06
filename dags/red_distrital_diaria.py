"""
# Red Distrital de Redes Sociales: intercambio diario

Cada mañana (7:00, hora de Bogotá), la OAC de la Caja de la Vivienda Popular se sincroniza con la
**Red Distrital de Redes Sociales** que coordina la Secretaría General de la Alcaldía Mayor
(actividad 4 del procedimiento 208-COM-Pr-04, hecha todos los días):

1. **Recibir** lo que la Red pide replicar: se lee su boletín (conexión HTTP `red_distrital_feed`,
   opcional), se registra cada publicación una sola vez y se avisa al equipo de la OAC.
2. **Enviar** a la Red las piezas que la CVP publicó en los últimos días y las programadas para la
   semana, cada una una sola vez, al correo de la Red (`CVP_RED_DISTRITAL_EMAIL`).

Todo queda en la base de registros (tabla `red_items`): qué se envió y qué se recibió, y cuándo.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, task

from cvp_airflow import steps

with DAG(
    dag_id="red_distrital_diaria",
    dag_display_name="Red Distrital: intercambio diario",
    description="Recibe lo que la Red Distrital pide replicar y le envía las piezas de la CVP.",
    doc_md=__doc__,
    schedule="0 7 * * *",
    start_date=datetime(2026, 11, 1, tzinfo=ZoneInfo("America/Bogota")),
    catchup=False,
    max_active_runs=1,
    tags=["cvp", "208-COM-Pr-04", "red-distrital"],
    default_args={"owner": "oac", "retries": 3, "retry_delay": timedelta(minutes=5)},
) as dag:

    @task(task_id="recibir_de_la_red", task_display_name="4. Recibir publicaciones de la Red Distrital para replicar")
    def recibir_de_la_red(**context):
        return steps.red_receive(context)

    @task(task_id="enviar_a_la_red", task_display_name="4. Enviar a la Red Distrital las piezas de la CVP")
    def enviar_a_la_red(**context):
        return steps.red_send(context)

    recibir_de_la_red() >> enviar_a_la_red()
