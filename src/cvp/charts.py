"""The dashboard's charts as SVG text, drawn server-side with matplotlib (no GUI, no script).

Each chart is a standalone ``<svg>`` with ``role="img"``, a ``<title>`` and a ``<desc>`` that says its
numbers in a sentence, Spanish labels and Colombian number format (1.234,5). Its ids carry the
chart's name, so several charts can sit inline in one HTML page (the reports); the forms' page, whose
Content-Security-Policy forbids inline styles, shows the same SVG as an image (:func:`data_uri`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import threading
from collections import OrderedDict
from datetime import date
from html import escape
from typing import TYPE_CHECKING

from cvp import procedure as P

if TYPE_CHECKING:
    from cvp.dashboard import Dashboard

MONTHS = ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic")
#: Colour-blind-safe (Okabe–Ito), one per channel in the registry's order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
CHANNEL_COLOUR = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(P.CHANNELS)}
STATUS_COLOUR = {"abiertas": "#0072B2", "publicadas": "#009E73", "canceladas": "#D55E00"}
SHORT_ROLES = {P.HEAD: "Jefe OAC", P.PROFESSIONAL: "Profesional", P.TECHNICIAN: "Técnico", P.SYSTEM: "Sistema"}
AGE_COLOURS = ("#CCE5F5", "#7FB8DE", "#2F7FB8", "#08306B")

CHART_TITLES = {
    "interaccion_por_dia": "Interacción acumulada por canal",
    "interaccion_por_canal": "Interacciones por canal en el periodo",
    "flujo_necesidades": "Necesidades abiertas, publicadas y canceladas",
    "tiempos": "Tiempo de cada tramo del procedimiento (horas)",
    "rondas_control": "Decisiones en los puntos de control 7 y 12",
    "en_espera": "Necesidades que esperan ahora, por responsable y antigüedad",
}
_SEPARATORS = str.maketrans({",": ".", ".": ","})
_RC = {
    "svg.fonttype": "none",  # text stays text: smaller, searchable, read by screen readers inside the report
    "svg.hashsalt": "cvp-tablero",  # the same data draws the same file
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
}
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def numero(value, decimals: int | None = None) -> str:
    """1234.5 → '1.234,5'; integers without decimals; None or NaN → 'sin datos'."""
    if value is None or value != value:
        return "sin datos"
    value = float(value)
    if decimals is None:
        decimals = 0 if value.is_integer() else 1
    return f"{value:,.{decimals}f}".translate(_SEPARATORS)


def dia(value: date) -> str:
    """2 nov, as an axis or a sentence says a day."""
    return f"{value.day} {MONTHS[value.month - 1]}"


def data_uri(svg: str) -> str:
    """The chart as an image address (the forms' strict policy allows data: images, not inline styles)."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


# --- drawing ---------------------------------------------------------------------------------------


def _figure(left: float = 0.1, height: float = 3.0):
    from matplotlib.figure import Figure  # no pyplot: no GUI backend, no global state between requests

    # Fixed margins: a layout engine would cost more than drawing the chart.
    fig = Figure(figsize=(7.2, height))
    fig.subplots_adjust(left=left, right=0.8, top=0.95, bottom=0.16)
    return fig, fig.add_subplot()


def _thousands(ax, axis: str = "y") -> None:
    from matplotlib.ticker import FuncFormatter

    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(lambda v, _pos: numero(v, _tick_decimals(v))))


def _tick_decimals(value: float) -> int:
    """Enough decimals for an axis tick to read as itself (0,25 h is not 0,3 and 0,002 is not 0)."""
    value = abs(float(value))
    if value.is_integer():
        return 0
    return 1 if value >= 1 else 2 if value >= 0.01 else 3


def _empty(ax, message: str = "Sin datos en el periodo") -> None:
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color="#444444", transform=ax.transAxes)


def _svg(fig, key: str, title: str, desc: str) -> str:
    """The figure as inline-ready SVG: no XML prolog, ids prefixed with the chart's name, title and desc."""
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context(_RC):
        fig.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Title": title})
    text = out.getvalue()
    text = text[text.index("<svg") :]
    prefix = f"g-{key}-"
    text = _ID.sub(lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = _REF.sub(lambda m: f"{m.group(1)}{prefix}{m.group(2)}", text)
    head_end = text.index(">") + 1
    opening = text[: head_end - 1]
    accessible = (
        f'{opening} role="img" aria-labelledby="{prefix}titulo {prefix}desc" class="grafico-svg">'
        f'<title id="{prefix}titulo">{escape(title)}</title><desc id="{prefix}desc">{escape(desc)}</desc>'
    )
    return accessible + text[head_end:]


def _draw(key: str, draw, left: float = 0.1) -> str:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig, ax = _figure(left)
        desc = draw(fig, ax)  # no drawn title: the page's heading and the SVG's <title> carry it (and it is cheaper)
    return _svg(fig, key, CHART_TITLES[key], desc)


def engagement_over_time(d: Dashboard) -> str:
    frame = d.engagement_daily

    def draw(fig, ax):
        if frame.empty or frame["interacciones"].isna().all():
            _empty(ax, "Sin lecturas de interacción de las piezas del periodo")
            return "No hay lecturas de interacción de las piezas publicadas en el periodo."
        parts = []
        for channel, group in frame.groupby("canal", sort=False):
            name = P.CHANNELS.get(channel, channel)
            series = group.dropna(subset=["interacciones"])
            if series.empty:
                parts.append(f"{name}: sin datos")
                continue
            ax.plot(
                [(v - d.period.origin).days // d.period.step for v in series["dia"]],
                list(series["interacciones"]),
                marker="o" if len(series) <= 31 else None,
                markersize=3,
                label=name,
                color=CHANNEL_COLOUR.get(channel, "#333333"),
            )
            parts.append(f"{name}: {numero(series['interacciones'].iloc[-1])} al {dia(series['dia'].iloc[-1])}")
        ax.set_ylabel("Interacciones")
        _thousands(ax)
        _day_axis(ax, d)
        ax.set_ylim(bottom=0)
        _legend(ax)
        return (
            "Interacciones (reacciones, comentarios y compartidos) acumuladas de las piezas publicadas en el periodo. "
            + "; ".join(parts)
            + "."
        )

    return _draw("interaccion_por_dia", draw)


def _day_axis(ax, d: Dashboard) -> None:
    """The period's days (or weeks) as positions 0, 1, 2…, labelled '2 nov' (cheaper than date units)."""
    points = d.period.points
    step = max(1, -(-len(points) // 8))
    ticks = list(range(0, len(points), step))
    ax.set_xticks(ticks, [dia(points[t]) for t in ticks])
    ax.set_xlim(-0.5, len(points) - 0.5)


def _legend(ax) -> None:
    """The legend beside the plot, never over the bars."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)


def engagement_by_channel(d: Dashboard) -> str:
    frame = d.engagement_channels

    def draw(fig, ax):
        if frame.empty:
            _empty(ax, "Sin publicaciones en el periodo")
            return "No hubo publicaciones en el periodo."
        names = [P.CHANNELS.get(c, c) for c in frame["canal"]]
        values = [0 if v != v else v for v in frame["interacciones"]]
        bars = ax.barh(names, values, color=[CHANNEL_COLOUR.get(c, "#333333") for c in frame["canal"]])
        ax.invert_yaxis()
        labels = [numero(v) for v in frame["interacciones"]]
        ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
        ax.set_xlabel("Interacciones (última lectura de cada pieza)")
        _thousands(ax, "x")
        parts = [
            f"{n}: {numero(v)} en {int(p)} publicación(es)"
            for n, v, p in zip(names, frame["interacciones"], frame["publicaciones"], strict=True)
        ]
        return "Interacciones por canal. " + "; ".join(parts) + "."

    return _draw("interaccion_por_canal", draw, left=0.2)


def needs_flow(d: Dashboard) -> str:
    frame = d.flow

    def draw(fig, ax):
        totals = {k: int(frame[k].sum()) for k in STATUS_COLOUR}
        if not any(totals.values()):
            _empty(ax, "Ninguna necesidad abierta, publicada ni cancelada en el periodo")
            return "Ninguna necesidad abierta, publicada ni cancelada en el periodo."
        x = list(range(len(frame)))
        for k, colour in STATUS_COLOUR.items():  # lines, not 3 bars a day: readable and cheap for a year
            ax.plot(x, list(frame[k]), label=k.capitalize(), color=colour, marker="o" if len(x) <= 31 else None, ms=3)
        days = list(frame.iloc[:, 0])
        step = max(1, -(-len(days) // 8))
        ax.set_xticks(x[::step], [dia(v) for v in days[::step]])
        ax.set_ylim(bottom=0)
        ax.set_ylabel("Necesidades")
        ax.yaxis.get_major_locator().set_params(integer=True)
        _thousands(ax)
        _legend(ax)
        return (
            f"En el periodo se abrieron {numero(totals['abiertas'])} necesidades, se publicaron "
            f"{numero(totals['publicadas'])} y se cancelaron {numero(totals['canceladas'])}."
        )

    return _draw("flujo_necesidades", draw)


def durations(d: Dashboard) -> str:
    frame = d.durations.dropna(subset=["mediana_horas"])

    def draw(fig, ax):
        if frame.empty:
            _empty(ax, "Ninguna necesidad publicada en el periodo")
            return "Ninguna necesidad publicada en el periodo: no hay tiempos que medir."
        names = ["Total" if a != a or a is None else f"Act. {int(a)}" for a in frame["actividad"].astype("float")]
        ax.barh(names, frame["mediana_horas"], color="#0072B2", label="Mediana")
        ax.scatter(frame["p90_horas"], names, color="#D55E00", marker="|", s=200, zorder=3, label="Percentil 90")
        ax.invert_yaxis()
        ax.set_xlabel("Horas")
        _thousands(ax, "x")
        _legend(ax)
        parts = [
            f"{t}: mediana {numero(m, 1)} h, percentil 90 {numero(p, 1)} h"
            for t, m, p in zip(frame["tramo"], frame["mediana_horas"], frame["p90_horas"], strict=True)
        ]
        return "; ".join(parts) + "."

    return _draw("tiempos", draw, left=0.24)


def control_rounds(d: Dashboard) -> str:
    frame = d.rounds

    def draw(fig, ax):
        if not frame["revisiones"].sum():
            _empty(ax, "Ninguna decisión en los puntos de control en el periodo")
            return "Ninguna decisión en los puntos de control 7 y 12 en el periodo."
        names = [
            f"Punto {cp} ({w.lower()})" for cp, w in zip(frame["punto_control"], frame["que_se_revisa"], strict=True)
        ]
        ax.barh(names, frame["aprobadas"], color="#009E73", label="Aprobadas")
        ax.barh(names, frame["devueltas"], left=frame["aprobadas"], color="#D55E00", label="Devueltas")
        ax.invert_yaxis()
        ax.xaxis.get_major_locator().set_params(integer=True)
        _thousands(ax, "x")
        ax.set_xlabel("Revisiones decididas")
        _legend(ax)
        parts = [
            f"punto {cp}: {numero(r)} revisiones, {numero(a)} aprobadas y {numero(v)} devueltas"
            for cp, r, a, v in zip(
                frame["punto_control"], frame["revisiones"], frame["aprobadas"], frame["devueltas"], strict=True
            )
        ]
        return "Decisiones de la Jefe OAC en el periodo: " + "; ".join(parts) + "."

    return _draw("rondas_control", draw, left=0.24)


def waiting(d: Dashboard) -> str:
    frame = d.waiting
    buckets = [c for c in frame.columns if c not in ("rol", "total")]

    def draw(fig, ax):
        if not frame["total"].sum():
            _empty(ax, "Ninguna necesidad en espera")
            return "Ninguna necesidad en curso espera ahora."
        names = [SHORT_ROLES.get(r, r) for r in frame["rol"]]
        left = [0] * len(frame)
        for bucket, colour in zip(buckets, AGE_COLOURS, strict=False):
            ax.barh(names, frame[bucket], left=left, color=colour, label=bucket)
            left = [a + b for a, b in zip(left, frame[bucket], strict=True)]
        ax.invert_yaxis()
        ax.xaxis.get_major_locator().set_params(integer=True)
        _thousands(ax, "x")
        ax.set_xlabel("Necesidades en espera")
        _legend(ax)
        parts = [f"{n}: {numero(t)}" for n, t in zip(names, frame["total"], strict=True) if t]
        return "Necesidades que esperan ahora, por responsable: " + "; ".join(parts) + "."

    return _draw("en_espera", draw, left=0.24)


DRAW = {
    "interaccion_por_dia": engagement_over_time,
    "interaccion_por_canal": engagement_by_channel,
    "flujo_necesidades": needs_flow,
    "tiempos": durations,
    "rondas_control": control_rounds,
    "en_espera": waiting,
}


#: What each chart is drawn from: the same inputs draw the same SVG, so a drawn chart is kept (see _CACHE).
INPUTS = {
    "interaccion_por_dia": lambda d: d.engagement_daily,
    "interaccion_por_canal": lambda d: d.engagement_channels,
    "flujo_necesidades": lambda d: d.flow,
    "tiempos": lambda d: d.durations,
    "rondas_control": lambda d: d.rounds,
    "en_espera": lambda d: d.waiting,
}
_CACHE: OrderedDict[str, str] = OrderedDict()
_CACHE_SIZE = 256
_LOCK = threading.Lock()


def _digest(key: str, d: Dashboard) -> str:
    """The chart's name, the period's days and its frame's content: what its SVG depends on."""
    frame = INPUTS[key](d)
    text = f"{key}|{d.period.start}|{d.period.end}|{list(frame.columns)}|{frame.to_csv(index=False)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def all_charts(d: Dashboard, *, cached: bool = True) -> dict[str, str]:
    """Every chart of the dashboard, keyed like the table it draws.

    Drawing costs tens of milliseconds a chart; the data changes with an act or a daily reading. A chart
    whose inputs are unchanged is taken from a small in-process cache (least recently used first out).
    """
    out = {}
    for key, draw in DRAW.items():
        digest = _digest(key, d) if cached else None
        with _LOCK:
            svg = _CACHE.get(digest) if digest else None
            if svg is not None:
                _CACHE.move_to_end(digest)
        if svg is None:
            svg = draw(d)
            if digest:
                with _LOCK:
                    _CACHE[digest] = svg
                    while len(_CACHE) > _CACHE_SIZE:
                        _CACHE.popitem(last=False)
        out[key] = svg
    return out
