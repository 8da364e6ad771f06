"""The optional Google Sheets export of the reports, checked at the HTTP wire.

The Google provider's GSheetsHook talks through googleapiclient and httplib2 to a local HTTP server
that stands in for sheets.googleapis.com (the hook's ``api_endpoint``): the requests it receives are
the Sheets API's own (``spreadsheets.get``, ``spreadsheets.batchUpdate`` with ``addSheet``,
``values:batchClear``, ``values:batchUpdate``). Only the credentials are a fixed token.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import pytest

from tests.unit.test_reports import out, period, today  # noqa: F401 - the report's records

SHEET = "hoja-prueba-123"


class FakeSheetsApi:
    """Records each request (method, path, body, authorization) and answers as the Sheets API does."""

    def __init__(self, titles=(), fail_with: int | None = None):
        self.titles = list(titles)
        self.fail_with = fail_with
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                path = unquote(urlsplit(self.path).path)
                api.requests.append(
                    {"method": self.command, "path": path, "body": body, "auth": self.headers.get("authorization")}
                )
                if api.fail_with:
                    status, reply = api.fail_with, {"error": {"code": api.fail_with, "message": "denegado"}}
                elif self.command == "GET":
                    status = 200
                    reply = {"spreadsheetId": SHEET, "sheets": [{"properties": {"title": t}} for t in api.titles]}
                else:
                    status, reply = 200, {"spreadsheetId": SHEET}
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=UTF-8")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def api():
    from cvp.dashboard_tables import SHEET_NAMES

    a = FakeSheetsApi(titles=["Hoja 1", f"Semanal - {SHEET_NAMES['resumen']}"])
    yield a
    a.close()


def hook_for(api, monkeypatch):
    from airflow.providers.google.suite.hooks.sheets import GSheetsHook
    from google.oauth2.credentials import Credentials

    monkeypatch.setenv(
        "AIRFLOW_CONN_CVP_SHEETS_PRUEBA",
        json.dumps({"conn_type": "google_cloud_platform", "extra": {"num_retries": 0}}),
    )
    hook = GSheetsHook(gcp_conn_id="cvp_sheets_prueba", api_endpoint=api.url)
    monkeypatch.setattr(hook, "get_credentials", lambda: Credentials("token-prueba"))
    return hook


def weekly(report):
    report.kind = "semanal"  # the tabs are named after the kind of report
    return report


def test_report_tables_are_written_with_the_sheets_api(office, period, out, api, monkeypatch):  # noqa: F811
    from cvp import reports
    from cvp.dashboard_tables import SHEET_NAMES
    from cvp_airflow import sheets

    report = weekly(reports.build_report(office, today(), today(), out))
    result = sheets.export_report(office, report, spreadsheet_id=SHEET, hook=hook_for(api, monkeypatch))

    titles = [f"Semanal - {name}" for name in SHEET_NAMES.values()]
    assert result == {"hoja": SHEET, "pestanas": titles}
    calls = [(r["method"], r["path"]) for r in api.requests]
    assert calls == [
        ("GET", f"/v4/spreadsheets/{SHEET}"),
        ("POST", f"/v4/spreadsheets/{SHEET}:batchUpdate"),
        ("POST", f"/v4/spreadsheets/{SHEET}/values:batchClear"),
        ("POST", f"/v4/spreadsheets/{SHEET}/values:batchUpdate"),
    ]
    assert all(r["auth"] == "Bearer token-prueba" for r in api.requests)
    added = [q["addSheet"]["properties"]["title"] for q in api.requests[1]["body"]["requests"]]
    assert added == titles[1:]  # the existing tab is not added again
    assert api.requests[2]["body"] == {"ranges": [f"'{t}'" for t in titles]}

    update = api.requests[3]["body"]
    assert update["valueInputOption"] == "RAW"
    data = {d["range"]: d for d in update["data"]}
    assert list(data) == [f"'{t}'!A1" for t in titles] and all(d["majorDimension"] == "ROWS" for d in data.values())
    channels = data["'Semanal - Interacción por canal'!A1"]["values"]
    assert channels[0][0].startswith("Periodo: ") and channels[1][:3] == ["Canal", "Publicaciones", "Con métricas"]
    header, rows = channels[1], {r[0]: dict(zip(channels[1], r, strict=True)) for r in channels[2:]}
    assert sum(r["Publicaciones"] for r in rows.values()) == 4
    assert rows["X (Twitter)"]["Interacciones"] == 100 and rows["Facebook"]["Impresiones"] == ""  # missing, not 0
    assert "Impresiones" in header


def test_nothing_is_sent_without_a_configured_sheet(office, period, out, api, monkeypatch):  # noqa: F811
    from cvp import reports
    from cvp_airflow import sheets

    monkeypatch.delenv(sheets.ENV, raising=False)
    monkeypatch.setattr(sheets, "configured_spreadsheet", lambda: None)
    report = reports.build_report(office, today(), today(), out)
    assert sheets.export_report(office, report, hook=hook_for(api, monkeypatch)) == {}
    assert api.requests == []


def test_the_environment_names_the_sheet(monkeypatch):
    from cvp_airflow import sheets

    monkeypatch.setenv(sheets.ENV, " 1AbC ")
    assert sheets.configured_spreadsheet() == "1AbC"


def test_a_refusal_is_reported_and_the_report_kept(office, period, out, monkeypatch):  # noqa: F811
    from cvp import reports
    from cvp_airflow import sheets

    refusing = FakeSheetsApi(fail_with=403)
    try:
        report = weekly(reports.build_report(office, today(), today(), out))
        result = sheets.export_report(office, report, spreadsheet_id=SHEET, hook=hook_for(refusing, monkeypatch))
    finally:
        refusing.close()
    assert result["hoja"] == SHEET and "HttpError" in result["error"] and "denegado" in result["error"]
    assert office.storage.read_text(next(f for f in report.files if f.endswith(".html")))
