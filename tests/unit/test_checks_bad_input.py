"""The checks take any text a person or a client can send, and say in Spanish what cannot be published
(issue 10, items 4 and 7): lone UTF-16 surrogates and NUL, infinite durations, absurd dimensions."""

from __future__ import annotations

import json

import pytest

from cvp.checks import CHANNELS, MediaInfo, check_text, x_weighted_length
from cvp.checks.limits import check_youtube_text
from cvp.errors import InvalidInput
from tests.conftest import NEED

TEXTS = {"x": "Hoy entregamos 120 títulos en Ciudad Bolívar.", "facebook": "Hoy entregamos 120 títulos de propiedad."}


def _utf8_json(report) -> str:
    """What the review screen and the records receive: it must encode as UTF-8."""
    out = json.dumps(report.to_dict(), ensure_ascii=False)
    out.encode("utf-8")
    return out


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "bad,offset",
    [
        ("Hola\ud800", 4),
        ("\udfff", 0),
        ("#Vivienda\ud83d y más", 9),
        ("Hola\x00mundo", 4),
        ("https://cvp.gov.co/\udc80 ok", 19),
    ],
)
def test_an_unpublishable_character_is_a_blocking_finding_that_points_at_it(channel, bad, offset):
    report = check_text(channel, bad, title="Entrega de títulos")
    found = [f for f in report.findings if f.code == "text.invalid_character"]
    assert len(found) == 1 and found[0].severity == "error" and report.blocking
    assert (found[0].start, found[0].end, found[0].field) == (offset, offset + 1, "text")
    assert f"posición {offset + 1}" in found[0].message and "emoji" in found[0].message
    assert "\ud800" not in _utf8_json(report)


def test_the_title_is_checked_too_and_several_characters_are_counted():
    report = check_text("youtube", "Descripción", title="T\ud800\udc00ítulo")
    [found] = [f for f in report.findings if f.code == "text.invalid_character"]
    assert found.field == "title" and found.start == 1 and "2 caracteres" in found.message
    _utf8_json(report)


def test_lengths_are_counted_with_the_character_replaced():
    assert x_weighted_length("Hola\ud800") == x_weighted_length("Hola\ufffd")
    [length] = [f for f in check_youtube_text("Título", "é\udfff" * 1500) if f.code == "yt.description_length"]
    assert "7.500 bytes" in length.message  # 2 + 3 bytes each (é, U+FFFD), not an exception


@pytest.mark.parametrize("duration", [float("inf"), float("-inf"), float("nan")])
def test_a_duration_that_is_not_a_number_is_unknown_not_a_crash(duration):
    video = MediaInfo("video/mp4", 1000, 1080, 1920, duration, name="clip.mp4")
    report = check_text("instagram", "Hola", media=(video,))
    assert "media.duration_unknown" in {f.code for f in report.findings}
    _utf8_json(report)


@pytest.mark.parametrize("width,height", [(10**400, 1), (1, 10**400), (-1080, 1080), (0, 0)])
def test_absurd_dimensions_are_unknown_not_a_crash(width, height):
    image = MediaInfo("image/jpeg", 1000, width, height, alt_text="Afiche", name="a.jpg")
    report = check_text("instagram", "Hola", media=(image,))
    assert {"media.dimensions_unknown", "media.aspect_ratio"} & {f.code for f in report.findings}
    _utf8_json(report)


def test_a_media_name_with_a_lone_surrogate_is_quoted_replaced():
    image = MediaInfo("image/bmp", 10, 10, 10, alt_text="\ud800", name="pieza\udfff.bmp")
    report = check_text("x", "Hola", media=(image,))
    assert "«pieza\ufffd.bmp»" in _utf8_json(report)


def test_the_office_refuses_such_a_text_and_keeps_nothing(office):
    need = office.register_need(NEED, "jefe", run_id="r")
    with pytest.raises(InvalidInput, match="no se puede publicar") as refused:
        office.submit_text(need.id, "profesional", dict(TEXTS, facebook="Hoy \ud83d entregamos"))
    assert any(d.startswith("Facebook: ") for d in refused.value.details)
    assert office.revisions(need.id) == []
