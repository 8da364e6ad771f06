"""Domain core of the CVP publishing pipeline (procedure 208-COM-Pr-04, Caja de la Vivienda Popular).

Knows nothing of Airflow: records, content rendering and checks, publishers and metrics live here and
are driven by the DAGs and the plugin.
"""

__version__ = "0.1.0"
