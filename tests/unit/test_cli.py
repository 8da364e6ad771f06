"""The domain's command line: the same rules as the forms, messages in Spanish, exit 2 on refusal."""

from __future__ import annotations

import json

from cvp.__main__ import main
from tests.conftest import NEED, ONE_OFF, tiny_png


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_need_through_the_command_line(sqlite_url, tmp_path, capsys):
    u = ["--url", sqlite_url]
    assert run(capsys, *u, "necesidad", json.dumps(ONE_OFF), "--como", "jefe")[0] == 0
    code, out, _ = run(capsys, *u, "borradores", "1")
    drafts = json.loads(out)
    assert set(drafts) == {"x", "facebook"} and NEED["titulo"] in drafts["x"]
    assert run(capsys, *u, "texto", "1", "--como", "profesional")[0] == 0

    code, _, err = run(capsys, *u, "decidir", "1", "--punto", "7", "--decision", "aprobado", "--como", "profesional")
    assert code == 2 and "corresponde a: Jefe Oficina Asesora de Comunicaciones" in err
    code, _, err = run(capsys, *u, "decidir", "1", "--punto", "7", "--decision", "devuelto", "--como", "jefe")
    assert code == 2 and "se requiere un comentario" in err
    assert run(capsys, *u, "decidir", "1", "--punto", "7", "--decision", "aprobado", "--como", "jefe")[0] == 0

    png = tmp_path / "afiche.png"
    png.write_bytes(tiny_png())
    code, out, _ = run(capsys, *u, "diseno", "1", str(png), "--alt", "Afiche", "--como", "tecnico")
    assert code == 0 and "revisión 1" in out
    code, out, _ = run(capsys, *u, "historial", "1")
    assert "texto_aprobado" in out and "diseno_cargado" in out
    code, out, _ = run(capsys, *u, "exportar", "1", "--formato", "json")
    assert json.loads(out)["necesidad"]["titulo"] == NEED["titulo"]


def test_unknown_user_and_missing_schema_are_explained(cvp_env, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'vacia.db'}"
    code, _, err = run(capsys, "--url", url, "historial", "1")
    assert code == 2 and "python -m cvp db" in err
    code, _, err = run(capsys, "--url", url, "reunion", "1", "--como", "intruso", "{}")
    assert code == 2 and "no está en el equipo" in err


def test_checks_from_the_command_line(capsys):
    code, out, _ = run(capsys, "verificar", "--canal", "x", "Invitamos a los ciudadanos a la feria.")
    assert code == 0 and "ciudadanía" in out
    code, out, _ = run(capsys, "verificar", "--canal", "x", "--json", "á" * 300)
    data = json.loads(out)
    assert code == 1 and data["x_weighted_length"] == 300
    assert any(f["code"] == "x.length" and f["severity"] == "error" for f in data["findings"])


def test_the_need_number_of_a_run(sqlite_url, capsys):
    u = ["--url", sqlite_url]
    code, _, err = run(capsys, *u, "numero", "feria-usme", "--esperar", "0")
    assert code == 2 and "no tiene necesidad registrada" in err
    from cvp.office import Office

    need = Office(sqlite_url).register_need(ONE_OFF, "jefe", run_id="feria-usme")
    code, out, _ = run(capsys, *u, "numero", "feria-usme")
    assert code == 0 and out.strip() == str(need.id)


def test_without_a_records_database_the_command_line_refuses_instead_of_creating_one(monkeypatch, tmp_path, capsys):
    for var in ("CVP_RECORDS_URL", "CVP_DATA_DIR", "AIRFLOW_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    code, _, err = run(capsys, "historial", "1")
    assert code == 2 and "stack.py env" in err
    assert not (tmp_path / "cvp").exists()
    assert run(capsys, "verificar", "--canal", "x", "Feria de vivienda en Usme")[0] == 0  # needs no records
