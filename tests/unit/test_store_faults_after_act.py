"""The store fails after an act has committed (issue 8, faults): a full or unreachable bucket.

The act's records are already kept; what the store should have received (the mailbox's .eml, a
report's files) is either whole or absent, the failure is said in Spanish, and the next attempt once
the store is back does the work exactly once.
"""

from __future__ import annotations

import email
import errno
import io
import uuid
from datetime import date
from email import policy

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem
from sqlalchemy import select
from upath import registry as upath_registry
from upath.implementations.memory import MemoryPath

from cvp import procedure as P
from cvp import reports
from cvp.errors import StorageUnavailable
from cvp.mail import MailboxMailer
from cvp.office import Office
from cvp.records.models import Report
from cvp.storage import Storage
from tests.conftest import ONE_OFF
from tests.unit.test_office import TEXTS

FULL = OSError(errno.ENOSPC, "No space left on device")
UNREACHABLE = ConnectionResetError("conexión reiniciada por el servidor")
HEAD_MAIL = "jefe.oac@cajaviviendapopular.gov.co"


class _Breaking(io.BytesIO):
    """A file being written that the store gives up on at the first write, visible meanwhile (like a bucket's
    upload in progress): what is left of it afterwards is a half-written file."""

    def __init__(self, fs, path, error):
        super().__init__()
        self.error = error
        fs.store[path] = self

    def write(self, data):
        raise self.error


class FlakyMemoryFS(MemoryFileSystem):
    """memory:// under its own scheme whose writes under some prefixes fail while ``broken`` says so."""

    protocol = ("inestable",)
    store: dict = {}
    pseudo_dirs = [""]
    broken: dict[str, Exception] = {}

    @classmethod
    def _strip_protocol(cls, path):
        path = str(path)
        if path.startswith("inestable://"):
            path = path[len("inestable://") :]
        return super()._strip_protocol(path)

    def _error_for(self, path: str) -> Exception | None:
        return next((e for prefix, e in self.broken.items() if f"/{prefix}/" in path), None)

    def _open(self, path, mode="rb", **kwargs):
        path = self._strip_protocol(path)
        if "w" in mode and (error := self._error_for(path)) is not None:
            if isinstance(error, ConnectionError):
                raise error  # unreachable: not even a file is opened
            return _Breaking(self, path, error)  # full: the upload breaks midway
        return super()._open(path, mode, **kwargs)


fsspec.register_implementation("inestable", FlakyMemoryFS, clobber=True)
upath_registry.register_implementation("inestable", MemoryPath, clobber=True)


@pytest.fixture
def store(monkeypatch) -> Storage:
    monkeypatch.setattr(FlakyMemoryFS, "broken", {})
    return Storage.from_url(f"inestable:///cvp-{uuid.uuid4().hex}")


def everything_in(storage: Storage) -> list[str]:
    """Every object under the store's base, hidden temporary keys included."""
    return sorted(str(p) for p in storage.fs.find(storage.base))


@pytest.fixture
def office(sqlite_url, store) -> Office:
    return Office(sqlite_url, storage=store, mailer=MailboxMailer(store.child("buzon")))


def act(office: Office) -> int:
    """A need whose text is presented for approval: committed acts that queue mails."""
    need = office.register_need(dict(ONE_OFF, canales=["x"]), "jefe", run_id=f"r-{uuid.uuid4().hex[:6]}").id
    office.submit_text(need, "profesional", {"x": TEXTS["x"]})
    return need


@pytest.mark.parametrize(
    "error, reason",
    [(FULL, "el almacenamiento está lleno"), (UNREACHABLE, "no se pudo conectar con el almacenamiento")],
    ids=["lleno", "inalcanzable"],
)
def test_a_mail_the_mailbox_store_refuses_stays_pending_and_goes_once_when_it_is_back(
    office, store, monkeypatch, caplog, error, reason
):
    need = act(office)
    queued = office.notifications(need)
    assert queued and all(n.sent_at is None for n in queued)

    monkeypatch.setitem(FlakyMemoryFS.broken, "buzon", error)
    assert office.deliver_pending() == 0
    assert office.deliver_pending(need_id=need) == 0  # a second try while it is still down: the same
    after = office.notifications(need)
    assert [n.id for n in after] == [n.id for n in queued]
    assert all(n.sent_at is None and n.claimed_at is None for n in after)  # free for the next attempt
    for n in after:
        assert n.error.startswith("No se pudo guardar «") and reason in n.error and "No quedó nada a medias" in n.error
    assert store.list("buzon") == [] and everything_in(store) == []  # no .eml, whole or half, no temporary key
    assert "no se entregó" in caplog.text and reason in caplog.text  # the task log says it in Spanish

    FlakyMemoryFS.broken.clear()
    assert office.deliver_pending() == len(queued)
    assert office.deliver_pending() == 0  # delivered exactly once
    sent = office.notifications(need)
    assert all(n.sent_at is not None and n.error == "" for n in sent)
    emls = store.list("buzon")
    assert len(emls) == len(queued) and all(k.endswith(".eml") for k in emls)
    subjects = sorted(email.message_from_bytes(store.read_bytes(k), policy=policy.default)["Subject"] for k in emls)
    assert subjects == sorted(n.subject for n in queued)
    assert office.events(need)  # the act itself was never in question


def test_a_need_acted_on_while_the_mailbox_is_down_loses_no_mail_of_later_acts(office, store, monkeypatch):
    need = act(office)
    monkeypatch.setitem(FlakyMemoryFS.broken, "buzon", UNREACHABLE)
    office.deliver_pending()
    text = office.current_revision(need, P.TEXT)
    office.decide(need, text.id, 7, P.APPROVED, "jefe")  # another act while the store is still down
    office.deliver_pending()
    pending = [n for n in office.notifications(need) if n.sent_at is None]
    assert len(pending) == len(office.notifications(need)) >= 2
    FlakyMemoryFS.broken.clear()
    assert office.deliver_pending() == len(pending) and office.deliver_pending() == 0
    assert len(store.list("buzon")) == len(pending)


@pytest.mark.parametrize("failing", ["html", "csv", "xlsx"])
@pytest.mark.parametrize(
    "error, reason", [(FULL, "está lleno"), (UNREACHABLE, "no se pudo conectar")], ids=["lleno", "inalcanzable"]
)
def test_a_report_whose_store_fails_raises_in_spanish_and_leaves_nothing(
    office, store, monkeypatch, failing, error, reason
):
    act(office)
    real = store.write_bytes

    def write_bytes(key, data):
        if key.endswith(f".{failing}"):
            monkeypatch.setitem(FlakyMemoryFS.broken, "informes", error)
        try:
            return real(key, data)
        finally:
            FlakyMemoryFS.broken.pop("informes", None)

    monkeypatch.setattr(store, "write_bytes", write_bytes)
    day = date(2026, 11, 9)
    with pytest.raises(StorageUnavailable) as refused:
        reports.build_report(office, day, day, kind=reports.WEEKLY)
    message = refused.value.message
    assert message.startswith(f"No se pudo guardar «informes/informe-semanal-2026-11-09-2026-11-09.{failing}»")
    assert reason in message
    assert everything_in(store) == []  # none of the report's files, nor a temporary key
    with office.session() as s:
        assert list(s.scalars(select(Report))) == []

    monkeypatch.setattr(store, "write_bytes", real)  # the store is back: the next run builds it whole
    report = reports.build_report(office, day, day, kind=reports.WEEKLY)
    assert store.list("informes") == sorted(report.files)
    assert len(report.files) == 3 and all(store.size(k) > 0 for k in report.files)


def test_a_rebuilt_report_whose_store_fails_keeps_the_previous_one_whole(office, store, monkeypatch):
    day = date(2026, 11, 9)
    first = reports.build_report(office, day, day, kind=reports.WEEKLY)
    before = {k: store.read_bytes(k) for k in first.files}
    real = store.write_bytes

    def write_bytes(key, data):
        if key.endswith(".csv"):
            raise StorageUnavailable("No se pudo guardar «informe.csv» en el almacenamiento de archivos.")
        return real(key, data)

    monkeypatch.setattr(store, "write_bytes", write_bytes)
    with pytest.raises(StorageUnavailable):
        reports.build_report(office, day, day, kind=reports.WEEKLY)
    assert store.list("informes") == sorted(first.files)  # no file removed
    assert all(store.size(k) > 0 for k in first.files)
    assert store.read_bytes(first.files[1]) == before[first.files[1]]
    with office.session() as s:
        [row] = s.scalars(select(Report))
    assert row.id == first.id and row.files == first.files


def test_a_report_mail_the_mailbox_store_refuses_goes_once_when_it_is_back(office, store, monkeypatch):
    day = date(2026, 11, 9)
    report = reports.build_report(office, day, day, kind=reports.WEEKLY)
    monkeypatch.setitem(FlakyMemoryFS.broken, "buzon", FULL)
    with pytest.raises(StorageUnavailable, match="está lleno"):
        reports.send_report(office, report.id, office.mailer, recipients=[HEAD_MAIL])
    with office.session() as s:
        assert "correo" not in s.get(Report, report.id).data  # not marked sent
    assert store.list("buzon") == [] and not [k for k in everything_in(store) if "/buzon/" in k]

    FlakyMemoryFS.broken.clear()
    assert reports.send_report(office, report.id, office.mailer, recipients=[HEAD_MAIL]) is True
    assert reports.send_report(office, report.id, office.mailer, recipients=[HEAD_MAIL]) is False
    [eml] = store.list("buzon")
    assert email.message_from_bytes(store.read_bytes(eml), policy=policy.default)["To"] == HEAD_MAIL
