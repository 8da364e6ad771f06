#!/usr/bin/env bash
# First start: write slapd's configuration for LDAP_BASE_DN (memberOf overlay, so FAB can map groups
# to roles) and load every *.ldif in LDAP_SEED_DIR through a running slapd, so memberOf is filled in.
# Later starts find the configuration in the volume and only serve. Messages are for the person
# reading `docker compose logs openldap`.
set -euo pipefail

BASE_DN=${LDAP_BASE_DN:-dc=cvp,dc=gov,dc=co}
ADMIN_DN="cn=admin,${BASE_DN}"
STATE_DIR=${LDAP_STATE_DIR:-/var/lib/ldap}
SEED_DIR=${LDAP_SEED_DIR:-/seed}
LISTEN_URL=${LDAP_LISTEN_URL:-ldap:///}
MODULE_DIR=${LDAP_MODULE_DIR:-/usr/lib/ldap}
SCHEMA_DIR=${LDAP_SCHEMA_DIR:-/etc/ldap/schema}
CONF_DIR="$STATE_DIR/slapd.d"
READY="$STATE_DIR/.configurado"
DATA_DIR="$STATE_DIR/data"
SOCKET="$STATE_DIR/ldapi"
# The example people's initial passwords: a 0600 file in the data volume, never in the log.
SECRETS_FILE="$STATE_DIR/contrasenas-iniciales.txt"
LDAPI_URL="ldapi://$(printf %s "$SOCKET" | sed 's,/,%2F,g')"

say() { printf '[openldap] %s\n' "$*"; }

configure() {
  if [[ -z "${LDAP_ADMIN_PASSWORD:-}" ]]; then
    say "Falta LDAP_ADMIN_PASSWORD (archivo .env): es la contraseña de ${ADMIN_DN}." >&2
    exit 1
  fi
  say "Primer arranque: directorio ${BASE_DN}."
  mkdir -p "$CONF_DIR" "$DATA_DIR"
  local hash
  hash=$(slappasswd -s "$LDAP_ADMIN_PASSWORD")
  slapadd -n 0 -F "$CONF_DIR" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: ${MODULE_DIR}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://${SCHEMA_DIR}/core.ldif
include: file://${SCHEMA_DIR}/cosine.ldif
include: file://${SCHEMA_DIR}/nis.ldif
include: file://${SCHEMA_DIR}/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: ${BASE_DN}
olcRootDN: ${ADMIN_DN}
olcRootPW: ${hash}
olcDbDirectory: ${DATA_DIR}
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by * read

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={1}refint,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {1}refint
olcRefintAttribute: member
olcRefintAttribute: memberOf
LDIF

  slapd -F "$CONF_DIR" -h "$LDAPI_URL" -d 0 >/dev/null 2>&1 &
  local pid=$! tries=0
  until ldapsearch -x -H "$LDAPI_URL" -b "" -s base -LLL namingContexts >/dev/null 2>&1; do
    ((++tries > 100)) && { say "slapd no arrancó." >&2; exit 1; }
    sleep 0.1
  done
  local add=(ldapadd -x -H "$LDAPI_URL" -D "$ADMIN_DN" -w "$LDAP_ADMIN_PASSWORD")
  local seeds=()
  [[ -d "$SEED_DIR" ]] && mapfile -t seeds < <(find "$SEED_DIR" -maxdepth 1 -name '*.ldif' | sort)
  if ! grep -qiE "^dn: *${BASE_DN}\$" "${seeds[@]:-/dev/null}"; then
    local top=${BASE_DN%%,*}
    "${add[@]}" >/dev/null <<LDIF
dn: ${BASE_DN}
objectClass: dcObject
objectClass: organization
o: ${LDAP_ORGANIZATION:-Caja de la Vivienda Popular}
dc: ${top#dc=}
LDIF
  fi
  for seed in "${seeds[@]}"; do
    say "Cargando ${seed}…"
    "${add[@]}" -f "$seed" >/dev/null
  done
  # The read-only service account Airflow binds with (CVP_LDAP_BIND_DN / CVP_LDAP_BIND_PASSWORD).
  if [[ -n "${LDAP_READONLY_PASSWORD:-}" ]]; then
    "${add[@]}" >/dev/null <<LDIF
dn: cn=readonly,${BASE_DN}
objectClass: simpleSecurityObject
objectClass: organizationalRole
cn: readonly
description: Cuenta de servicio de Airflow, solo lectura
userPassword: $(slappasswd -s "$LDAP_READONLY_PASSWORD")
LDIF
    say "Cuenta de servicio cn=readonly,${BASE_DN} creada."
  fi
  # The example people come without passwords (none is kept in the repository): each gets a random
  # one, kept only in SECRETS_FILE (created 0600), never printed. Only a first start gets here.
  local dn password people=0
  (umask 077 && printf '%s\n' \
    "# Contraseñas iniciales de las personas del directorio de ejemplo (DN: contraseña)." \
    "# Solo para probar el inicio de sesión con LDAP; no es el directorio de la oficina." >"$SECRETS_FILE")
  chmod 0600 "$SECRETS_FILE"
  while read -r dn; do
    password=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 16 || true)
    ldappasswd -x -H "$LDAPI_URL" -D "$ADMIN_DN" -w "$LDAP_ADMIN_PASSWORD" -s "$password" "$dn" >/dev/null
    printf '%s: %s\n' "$dn" "$password" >>"$SECRETS_FILE"
    say "Contraseña inicial de ${dn} guardada."
    ((++people))
  done < <(ldapsearch -x -H "$LDAPI_URL" -D "$ADMIN_DN" -w "$LDAP_ADMIN_PASSWORD" -b "$BASE_DN" -LLL -o ldif-wrap=no \
             '(&(objectClass=inetOrgPerson)(!(userPassword=*)))' 1.1 | sed -n 's/^dn: //p')
  say "${people} contraseña(s) inicial(es) en ${SECRETS_FILE} (solo legible por su dueño; nunca se muestran" \
      "en el registro). Para leerlas: docker compose --profile openldap exec openldap cat ${SECRETS_FILE}"
  kill "$pid"
  wait "$pid" || true
  say "Directorio listo: $(find "$SEED_DIR" -maxdepth 1 -name '*.ldif' 2>/dev/null | wc -l) archivo(s) de ejemplo cargado(s)."
}

# A first start cut short leaves no marker: it starts over from an empty directory.
if [[ ! -f "$READY" ]]; then
  rm -rf "$CONF_DIR" "$DATA_DIR" "$SOCKET" "$SECRETS_FILE"
  configure
  touch "$READY"
fi
say "Sirviendo ${BASE_DN} en ${LISTEN_URL}."
exec slapd -F "$CONF_DIR" -h "$LISTEN_URL" -d "${LDAP_DEBUG:-0}"
