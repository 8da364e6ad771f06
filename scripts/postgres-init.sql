-- First start of the PostgreSQL container of docker-compose.yml (run once, by psql, on an empty data
-- volume). The procedure's records get their own database and two roles, neither a superuser:
--   cvp_owner  owns the database, its schema and the tables: only the `init` service uses it, to migrate;
--   cvp        the account the product runs with: owns nothing, so it cannot drop, disable or replace the
--              triggers that keep the audit trail append-only, nor TRUNCATE; its privileges are granted
--              after each migration by `python -m cvp db --app-role cvp` (docker/airflow-init.sh).
-- Passwords come from the container's environment (CVP_RECORDS_OWNER_PASSWORD, CVP_RECORDS_PASSWORD, from .env).
\set ON_ERROR_STOP on
\getenv cvp_owner_password CVP_RECORDS_OWNER_PASSWORD
\getenv cvp_records_password CVP_RECORDS_PASSWORD
\if :{?cvp_owner_password}
\else
\set cvp_owner_password ''
\endif
\if :{?cvp_records_password}
\else
\set cvp_records_password ''
\endif
SELECT :'cvp_owner_password' = '' AS owner_missing, :'cvp_records_password' = '' AS app_missing \gset
\if :owner_missing
DO $$ BEGIN RAISE EXCEPTION 'Falta CVP_RECORDS_OWNER_PASSWORD en el entorno del contenedor de PostgreSQL (archivo .env).'; END $$;
\endif
\if :app_missing
DO $$ BEGIN RAISE EXCEPTION 'Falta CVP_RECORDS_PASSWORD en el entorno del contenedor de PostgreSQL (archivo .env).'; END $$;
\endif
CREATE ROLE cvp_owner LOGIN PASSWORD :'cvp_owner_password';
CREATE ROLE cvp LOGIN PASSWORD :'cvp_records_password';
CREATE DATABASE cvp OWNER cvp_owner;
REVOKE ALL ON DATABASE cvp FROM PUBLIC;
GRANT CONNECT ON DATABASE cvp TO cvp;
\connect cvp
ALTER SCHEMA public OWNER TO cvp_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO cvp;
