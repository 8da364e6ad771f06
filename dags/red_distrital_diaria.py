"""
# Red Distrital de Redes Sociales: intercambio diario y acciones conjuntas

Cada mañana (7:00, hora de Bogotá), la OAC de la Caja de la Vivienda Popular se sincroniza con la
**Red Distrital de Redes Sociales** que coordina la Secretaría General de la Alcaldía Mayor
(actividad 4 del procedimiento 208-COM-Pr-04, hecha todos los días):

1. **Recibir** lo que la Red pide replicar: se lee su boletín (conexión HTTP `red_distrital_feed`,
   opcional), se registra cada publicación una sola vez y se avisa al equipo de la OAC.
2. **Enviar** a la Red las piezas que la CVP publicó en los últimos días y las programadas para la
   semana, cada una una sola vez, al correo de la Red (`CVP_RED_DISTRITAL_EMAIL`).
3. **Acciones conjuntas del día**: se lee la agenda de la Red (archivo `CVP_RED_AGENDA`, conexión
   `red_distrital_agenda` —JSON o una hoja de Google Sheets— o, si no hay ninguna, la agenda de
   ejemplo de `include/ejemplos`); cada fila se valida y las que tienen errores se informan con su
   línea y motivo. La Jefe OAC decide en los formularios (`/cvp/red-distrital`): **unirse**,
   **declinar** (con motivo) o **adaptar**. La espera no ocupa un trabajador y termina cuando todo
   está decidido o al final del día. Las acciones a las que se une se publican una sola vez por
   canal (repost o cita en X, compartir en Facebook); cada adaptada abre una necesidad de
   comunicación puntual; el resumen del día llega por correo al equipo.

Todo queda en la base de registros (tablas `red_items`, `joint_actions`, `joint_action_decisions`,
`joint_amplifications`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, task

from cvp_airflow import red_steps, steps
from cvp_airflow.red_waits import JointDecisionsSensor

with DAG(
    dag_id="red_distrital_diaria",
    dag_display_name="Red Distrital: intercambio diario y acciones conjuntas",
    description="Recibe lo que la Red Distrital pide, le envía las piezas de la CVP y se une a las acciones conjuntas.",
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

    @task(task_id="leer_agenda", task_display_name="4. Leer la agenda de acciones conjuntas de la Red")
    def leer_agenda(**context):
        return red_steps.read_agenda(context)

    esperar = JointDecisionsSensor(
        task_id="esperar_decisiones",
        task_display_name="4. Esperar la decisión de la Jefe OAC sobre las acciones conjuntas",
    )

    @task(task_id="amplificar", task_display_name="4. Publicar una vez las acciones conjuntas a las que se une")
    def amplificar(**context):
        return red_steps.amplify(context)

    @task(task_id="necesidades_adaptadas", task_display_name="4. Preparar las necesidades de las acciones adaptadas")
    def necesidades_adaptadas(**context):
        return red_steps.adapted_runs(context)

    adaptadas = necesidades_adaptadas()

    @task(
        task_id="abrir_necesidad_adaptada",
        task_display_name="4. Abrir la necesidad de comunicación de una acción adaptada",
    )
    def abrir_necesidad_adaptada(run: dict):
        red_steps.open_need(run)

    abrir = abrir_necesidad_adaptada.expand(run=adaptadas)

    @task(
        task_id="resumen_del_dia",
        task_display_name="4. Resumen del día de las acciones conjuntas al equipo",
        trigger_rule="all_done",
    )
    def resumen_del_dia(**context):
        return red_steps.summary(context)

    publicar = amplificar()
    recibir_de_la_red() >> enviar_a_la_red()
    leer_agenda() >> esperar >> [publicar, adaptadas]
    [publicar, abrir] >> resumen_del_dia()
