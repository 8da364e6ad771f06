"""The forms on the product's store: a design uploaded through the api-server is kept in the store
(not on the api-server's disk), served back from it, and a store that fails is said in Spanish."""

from __future__ import annotations

import errno
import uuid

import pytest

from cvp import procedure as P
from cvp.records.models import Revision, utcnow
from cvp.storage import Storage
from tests.conftest import tiny_png
from tests.unit.test_storage import FailingMemoryFS
from tests.web.test_api import api, approved_text, need, upload  # noqa: F401 (need is a fixture)


def design_stored_at(web, need: int, stored_path: str) -> str:
    """A design row as an older version wrote it (revisions never change, so it is inserted as it was);
    returns its file's URL."""
    with web.office.session() as s:
        rev = Revision(
            need_id=need,
            kind=P.DESIGN,
            number=1,
            author="tecnico",
            filename="afiche.png",
            stored_path=stored_path,
            media_type="image/png",
            size=1,
            sha256="0" * 64,
            alt_text="Afiche",
            created_at=utcnow(),
        )
        s.add(rev)
        s.flush()
        return api(f"/necesidades/{need}/disenos/{rev.id}/archivo")


@pytest.fixture
def remote(web):
    """The office's files in memory://, as on a bucket: nothing readable through the api-server's disk."""
    web.office.storage = Storage.from_url(f"memory:///cvp-web-{uuid.uuid4().hex}")
    return web


def test_an_uploaded_design_lives_in_the_store_and_is_served_from_it(remote, need):
    web = remote
    approved_text(web, need)
    png = tiny_png(24, 24)
    design = upload(web, need, png).json()
    key = web.office.current_revision(need, P.DESIGN).stored_path
    assert key.startswith(f"archivos/{need}/") and web.office.storage.read_bytes(key) == png
    assert not web.office.cfg.uploads_dir.exists()  # nothing on this host's disk
    assert not any((web.office.cfg.data_dir / "subidas-en-curso").glob("*"))  # the upload's temp is gone
    r = web.as_("lector").get(design["url_archivo"])
    assert r.status_code == 200 and r.content == png
    assert r.headers["content-type"] == "image/png" and r.headers["content-length"] == str(len(png))
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "stored",
    [
        "definitivas/{need}/pieza.png",
        "salida/x/pieza-1.png",
        "buzon/1.eml",
        "archivos/../informes/a.html",
        "/etc/passwd",
    ],
)
def test_the_design_route_serves_only_designs(remote, need, stored):
    web = remote
    approved_text(web, need)
    other = stored.format(need=need)
    if not other.startswith("/") and ".." not in other:
        web.office.storage.write_bytes(other, "no es un diseño".encode())
    r = web.as_("lector").get(design_stored_at(web, need, other))
    assert r.status_code == 404 and "no está en el almacenamiento" in r.json()["detail"]


def test_a_legacy_design_in_the_old_uploads_folder_is_still_served(web, need):
    approved_text(web, need)
    legacy = web.office.cfg.uploads_dir / str(need) / "antiguo.png"
    legacy.parent.mkdir(parents=True, exist_ok=True)
    legacy.write_bytes(tiny_png(9, 9))
    r = web.as_("lector").get(design_stored_at(web, need, str(legacy)))
    assert r.status_code == 200 and r.content == tiny_png(9, 9)


def test_a_full_store_is_said_in_spanish_and_records_nothing(web, need, monkeypatch):
    monkeypatch.setattr(FailingMemoryFS, "error", OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setattr(FailingMemoryFS, "writes_allowed", 0)  # full from the first byte
    web.office.storage = Storage.from_url("fallamem:///cvp-web-lleno")
    approved_text(web, need)
    r = upload(web, need, tiny_png())
    assert r.status_code == 503, r.text
    detail = r.json()["detail"]
    assert "almacenamiento está lleno" in detail and "fallamem://cvp-web-lleno" in detail
    assert web.office.revisions(need, P.DESIGN) == []
    assert web.office.storage.fs.find("/cvp-web-lleno") == []
