"""The need's full record, as Ley 1712 of 2014 asks the office to keep and show it: JSON and HTML."""

from __future__ import annotations

import json
from datetime import date, datetime

from cvp import procedure as P
from cvp.checks.findings import finding_es
from cvp.office import Office


def _plain(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _row(obj, fields: dict[str, str]) -> dict:
    """The row's columns under the record's Spanish names (the forms' API uses the same ones)."""
    return {key: _plain(getattr(obj, attr)) for attr, key in fields.items()}


NEED = {
    "id": "id",
    "run_id": "ejecucion",
    "title": "titulo",
    "description": "descripcion",
    "source": "fuente",
    "source_reference": "referencia_fuente",
    "audiences": "publicos_interes",
    "channels": "canales",
    "one_off": "accion_puntual",
    "deadline": "fecha_limite",
    "department": "dependencia",
    "requested_by": "solicitado_por",
    "publish_at": "publicar_en",
    "status": "estado",
    "created_at": "creado_en",
}
DOCUMENT = {
    "id": "id",
    "activity": "actividad",
    "kind": "tipo",
    "data": "datos",
    "author": "autor",
    "created_at": "creado_en",
}
REVISION = {
    "id": "id",
    "kind": "tipo",
    "number": "numero",
    "state": "estado",
    "author": "autor",
    "created_at": "creado_en",
    "title": "titulo",
    "texts": "textos",
    "note": "nota",
    "checks": "hallazgos",
    "filename": "nombre_archivo",
    "media_type": "tipo_medio",
    "size": "tamano",
    "sha256": "sha256",
    "alt_text": "texto_alternativo",
}
DECISION = {
    "control_point": "punto_control",
    "decision": "decision",
    "comment": "comentario",
    "decided_by": "decidido_por",
    "decided_at": "decidido_en",
}
PUBLICATION = {
    "channel": "canal",
    "state": "estado",
    "remote_id": "id_plataforma",
    "url": "url",
    "attempts": "intentos",
    "error": "error",
    "published_at": "publicado_en",
}
MAIL = {
    "activity": "actividad",
    "recipients": "destinatarios",
    "subject": "asunto",
    "created_at": "creado_en",
    "sent_at": "enviado_en",
    "transport": "transporte",
}
EVENT = {
    "id": "id",
    "activity": "actividad",
    "action": "accion",
    "actor": "actor",
    "at": "fecha",
    "summary": "resumen",
    "detail": "detalle",
}


def record(office: Office, need_id: int) -> dict:
    need = office.need(need_id)
    revisions = office.revisions(need_id)
    return {
        "procedimiento": {"codigo": P.PROCEDURE_CODE, "version": P.PROCEDURE_VERSION, "nombre": P.PROCEDURE_NAME},
        "necesidad": _row(need, NEED),
        "documentos": [_row(d, DOCUMENT) for d in office.documents(need_id)],
        "revisiones": [
            {
                **_row(r, REVISION),
                "hallazgos": [finding_es(f) for f in r.checks or []],
                "archivo": r.stored_path or None,  # the design's key in the product's store
                "decision": _row(r.decision, DECISION) if r.decision else None,
            }
            for r in revisions
        ],
        "publicaciones": [_row(p, PUBLICATION) for p in office.publications(need_id)],
        "correos": [_row(n, MAIL) for n in office.notifications(need_id)],
        "eventos": [_row(e, EVENT) for e in office.events(need_id)],
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
