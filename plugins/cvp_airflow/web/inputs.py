"""What the forms accept and how they show what they hold, whatever a client sends or a row keeps.

Input: every text field of the JSON API and of the HTML forms refuses lone UTF-16 surrogates and
NUL characters at the door (no page, database driver or mail can carry them), and every record id
is bounded to the databases' 64-bit integers (SQLite raised OverflowError past 2^63, a 500).

Output: rows stored before those refusals may still hold such characters (JSON columns keep them
escaped); pages and JSON answers replace them with U+FFFD instead of failing to encode.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from annotated_types import Interval
from fastapi.responses import JSONResponse
from pydantic import AfterValidator

ID_MAX = 2**63 - 1  # SQLite's INTEGER and PostgreSQL's bigint
_UNSHOWABLE = re.compile("[\ud800-\udfff]")
_REFUSED = re.compile("[\x00\ud800-\udfff]")
REFUSED_TEXT = (
    "contiene un carácter que no se puede guardar ni publicar (la mitad suelta de un emoji o símbolo, "
    "o un carácter nulo); bórrelo y, si era un emoji, vuelva a insertarlo completo"
)


class Refusal(ValueError):
    """A value refused by one of our validators: the message is what the person reads (Spanish)."""


class RefusedCharacter(Refusal):
    """A text with a lone surrogate or NUL."""


def refuse_unstorable(value: str) -> str:
    """Pydantic validator of every text field: refuse what no page, database or mail can carry."""
    if _REFUSED.search(value):
        raise RefusedCharacter(REFUSED_TEXT)
    return value


Text = Annotated[str, AfterValidator(refuse_unstorable)]
RecordId = Annotated[int, Interval(ge=1, le=ID_MAX)]
YEARS = (2000, 2200)  # a publication date outside them is a typo, and year 9999 overflowed at the database (500)
REFUSED_INSTANT = f"debe ser una fecha y hora entre los años {YEARS[0]} y {YEARS[1]}"


def refuse_far_instant(value: datetime | None) -> datetime | None:
    if value is not None and not YEARS[0] <= value.year <= YEARS[1]:
        raise Refusal(REFUSED_INSTANT)
    return value


Instant = Annotated[datetime, AfterValidator(refuse_far_instant)]


def form_instant(value: datetime) -> datetime:
    """The same bound for a date typed in a page's form (InvalidInput, a 422 shown in the form)."""
    from cvp.errors import InvalidInput

    try:
        return refuse_far_instant(value)
    except Refusal:
        raise InvalidInput(f"La fecha y hora de publicación {REFUSED_INSTANT}.") from None


def text_field(value: str) -> str:
    """The same refusal for a field of an HTML form (raises the domain's InvalidInput, a 422 page)."""
    from cvp.errors import InvalidInput

    try:
        return refuse_unstorable(value)
    except RefusedCharacter:
        raise InvalidInput(f"El formulario {REFUSED_TEXT}.") from None


def form_text(form, name: str) -> str:
    """A text field of a submitted form as typed: browsers send line breaks as CRLF, the records keep LF.

    Refuses (422) a lone surrogate or NUL, which a multipart form can carry (its charset is the client's).
    """
    value = form.get(name, "")
    return text_field(value.replace("\r\n", "\n").replace("\r", "\n")) if isinstance(value, str) else ""


def record_id(raw: object, what: str = "la revisión") -> int:
    """A record id typed in a form field: a whole number within the databases' range, else 422."""
    from cvp.errors import InvalidInput

    text = str(raw or "").strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= ID_MAX:
        raise InvalidInput(f"Falta {what} sobre la que decide o no es un número válido: recargue la página.")
    return int(text)


# --- output --------------------------------------------------------------------------------------


def showable(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so it encodes as UTF-8."""
    return _UNSHOWABLE.sub("\ufffd", text)


class ShownJSONResponse(JSONResponse):
    """JSON of the forms' API: a lone surrogate kept in an old row is sent as U+FFFD, never a 500.

    Set as the API router's response class, it also turns off FastAPI's direct serialisation by
    pydantic, which fails on such a character before any response class could replace it.
    """

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return showable(text).encode("utf-8")


# --- validation errors in Spanish ----------------------------------------------------------------

_MESSAGES = {
    "missing": "falta este dato",
    "string_type": "debe ser un texto",
    "string_unicode": REFUSED_TEXT,
    "string_too_long": "es demasiado largo (máximo {max_length} caracteres)",
    "string_too_short": "es demasiado corto (mínimo {min_length} caracteres)",
    "string_pattern_mismatch": "no tiene el formato pedido",
    "int_type": "debe ser un número entero",
    "int_parsing": "debe ser un número entero",
    "int_from_float": "debe ser un número entero",
    "int_parsing_size": "es un número demasiado grande",
    "float_type": "debe ser un número",
    "float_parsing": "debe ser un número",
    "finite_number": "debe ser un número finito",
    "less_than_equal": "debe ser como máximo {le}",
    "less_than": "debe ser menor que {lt}",
    "greater_than_equal": "debe ser como mínimo {ge}",
    "greater_than": "debe ser mayor que {gt}",
    "bool_type": "debe ser verdadero o falso (true o false)",
    "bool_parsing": "debe ser verdadero o falso (true o false)",
    "literal_error": "debe ser uno de: {expected}",
    "enum": "debe ser uno de: {expected}",
    "list_type": "debe ser una lista",
    "dict_type": "debe ser un objeto con claves y valores",
    "model_type": "debe ser un objeto JSON con los campos del formulario",
    "model_attributes_type": "debe ser un objeto JSON con los campos del formulario",
    "json_invalid": "el cuerpo no es JSON válido",
    "json_type": "el cuerpo no es JSON válido",
    "datetime_type": "debe ser una fecha y hora (AAAA-MM-DDTHH:MM)",
    "datetime_parsing": "debe ser una fecha y hora (AAAA-MM-DDTHH:MM)",
    "datetime_from_date_parsing": "debe ser una fecha y hora (AAAA-MM-DDTHH:MM)",
    "too_long": "tiene demasiados elementos (máximo {max_length})",
    "too_short": "tiene muy pocos elementos (mínimo {min_length})",
    "extra_forbidden": "no es un campo de este formulario",
}


def _field_name(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body", "path", "query", "header", "cookie")]
    return ".".join(parts) or "cuerpo"


def error_detail(error: dict) -> str:
    """One validation error as «field: what is wrong», in Spanish."""
    kind = error.get("type", "")
    ctx = {k: v for k, v in (error.get("ctx") or {}).items()}
    if kind == "value_error" and isinstance(ctx.get("error"), Refusal):
        message = str(ctx["error"])
    else:
        template = _MESSAGES.get(kind, "no es un valor válido")
        try:
            message = template.format(**{k: showable(str(v)).replace(" or ", " o ") for k, v in ctx.items()})
        except (KeyError, IndexError):
            message = template.split(" (")[0].split(" {")[0]
    return showable(f"{_field_name(error.get('loc', ()))}: {message}")
