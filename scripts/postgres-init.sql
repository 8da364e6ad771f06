-- The records database, separate from Airflow's metadata (docker-compose.yml).
CREATE DATABASE cvp OWNER airflow;
