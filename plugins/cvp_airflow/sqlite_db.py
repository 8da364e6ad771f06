"""Connection arguments for Airflow's metadata database on SQLite (the embedded default only).

SQLite lets one writer in at a time and makes the others wait up to its busy timeout, 5 s by default.
On a busy two-core machine the scheduler starting the daily runs can hold the lock longer than that,
and Airflow then answers a person's trigger with a 500. Thirty seconds turns those into a short wait.
Airflow reads these through ``[database] sql_alchemy_connect_args`` (and ``..._async``).
"""

CONNECT_ARGS = {"timeout": 30}
ASYNC_CONNECT_ARGS = {"timeout": 30}
