"""What every group of the office's acts works with: the records, the outbox, the design files, the team.

The acts live in modules by stage of the procedure (opening, planning, texts, designs, reviews) and the
readers in their own; each is a class of methods over this desk, and ``cvp.office.Office`` joins them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from cvp.config import Settings
from cvp.config import settings as load_settings
from cvp.mail import Mailer
from cvp.office.files import DesignFiles
from cvp.office.outbox import Outbox
from cvp.office.records import Records
from cvp.records.models import Need
from cvp.rendering import Renderer
from cvp.storage import Storage, default_storage
from cvp.team import Team, current_team


class Desk:
    """The office's parts, built once from the settings: ``records``, ``outbox`` and ``files``."""

    def __init__(
        self,
        url: str | None = None,
        *,
        cfg: Settings | None = None,
        mailer: Mailer | None = None,
        storage: Storage | None = None,
    ):
        cfg = cfg or load_settings()
        self.records = Records(url or cfg.default_records_url)
        self.renderer = Renderer(cfg.templates_dir)
        self.outbox = Outbox(self.records, self.renderer, cfg, mailer)
        # Designs and final pieces go to the product's store (shared by every host), never a local folder.
        self.files = DesignFiles(storage or default_storage(cfg))
        self.cfg = cfg

    @property
    def url(self) -> str:
        return self.records.url

    @property
    def engine(self):
        return self.records.engine

    @property
    def cfg(self) -> Settings:
        return self._cfg

    @cfg.setter
    def cfg(self, value: Settings) -> None:
        self._cfg = value
        self.outbox.cfg = value  # the mails' links and sender follow the office's settings

    @property
    def mailer(self) -> Mailer | None:
        """The transport ``deliver_pending`` uses when given none."""
        return self.outbox.mailer

    @mailer.setter
    def mailer(self, value: Mailer | None) -> None:
        self.outbox.mailer = value

    @property
    def storage(self) -> Storage:
        """The product's store of designs and final pieces."""
        return self.files.storage

    @storage.setter
    def storage(self, value: Storage) -> None:
        self.files.storage = value

    @property
    def team(self) -> Team:
        return current_team(self.cfg.team_file)

    def session(self) -> AbstractContextManager[Session]:
        """One transaction of the records."""
        return self.records.session()

    def need(self, need_id: int) -> Need:
        """The need as it is now, read in a transaction of its own."""
        with self.session() as s:
            return self.records.need(s, need_id)

    def deliver_pending(self, mailer: Mailer | None = None, need_id: int | None = None) -> int:
        """Send the mails the acts queued (see Outbox.deliver_pending)."""
        return self.outbox.deliver_pending(mailer, need_id)

    def record_event(self, need_id: int, activity: int, action: str, actor: str, summary: str, **detail) -> None:
        """Append one event to the need's audit trail (for acts that write no other record); once per act."""
        with self.session() as s:
            self.records.need(s, need_id)
            if not self.records.has_event(s, need_id, activity, action):
                self.records.event(s, need_id, activity, action, actor, summary, **detail)
