"""The procedure's actions on the records: what each activity writes, and the rules that guard it.

Every action is one transaction: its records, its audit event and its e-mails are written together
or not at all. Callers (DAG tasks, the web forms, the command line) check who may act through the
Team and pass the actor's username; the office enforces the procedure's own rules (order of
activities, current revision, nobody approves their own work).

The office is built of parts with one role each: ``records`` (transactions, need lookup, audit trail),
``outbox`` (mail queued with its act, delivered after commit) and ``files`` (the designs' store and
checks); the acts are grouped by stage of the procedure, and ``Office`` joins the groups.
"""

from cvp.office.designs import Designs
from cvp.office.files import UPLOAD_TYPES, sniff_media_type
from cvp.office.opening import Opening
from cvp.office.planning import Planning
from cvp.office.readers import Readers
from cvp.office.reviews import DecisionOutcome
from cvp.office.texts import Texts

__all__ = ["UPLOAD_TYPES", "DecisionOutcome", "Office", "sniff_media_type"]


class Office(Opening, Planning, Texts, Designs, Readers):
    """The records of the procedure and the actions on them."""
