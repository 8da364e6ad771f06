"""A need through the office's deployment: directory login, Celery workers on separate homes, shared storage."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request

import pytest

from tests.clients import Forms
from tests.conftest import NEED, tiny_png

pytestmark = pytest.mark.integration

TEXTS = {
    "x": "Hoy entregamos 118 títulos de propiedad en Ciudad Bolívar.",
    "facebook": "Hoy entregamos 118 títulos de propiedad a hogares de Ciudad Bolívar.",
}


def post_json(url: str, body: dict):
    req = urllib.request.Request(
        url, method="POST", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def kept_files(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_only_the_head_may_open_a_need(deployment, head_api):
    from tests.clients import Api

    for user in ("profesional", "tecnico", "lector"):
        status, body = Api(deployment, user).trigger(f"no-{user}-{int(time.time())}", NEED)
        assert status == 403, (user, status, body)


def test_directory_login_refuses_a_wrong_password(deployment):
    status, _ = post_json(deployment.base_url + "/auth/token", {"username": "jefe", "password": "no-es-la-clave"})
    assert status == 401
    status, body = post_json(
        deployment.base_url + "/auth/token", {"username": "jefe", "password": deployment.credentials()["jefe"]}
    )
    assert status in (200, 201) and body["access_token"]


def test_need_published_by_a_worker_from_the_shared_storage(deployment, head_api, platforms):
    run = f"despliegue-{int(time.time())}"
    conf = dict(NEED, titulo="Entrega de títulos (despliegue)", accion_puntual=True, canales=["x", "facebook"])
    assert head_api.trigger(run, conf)[0] == 200
    head_api.wait_task(run, "producir_contenidos", timeout=180)
    head, prof, tech = (Forms(deployment, u) for u in ("jefe", "profesional", "tecnico"))
    status, me, _ = prof.call("GET", "/cvp/api/yo")
    assert status == 200 and me["rol"] == "profesional", me  # the procedure role comes from the directory
    need = next(n["id"] for n in head.call("GET", "/cvp/api/necesidades?estado=todas")[1] if n["ejecucion"] == run)

    status, rev1, _ = prof.call("POST", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS})
    assert status == 201, rev1
    back = {"revision": rev1["id"], "punto_control": 7, "decision": "devuelto", "comentario": "Citar la fuente"}
    assert prof.call("POST", f"/cvp/api/necesidades/{need}/decisiones", back)[0] == 403
    assert head.call("POST", f"/cvp/api/necesidades/{need}/decisiones", back)[0] == 201
    status, rev2, _ = prof.call(
        "POST", f"/cvp/api/necesidades/{need}/texto", {"textos": TEXTS, "nota": "Fuente citada"}
    )
    assert status == 201 and rev2["numero"] == 2
    assert (
        head.call(
            "POST",
            f"/cvp/api/necesidades/{need}/decisiones",
            {"revision": rev2["id"], "punto_control": 7, "decision": "aprobado"},
        )[0]
        == 201
    )

    head_api.wait_task(run, "elaborar_diseno", timeout=180)
    png = tiny_png(64, 64)
    status, design, _ = tech.upload(need, png)
    assert status == 201, design
    assert (
        head.call(
            "POST",
            f"/cvp/api/necesidades/{need}/decisiones",
            {"revision": design["id"], "punto_control": 12, "decision": "aprobado"},
        )[0]
        == 201
    )
    assert head_api.wait_run(run, timeout=300) == "success", head_api.task_states(run)

    # The design uploaded through the api-server reached each platform, byte for byte.
    digest = hashlib.sha256(png).hexdigest()
    posted = {p: [post for post in platforms.posts[p] if "118 títulos" in post.text] for p in ("x", "facebook")}
    assert all(len(v) == 1 for v in posted.values()), [
        (r.method, r.path, r.status, r.complete, r.body_size) for r in platforms.recorded
    ]
    assert all(post.media and post.media[0]["sha256"] == digest for v in posted.values() for post in v)

    # Published by the Celery workers, each with its own home; every kept file is under the storage base.
    hosts = deployment.home / "hosts"
    ran = {
        w.name
        for w in hosts.iterdir()
        if list(w.glob(f"logs/dag_id=necesidad_comunicacion/run_id={run}/task_id=publicar_pieza*"))
    }
    assert ran and ran <= {"worker-1", "worker-2"}
    store = kept_files(deployment.home / "almacen")
    rel = {p.relative_to(deployment.home / "almacen").parts[0] for p in store}
    assert {"archivos", "definitivas"} <= rel, rel
    assert any(p.read_bytes() == png for p in store if p.parts[-3] == "archivos")
    for worker in hosts.iterdir():
        assert kept_files(worker / "cvp") == [], worker
    assert kept_files(deployment.data_dir) == []


def test_a_need_over_the_cap_waits_and_the_forms_say_so(deployment, head_api):
    """With CVP_MAX_ACTIVE_NEEDS=2, a third need waits queued, the forms explain why, and it starts by itself."""
    head = Forms(deployment, "jefe")
    stamp = int(time.time())
    runs = [f"cola-{stamp}-{i}" for i in range(3)]
    for i, run in enumerate(runs[:2]):
        assert (
            head_api.trigger(
                run, dict(NEED, titulo=f"Necesidad en curso {i}", accion_puntual=True, canales=["sitio_web"])
            )[0]
            == 200
        )
    for run in runs[:2]:
        head_api.wait_task(run, "producir_contenidos", timeout=180)
    assert (
        head_api.trigger(runs[2], dict(NEED, titulo="Necesidad en cola", accion_puntual=True, canales=["sitio_web"]))[0]
        == 200
    )
    time.sleep(8)  # several scheduler loops: it stays queued
    assert head_api.run_state(runs[2]) == "queued"

    status, line, _ = head.call("GET", "/cvp/api/cola")
    assert status == 200 and (line["en_cola"], line["en_curso"], line["maximo"], line["retenidas"]) == (1, 2, 2, True)
    assert "CVP_MAX_ACTIVE_NEEDS" in line["mensaje"]
    status, page, _ = head.call("GET", "/cvp/")
    assert status == 200 and "Necesidades en cola" in page.decode() and "1 necesidad espera" in page.decode()

    needs = {n["ejecucion"]: n["id"] for n in head.call("GET", "/cvp/api/necesidades?estado=todas")[1]}
    assert runs[2] not in needs  # nothing recorded before activity 1 runs
    assert (
        head.call("POST", f"/cvp/api/necesidades/{needs[runs[0]]}/cancelar", {"motivo": "Se libera un cupo"})[0] == 200
    )
    head_api.wait_task(runs[2], "producir_contenidos", timeout=180)  # started by itself
    assert head.call("GET", "/cvp/api/cola")[1]["retenidas"] is False
    needs = {n["ejecucion"]: n["id"] for n in head.call("GET", "/cvp/api/necesidades?estado=todas")[1]}
    for run in runs[1:]:
        assert (
            head.call("POST", f"/cvp/api/necesidades/{needs[run]}/cancelar", {"motivo": "Fin de la prueba"})[0] == 200
        )


def test_a_lost_broker_is_said_in_the_forms_and_loses_nothing(deployment, head_api, broker):
    head = Forms(deployment, "jefe")
    assert head.call("GET", "/cvp/api/cola")[1]["intermediario"] is None
    broker.stop()
    try:
        time.sleep(6)  # past the forms' few seconds of cached answer
        status, line, _ = head.call("GET", "/cvp/api/cola")
        assert status == 200 and "no responde" in line["intermediario"], line
        status, page, _ = head.call("GET", "/cvp/")
        assert status == 200 and "Las tareas no avanzan" in page.decode()
        run = f"sin-intermediario-{int(time.time())}"
        assert (
            head_api.trigger(
                run, dict(NEED, titulo="Disparada sin intermediario", accion_puntual=True, canales=["sitio_web"])
            )[0]
            == 200
        )
        time.sleep(5)
        assert "producir_contenidos" not in {k for k, v in head_api.task_states(run).items() if v == "deferred"}
    finally:
        broker.start()
    head_api.wait_task(run, "producir_contenidos", timeout=240)  # the same run goes on once Redis is back
    time.sleep(6)
    assert head.call("GET", "/cvp/api/cola")[1]["intermediario"] is None
    need = next(n["id"] for n in head.call("GET", "/cvp/api/necesidades?estado=todas")[1] if n["ejecucion"] == run)
    assert head.call("POST", f"/cvp/api/necesidades/{need}/cancelar", {"motivo": "Fin de la prueba"})[0] == 200
