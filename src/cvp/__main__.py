"""Command line of the domain package: `python -m cvp ...` (also installed as `cvp`).

Writes the same records the web forms write, through the same role-checked commands
(:mod:`cvp.commands`), so the office (and the tests) can act on a need without a browser. Messages are
in Spanish; errors exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cvp import commands
from cvp import procedure as P


def _office(args):
    from cvp.config import settings
    from cvp.mail import mailer_from_env
    from cvp.office import Office
    from cvp.storage import default_storage

    cfg = settings()
    storage = default_storage(cfg)  # CVP_STORAGE_URL (and CVP_STORAGE_CONN_ID): the same store as Airflow's side
    return Office(args.url, cfg=cfg, mailer=mailer_from_env(storage.child("buzon")), storage=storage)


def _json_arg(value: str) -> dict:
    path = Path(value)
    text = path.read_text(encoding="utf-8") if not value.lstrip().startswith("{") and path.exists() else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"Error: el JSON no es válido ({exc.msg}, línea {exc.lineno}).") from None
    if not isinstance(data, dict):
        raise SystemExit("Error: se esperaba un objeto JSON ({...}).")
    return data


def _print(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def cmd_db(args) -> None:
    from cvp.config import settings
    from cvp.records.db import AppRoleError, current_revision, grant_app_role, migrate

    url = args.url or settings().default_records_url
    migrate(url)
    print(f"Base de registros al día (migración {current_revision(url)}).")
    if args.app_role:
        try:
            grant_app_role(url, args.app_role)
        except AppRoleError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return 2
        print(
            f"Rol «{args.app_role}» con los permisos de la aplicación: lee y agrega; no modifica ni borra "
            "eventos ni decisiones, de una revisión solo cambia su estado, no vacía tablas ni toca los disparadores."
        )


def cmd_register(args) -> None:
    office = _office(args)
    need = office.register_need(_json_arg(args.datos), args.como)
    print(f"Necesidad n.º {need.id} registrada.")


def cmd_meeting(args) -> None:
    office = _office(args)
    doc = commands.record_meeting(office, args.como, args.necesidad, _json_arg(args.datos))
    office.deliver_pending(need_id=args.necesidad)
    print(f"Registro de reunión {P.MEETING_FORM_CODE} guardado (documento {doc.id}).")


def cmd_plan(args) -> None:
    office = _office(args)
    doc = commands.record_plan(office, args.como, args.necesidad, _json_arg(args.datos))
    print(f"Plan de contenidos guardado (documento {doc.id}).")


def cmd_drafts(args) -> None:
    _print(_office(args).drafts(args.necesidad))


def cmd_submit_text(args) -> None:
    office = _office(args)
    texts = dict(_json_arg(args.textos)) if args.textos else None  # None: the drafts
    rev = commands.submit_text(office, args.como, args.necesidad, texts, note=args.nota or "")
    office.deliver_pending(need_id=args.necesidad)
    print(f"Texto presentado: revisión {rev.number} (id {rev.id}).")


def cmd_submit_design(args) -> None:
    office = _office(args)
    path = Path(args.archivo)
    if not path.is_file():
        raise SystemExit(f"Error: no existe el archivo {path}.")
    rev = commands.submit_design(
        office, args.como, args.necesidad, path, path.name, alt_text=args.alt or "", note=args.nota or ""
    )
    office.deliver_pending(need_id=args.necesidad)
    print(f"Diseño cargado: revisión {rev.number} (id {rev.id}, SHA-256 {rev.sha256}).")


def cmd_decide(args) -> None:
    from datetime import datetime

    from cvp.config import bogota

    office = _office(args)
    publish_at = bogota(datetime.fromisoformat(args.publicar_en)) if args.publicar_en else None
    out = commands.decide(
        office,
        args.como,
        args.necesidad,
        args.revision,
        args.punto,
        args.decision,
        args.comentario or "",
        publish_at=publish_at,
    )
    office.deliver_pending(need_id=args.necesidad)
    note = " (ya estaba registrada)" if out.already_recorded else ""
    print(f"Decisión «{out.decision.decision}» registrada en el punto de control {args.punto}{note}.")


def cmd_cancel(args) -> None:
    office = _office(args)
    commands.cancel_need(office, args.como, args.necesidad, args.motivo)
    print(f"Necesidad n.º {args.necesidad} cancelada; sus pasos pendientes terminan sin publicar.")


def cmd_history(args) -> None:
    office = _office(args)
    for e in office.events(args.necesidad):
        print(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.activity:>2}. {e.action:<28} {e.actor:<14} {e.summary}")


def cmd_export(args) -> None:
    from cvp import export

    office = _office(args)
    if args.guardar:
        for key in export.save_record(office, args.necesidad):
            print(f"Expediente guardado: {office.storage.uri(key)}")
        return
    if args.formato == "json":
        _print(export.record(office, args.necesidad))
    else:
        sys.stdout.write(export.record_html(office, args.necesidad))


def cmd_publication(args) -> None:
    office = _office(args)
    if args.accion == "confirmar":
        if not args.url:
            raise SystemExit("Error: indique --url de la publicación encontrada.")
        row = commands.confirm_publication(office, args.como, args.id, args.url, args.remote_id or "")
    else:  # the person asking for a resend from the command line has looked at the account
        row = commands.allow_publication_retry(office, args.como, args.id, reviewed=True)
    print(f"Registro de publicación {row.id}: {row.state}.")


def cmd_check(args) -> int:
    from cvp.checks import check_text, probe_media, render_findings_es

    text = Path(args.texto).read_text(encoding="utf-8") if args.archivo_texto else args.texto
    media = [probe_media(m, alt_text=args.alt) for m in (args.medio or [])]
    report = check_text(args.canal, text, title=args.titulo or "", media=media)
    if args.json:
        _print(report.to_dict())
    else:
        print(render_findings_es(report))
    return 1 if report.blocking else 0


def cmd_number(args) -> int:
    """The need's number for an Airflow run id (waiting, if asked, for activity 1 to register it)."""
    import time

    from cvp.errors import NotFound

    office = _office(args)
    deadline = time.monotonic() + max(0.0, args.esperar)
    while True:
        try:
            print(office.need_by_run(args.run_id).id)
            return 0
        except NotFound:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)


def _records_configured(args) -> bool:
    import os

    return bool(
        args.url
        or os.environ.get("CVP_RECORDS_URL")
        or os.environ.get("CVP_DATA_DIR")
        or os.environ.get("AIRFLOW_HOME")
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cvp", description="Procedimiento 208-COM-Pr-04: registros de la OAC.")
    p.add_argument("--url", help="URL SQLAlchemy de la base de registros (por defecto CVP_RECORDS_URL o SQLite local)")
    sub = p.add_subparsers(dest="cmd", required=True)

    sp = sub.add_parser("db", help="crear o actualizar el esquema de la base de registros")
    sp.add_argument(
        "--app-role",
        metavar="ROL",
        help="PostgreSQL: dar al rol con que corre la aplicación (no dueño de las tablas) solo los "
        "permisos que usa; ejecutar como el dueño de las tablas",
    )
    sp.set_defaults(fn=cmd_db)

    def need_cmd(name, fn, help_, *, actor=True):
        sp = sub.add_parser(name, help=help_)
        sp.add_argument("necesidad", type=int, help="número de la necesidad")
        if actor:
            sp.add_argument("--como", required=True, help="usuario que actúa (su rol se verifica)")
        sp.set_defaults(fn=fn)
        return sp

    sp = sub.add_parser("necesidad", help="registrar una necesidad (actividad 1) fuera de Airflow")
    sp.add_argument("datos", help="JSON (o archivo) con los campos del formulario de Airflow")
    sp.add_argument("--como", required=True)
    sp.set_defaults(fn=cmd_register)
    need_cmd("reunion", cmd_meeting, "actividad 2: registro de reunión (208-SADM-Ft-54)").add_argument(
        "datos",
        help='JSON: {"temas": [...], "fuentes": [...], "productos": [...], "canales": [...], "asistentes": [...]}',
    )
    need_cmd("plan", cmd_plan, "actividad 3: contenidos y acciones con las dependencias").add_argument(
        "datos", help='JSON: {"contenidos": [...], "enlaces": [...]}'
    )
    need_cmd("borradores", cmd_drafts, "borradores por canal desde las plantillas", actor=False)
    sp = need_cmd("texto", cmd_submit_text, "actividades 5/8: presentar el texto (por canal)")
    sp.add_argument("--textos", help='JSON {"x": "...", "facebook": "..."}; sin él, los borradores')
    sp.add_argument("--nota", help="qué cambió respecto de la revisión anterior")
    sp = need_cmd("diseno", cmd_submit_design, "actividad 10: cargar el diseño (imagen, PDF o video)")
    sp.add_argument("archivo")
    sp.add_argument("--alt", help="texto alternativo (obligatorio para imágenes)")
    sp.add_argument("--nota")
    sp = need_cmd("decidir", cmd_decide, "actividades 7/12: decisión de la Jefe OAC")
    sp.add_argument("--punto", type=int, required=True, choices=sorted(P.REVIEW_AT))
    sp.add_argument("--decision", required=True, choices=[d.value for d in P.DECISIONS])
    sp.add_argument("--revision", type=int, help="id de la revisión vista (por defecto la vigente)")
    sp.add_argument("--comentario")
    sp.add_argument("--publicar-en", help="fecha y hora de publicación (ISO, hora de Bogotá), punto 12")
    sp = need_cmd("cancelar", cmd_cancel, "la Jefe OAC retira una necesidad antes de publicarla")
    sp.add_argument("--motivo", required=True)
    sp = sub.add_parser("numero", help="número de la necesidad de una ejecución de Airflow (su run_id)")
    sp.add_argument("run_id")
    sp.add_argument(
        "--esperar",
        type=float,
        default=0,
        metavar="SEG",
        help="esperar hasta SEG segundos a que la actividad 1 la registre",
    )
    sp.set_defaults(fn=cmd_number)
    need_cmd("historial", cmd_history, "trazabilidad de la necesidad", actor=False)
    sp = need_cmd("exportar", cmd_export, "expediente (Ley 1712) en JSON o HTML", actor=False)
    sp.add_argument("--formato", choices=["json", "html"], default="json")
    sp.add_argument(
        "--guardar",
        action="store_true",
        help="guardar el expediente (JSON y HTML) en el almacenamiento de archivos (CVP_STORAGE_URL)",
    )
    sp = sub.add_parser("verificar", help="verificar un texto (y sus medios) antes de presentarlo")
    sp.add_argument("texto", help="el texto (o la ruta de un archivo con --archivo-texto)")
    sp.add_argument("--canal", required=True, choices=sorted(P.CHANNELS))
    sp.add_argument("--titulo", help="título (YouTube)")
    sp.add_argument("--medio", action="append", help="archivo de imagen o video (se puede repetir)")
    sp.add_argument("--alt", help="texto alternativo de los medios")
    sp.add_argument("--archivo-texto", action="store_true")
    sp.add_argument("--json", action="store_true", help="hallazgos en JSON")
    sp.set_defaults(fn=cmd_check)
    sp = sub.add_parser("publicacion", help="resolver una publicación sin confirmar")
    sp.add_argument("accion", choices=["confirmar", "reintentar"])
    sp.add_argument("id", type=int)
    sp.add_argument("--url")
    sp.add_argument("--remote-id")
    sp.add_argument("--como", required=True)
    sp.set_defaults(fn=cmd_publication)
    return p


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import OperationalError

    from cvp.errors import CvpError

    args = build_parser().parse_args(argv)
    if args.cmd != "verificar" and not _records_configured(args):
        # Without these, the records would silently go to a new ~/cvp/registros.db nobody else reads.
        print(
            "Error: no se sabe qué base de registros usar. Para la de `./dev up`, ejecute antes\n"
            '  eval "$(.venv/bin/python scripts/stack.py env)"\n'
            "o indique CVP_RECORDS_URL (o --url).",
            file=sys.stderr,
        )
        return 2
    try:
        code = args.fn(args)
    except CvpError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except OperationalError as exc:
        if "no such table" in str(exc) or "does not exist" in str(exc):
            print("Error: la base de registros no tiene su esquema: ejecute `python -m cvp db`.", file=sys.stderr)
            return 2
        raise
    return code or 0


if __name__ == "__main__":
    raise SystemExit(main())
