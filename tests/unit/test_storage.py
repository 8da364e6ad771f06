"""The product's store: keys instead of local paths, whole-or-nothing writes, Spanish errors, public URLs.

Run on a local folder (``file://``) and on fsspec's ``memory://`` filesystem, a real non-local
backend: what one component writes there no other component could read by a local path.
"""

from __future__ import annotations

import email
import errno
import hashlib
import io
import json
import os
import sys
import uuid
from datetime import timedelta
from email import policy
from pathlib import Path

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from upath import registry as upath_registry
from upath.implementations.memory import MemoryPath

from cvp import export, publishing, reports
from cvp import procedure as P
from cvp.errors import NotFound, StorageUnavailable
from cvp.mail import MailboxMailer
from cvp.office import Office
from cvp.publishers.base import MediaFile, TransientError
from cvp.publishers.outbox import OutboxPublisher
from cvp.publishers.storage import LocalDirStorage, StoragePublicUrls
from cvp.records.models import Revision, utcnow
from cvp.storage import Storage
from tests.conftest import ONE_OFF, tiny_png
from tests.unit.test_office import TEXTS

ROOT = Path(__file__).resolve().parents[2]


# --- filesystems for the tests -------------------------------------------------------------------


class _BrokenFile(io.BytesIO):
    """A file being written whose store fails after the first chunk (connection lost, disk full)."""

    def __init__(self, fs, path, error):
        super().__init__()
        self.fs, self.path, self.error, self.writes = fs, path, error, 0
        fs.store[path] = self  # like memory://: visible while being written

    def write(self, data):
        self.writes += 1
        if self.writes > self.fs.writes_allowed:
            raise self.error
        return super().write(data)


class _OwnProtocol(MemoryFileSystem):
    """A memory filesystem under its own scheme (its own store, as another bucket would be)."""

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        for name in cls.protocol:
            if path.startswith(f"{name}://"):
                path = path[len(name) + 3 :]
        return super()._strip_protocol(path)


class FailingMemoryFS(_OwnProtocol):
    """memory:// whose writes break mid-stream with ``error``."""

    protocol = ("fallamem",)
    writes_allowed = 1
    store: dict = {}
    pseudo_dirs = [""]
    error: Exception = ConnectionResetError("conexión reiniciada por el servidor")

    def _open(self, path, mode="rb", **kwargs):
        if "w" in mode:
            return _BrokenFile(self, self._strip_protocol(path), self.error)
        return super()._open(path, mode, **kwargs)


class SigningMemoryFS(_OwnProtocol):
    """memory:// that signs URLs, as gcsfs does for a bucket."""

    protocol = ("firmamem",)
    store: dict = {}
    pseudo_dirs = [""]

    def sign(self, path, expiration=100, **kwargs):
        return f"https://firmado.test/{path.lstrip('/')}?expira={expiration}&firma=abc"


for _fs in (FailingMemoryFS, SigningMemoryFS):
    fsspec.register_implementation(_fs.protocol[0], _fs, clobber=True)
    upath_registry.register_implementation(_fs.protocol[0], MemoryPath, clobber=True)


def memory_storage() -> Storage:
    return Storage.from_url(f"memory:///cvp-{uuid.uuid4().hex}")


@pytest.fixture(params=["file", "memory"])
def storage(request, tmp_path) -> Storage:
    if request.param == "file":
        return Storage.from_url((tmp_path / "almacen").as_uri())
    return memory_storage()


# --- the store itself ----------------------------------------------------------------------------


def test_write_read_list_delete(storage):
    assert storage.list() == [] and not storage.exists("archivos/1/a.png")
    assert storage.write_bytes("archivos/1/a.png", b"png") == "archivos/1/a.png"
    digest = hashlib.sha256()
    storage.write_stream("archivos/1/b.mp4", io.BytesIO(b"v" * 3000), on_chunk=digest.update, chunk_size=1000)
    storage.write_text("salida/x/texto.txt", "Entrega de títulos")
    assert storage.list() == ["archivos/1/a.png", "archivos/1/b.mp4", "salida/x/texto.txt"]
    assert storage.list("archivos") == ["archivos/1/a.png", "archivos/1/b.mp4"]
    assert digest.hexdigest() == hashlib.sha256(b"v" * 3000).hexdigest()
    assert storage.read_bytes("archivos/1/a.png") == b"png" and storage.size("archivos/1/b.mp4") == 3000
    assert storage.read_text("salida/x/texto.txt") == "Entrega de títulos"
    with storage.open("archivos/1/b.mp4") as fh:  # seekable: uploads read chunks by offset
        fh.seek(2990)
        assert fh.read() == b"v" * 10
    child = storage.child("salida")
    assert child.list() == ["x/texto.txt"] and child.read_text("x/texto.txt") == "Entrega de títulos"
    with storage.local_copy("archivos/1/a.png") as local:
        assert isinstance(local, Path) and local.read_bytes() == b"png"
    storage.delete("archivos/1/a.png")
    storage.delete("archivos/1/a.png")  # already gone: nothing to do
    assert storage.list("archivos") == ["archivos/1/b.mp4"]
    with pytest.raises(NotFound, match="no está en el almacenamiento"):
        storage.read_bytes("archivos/1/a.png")


def test_keys_never_leave_the_base(storage):
    for bad in ("../fuera.png", "/etc/passwd", "archivos//a.png", "", "archivos/./a.png"):
        with pytest.raises(ValueError):
            storage.write_bytes(bad, b"x")


def test_a_remote_copy_for_the_probe_is_private_and_removed():
    storage = memory_storage()
    storage.write_bytes("archivos/1/a.png", tiny_png())
    with storage.local_copy("archivos/1/a.png") as local:
        assert local.read_bytes() == tiny_png() and local.suffix == ".png"
        assert oct(local.stat().st_mode & 0o777) == "0o600"
    assert not local.exists()


@pytest.mark.parametrize(
    "error, reason",
    [
        (ConnectionResetError("conexión reiniciada por el servidor"), "no se pudo conectar con el almacenamiento"),
        (OSError(errno.ENOSPC, "No space left on device"), "el almacenamiento está lleno"),
    ],
)
def test_a_write_that_breaks_midway_leaves_nothing_and_says_so_in_spanish(error, reason, monkeypatch):
    monkeypatch.setattr(FailingMemoryFS, "error", error)
    storage = Storage.from_url("fallamem:///cvp-falla")
    with pytest.raises(StorageUnavailable) as refused:
        storage.write_stream("archivos/1/video.mp4", io.BytesIO(b"v" * 5000), chunk_size=1000)
    message = refused.value.message
    assert "No se pudo guardar «archivos/1/video.mp4»" in message and "fallamem://cvp-falla" in message
    assert reason in message and "No quedó nada a medias" in message
    assert refused.value.status == 503
    assert storage.fs.find("/cvp-falla") == []  # neither the file nor its temporary key


def test_a_source_that_fails_midway_leaves_nothing(storage):
    class Upload(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 1000:
                raise OSError("la carga se interrumpió")
            return super().read(n)

    with pytest.raises(StorageUnavailable, match="la carga se interrumpió"):
        storage.write_stream("archivos/1/b.mp4", Upload(b"v" * 5000), chunk_size=1000)
    assert storage.list() == [] and not storage.exists("archivos/1/b.mp4")
    if storage.is_local:  # no hidden temporary file either
        assert [p for p in Path(storage.base).rglob("*") if p.is_file()] == []


def test_an_unreachable_store_never_shows_a_credential(monkeypatch):
    monkeypatch.setattr(
        FailingMemoryFS,
        "error",
        RuntimeError("403 Forbidden: https://storage.googleapis.com/b/o?X-Goog-Signature=SECRETO123&token=SECRETO456"),
    )
    storage = Storage.from_url("fallamem:///cvp-falla")
    with pytest.raises(StorageUnavailable) as refused:
        storage.write_stream("informes/a.html", io.BytesIO(b"x" * 3000), chunk_size=1000)
    assert "no da permiso" in refused.value.message and "SECRETO" not in str(refused.value)


def test_public_url_is_signed_by_a_store_that_signs():
    storage = Storage.from_url(f"firmamem:///cvp-{uuid.uuid4().hex}")
    storage.write_bytes("archivos/1/a.png", b"png")
    url = storage.public_url("archivos/1/a.png", timedelta(hours=2))
    assert url == f"https://firmado.test/{storage.base.lstrip('/')}/archivos/1/a.png?expira=7200&firma=abc"
    assert storage.can_publish()
    # Instagram's public storage on the product store: a stored design is signed where it is, not copied.
    public = StoragePublicUrls(storage, expires=timedelta(minutes=30))
    assert public.put(storage.path("archivos/1/a.png"), "instagram/1/abc.png", "image/png").endswith(
        "/archivos/1/a.png?expira=1800&firma=abc"
    )
    assert storage.list() == ["archivos/1/a.png"]


def test_a_file_from_elsewhere_is_copied_once_then_signed(tmp_path):
    storage = Storage.from_url(f"firmamem:///cvp-{uuid.uuid4().hex}")
    legacy = tmp_path / "viejo.png"
    legacy.write_bytes(b"png antiguo")
    public = StoragePublicUrls(storage)
    url = public.put(legacy, "instagram/1/abc.png", "image/png")
    assert "instagram/1/abc.png?expira=86400" in url
    assert storage.read_bytes("instagram/1/abc.png") == b"png antiguo"


def test_public_url_on_a_served_folder_and_its_absence(tmp_path):
    served = Storage.local(tmp_path / "publico", public_base_url="https://cvp.test/publico/")
    assert served.public_url("instagram/7/a b.png") == "https://cvp.test/publico/instagram/7/a%20b.png"
    assert served.child("instagram").public_url("7/a.png") == "https://cvp.test/publico/instagram/7/a.png"
    plain = Storage.local(tmp_path / "privado")
    assert not plain.can_publish()
    with pytest.raises(StorageUnavailable, match="no publica direcciones"):
        plain.public_url("archivos/1/a.png")


def test_local_dir_public_storage_copies_from_the_product_store(tmp_path):
    store = memory_storage()
    store.write_bytes("archivos/1/a.png", b"png")
    public = LocalDirStorage(tmp_path / "publico", "https://cvp.test/publico")
    url = public.put(store.path("archivos/1/a.png"), "instagram/1/abc.png", "image/png")
    assert url == "https://cvp.test/publico/instagram/1/abc.png"
    assert (tmp_path / "publico" / "instagram" / "1" / "abc.png").read_bytes() == b"png"


def test_a_legacy_absolute_path_is_still_readable(tmp_path):
    legacy = tmp_path / "datos" / "archivos" / "1" / "viejo.png"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(tiny_png())
    storage = memory_storage()
    assert storage.exists(str(legacy)) and storage.read_bytes(str(legacy)) == tiny_png()
    assert storage.size(str(legacy)) == len(tiny_png()) and storage.uri(str(legacy)) == legacy.as_uri()
    with storage.local_copy(str(legacy)) as local:
        assert local == legacy
    media = MediaFile(storage.path(str(legacy)), "image/png", len(tiny_png()), "x")
    with media.open() as fh:
        assert fh.read() == tiny_png()


# --- the office on a store that is not this host's disk --------------------------------------------


@pytest.fixture
def remote_office(sqlite_url, cvp_env, tmp_path, monkeypatch):
    """An Office whose every kept file goes to memory://; the process runs in an empty directory."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    storage = memory_storage()
    office = Office(sqlite_url, storage=storage, mailer=MailboxMailer(storage.child("buzon")))
    return office


def _local_files(*folders: Path) -> list[str]:
    return sorted(str(p) for folder in folders for p in folder.rglob("*") if p.is_file())


def test_every_kept_file_goes_to_the_store_and_none_to_the_data_dir(remote_office, cvp_env):
    office, storage = remote_office, remote_office.storage
    need = office.register_need(dict(ONE_OFF, canales=["x", "sitio_web"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"], "sitio_web": "Entrega de títulos en Ciudad Bolívar."})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche de la entrega")
    office.decide(need, d.id, 12, P.APPROVED, "jefe")
    final = office.deliver_final(need)
    outbox = storage.child("salida")
    rows = [publishing.publish_once(office, OutboxPublisher(outbox, ch), need, ch) for ch in ("x", "sitio_web")]
    office.deliver_pending()
    report = reports.build_report(office, reports.date.today(), reports.date.today())
    saved = export.save_record(office, need)

    design = office.current_revision(need, P.DESIGN).stored_path
    assert design.startswith(f"archivos/{need}/") and final == f"definitivas/{need}/pieza-{need}-d1.png"
    keys = storage.list()
    folder = f"salida/x/necesidad-{need}-t1-d1"
    assert {
        design,
        final,
        f"{folder}/texto.txt",
        f"{folder}/pieza-1.png",
        f"{folder}/pieza.json",
        *report.files,
        *saved,
    } <= set(keys)
    assert storage.read_bytes(f"{folder}/pieza-1.png") == tiny_png() == storage.read_bytes(final)
    assert (
        json.loads(storage.read_text(f"{folder}/pieza.json"))["medios"][0]["texto_alternativo"]
        == "Afiche de la entrega"
    )
    assert all(r.state == publishing.PUBLISHED for r in rows)
    assert rows[0].url == f"memory://{storage.base.lstrip('/')}/{folder}"
    mails = [k for k in keys if k.startswith("buzon/")]
    assert mails and all(k.endswith(".eml") for k in mails)
    msg = email.message_from_bytes(storage.read_bytes(mails[0]), policy=policy.default)
    assert msg["From"] and "sent_at" not in msg
    [kept] = [r for r in json.loads(storage.read_text(saved[0]))["revisiones"] if r["tipo"] == P.DESIGN]
    assert kept["archivo"] == design
    # This host keeps only the records database: no design, piece, outbox, mail or report on its disk.
    assert {Path(f).name for f in _local_files(cvp_env)} <= {"registros.db", "registros.db-wal", "registros.db-shm"}
    assert _local_files(Path.cwd()) == []


def test_a_retried_outbox_publication_after_a_failure_leaves_no_half_piece(remote_office):
    office, storage = remote_office, remote_office.storage
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche")
    office.decide(need, d.id, 12, P.APPROVED, "jefe")

    class BreaksAtTheManifest(OutboxPublisher):
        def publish(self, piece):
            original = self.storage.write_text

            def write_text(key, text):
                if key.endswith("pieza.json"):
                    raise StorageUnavailable("No se pudo guardar «pieza.json» en el almacenamiento de archivos.")
                return original(key, text)

            self.storage.write_text = write_text
            try:
                return super().publish(piece)
            finally:
                self.storage.write_text = original

    with pytest.raises(TransientError, match="No se pudo guardar «pieza.json»"):
        publishing.publish_once(office, BreaksAtTheManifest(storage.child("salida"), "x"), need, "x")
    assert storage.list("salida") == []  # the text and the media written before are gone again
    [row] = office.publications(need)
    assert row.state == publishing.FAILED  # nothing went out: a retry may send, no person needed
    again = publishing.publish_once(office, OutboxPublisher(storage.child("salida"), "x"), need, "x")
    assert again.state == publishing.PUBLISHED and len(storage.list("salida")) == 3


def test_a_store_that_fails_while_publishing_is_retried_not_unconfirmed(remote_office, monkeypatch):
    office, storage = remote_office, remote_office.storage
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    d = office.submit_design(need, "tecnico", tiny_png(), "afiche.png", alt_text="Afiche")
    office.decide(need, d.id, 12, P.APPROVED, "jefe")
    piece, _, _ = publishing.build_piece(office, need, "x")
    [media] = piece.media

    def unreachable(*args, **kwargs):
        raise ConnectionError("bucket inalcanzable")

    monkeypatch.setattr(type(media.path), "open", unreachable)
    with pytest.raises(TransientError, match="No se pudo leer el archivo de la pieza"):
        media.open()
    monkeypatch.setattr(type(media.path), "is_file", unreachable)
    with pytest.raises(TransientError, match="No se pudo consultar"):
        publishing.publish_once(office, OutboxPublisher(storage.child("salida"), "x"), need, "x")
    assert office.publications(need)[0].state == publishing.FAILED


def test_a_design_the_store_refuses_is_not_recorded(sqlite_url, cvp_env, monkeypatch):
    monkeypatch.setattr(FailingMemoryFS, "error", OSError(errno.ENOSPC, "No space left on device"))
    storage = Storage.from_url("fallamem:///cvp-lleno")
    office = Office(sqlite_url, storage=storage)
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    big = tiny_png() + b"\0" * (3 << 20)  # several chunks: the store fails on the second
    with pytest.raises(StorageUnavailable, match="está lleno"):
        office.submit_design(need, "tecnico", big, "afiche.png", alt_text="Afiche")
    assert office.revisions(need, P.DESIGN) == [] and storage.fs.find("/cvp-lleno") == []
    assert (
        "diseno_cargado" not in [e.action for e in office.events(need)]
        and office.notifications(need)[-1].activity != 11
    )


def test_a_legacy_row_with_an_absolute_path_is_still_published(office, tmp_path):
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    t = office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    office.decide(need, t.id, 7, P.APPROVED, "jefe")
    legacy = tmp_path / "antes" / "archivos" / f"{need}" / "viejo.png"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(tiny_png(12, 12))
    with office.session() as s:  # a row written before the store: an absolute local path (revisions never change)
        d = Revision(
            need_id=need,
            kind=P.DESIGN,
            number=1,
            author="tecnico",
            title="Afiche",
            filename="viejo.png",
            stored_path=str(legacy),
            media_type="image/png",
            size=legacy.stat().st_size,
            sha256=hashlib.sha256(tiny_png(12, 12)).hexdigest(),
            alt_text="Afiche",
            created_at=utcnow(),
        )
        s.add(d)
    office.decide(need, d.id, 12, P.APPROVED, "jefe")
    final = office.deliver_final(need)
    assert office.storage.read_bytes(final) == tiny_png(12, 12)
    row = publishing.publish_once(office, OutboxPublisher(office.storage.child("salida"), "x"), need, "x")
    assert row.state == publishing.PUBLISHED
    assert office.storage.read_bytes(f"salida/x/necesidad-{need}-t1-d1/pieza-1.png") == tiny_png(12, 12)


def test_the_command_line_uses_the_configured_store(sqlite_url, cvp_env, tmp_path, monkeypatch, capsys):
    from cvp.__main__ import main

    store = tmp_path / "almacen"
    monkeypatch.setenv("CVP_STORAGE_URL", store.as_uri())
    monkeypatch.delenv("AIRFLOW_CONN_SMTP_DEFAULT", raising=False)
    office = Office(sqlite_url)
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id="r").id
    office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    assert (
        main(["--url", sqlite_url, "decidir", str(need), "--punto", "7", "--decision", "aprobado", "--como", "jefe"])
        == 0
    )
    image = tmp_path / "afiche.png"
    image.write_bytes(tiny_png())
    assert main(["--url", sqlite_url, "diseno", str(need), str(image), "--alt", "Afiche", "--como", "tecnico"]) == 0
    assert main(["--url", sqlite_url, "exportar", str(need), "--guardar"]) == 0
    stored = office.current_revision(need, P.DESIGN).stored_path
    assert (store / stored).read_bytes() == tiny_png()
    assert (store / "expedientes" / f"necesidad-{need}.json").is_file()
    assert list((store / "buzon").glob("*.eml"))  # the mails of the decision and the upload
    assert not (cvp_env / "archivos").exists() and not (cvp_env / "buzon").exists()
    assert "Expediente guardado" in capsys.readouterr().out


def test_without_airflow_a_store_connection_is_refused_in_spanish(sqlite_url, tmp_path, monkeypatch, capsys):
    from cvp.__main__ import main
    from cvp.storage import default_storage

    monkeypatch.setitem(sys.modules, "airflow.sdk", None)  # as on a host without Airflow: importing it fails
    monkeypatch.setenv("CVP_STORAGE_URL", (tmp_path / "almacen").as_uri())
    monkeypatch.delenv("CVP_STORAGE_CONN_ID", raising=False)
    plain = default_storage()  # no connection: the domain opens the URL itself, Airflow or not
    assert plain.description == str(tmp_path / "almacen") and type(plain.root).__module__.startswith("upath")

    monkeypatch.setenv("CVP_STORAGE_URL", "gs://cvp-archivos/cvp")
    monkeypatch.setenv("CVP_STORAGE_CONN_ID", "almacen_cvp")
    with pytest.raises(StorageUnavailable, match="Airflow no está instalado"):
        default_storage()
    assert main(["--url", sqlite_url, "historial", "1"]) == 2
    err = capsys.readouterr().err
    assert "CVP_STORAGE_CONN_ID indica la conexión de Airflow «almacen_cvp»" in err
    assert "gs://cvp-archivos/cvp" in err and "quite CVP_STORAGE_CONN_ID" in err


# --- Airflow's side ---------------------------------------------------------------------------------


def test_product_storage_is_an_object_storage_path_on_the_configured_url(tmp_path, monkeypatch):
    if str(ROOT / "plugins") not in sys.path:
        sys.path.insert(0, str(ROOT / "plugins"))
    from airflow.sdk import ObjectStoragePath

    from cvp_airflow import storage as airflow_storage

    monkeypatch.setenv("CVP_STORAGE_URL", (tmp_path / "base").as_uri())
    monkeypatch.delenv("CVP_STORAGE_CONN_ID", raising=False)
    store = airflow_storage.product_storage()
    assert isinstance(store.root, ObjectStoragePath) and store.root.conn_id is None
    assert store is airflow_storage.product_storage()  # cached per process
    assert store.description == str(tmp_path / "base")
    airflow_storage.outbox().write_text("x/texto.txt", "hola")
    airflow_storage.mailbox().write_bytes("1-cvp-1.eml", b"correo")
    assert (tmp_path / "base" / "salida" / "x" / "texto.txt").read_text() == "hola"
    assert (tmp_path / "base" / "buzon" / "1-cvp-1.eml").read_bytes() == b"correo"

    monkeypatch.setenv("CVP_STORAGE_URL", (tmp_path / "otra").as_uri())
    monkeypatch.setenv("CVP_STORAGE_CONN_ID", "almacen_cvp")
    other = airflow_storage.product_storage()
    assert other is not store and other.root.conn_id == "almacen_cvp"
    assert "almacen_cvp" not in other.description


def test_defaults_keep_the_embedded_layout(cvp_env, monkeypatch):
    from cvp.config import settings

    monkeypatch.delenv("CVP_STORAGE_URL", raising=False)
    monkeypatch.delenv("CVP_STORAGE_CONN_ID", raising=False)
    cfg = settings()
    assert cfg.storage_base_url == cvp_env.resolve().as_uri() and cfg.storage_conn_id is None
    assert cfg.default_records_url == f"sqlite:///{cvp_env.resolve() / 'registros.db'}"
    monkeypatch.setenv("CVP_STORAGE_URL", "gs://cvp-archivos/produccion")
    monkeypatch.setenv("CVP_STORAGE_CONN_ID", "google_cloud_default")
    cfg = settings()
    assert (cfg.storage_base_url, cfg.storage_conn_id) == ("gs://cvp-archivos/produccion", "google_cloud_default")
    assert os.environ["CVP_DATA_DIR"] == str(cvp_env)
