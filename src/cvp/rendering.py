"""Jinja rendering of everything people read: channel drafts, e-mails, records and reports.

Templates live in include/templates/ so the office can adjust wording without touching code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from cvp.config import bogota
from cvp.procedure import ACTIVITY, AUDIENCES, CHANNELS, DEPARTMENTS, ROLE_NAMES, SOURCES

MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def fecha(value) -> str:
    """'28 de noviembre de 2026' (dates) or '28 de noviembre de 2026, 09:15' in Bogotá time."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        local = bogota(value)
        return f"{local.day} de {MONTHS[local.month - 1]} de {local.year}, {local:%H:%M}"
    if isinstance(value, date):
        return f"{value.day} de {MONTHS[value.month - 1]} de {value.year}"
    return str(value)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body: str


class Renderer:
    def __init__(self, templates_dir: Path):
        self.env = _environment(str(templates_dir))

    def render(self, name: str, **context) -> str:
        return self.env.get_template(name).render(**context)

    def mail(self, name: str, **context) -> RenderedMail:
        """A mail template starts with 'Asunto: ...', then a blank line, then the body."""
        if isinstance(getattr(context.get("necesidad"), "title", None), str):
            context["necesidad"] = _OneLineTitle(context["necesidad"])
        text = self.render(f"correos/{name}.txt.j2", **context)
        head, _, body = text.partition("\n\n")
        if not head.startswith("Asunto:"):
            raise ValueError(f"mail template {name} lacks its 'Asunto:' line")
        return RenderedMail(head.removeprefix("Asunto:").strip(), body.strip() + "\n")


class _OneLineTitle:
    """A need whose title reads on one line in mails: a title typed with a blank line would otherwise end
    the subject there (the record keeps the title as given; see issue 10, item 8)."""

    def __init__(self, need):
        self._need = need

    def __getattr__(self, name):
        return getattr(self._need, name)

    @property
    def title(self) -> str:
        return " ".join(line.strip() for line in self._need.title.splitlines() if line.strip())


@lru_cache(maxsize=4)
def _environment(templates_dir: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(templates_dir),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fecha"] = fecha
    env.globals.update(
        CANALES=CHANNELS,
        FUENTES=SOURCES,
        PUBLICOS=AUDIENCES,
        DEPENDENCIAS=DEPARTMENTS,
        ROLES=ROLE_NAMES,
        ACTIVIDADES=ACTIVITY,
    )
    return env
