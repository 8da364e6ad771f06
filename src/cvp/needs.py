"""The communication need as stated at activity 1, validated with messages in Spanish."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from cvp.config import bogota, bogota_date
from cvp.errors import InvalidInput
from cvp.procedure import AUDIENCES, CHANNELS, DEPARTMENTS, SOURCES


@dataclass(frozen=True)
class NeedInput:
    title: str
    description: str
    source: str
    deadline: date
    channels: tuple[str, ...]
    department: str
    one_off: bool = False
    audiences: tuple[str, ...] = ()
    source_reference: str = ""
    publish_at: datetime | None = None
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        d = asdict(self)
        d["deadline"] = self.deadline.isoformat()
        d["publish_at"] = self.publish_at.isoformat() if self.publish_at else None
        d["channels"], d["audiences"] = list(self.channels), list(self.audiences)
        return d


def _text(
    conf: dict, key: str, label: str, errors: list[str], *, min_len: int, max_len: int, required: bool = True
) -> str:
    value = conf.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append(f"«{label}» es obligatorio.")
        return ""
    if not isinstance(value, str):
        errors.append(f"«{label}» debe ser texto.")
        return ""
    value = value.strip()
    if any(c == "\0" or "\ud800" <= c <= "\udfff" for c in value):  # no database or page can carry them
        errors.append(
            f"«{label}» contiene un carácter que no se puede guardar (la mitad suelta de un emoji o "
            "símbolo, o un carácter nulo): bórrelo y, si era un emoji, vuelva a insertarlo completo."
        )
    if len(value) < min_len:
        errors.append(f"«{label}» es muy corto: escriba al menos {min_len} caracteres.")
    if len(value) > max_len:
        errors.append(f"«{label}» es muy largo: máximo {max_len} caracteres (tiene {len(value)}).")
    return value


def _choices(conf: dict, key: str, label: str, allowed: dict, errors: list[str], *, min_items: int) -> tuple:
    value = conf.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        errors.append(f"«{label}» debe ser una lista.")
        return ()
    unknown = [v for v in value if v not in allowed]
    if unknown:
        errors.append(f"«{label}»: valor no reconocido {', '.join(map(str, unknown))}. Opciones: {', '.join(allowed)}.")
    if len(value) < min_items:
        errors.append(f"«{label}»: elija al menos {min_items}.")
    return tuple(dict.fromkeys(v for v in value if v in allowed))


def parse_need(conf: dict[str, Any], *, today: date | None = None) -> NeedInput:
    """Validate the trigger form (or CLI) input; raise InvalidInput listing every problem at once."""
    errors: list[str] = []
    today = today or bogota_date()
    title = _text(conf, "titulo", "Título", errors, min_len=5, max_len=200)
    description = _text(conf, "necesidad", "Necesidad de comunicación", errors, min_len=10, max_len=5000)
    source = conf.get("fuente")
    if source not in SOURCES:
        errors.append(f"«Fuente de la necesidad» no reconocida: {source!r}. Opciones: {', '.join(SOURCES)}.")
    reference = _text(
        conf,
        "referencia_fuente",
        "Referencia de la fuente",
        errors,
        min_len=0,
        max_len=250,
        required=source in ("comite", "otra"),
    )
    channels = _choices(conf, "canales", "Canales", CHANNELS, errors, min_items=1)
    audiences = _choices(conf, "publicos_interes", "Públicos de interés", AUDIENCES, errors, min_items=1)
    department = conf.get("dependencia")
    if department not in DEPARTMENTS:
        errors.append(f"«Dependencia solicitante» no reconocida: {department!r}.")
    one_off = conf.get("accion_puntual", False)
    if not isinstance(one_off, bool):
        errors.append("«¿Es una acción puntual?» debe ser sí o no.")
    deadline = None
    raw_deadline = conf.get("fecha_limite")
    try:
        deadline = date.fromisoformat(str(raw_deadline))
    except ValueError:
        errors.append(f"«Fecha límite» no es una fecha válida (AAAA-MM-DD): {raw_deadline!r}.")
    else:
        if deadline < today:
            errors.append(f"«Fecha límite» ({deadline:%d/%m/%Y}) ya pasó: elija hoy o una fecha futura.")
    publish_at = None
    raw_publish = conf.get("publicar_en")
    if raw_publish:
        try:
            publish_at = datetime.fromisoformat(str(raw_publish))
            if publish_at.tzinfo is None:  # as typed: Bogotá time
                publish_at = bogota(publish_at)
        except ValueError:
            errors.append(f"«Fecha y hora de publicación» no es válida: {raw_publish!r}.")
    if errors:
        raise InvalidInput("La necesidad de comunicación no se puede registrar:", details=errors)
    return NeedInput(
        title=title,
        description=description,
        source=source,
        deadline=deadline,
        channels=channels,
        department=department,
        one_off=one_off,
        audiences=audiences,
        source_reference=reference,
        publish_at=publish_at,
    )
