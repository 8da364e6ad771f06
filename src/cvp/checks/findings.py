"""Findings and reports: the common shape every check returns.

A finding is small and serialisable because it travels from the domain code to the task log,
the head's review screen and the command line; the message is the only part a person reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cvp import procedure as P

ERROR = "error"
WARNING = "warning"
INFO = "info"
SEVERITIES = (ERROR, WARNING, INFO)
_SEVERITY_RANK = {ERROR: 0, WARNING: 1, INFO: 2}

#: The channels the checks know: the procedure's (cvp.procedure.CHANNEL).
CHANNELS = tuple(P.CHANNEL)
#: How a finding's message names each channel inside a sentence ("el sitio web").
CHANNEL_NAMES_ES = {key: c.in_sentence for key, c in P.CHANNEL.items()}

_SEVERITY_ES = {ERROR: "ERROR", WARNING: "ADVERTENCIA", INFO: "INFORMACIÓN"}
_FIELD_ES = {"text": "texto", "title": "título"}


def require_channel(channel: str) -> str:
    """Fail early on a misspelt channel, since every limit below depends on it."""
    if channel not in CHANNELS:
        raise ValueError("Canal desconocido: %r. Use uno de: %s." % (channel, ", ".join(CHANNELS)))
    return channel


@dataclass(frozen=True)
class Finding:
    """One observation on a piece; errors block submission, warnings are the head's call."""

    code: str
    severity: str
    message: str
    channel: str | None = None
    start: int | None = None
    end: int | None = None
    suggestion: str | None = None
    # Which string the offsets refer to: "text" (post text / description) or "title" (YouTube).
    field: str | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError("Severidad inválida: %r" % (self.severity,))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CheckReport:
    """All findings for one piece on one channel, ordered errors first."""

    findings: list[Finding]
    x_weighted_length: int | None = None
    channel: str | None = None

    @property
    def blocking(self) -> bool:
        return any(f.severity == ERROR for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def to_dict(self) -> dict:
        counts = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            counts[f.severity] += 1
        return {
            "channel": self.channel,
            "blocking": self.blocking,
            "x_weighted_length": self.x_weighted_length,
            "counts": counts,
            "findings": [f.to_dict() for f in self.findings],
        }


#: A finding's keys as the record and the forms' JSON API name them (Spanish, ASCII).
FINDING_KEYS_ES = {
    "code": "codigo",
    "severity": "severidad",
    "message": "mensaje",
    "channel": "canal",
    "start": "inicio",
    "end": "fin",
    "suggestion": "sugerencia",
    "field": "campo",
}
#: Which string a finding's positions refer to, named as the forms' API names that field.
FINDING_FIELDS_ES = {"text": "texto", "title": "titulo"}


def finding_es(finding: dict) -> dict:
    """A finding as ``Finding.to_dict`` gives it (and revisions keep it), under its Spanish keys."""
    out = {FINDING_KEYS_ES[k]: v for k, v in finding.items() if k in FINDING_KEYS_ES}
    if "campo" in out:
        out["campo"] = FINDING_FIELDS_ES.get(out["campo"], out["campo"])
    return out


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by field and position, so the reader sees what blocks before the rest."""
    return sorted(
        findings,
        key=lambda f: (
            _SEVERITY_RANK[f.severity],
            0 if f.field == "title" else 1,
            f.start if f.start is not None else -1,
        ),
    )


def _plural(n: int, singular: str, plural: str) -> str:
    return "%d %s" % (n, singular if n == 1 else plural)


def render_findings_es(report: CheckReport) -> str:
    """Short plain-text Spanish summary of a report, for the command line and e-mails."""
    n_err = sum(1 for f in report.findings if f.severity == ERROR)
    n_warn = sum(1 for f in report.findings if f.severity == WARNING)
    n_info = sum(1 for f in report.findings if f.severity == INFO)
    where = CHANNEL_NAMES_ES.get(report.channel or "", report.channel or "el canal")
    lines = []
    head = "Revisión previa para %s: %s, %s, %s." % (
        where,
        _plural(n_err, "error", "errores"),
        _plural(n_warn, "advertencia", "advertencias"),
        _plural(n_info, "nota informativa", "notas informativas"),
    )
    lines.append(head)
    if report.x_weighted_length is not None:
        lines.append("Longitud ponderada en X: %d de 280." % report.x_weighted_length)
    if not report.findings:
        lines.append("Sin observaciones: el texto puede enviarse a revisión de la jefatura.")
        return "\n".join(lines)
    if report.blocking:
        lines.append("No puede enviarse a revisión hasta corregir los errores.")
    else:
        lines.append("Puede enviarse a revisión; la jefatura decide sobre las advertencias.")
    for f in report.findings:
        loc = ""
        if f.start is not None and f.end is not None:
            loc = " (%s, caracteres %d a %d)" % (_FIELD_ES.get(f.field or "text", "texto"), f.start, f.end)
        lines.append("- [%s] %s%s" % (_SEVERITY_ES[f.severity], f.message, loc))
        if f.suggestion:
            lines.append("  Sugerencia: %s" % f.suggestion)
    return "\n".join(lines)


__all__ = [
    "CHANNELS",
    "CHANNEL_NAMES_ES",
    "CheckReport",
    "ERROR",
    "Finding",
    "INFO",
    "WARNING",
    "render_findings_es",
    "require_channel",
    "sort_findings",
]
