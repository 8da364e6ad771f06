"""
# Banco de pruebas: espera de una aprobación (nuestro sensor frente al HITL de Airflow)

Dos DAG mínimos que solo usa `bench/bench_resume.py` y `bench/bench_waiting_cost.py`, con una pila
de Airflow propia cuya carpeta de DAG es `bench/dags` (no se despliegan con el producto).

- **bench_cvp_wait**: `RecordSensor(condition="texto_aprobado")` diferido en el *triggerer* hasta que la
  Jefe OAC aprueba el texto en la base de registros; luego la tarea `siguiente`.
- **bench_hitl_wait**: el `ApprovalOperator` incorporado de Airflow 3.3 (la tarea queda en
  `awaiting_input` hasta un `PATCH .../hitlDetails`); luego la misma tarea `siguiente`.

- **bench_cvp_wait_worker** (solo si `RecordSensor` acepta `end_from_trigger`): el mismo sensor con
  `end_from_trigger=False`, es decir, el evento del *trigger* reanuda la tarea en un trabajador
  (`execute_complete`) en vez de terminarla desde el *triggerer*; sirve para ver qué aporta cada camino.

`siguiente` es una tarea real (no `EmptyOperator`, que el planificador marca como hecha sin trabajador),
para medir hasta que el siguiente paso arranca en un trabajador.
"""

from __future__ import annotations

import inspect
from datetime import datetime, timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, task

from cvp_airflow.sensors import RecordSensor

DEFAULT_ARGS = {"owner": "oac", "retries": 1, "retry_delay": timedelta(seconds=20)}
COMMON = dict(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=5000,
    max_active_tasks=64,
    default_args=DEFAULT_ARGS,
    tags=["cvp", "bench"],
    doc_md=__doc__,
)


@task(task_id="siguiente", task_display_name="Paso siguiente")
def siguiente() -> str:
    return "ok"


with DAG(
    dag_id="bench_cvp_wait",
    dag_display_name="Banco: espera con RecordSensor (CVP)",
    description="Un RecordSensor diferido que espera la aprobación del texto, y un paso siguiente.",
    **COMMON,
):
    (
        RecordSensor(
            task_id="esperar_aprobacion",
            task_display_name="Esperar la aprobación (registros CVP)",
            condition="texto_aprobado",
        )
        >> siguiente()
    )

with DAG(
    dag_id="bench_hitl_wait",
    dag_display_name="Banco: espera con ApprovalOperator (HITL)",
    description="El ApprovalOperator de Airflow (awaiting_input), y un paso siguiente.",
    **COMMON,
):
    (
        ApprovalOperator(
            task_id="esperar_aprobacion",
            task_display_name="Esperar la aprobación (HITL de Airflow)",
            subject="Aprobación del texto (banco de pruebas)",
            body="Apruebe para que la ejecución continúe.",
        )
        >> siguiente()
    )

if "end_from_trigger" in inspect.signature(RecordSensor.__init__).parameters:
    with DAG(
        dag_id="bench_cvp_wait_worker",
        dag_display_name="Banco: espera con RecordSensor reanudado en un trabajador",
        description="El RecordSensor con end_from_trigger=False (execute_complete en un trabajador), y un paso siguiente.",
        **COMMON,
    ):
        (
            RecordSensor(
                task_id="esperar_aprobacion",
                task_display_name="Esperar la aprobación (registros CVP)",
                condition="texto_aprobado",
                end_from_trigger=False,
            )
            >> siguiente()
        )
