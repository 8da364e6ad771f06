"""A communication need run end to end on a real scheduler, dag-processor, triggerer and api-server."""

from __future__ import annotations

import email
import json
from email import policy

import pytest

from cvp.__main__ import main as cvp
from tests.conftest import NEED, tiny_png

pytestmark = pytest.mark.integration


def act(*args: str) -> None:
    assert cvp(list(args)) == 0, args


def test_invalid_params_are_refused_before_the_run_starts(head_api):
    status, body = head_api.trigger("invalida", dict(NEED, titulo="x", canales=[]))
    assert status == 400 and "titulo" in body["detail"]
    status, _ = head_api.call("GET", "/api/v2/dags/necesidad_comunicacion/dagRuns/invalida")
    assert status == 404


def test_need_with_one_return_at_each_control_point(head_api, stack_env, tmp_path):
    run = "necesidad-completa"
    one_off = "necesidad-puntual"
    assert head_api.trigger(run, NEED)[0] == 200
    assert (
        head_api.trigger(
            one_off, dict(NEED, titulo="Jornada de atención en Usme", accion_puntual=True, canales=["sitio_web"])
        )[0]
        == 200
    )

    head_api.wait_task(run, "reunion_equipo")  # deferred: waits in the triggerer, no worker held
    from cvp.office import Office

    office = Office()
    need = office.need_by_run(run)
    n = str(need.id)
    act(
        "reunion",
        n,
        "--como",
        "jefe",
        json.dumps(
            {
                "temas": ["Entrega de títulos"],
                "fuentes": ["Dirección de Urbanizaciones y Titulación"],
                "productos": ["Publicación con afiche"],
                "canales": ["x", "facebook"],
                "asistentes": ["Jefe", "Profesional"],
            }
        ),
    )
    act("plan", n, "--como", "jefe", json.dumps({"contenidos": ["Afiche con la cifra"], "enlaces": ["Enlace DUT"]}))

    head_api.wait_task(run, "producir_contenidos")
    act("texto", n, "--como", "profesional")
    head_api.wait_task(run, "revisar_contenidos")
    act("decidir", n, "--punto", "7", "--decision", "devuelto", "--comentario", "Precisar la cifra", "--como", "jefe")
    texts = {"x": "Hoy entregamos 118 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 118 títulos."}
    act("texto", n, "--como", "profesional", "--textos", json.dumps(texts), "--nota", "cifra precisada")
    act("decidir", n, "--punto", "7", "--decision", "aprobado", "--como", "jefe")

    head_api.wait_task(run, "elaborar_diseno")
    png = tmp_path / "afiche.png"
    png.write_bytes(tiny_png(32, 32))
    act("diseno", n, str(png), "--alt", "Afiche de la entrega de títulos", "--como", "tecnico")
    head_api.wait_task(run, "revisar_diseno")
    act("decidir", n, "--punto", "12", "--decision", "devuelto", "--comentario", "Logo más grande", "--como", "jefe")
    png.write_bytes(tiny_png(40, 40))
    act("diseno", n, str(png), "--alt", "Afiche de la entrega de títulos", "--como", "tecnico")
    act("decidir", n, "--punto", "12", "--decision", "aprobado", "--como", "jefe")

    assert head_api.wait_run(run) == "success", head_api.task_states(run)

    events = office.events(need.id)
    firsts = []
    for e in events:
        if e.activity not in firsts:
            firsts.append(e.activity)
    assert firsts == list(range(1, 15))
    assert all(e.actor for e in events) and all(e.at for e in events)
    texts_revs = office.revisions(need.id, "texto")
    designs = office.revisions(need.id, "diseno")
    assert [(r.number, r.state, r.decision.comment) for r in texts_revs] == [
        (1, "devuelto", "Precisar la cifra"),
        (2, "aprobado", ""),
    ]
    assert [(r.number, r.state) for r in designs] == [(1, "devuelto"), (2, "aprobado")]
    assert designs[0].decision.comment == "Logo más grande"

    outbox = stack_env.data_dir / "salida"
    for channel in ("x", "facebook"):
        folder = outbox / channel / f"necesidad-{need.id}-t2-d2"
        assert (folder / "pieza-1.png").read_bytes() == tiny_png(40, 40)
        assert (folder / "texto.txt").read_text(encoding="utf-8").strip() == texts[channel]
    assert {p.state for p in office.publications(need.id)} == {"publicado"}

    subjects = []
    for path in (stack_env.data_dir / "buzon").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        subjects.append(msg["Subject"])
    mine = [s for s in subjects if "Entrega de títulos" in s]
    for fragment in (
        "Contenidos para aprobación",
        "devueltos con comentarios",
        "Material para diseño",
        "Diseño para aprobación",
        "Diseño devuelto",
        "Pieza definitiva",
        "Publicada",
        "acciones conjuntas",
    ):
        assert any(fragment in s for s in mine), (fragment, mine)
    assert all(n.sent_at for n in office.notifications(need.id))

    # The one-off need skipped activities 2-4 and waits for its text; the head withdraws it.
    states = head_api.task_states(one_off)
    assert states["reunion_equipo"] == states["definir_contenidos"] == states["red_distrital"] == "skipped"
    assert head_api.wait_task(one_off, "producir_contenidos") == "deferred"
    act("cancelar", str(office.need_by_run(one_off).id), "--como", "jefe", "--motivo", "La jornada se aplazó")
    assert head_api.wait_run(one_off) == "success"
    states = head_api.task_states(one_off)
    assert states["producir_contenidos"] == "skipped" and states["revisar_contenidos"] == "skipped"
    assert not (stack_env.data_dir / "salida" / "sitio_web").exists()
