"""The product's store as a Google Cloud Storage bucket, through Airflow's Google provider, against a fake GCS.

``CVP_STORAGE_URL=gs://cvp-archivos/cvp`` and ``CVP_STORAGE_CONN_ID=cvp_gcs``, a ``google_cloud_platform``
connection defined by ``AIRFLOW_CONN_CVP_GCS`` with a service-account key generated here: the filesystem
is the one the provider builds (gcsfs with the key's credentials), and every request is real HTTP to
:class:`tests.fakes_gcs.FakeGCS` (token exchange, uploads, reads, listings, moves, deletes, signed URLs).

The fake has no gRPC storage-control service: gcsfs's ``ExtendedGcsFileSystem`` asks it the bucket's
layout before opening a file, so the answer "a plain bucket" is given by a patch (against the fake the
question would wait out a 60-second retry and then fall back to the same plain-bucket behaviour). gcsfs's
own back-off between retries (429, 5xx) is skipped so a failing bucket fails in milliseconds.
"""

from __future__ import annotations

import email
import io
import json
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from email import policy
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "plugins") not in sys.path:
    sys.path.insert(0, str(ROOT / "plugins"))

import gcsfs  # noqa: E402
import gcsfs.retry  # noqa: E402
from airflow.sdk import ObjectStoragePath  # noqa: E402
from airflow.sdk.io import store as airflow_store  # noqa: E402
from gcsfs.retry import HttpError  # noqa: E402
from google.oauth2 import service_account  # noqa: E402

from cvp import export, publishing, reports  # noqa: E402
from cvp import procedure as P  # noqa: E402
from cvp.errors import StorageUnavailable  # noqa: E402
from cvp.mail import MailboxMailer  # noqa: E402
from cvp.office import Office  # noqa: E402
from cvp.publishers.outbox import OutboxPublisher  # noqa: E402
from cvp.publishers.storage import StoragePublicUrls  # noqa: E402
from cvp.storage import TEMP_SUFFIX, _reason  # noqa: E402
from cvp_airflow import channels  # noqa: E402
from cvp_airflow import storage as airflow_storage  # noqa: E402
from tests.conftest import ONE_OFF, tiny_png  # noqa: E402
from tests.fakes_gcs import BUCKET, PROJECT, SERVICE_ACCOUNT, FakeGCS  # noqa: E402
from tests.unit.test_channels import IG_TOKEN, Connections, conn  # noqa: E402
from tests.unit.test_office import TEXTS  # noqa: E402

PREFIX = "cvp"
URL = f"gs://{BUCKET}/{PREFIX}"
STORE = f"gs://{BUCKET}/{PREFIX}"


@pytest.fixture
def gcs(monkeypatch, cvp_env):
    """A fake GCS and the product's settings pointing at it through an Airflow connection."""
    if hasattr(gcsfs, "extended_gcsfs") and gcsfs.GCSFileSystem is gcsfs.extended_gcsfs.ExtendedGcsFileSystem:
        from gcsfs.extended_gcsfs import BucketType

        async def plain_bucket(self, bucket):
            return BucketType.NON_HIERARCHICAL

        monkeypatch.setattr(gcsfs.extended_gcsfs.ExtendedGcsFileSystem, "_get_bucket_type", plain_bucket)

    async def no_wait(seconds):
        return None

    monkeypatch.setattr(gcsfs.retry, "asyncio", SimpleNamespace(sleep=no_wait))
    with FakeGCS() as fake:
        monkeypatch.setenv("AIRFLOW_CONN_CVP_GCS", fake.connection())
        monkeypatch.setenv("CVP_STORAGE_URL", URL)
        monkeypatch.setenv("CVP_STORAGE_CONN_ID", "cvp_gcs")
        monkeypatch.setattr(airflow_store, "_STORE_CACHE", {})  # Airflow keeps one filesystem per connection
        airflow_storage._storage.cache_clear()
        yield fake
        airflow_storage._storage.cache_clear()


def _secrets(fake: FakeGCS) -> list[str]:
    key_body = fake.private_key_pem.splitlines()[1]
    return [fake.access_token, fake.key_id, key_body, "PRIVATE KEY", "X-Goog-Signature", "Bearer"]


# --- the store is built by the Google provider from the connection ------------------------------------


def test_the_bucket_is_opened_through_the_google_providers_connection(gcs):
    storage = airflow_storage.product_storage()
    assert isinstance(storage.root, ObjectStoragePath) and storage.root.conn_id == "cvp_gcs"
    fs = storage.fs
    assert isinstance(fs, gcsfs.core.GCSFileSystem) and fs._endpoint == gcs.url  # extra «gcs.endpoint»
    assert fs.project == PROJECT
    creds = fs.credentials.credentials  # from the connection's keyfile_dict, not from this host's defaults
    assert isinstance(creds, service_account.Credentials) and creds.service_account_email == SERVICE_ACCOUNT
    assert storage.description == STORE and storage.uri("archivos/1/a.png") == f"{STORE}/archivos/1/a.png"

    storage.write_bytes("archivos/1/a.png", tiny_png())
    big = bytes(range(256)) * (48 << 10)  # 12 MiB: a resumable upload in several chunks
    storage.write_stream("archivos/1/b.mp4", io.BytesIO(big))
    assert gcs.names() == [f"{PREFIX}/archivos/1/a.png", f"{PREFIX}/archivos/1/b.mp4"]
    assert gcs.read(f"{PREFIX}/archivos/1/b.mp4") == big and gcs.read(f"{PREFIX}/archivos/1/a.png") == tiny_png()
    assert storage.read_bytes("archivos/1/a.png") == tiny_png() and storage.size("archivos/1/b.mp4") == len(big)
    with storage.open("archivos/1/b.mp4") as fh:  # ranged reads
        fh.seek(len(big) - 300)
        assert fh.read() == big[-300:]
    assert storage.list() == ["archivos/1/a.png", "archivos/1/b.mp4"] and storage.exists("archivos/1/a.png")
    storage.delete("archivos/1/a.png")
    assert gcs.names() == [f"{PREFIX}/archivos/1/b.mp4"] and not storage.exists("archivos/1/a.png")

    # The token came from the fake's token endpoint with a JWT signed by the connection's key, and every
    # API request carried it (the fake answers 401 otherwise); gcsfs writes a file as a resumable upload,
    # the big one in several chunks.
    assert [r.status for r in gcs.requests if r.op == "token"] == [200]
    assert not [r for r in gcs.requests if r.status == 401]
    uploads = [r for r in gcs.requests if r.op == "upload"]
    assert {r.query.get("uploadType") for r in uploads} == {"resumable"}
    assert len([r for r in uploads if r.status == 308]) >= 2
    assert "copy" in gcs.ops()  # whole or nothing: a temporary key, then a move


def test_an_office_keeps_every_file_whole_under_the_buckets_prefix(gcs, sqlite_url, cvp_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = airflow_storage.product_storage()
    office = Office(sqlite_url, storage=storage, mailer=MailboxMailer(storage.child("buzon")))
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need, d.id, 12, P.APPROVED, "jefe")
    final = office.deliver_final(need)
    row = publishing.publish_once(office, OutboxPublisher(storage.child("salida"), "x"), need, "x")
    office.deliver_pending()
    report = reports.build_report(office, reports.date.today(), reports.date.today())
    saved = export.save_record(office, need)

    design = office.current_revision(need, P.DESIGN).stored_path
    names = gcs.names()
    assert all(n.startswith(f"{PREFIX}/") for n in names) and not [n for n in names if n.endswith(TEMP_SUFFIX)]
    keys = {n[len(PREFIX) + 1 :] for n in names}
    mails = [k for k in keys if k.startswith("buzon/")]
    assert {design, final, *report.files, *saved} <= keys and mails
    assert gcs.read(f"{PREFIX}/{design}") == tiny_png() == gcs.read(f"{PREFIX}/{final}")
    assert row.state == publishing.PUBLISHED and row.url.startswith(f"{STORE}/salida/x/")
    folder = row.url[len(STORE) + 1 :]
    assert json.loads(gcs.read(f"{PREFIX}/{folder}/pieza.json"))["medios"][0]["texto_alternativo"] == (
        "Afiche de la entrega"
    )
    msg = email.message_from_bytes(gcs.read(f"{PREFIX}/{mails[0]}"), policy=policy.default)
    assert msg["From"] and msg["Subject"]
    for key in report.files:
        assert gcs.read(f"{PREFIX}/{key}") and storage.read_bytes(key) == gcs.read(f"{PREFIX}/{key}")
    # Nothing of it on this host: only the records database is local.
    local = {p.name for p in cvp_env.rglob("*") if p.is_file()} | {p.name for p in tmp_path.rglob("*") if p.is_file()}
    assert {n for n in local if not n.startswith("registros.db")} == set()


# --- a failing bucket -----------------------------------------------------------------------------------

FAULTS = {
    "permiso denegado": (lambda f: f.fail(403, ops=("upload",)), "no da permiso"),
    "cuota agotada": (FakeGCS.fill, "se agotó la cuota"),
    "límite de solicitudes": (lambda f: f.fail(429, ops=("upload",)), "se agotó la cuota"),
    "no responde": (lambda f: f.fail(503, ops=("upload",)), "no responde (HTTP 503)"),
    "cae a mitad de la carga": (lambda f: f.fail(503, ops=("upload",), after=2), "no responde (HTTP 503)"),
    "cae al mover": (lambda f: f.fail(503, ops=("copy",)), "no responde (HTTP 503)"),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_a_failing_bucket_is_refused_in_spanish_and_leaves_nothing(gcs, fault):
    storage = airflow_storage.product_storage()
    storage.write_bytes("archivos/1/antes.png", b"ya estaba")
    inject, reason = FAULTS[fault]
    inject(gcs)
    with pytest.raises(StorageUnavailable) as refused:
        storage.write_stream("archivos/1/video.mp4", io.BytesIO(b"v" * (12 << 20)))
    message = refused.value.message
    assert f"No se pudo guardar «archivos/1/video.mp4» en el almacenamiento de archivos ({STORE})" in message
    assert reason in message and "No quedó nada a medias" in message and refused.value.status == 503
    assert not [s for s in _secrets(gcs) if s in str(refused.value)]
    gcs.heal()
    assert gcs.names() == [f"{PREFIX}/archivos/1/antes.png"]  # neither the file nor its temporary key
    assert storage.list() == ["archivos/1/antes.png"]


def test_a_design_the_full_bucket_refuses_is_not_recorded(gcs, sqlite_url):
    storage = airflow_storage.product_storage()
    office = Office(sqlite_url, storage=storage, mailer=MailboxMailer(storage.child("buzon")))
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    gcs.fill()
    with pytest.raises(StorageUnavailable, match="se agotó la cuota del almacenamiento") as refused:
        office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche")
    assert STORE in refused.value.message
    assert office.revisions(need, P.DESIGN) == [] and not [n for n in gcs.names() if "/archivos/" in n]


def test_an_unreachable_bucket_says_so_without_credentials(gcs):
    storage = airflow_storage.product_storage()
    gcs.stop()
    with pytest.raises(StorageUnavailable) as refused:
        storage.write_bytes("informes/a.html", b"<html></html>")
    message = refused.value.message
    assert "no se pudo conectar con el almacenamiento" in message and STORE in message
    assert not [s for s in _secrets(gcs) if s in message]


@pytest.mark.parametrize(
    "error, reason",
    [
        (HttpError({"code": 429, "message": "rate limit"}), "se agotó la cuota"),
        (HttpError({"code": 503, "message": "backend error"}), "no responde (HTTP 503)"),
        (HttpError({"code": 500, "message": "internal"}), "no responde (HTTP 500)"),
        (HttpError({"code": 507, "message": "insufficient storage"}), "está lleno"),
        (HttpError({"code": 403, "message": "denied"}), "permiso denegado"),
        (HttpError({"code": 401, "message": "login required"}), "permiso denegado"),
        (OSError("Forbidden: https://storage.googleapis.com/b/o\nQuota exceeded for quota metric"), "cuota"),
        (OSError("Forbidden: https://storage.googleapis.com/b/o\nno storage.objects.create access"), "permiso"),
        (HttpError({"code": 400, "message": "Bad thing"}), "el almacenamiento respondió: HttpError: Bad thing"),
    ],
)
def test_gcsfs_errors_get_a_spanish_reason(error, reason):
    assert reason in _reason(error)


# --- Instagram's public URLs: signed by the bucket's service account -------------------------------------


def test_a_signed_url_is_v4_on_the_bucket_and_the_fake_serves_it(gcs):
    storage = airflow_storage.product_storage()
    storage.write_bytes("archivos/7/afiche.png", tiny_png())
    assert storage.can_publish()
    url = storage.public_url("archivos/7/afiche.png", timedelta(hours=1))
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == gcs.url and parts.path == f"/{BUCKET}/{PREFIX}/archivos/7/afiche.png"
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256" and query["X-Goog-Signature"]
    assert query["X-Goog-Expires"] == "3600" and query["X-Goog-Credential"].startswith(f"{SERVICE_ACCOUNT}/")
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - the local fake
        assert answer.read() == tiny_png()
    tampered = url.replace("afiche.png", "otro.png")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(tampered, timeout=10)  # noqa: S310
    assert denied.value.code == 403


def test_instagram_without_a_bucket_of_its_own_signs_the_product_store(gcs):
    getter = Connections(conn("instagram_default", "cvp_instagram", login="178", password=IG_TOKEN))
    publisher = channels.publisher_for("instagram", get_connection=getter)
    public = publisher.storage
    assert isinstance(public, StoragePublicUrls) and public.storage is airflow_storage.product_storage()
    store = public.storage
    store.write_bytes("archivos/9/pieza.png", tiny_png())
    url = public.put(store.path("archivos/9/pieza.png"), "instagram/9/pieza.png", "image/png")
    assert "X-Goog-Signature=" in url and f"/{BUCKET}/{PREFIX}/archivos/9/pieza.png?" in url
    assert gcs.names() == [f"{PREFIX}/archivos/9/pieza.png"]  # signed where it is, not copied
    with urllib.request.urlopen(url, timeout=10) as answer:  # noqa: S310 - what Instagram would download
        assert answer.read() == tiny_png()


# --- the command line opens the same bucket through the same connection ----------------------------------


def test_the_command_line_keeps_files_in_the_bucket_of_the_connection(gcs, sqlite_url, tmp_path, capsys):
    from cvp.__main__ import main
    from cvp.storage import default_storage

    assert default_storage() is airflow_storage.product_storage()  # the connection's filesystem, not a bare UPath
    u = ["--url", sqlite_url]
    assert main([*u, "necesidad", json.dumps(dict(ONE_OFF, canales=["x"])), "--como", "jefe"]) == 0
    assert main([*u, "texto", "1", "--como", "profesional"]) == 0
    assert main([*u, "decidir", "1", "--punto", "7", "--decision", "aprobado", "--como", "jefe"]) == 0
    png = tmp_path / "afiche.png"
    png.write_bytes(tiny_png())
    assert main([*u, "diseno", "1", str(png), "--alt", "Afiche", "--como", "tecnico"]) == 0
    capsys.readouterr()
    assert main([*u, "exportar", "1", "--guardar"]) == 0
    out = capsys.readouterr().out
    assert f"Expediente guardado: {STORE}/" in out
    names = gcs.names()
    assert [n for n in names if n.startswith(f"{PREFIX}/archivos/1/")] and gcs.read(
        [n for n in names if n.startswith(f"{PREFIX}/archivos/1/")][0]
    ) == tiny_png()
    saved = [line.split(f"{STORE}/", 1)[1] for line in out.splitlines()]
    assert saved and all(f"{PREFIX}/{key}" in names for key in saved)
