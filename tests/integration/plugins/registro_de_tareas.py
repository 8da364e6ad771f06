"""A listener plugin as an office's audit would install one: each task event it is told of, one JSON line.

The integration stack loads it (with OpenLineage on the console) so the whole product runs where
listeners are installed, and the tests read ``CVP_TEST_LISTENER_LOG`` to see what they were told.
"""

from __future__ import annotations

import json
import os

from airflow.listeners import hookimpl
from airflow.plugins_manager import AirflowPlugin


def _write(event: str, task_instance) -> None:
    path = os.environ.get("CVP_TEST_LISTENER_LOG")
    if not path:
        return
    line = json.dumps(
        {
            "event": event,
            "dag_id": task_instance.dag_id,
            "run_id": task_instance.run_id,
            "task_id": task_instance.task_id,
            "map_index": getattr(task_instance, "map_index", -1),
            "pid": os.getpid(),
        }
    )
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


class TaskEventLog:
    @hookimpl
    def on_task_instance_running(self, previous_state, task_instance):
        _write("running", task_instance)

    @hookimpl
    def on_task_instance_success(self, previous_state, task_instance):
        _write("success", task_instance)

    @hookimpl
    def on_task_instance_failed(self, previous_state, task_instance, error):
        _write("failed", task_instance)

    @hookimpl
    def on_task_instance_skipped(self, previous_state, task_instance):
        _write("skipped", task_instance)


class RegistroDeTareasPlugin(AirflowPlugin):
    name = "cvp_pruebas_registro_de_tareas"
    listeners = [TaskEventLog()]
