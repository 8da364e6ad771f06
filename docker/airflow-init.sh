#!/usr/bin/env bash
# The `init` service of docker-compose.yml: run before every other Airflow service, on every
# `docker compose up`, and safe to repeat. It migrates Airflow's metadata (FAB's tables too) and the
# records, creates FAB's roles and, without a directory, the first administrator and the office's team.
set -euo pipefail

say() { printf '[init] %s\n' "$*"; }

# Initial passwords of the team (docker-compose.yml mounts the cvp-secretos volume here, for init only).
SECRETS_FILE=/opt/airflow/secretos/contrasenas-iniciales.txt

say "Airflow $(airflow version)"
say "Migrando la base de metadatos de Airflow…"
airflow db migrate
say "Migrando las tablas de usuarios y roles (FAB)…"
airflow fab-db migrate
say "Migrando la base de registros del procedimiento (como su dueño) y dando al rol de la aplicación solo lo que usa…"
CVP_RECORDS_URL="postgresql+psycopg2://cvp_owner:${CVP_RECORDS_OWNER_PASSWORD:?Falta CVP_RECORDS_OWNER_PASSWORD}@${CVP_POSTGRES_HOST:-postgres}:5432/cvp" \
  python -m cvp db --app-role cvp
say "Creando los roles de Airflow (Admin, Op, User, Viewer, Public)…"
airflow sync-perm

if [[ -n "${CVP_LDAP_URL:-}" ]]; then
  say "Inicio de sesión con el directorio ${CVP_LDAP_URL}: los usuarios y sus roles vienen de sus grupos."
  exit 0
fi

username=${_AIRFLOW_WWW_USER_USERNAME:-admin}
if [[ -z "${_AIRFLOW_WWW_USER_PASSWORD:-}" ]]; then
  say "Falta _AIRFLOW_WWW_USER_PASSWORD en .env: sin directorio (CVP_LDAP_URL vacío) hace falta la" \
      "contraseña del primer administrador." >&2
  exit 1
fi
airflow users create --role Admin --username "$username" --password "$_AIRFLOW_WWW_USER_PASSWORD" \
  --firstname "${_AIRFLOW_WWW_USER_FIRSTNAME:-Administración}" \
  --lastname "${_AIRFLOW_WWW_USER_LASTNAME:-CVP}" \
  --email "${_AIRFLOW_WWW_USER_EMAIL:-${username}@cvp.invalid}"

# The forms need the team's users (CVP_TEAM_FILE): each missing one is created once with a random
# password kept in a 0600 file on the cvp-secretos volume (mounted only here), never in this log; the
# administrator reads it, hands the passwords over, and each person changes theirs in Seguridad → Usuarios.
python /opt/cvp/docker/crear_equipo.py "$CVP_TEAM_FILE" "$SECRETS_FILE"
say "Listo."
