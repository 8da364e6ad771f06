-- First start of the PostgreSQL container of docker-compose.yml (run once, by psql, on an empty data
-- volume). The procedure's records get their own database and their own role, not a superuser: the
-- append-only audit trail's triggers hold against the account the product uses.
-- The role's password comes from the container's environment (CVP_RECORDS_PASSWORD, set from .env).
\set ON_ERROR_STOP on
\getenv cvp_records_password CVP_RECORDS_PASSWORD
\if :{?cvp_records_password}
\else
DO $$ BEGIN RAISE EXCEPTION 'Falta CVP_RECORDS_PASSWORD en el entorno del contenedor de PostgreSQL (archivo .env).'; END $$;
\endif
CREATE ROLE cvp LOGIN PASSWORD :'cvp_records_password';
CREATE DATABASE cvp OWNER cvp;
REVOKE ALL ON DATABASE cvp FROM PUBLIC;
