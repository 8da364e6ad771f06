"""Engine and schema of the records database (SQLite file by default, PostgreSQL in production)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One pooled engine per URL and process; SQLite gets WAL and a busy timeout for concurrent writers."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    connect_args = {"connect_timeout": 10} if url.startswith("postgresql") else {}
    return create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=3, connect_args=connect_args)


def alembic_config(url: str):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine_for(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# Tables the application only appends to (the audit trail and the head's decisions, joint actions too), and the one it
# updates on a single column (a revision's state, when the head decides): the triggers of migrations
# 0001, 0004 and 0009 refuse the rest, and the privileges below do not even grant it.
APPEND_ONLY_TABLES = ("events", "decisions", "joint_action_decisions")
COLUMN_UPDATES = {"revisions": ("state",)}
READ_ONLY_TABLES = ("alembic_version",)


class AppRoleError(Exception):
    """The role cannot serve as the application's restricted role; the message says why, in Spanish."""


def grant_app_role(url: str, role: str) -> list[str]:
    """On PostgreSQL, let ``role`` (not the owner of the tables) do what the product does, and no more.

    Run as the owner of the tables (the account that migrates). The role then cannot drop, disable or
    replace the triggers that keep the trail append-only, cannot TRUNCATE, and may UPDATE or DELETE
    only where the product does. Returns the statements run (idempotent).
    """
    import re

    from sqlalchemy import text

    if not url.startswith("postgresql"):
        raise AppRoleError("--app-role solo aplica a PostgreSQL: en SQLite no hay roles.")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", role):
        raise AppRoleError(f"Nombre de rol no válido: {role!r} (minúsculas, dígitos y _).")
    with engine_for(url).begin() as conn:
        info = conn.execute(
            text(
                "SELECT r.rolsuper, r.rolbypassrls, current_schema(), current_database(), "
                "pg_has_role(:r, n.nspowner, 'USAGE'), pg_has_role(:r, d.datdba, 'USAGE') "
                "FROM pg_roles r, pg_namespace n, pg_database d "
                "WHERE r.rolname = :r AND n.nspname = current_schema() AND d.datname = current_database()"
            ),
            {"r": role},
        ).first()
        if info is None:
            raise AppRoleError(
                f"El rol «{role}» no existe en el servidor: créelo primero (CREATE ROLE {role} LOGIN PASSWORD '…')."
            )
        superuser, bypass, schema, database, owns_schema, owns_database = info
        owned = list(
            conn.scalars(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'S') AND pg_has_role(:r, c.relowner, 'USAGE')"
                ),
                {"r": role},
            )
        )
        problems = []
        if superuser or bypass:
            problems.append("es superusuario (o salta las políticas): ningún disparador lo detiene")
        if owned:
            problems.append(f"es dueño de {', '.join(sorted(owned))}: migre con otra cuenta, dueña de las tablas")
        if owns_schema or owns_database:
            problems.append(
                f"es dueño del esquema «{schema}» o de la base «{database}» y podría borrar las tablas: "
                f"cambie el dueño (ALTER DATABASE {database} OWNER TO <dueño>; ALTER SCHEMA {schema} "
                "OWNER TO <dueño>)"
            )
        if problems:
            raise AppRoleError(
                f"El rol «{role}» no sirve como rol restringido de la aplicación: " + "; ".join(problems) + "."
            )
        q = conn.dialect.identifier_preparer.quote
        r, s = q(role), q(schema)
        tables = list(
            conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))
        )
        statements = [
            f"GRANT CONNECT ON DATABASE {q(database)} TO {r}",
            f"GRANT USAGE ON SCHEMA {s} TO {r}",
            f"REVOKE CREATE ON SCHEMA {s} FROM {r}",
        ]
        for table in tables:
            t = f"{s}.{q(table)}"
            statements.append(f"REVOKE ALL ON {t} FROM {r}")
            if table in READ_ONLY_TABLES:
                statements.append(f"GRANT SELECT ON {t} TO {r}")
            elif table in APPEND_ONLY_TABLES:
                statements.append(f"GRANT SELECT, INSERT ON {t} TO {r}")
            elif table in COLUMN_UPDATES:
                columns = ", ".join(q(c) for c in COLUMN_UPDATES[table])
                statements.append(f"GRANT SELECT, INSERT, UPDATE ({columns}) ON {t} TO {r}")
            else:
                statements.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {t} TO {r}")
        statements.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}")
        for sql in statements:
            conn.exec_driver_sql(sql)
    return statements
