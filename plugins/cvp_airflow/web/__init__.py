"""The web front of procedure 208-COM-Pr-04: pages and JSON API mounted on Airflow's api-server at /cvp.

Built only inside the api-server (see plugins/cvp_plugin.py): importing this package loads FastAPI
and Airflow's API security, which tasks and the dag-processor do not need.
"""
