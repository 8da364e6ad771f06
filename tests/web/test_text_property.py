"""Any text a person can type or paste, through the checks, the records and every page that shows it
(issue 10, Deliver): a property-based test with Hypothesis.

The texts mix any Unicode code point (lone surrogates included) with the troublemakers seen in pasted
text: controls, NUL, line and paragraph separators, bidirectional marks and overrides, zero-width
characters, combining marks, emoji sequences and HTML's special characters. The properties:

- the checks never raise, their report encodes as UTF-8, and a character nothing can carry is a blocking
  finding that points at it;
- the office stores the text as typed (trimmed) or refuses it with a Spanish ``InvalidInput``, nothing else,
  whether it comes through the office's calls or, every other example, through the forms' JSON API as the
  editor posts it (a Spanish 422 there);
- every page and export that shows it answers 200 with valid UTF-8 and the text escaped: a tag inside the
  text is never markup (the need's page, the reviews of the text and of the design, the editor, the record
  and its download, the calendar, the inbox and the JSON answers);
- every mail of the need is delivered with each header on one line and a plain UTF-8 body;
- rows stored before the refusal existed (a lone surrogate in a JSON column) are shown just the same.
"""

from __future__ import annotations

import email
import json
from datetime import date, timedelta
from email import policy
from pathlib import Path

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from cvp import procedure as P
from cvp.checks import CHANNELS, check_text
from cvp.errors import InvalidInput
from cvp.mail import MailboxMailer, header_value
from cvp.records.models import Revision, utcnow
from cvp_airflow.web.inputs import showable
from tests.conftest import NEED, tiny_png
from tests.fuzzing import spanish

MARKER = "<x-prueba>"
ESCAPED = "&lt;x-prueba&gt;"
TROUBLE = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\r",
    "\n",
    "\r\n",
    "\t",
    "\u2028",
    "\u2029",  # controls, breaks
    "\u200e",
    "\u200f",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u061c",  # direction marks, embeddings, overrides and isolates
    "\u200b",
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # zero-width
    "\u0301",
    "\u0323",
    "e\u0301",
    "\U0001f3e0",
    "\U0001f469\u200d\U0001f467",
    "\U0001f1e8\U0001f1f4",
    "\ud800",
    "\udfff",
    "\ud83d",
    "\ufffe",
    "\uffff",
    "\U0010ffff",  # broken halves, non-characters
    "<",
    ">",
    "&",
    '"',
    "'",
    "<script>alert(1)</script>",
    "&amp;",
    "{{ 7*7 }}",
    "#Vivienda",
    "@CVPBogota",
    "https://www.cajaviviendapopular.gov.co/",
    "ñandú",
    "العربية",
    "עברית",
]
ANY_CHAR = st.characters(codec=None, categories=None)  # every code point, surrogates included
PIECES = st.one_of(ANY_CHAR, st.sampled_from(TROUBLE), st.text(ANY_CHAR, max_size=3))
TEXT = st.lists(PIECES, max_size=24).map("".join)
NOT_SHOWN = set(chr(c) for c in range(0xD800, 0xE000))
ONE_OFF = dict(NEED, accion_puntual=True)  # channels x and facebook


def has_unstorable(text: str) -> bool:
    return any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text)


# --- the checks -------------------------------------------------------------------------------------


@settings(max_examples=400, derandomize=True, deadline=None, database=None)
@given(channel=st.sampled_from(CHANNELS), text=TEXT, title=TEXT)
@example(channel="x", text="Hola\udfff", title="")
@example(channel="youtube", text="\u202eolleh <b>\ud800", title="Tí\x00tulo")
def test_the_checks_take_any_text(channel, text, title):
    report = check_text(channel, text, title=title)
    out = json.dumps(report.to_dict(), ensure_ascii=False)
    out.encode("utf-8")  # what the editor, the review and the records receive
    broken = [f for f in report.findings if f.code == "text.invalid_character"]
    assert bool(broken) == (has_unstorable(text) or has_unstorable(title))
    assert not broken or report.blocking
    for f in report.findings:
        source = title if f.field == "title" else text
        if f.start is not None:
            assert 0 <= f.start <= f.end <= len(source), f
        assert f.message and f.message[0].isupper(), f


# --- the records and the pages -----------------------------------------------------------------------


def _pages(need_id: int) -> list[tuple[str, str, bool]]:
    """(user, url, shows the text) for every page and export that shows a need's text."""
    return [
        ("jefe", f"/cvp/necesidades/{need_id}", True),
        ("jefe", f"/cvp/necesidades/{need_id}/revision-texto", True),
        ("jefe", f"/cvp/necesidades/{need_id}/expediente", True),
        ("jefe", f"/cvp/necesidades/{need_id}/expediente?descargar=1", True),  # the file the office keeps
        ("profesional", f"/cvp/necesidades/{need_id}/texto", False),
        ("jefe", "/cvp/", False),
        ("lector", "/cvp/necesidades", False),
    ]


def _json_pages(need_id: int) -> list[tuple[str, str]]:
    return [
        ("jefe", f"/cvp/api/necesidades/{need_id}"),
        ("jefe", f"/cvp/api/necesidades/{need_id}/expediente"),
        ("jefe", "/cvp/api/bandeja"),
        ("profesional", "/cvp/api/necesidades"),
    ]


def _texts_of(detail: dict) -> dict:
    return next(r["textos"] for r in detail["revisiones"] if r["tipo"] == P.TEXT)


def _assert_shown(web, need_id: int, expected_texts: dict) -> None:
    for user, url, shows_text in _pages(need_id):
        r = web.as_(user).get(url)
        assert r.status_code == 200, (url, r.text[:300])
        html = r.content.decode("utf-8")  # strict
        assert MARKER not in html, url  # the tag in the text is never markup
        if shows_text:
            assert ESCAPED in html, url
        if "descargar=1" in url:
            assert r.headers["content-disposition"].startswith("attachment;"), url
    for user, url in _json_pages(need_id):
        r = web.as_(user).get(url)
        assert r.status_code == 200, (url, r.text[:300])
        data = json.loads(r.content.decode("utf-8"))
        if url.endswith(str(need_id)):
            assert _texts_of(data) == expected_texts


SETTINGS = dict(
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)


def _calendar_day(n: int) -> date:
    """A day of its own for the n-th need, so that the calendar's day view shows that need alone."""
    return date(2099, 1, 1) + timedelta(days=n)


def _assert_calendar_shows(web, need_id: int, day: date, title: str) -> None:
    """The month's calendar (page and JSON) lists the need on its publication day with its title escaped."""
    query = f"mes={day:%Y-%m}&dia={day.isoformat()}"
    r = web.as_("lector").get(f"/cvp/calendario?{query}")
    assert r.status_code == 200, r.text[:300]
    html = r.content.decode("utf-8")
    assert MARKER not in html and f"/necesidades/{need_id}" in html
    if MARKER in title:
        assert ESCAPED in html
    r = web.as_("lector").get(f"/cvp/api/calendario?{query}")
    assert r.status_code == 200, r.text[:300]
    entries = [e for e in json.loads(r.content.decode("utf-8")) if e["necesidad"] == need_id]
    assert entries and {e["titulo"] for e in entries} == {showable(title)}


MAIL_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}


def _assert_mails(office, need_id: int, folders: list[Path], title: str) -> int:
    """Every mail of the need as delivered: its headers one line each (no header a title could inject),
    its body plain UTF-8 text with the title as typed on one line. Returns how many were read."""
    office.deliver_pending(MailboxMailer(folders[0]), need_id=need_id)
    one_line = header_value(" ".join(line.strip() for line in title.splitlines() if line.strip()))
    read = 0
    for n in office.notifications(need_id):
        assert n.sent_at, n.error
        files = [f for folder in folders if folder.exists() for f in folder.glob(f"*-cvp-{n.id}.*.eml")]
        assert len(files) == 1, (n.id, files)
        raw = files[0].read_bytes()
        head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
        for line in head.splitlines():  # a header line, or the continuation of a folded one
            assert line[:1] in (b" ", b"\t") or b":" in line, line
        msg = email.message_from_bytes(raw, policy=policy.default)
        assert {k.lower() for k in msg.keys()} <= MAIL_HEADERS, msg.keys()
        for key, value in msg.items():
            assert not any(c in str(value) for c in "\r\n\x00\u2028\u2029\x85"), (key, value)
        assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
        body = msg.get_payload(decode=True).decode("utf-8")  # strict
        assert body == msg.get_content()
        assert one_line.replace("\ufffd", "") in msg["Subject"].replace("\ufffd", "")
        assert ESCAPED not in body  # plain text: the title as typed, never HTML-escaped
        read += 1
    return read


def _submit_through_the_api(web, need_id: int, texts: dict, title: str):
    """The editor's POST of the texts to the forms' JSON API; the JSON written as a browser's
    ``JSON.stringify`` writes it (a lone surrogate travels as its ``\\uXXXX`` escape)."""
    body = json.dumps({"textos": texts, "titulo": title}, ensure_ascii=True)
    headers = {"X-CSRF-Token": web.csrf("profesional"), "Content-Type": "application/json"}
    return web.as_("profesional").post(f"/cvp/api/necesidades/{need_id}/texto", content=body.encode(), headers=headers)


def test_any_text_is_stored_as_typed_or_refused_and_every_page_shows_it_escaped(web):
    office = web.office
    counts = {"stored": 0, "refused": 0, "api_stored": 0, "api_refused": 0, "designs": 0, "mails": 0}
    seen = [0]

    @settings(max_examples=30, **SETTINGS)
    @given(x=TEXT, facebook=TEXT, title=TEXT)
    @example(x="Hola", facebook="\u202e\u200b<b>negrita</b>\u2066", title="\r\nTítulo\x7f")
    @example(x="Hola\ud800", facebook="Hola", title="")
    @example(x="Hola\u2028<i>", facebook="\u200fעברית & العربية\u061c", title="Línea\nnueva\u2029\x85fin")
    def through_the_office_and_the_pages(x, facebook, title):
        seen[0] += 1
        via_api = seen[0] % 2 == 1  # the first explicit example, then every other one, through the JSON API
        day = _calendar_day(seen[0])
        need_title = f"{MARKER} Pieza {title}"[:200]
        opening = dict(ONE_OFF, titulo=need_title, publicar_en=f"{day.isoformat()}T10:00")
        try:
            need = office.register_need(opening, "jefe", run_id=None)
        except InvalidInput as refused:  # activity 1 refuses what it could not store, in Spanish
            assert has_unstorable(need_title) and "no se puede guardar" in str(refused), refused
            need = office.register_need(dict(opening, titulo=ONE_OFF["titulo"]), "jefe", run_id=None)
        need_id = need.id
        texts = {"x": f"{x} {MARKER}", "facebook": f"{MARKER} {facebook}"}
        if via_api:
            r = _submit_through_the_api(web, need_id, texts, title)
            if r.status_code == 422:
                counts["api_refused"] += 1
                detail = json.loads(r.content.decode("utf-8"))["detail"]
                assert spanish(detail), detail
                if not (has_unstorable(x + facebook + title) or len(title) > 200):
                    assert detail.startswith("El texto"), detail  # the checks' refusal, as the office's
                assert office.revisions(need_id) == []
                return
            assert r.status_code == 201, r.text[:500]
            counts["api_stored"] += 1
            rev = office.current_revision(need_id, P.TEXT)
        else:
            try:
                rev = office.submit_text(need_id, "profesional", texts, title=title)
            except InvalidInput as refused:
                counts["refused"] += 1
                assert refused.message.startswith("El texto") and refused.details, refused
                assert office.revisions(need_id) == []
                return
        counts["stored"] += 1
        assert not has_unstorable(x + facebook + title)
        assert rev.texts == {c: t.strip() for c, t in texts.items()}
        _assert_shown(web, need_id, rev.texts)
        _assert_calendar_shows(web, need_id, day, need.title)
        if counts["stored"] % 2:  # returned: the editor shows the text again in its text areas, escaped
            office.decide(need_id, rev.id, 7, P.REJECTED, "jefe", f"Ajuste {MARKER}")
            r = web.as_("profesional").get(f"/cvp/necesidades/{need_id}/texto")
            assert r.status_code == 200 and ESCAPED in r.text and MARKER not in r.text
        else:  # approved: the design's alternative text is the text typed, shown in the design's review
            office.decide(need_id, rev.id, 7, P.APPROVED, "jefe")
            alt = f"Afiche {MARKER} {x}"
            try:
                office.submit_design(need_id, "tecnico", tiny_png(), "afiche.png", alt_text=alt)
            except InvalidInput as refused:  # a channel's limit on the alternative text, in Spanish
                assert spanish(refused.message), refused
                alt = "Afiche de la entrega"
                office.submit_design(need_id, "tecnico", tiny_png(), "afiche.png", alt_text=alt)
            counts["designs"] += 1
            r = web.as_("jefe").get(f"/cvp/necesidades/{need_id}/revision-diseno")
            assert r.status_code == 200, r.text[:300]
            html = r.content.decode("utf-8")
            assert MARKER not in html and (ESCAPED in html or MARKER not in alt)
        counts["mails"] += _assert_mails(office, need_id, [office.cfg.mailbox_dir, web.mailbox], need.title)

    through_the_office_and_the_pages()
    # Both outcomes were exercised, through both doors: a property that only ever refused (or only stored)
    # would prove little.
    assert counts["stored"] >= 5 and counts["refused"] + counts["api_refused"] >= 3, counts
    assert counts["api_stored"] >= 1 and counts["api_refused"] >= 1 and counts["designs"] >= 1, counts
    assert counts["mails"] >= counts["stored"], counts


def test_rows_stored_before_the_refusal_are_shown_escaped(web):
    """A revision as an older version kept it: any characters, lone surrogates included, in its JSON."""
    office = web.office

    @settings(max_examples=20, **SETTINGS)
    @given(x=TEXT, facebook=TEXT)
    @example(x="Hola\ud800", facebook="\udfff\x00<b>")
    def as_kept(x, facebook):
        need_id = office.register_need(ONE_OFF, "jefe", run_id=None).id
        texts = {"x": f"{x} {MARKER}", "facebook": f"{MARKER} {facebook}"}
        with office.session() as s:
            s.add(
                Revision(
                    need_id=need_id,
                    kind=P.TEXT,
                    number=1,
                    author="profesional",
                    title="Entrega",
                    texts=texts,
                    note="",
                    checks=[],
                    created_at=utcnow(),
                )
            )
        shown = {c: "".join("\ufffd" if ch in NOT_SHOWN else ch for ch in t) for c, t in texts.items()}
        _assert_shown(web, need_id, shown)

    as_kept()
