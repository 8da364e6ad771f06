"""A private OpenLDAP directory (Debian's slapd) on 127.0.0.1 for tests and for trying the directory login by hand.

It holds the office's example team (include/ldap/equipo-ejemplo.ldif: people jefe, profesional, tecnico,
lector, admin in the groups jefes, profesionales, tecnicos, lectores, admins) under dc=cvp,dc=gov,dc=co,
like the deployment's optional openldap service, so the tests exercise the same tree. slapd runs in the
foreground of its own process, in a temporary folder, and is stopped by its PID.

    python scripts/ldap_server.py          # start, print the CVP_LDAP_* variables and the passwords, wait for ^C
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_LDIF = ROOT / "include" / "ldap" / "equipo-ejemplo.ldif"
SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")

BASE_DN = "dc=cvp,dc=gov,dc=co"
ADMIN_DN = f"cn=admin,{BASE_DN}"  # rootdn: writes (seeding, tests that change the team)
READONLY_DN = f"cn=readonly,{BASE_DN}"  # service account Airflow binds with (read only)
PEOPLE_BASE = f"ou=personas,{BASE_DN}"
GROUPS_BASE = f"ou=grupos,{BASE_DN}"
USERS = ("jefe", "profesional", "tecnico", "lector", "admin")
GROUPS = {
    "jefe": "jefes",
    "profesional": "profesionales",
    "tecnico": "tecnicos",
    "lector": "lectores",
    "admin": "admins",
}


def available() -> bool:
    """Whether slapd and the schemas this server needs are installed (tests skip otherwise)."""
    return (
        Path(SLAPD).exists()
        and (SCHEMA_DIR / "inetorgperson.schema").exists()
        and (MODULE_DIR / "back_mdb.la").exists()
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_dn(user: str) -> str:
    return f"cn={GROUPS[user]},{GROUPS_BASE}"


def person_dn(user: str) -> str:
    return f"uid={user},{PEOPLE_BASE}"


def ssha(password: str) -> str:
    """The {SSHA} form slapd checks; the clear password never reaches a file."""
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


@dataclass
class LdapServer:
    """One slapd; ``passwords`` maps each example user (and ``admin_dn``/``readonly``) to a password."""

    port: int = 0
    memberof: bool = True
    passwords: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    proc: subprocess.Popen | None = None

    def __post_init__(self):
        self.port = self.port or free_port()
        for user in (*USERS, "readonly", "rootdn"):
            self.passwords.setdefault(user, secrets.token_urlsafe(12))

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> LdapServer:
        self.folder = Path(tempfile.mkdtemp(prefix="cvp-slapd-"))
        self.folder.chmod(0o700)
        (self.folder / "db").mkdir()
        conf = self.folder / "slapd.conf"
        conf.write_text(self._config(), encoding="utf-8")
        log = open(self.folder / "slapd.log", "wb")
        # -d keeps slapd in the foreground, so this Popen's PID is the server's PID.
        self.proc = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"slapd no arrancó: {(self.folder / 'slapd.log').read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("slapd no respondió a tiempo") from None
                time.sleep(0.1)
        self._seed()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __enter__(self) -> LdapServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- what the product reads --------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The CVP_LDAP_* variables of the api-server and the workers for this directory."""
        return {
            "CVP_LDAP_URL": self.url,
            "CVP_LDAP_BIND_DN": READONLY_DN,
            "CVP_LDAP_BIND_PASSWORD": self.passwords["readonly"],
            "CVP_LDAP_USER_BASE": PEOPLE_BASE,
            "CVP_LDAP_UID_ATTR": "uid",
            "CVP_LDAP_GROUP_JEFE": group_dn("jefe"),
            "CVP_LDAP_GROUP_PROFESIONAL": group_dn("profesional"),
            "CVP_LDAP_GROUP_TECNICO": group_dn("tecnico"),
            "CVP_LDAP_GROUP_LECTOR": group_dn("lector"),
            "CVP_LDAP_GROUP_ADMIN": group_dn("admin"),
            "CVP_LDAP_TIMEOUT": "5",
        }

    # --- changes (as the directory's administrator) ------------------------------------------------

    def connect_admin(self):
        import ldap

        con = ldap.initialize(self.url)
        con.set_option(ldap.OPT_NETWORK_TIMEOUT, 5)
        con.simple_bind_s(ADMIN_DN, self.passwords["rootdn"])
        return con

    def remove_member(self, group: str, user: str) -> None:
        import ldap

        con = self.connect_admin()
        try:
            con.modify_s(group, [(ldap.MOD_DELETE, "member", [person_dn(user).encode()])])
        finally:
            con.unbind_s()

    def add_member(self, group: str, user: str) -> None:
        import ldap

        con = self.connect_admin()
        try:
            con.modify_s(group, [(ldap.MOD_ADD, "member", [person_dn(user).encode()])])
        finally:
            con.unbind_s()

    # --- internals ---------------------------------------------------------------------------------

    def _config(self) -> str:
        assert self.folder is not None
        memberof = ""
        if self.memberof:
            memberof = (
                "overlay memberof\nmemberof-group-oc groupOfNames\nmemberof-member-ad member\n"
                "memberof-memberof-ad memberOf\nmemberof-refint TRUE\n"
            )
        schemas = "".join(
            f"include {SCHEMA_DIR / name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis")
        )
        return (
            f"{schemas}"
            f"pidfile {self.folder / 'slapd.pid'}\nargsfile {self.folder / 'slapd.args'}\n"
            f"modulepath {MODULE_DIR}\nmoduleload back_mdb\n"
            + ("moduleload memberof\n" if self.memberof else "")
            + "database mdb\nmaxsize 10485760\n"
            f'suffix "{BASE_DN}"\nrootdn "{ADMIN_DN}"\nrootpw {ssha(self.passwords["rootdn"])}\n'
            f"directory {self.folder / 'db'}\n"
            # Like the osixia/openldap image with LDAP_READONLY_USER: people bind for themselves, the
            # read-only service account reads the tree, nobody else reads anything.
            "access to attrs=userPassword by anonymous auth by self write by * none\n"
            f'access to * by dn.exact="{READONLY_DN}" read by self read by * none\n' + memberof
        )

    def _seed(self) -> None:
        import ldap
        import ldap.modlist
        from ldif import LDIFRecordList

        con = self.connect_admin()
        try:
            con.add_s(
                BASE_DN,
                ldap.modlist.addModlist(
                    {
                        "objectClass": [b"top", b"dcObject", b"organization"],
                        "dc": [b"cvp"],
                        "o": [b"Caja de la Vivienda Popular"],
                    }
                ),
            )
            con.add_s(
                READONLY_DN,
                ldap.modlist.addModlist(
                    {
                        "objectClass": [b"simpleSecurityObject", b"organizationalRole"],
                        "cn": [b"readonly"],
                        "userPassword": [ssha(self.passwords["readonly"]).encode()],
                    }
                ),
            )
            records = LDIFRecordList(open(SEED_LDIF, "rb"))
            records.parse()
            for dn, entry in records.all_records:
                uid = entry.get("uid", [b""])[0].decode()
                if uid in USERS:
                    entry = {**entry, "userPassword": [ssha(self.passwords[uid]).encode()]}
                con.add_s(dn, ldap.modlist.addModlist(entry))
        finally:
            con.unbind_s()


def main() -> int:
    server = LdapServer(port=int(os.environ.get("CVP_LDAP_PORT", "0") or 0)).start()
    try:
        for key, value in server.env().items():
            print(f"export {key}={value!r}", flush=True)
        print("# Contraseñas: " + ", ".join(f"{u}={server.passwords[u]}" for u in USERS), file=sys.stderr)
        print(f"# slapd PID {server.proc.pid} en {server.url}; Ctrl+C lo detiene.", file=sys.stderr)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        server.proc.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
