"""The need's full record, as Ley 1712 of 2014 asks the office to keep and show it: JSON and HTML."""

from __future__ import annotations

import json
from datetime import date, datetime

from cvp import procedure as P
from cvp.office import Office


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _row(obj, fields: tuple[str, ...]) -> dict:
    return {f: _plain(getattr(obj, f)) for f in fields}


def record(office: Office, need_id: int) -> dict:
    need = office.need(need_id)
    revisions = office.revisions(need_id)
    return {
        "procedimiento": {"codigo": P.PROCEDURE_CODE, "version": P.PROCEDURE_VERSION, "nombre": P.PROCEDURE_NAME},
        "necesidad": _row(
            need,
            (
                "id",
                "run_id",
                "title",
                "description",
                "source",
                "source_reference",
                "audiences",
                "channels",
                "one_off",
                "deadline",
                "department",
                "requested_by",
                "publish_at",
                "status",
                "created_at",
            ),
        ),
        "documentos": [
            _row(d, ("id", "activity", "kind", "data", "author", "created_at")) for d in office.documents(need_id)
        ],
        "revisiones": [
            {
                **_row(
                    r,
                    (
                        "id",
                        "kind",
                        "number",
                        "state",
                        "author",
                        "created_at",
                        "title",
                        "texts",
                        "note",
                        "checks",
                        "filename",
                        "media_type",
                        "size",
                        "sha256",
                        "alt_text",
                    ),
                ),
                "archivo": r.stored_path or None,  # the design's key in the product's store
                "decision": _row(r.decision, ("control_point", "decision", "comment", "decided_by", "decided_at"))
                if r.decision
                else None,
            }
            for r in revisions
        ],
        "publicaciones": [
            _row(p, ("channel", "state", "remote_id", "url", "attempts", "error", "published_at"))
            for p in office.publications(need_id)
        ],
        "correos": [
            _row(n, ("activity", "recipients", "subject", "created_at", "sent_at", "transport"))
            for n in office.notifications(need_id)
        ],
        "eventos": [
            _row(e, ("id", "activity", "action", "actor", "at", "summary", "detail")) for e in office.events(need_id)
        ],
    }


def record_html(office: Office, need_id: int) -> str:
    return office.renderer.render(
        "registros/expediente.html.j2",
        r=record(office, need_id),
        necesidad=office.need(need_id),
        eventos=office.events(need_id),
        revisiones=office.revisions(need_id),
        publicaciones=office.publications(need_id),
    )


def save_record(office: Office, need_id: int, folder: str = "expedientes") -> list[str]:
    """Keep the record (JSON and HTML) in the product's store, each file whole; returns their keys."""
    stem = f"{folder.strip('/')}/necesidad-{need_id}"
    data = json.dumps(record(office, need_id), ensure_ascii=False, indent=2, default=str)
    return [
        office.storage.write_text(f"{stem}.json", data),
        office.storage.write_text(f"{stem}.html", record_html(office, need_id)),
    ]
