"""Throughput of the pre-review checks on a long Spanish text, as a ratio to a trivial pass.

Absolute times depend on the machine; the ratio to ``str.lower()`` + ``split()`` over the same text,
measured in the same run, is what can be compared between runs and machines.

    .venv/bin/python bench/bench_checks.py [--words 50000] [--iterations 10]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from cvp.checks import check_text, load_inclusive_rules, x_weighted_length
from cvp.checks.inclusive import build_rules, rule_files
from cvp.checks.textutil import find_links, link_spans

SENTENCES = [
    "La Caja de la Vivienda Popular entregó {n} títulos de propiedad a los beneficiarios de la localidad de {loc}.",
    "Los funcionarios de la entidad visitaron los predios para verificar las condiciones de los habitantes.",
    "Las ciudadanas y los ciudadanos pueden consultar el estado de su trámite en https://www.cajaviviendapopular.gov.co/tramites.",
    'El programa "Los niños primero" acompaña a las familias durante el reasentamiento.',
    "Los adultos mayores y las personas con discapacidad tienen atención preferencial en la sede de la calle 54.",
    "Durante la jornada, los propietarios firmaron el acta de entrega de las obras de mejoramiento.",
    "El equipo técnico revisó las cubiertas, los muros y las instalaciones eléctricas de {n} viviendas.",
    "Los trabajadores de la obra usan elementos de protección personal y respetan los horarios acordados con la comunidad.",
    "Más información en www.cajaviviendapopular.gov.co o escriba a atencion@cajaviviendapopular.gov.co.",
    "Niñas, niños y adolescentes participaron en el taller de dibujo sobre su barrio. #ViviendaDigna",
    "Los desplazados que llegaron a {loc} recibieron orientación sobre los subsidios disponibles.",
    "La campaña «Todos los ciudadanos cuentan» invita a actualizar los datos del hogar.",
    "Los usuarios pueden agendar su cita de lunes a viernes, de 7:00 a. m. a 4:30 p. m.",
    "Los colombianos y los bogotanos que viven en zonas de riesgo pueden postularse al programa.",
    "El hombre ha transformado el territorio; la planeación urbana busca que ese cambio sea sostenible.",
    "Las personas beneficiarias del Plan Terrazas recibirán la visita de la interventoría. #PlanTerrazas",
    "Los discapacitados y los ancianos del sector fueron priorizados en el censo.",
    "La entidad respondió {n} solicitudes de la ciudadanía durante el último trimestre.",
    "Los líderes comunitarios de {loc} socializaron el cronograma de obras con los vecinos.",
    "Invitamos a todos los ciudadanos a la feria de servicios del sábado en el parque principal.",
]
LOCALIDADES = ["Usme", "Ciudad Bolívar", "San Cristóbal", "Bosa", "Kennedy", "Rafael Uribe Uribe", "Santa Fe"]


def build_text(words: int, seed: int = 381) -> str:
    rnd = random.Random(seed)
    parts: list[str] = []
    count = 0
    while count < words:
        sentence = rnd.choice(SENTENCES).format(n=rnd.randint(12, 980), loc=rnd.choice(LOCALIDADES))
        parts.append(sentence)
        count += len(sentence.split())
        if rnd.random() < 0.15:
            parts.append("\n\n")
    return " ".join(parts)


def timed(fn, iterations: int) -> tuple[float, object]:
    """Median seconds per call over ``iterations`` calls (after one warm-up call)."""
    result = fn()
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=50_000)
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)

    text = build_text(args.words)
    n_words = len(text.split())
    rules = load_inclusive_rules()

    t0 = time.perf_counter()
    build_rules(rule_files())
    compile_s = time.perf_counter() - t0

    base_s, _ = timed(lambda: text.lower().split(), args.iterations)

    def cold(fn):
        """Drop the per-text link caches so every iteration pays the full scan."""

        def run():
            find_links.cache_clear()
            link_spans.cache_clear()
            return fn()

        return run

    find_s, matches = timed(cold(lambda: rules.find(text)), args.iterations)
    full_s, report = timed(cold(lambda: check_text("sitio_web", text, rules=rules)), args.iterations)

    posts = [t[:270] for t in text.split("\n\n") if t.strip()][:200]
    x_s, _ = timed(lambda: [x_weighted_length(p) for p in posts], max(1, args.iterations // 2))

    print(
        "Texto: %d palabras, %d caracteres; %d reglas (%d frases); %d iteraciones (mediana)."
        % (n_words, len(text), len(rules), sum(len(r.phrases) for r in rules.rules), args.iterations)
    )
    print("Compilación de reglas (en frío):        %8.1f ms" % (compile_s * 1000))
    print("Línea base lower()+split():             %8.2f ms  %10.0f palabras/s" % (base_s * 1000, n_words / base_s))
    print(
        "Lenguaje incluyente (InclusiveRules):   %8.2f ms  %10.0f palabras/s  %5.1f× la línea base  (%d coincidencias)"
        % (find_s * 1000, n_words / find_s, find_s / base_s, len(matches))
    )
    print(
        "check_text completo (sitio_web):        %8.2f ms  %10.0f palabras/s  %5.1f× la línea base  (%d hallazgos)"
        % (full_s * 1000, n_words / full_s, full_s / base_s, len(report.findings))
    )
    print(
        "Longitud ponderada X (%d textos ~270 c.): %6.2f ms  %10.0f textos/s"
        % (len(posts), x_s * 1000, len(posts) / x_s)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
