"""Unit tests for the pre-review checks (issue 5): limits, media, accessibility, language, guide.

No Airflow, no internet: the reachability test runs a throwaway HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import socket
import struct
import threading
import zlib

import pytest

from cvp.checks import (
    RULES_DIR_ENV,
    CheckReport,
    Finding,
    Guide,
    GuideError,
    InclusiveRulesError,
    MediaInfo,
    check_media,
    check_text,
    load_guide,
    load_inclusive_rules,
    probe_media,
    render_findings_es,
    x_weighted_length,
)
from cvp.checks import core as checks_core
from cvp.checks.guide import Requirements

MB = 1024 * 1024
GB = 1024 * MB


def codes(findings, severity=None):
    return sorted(f.code for f in findings if severity is None or f.severity == severity)


def only(findings, code):
    return [f for f in findings if f.code == code]


def img(mime="image/png", size=200_000, w=1080, h=1080, alt="Fachada de una vivienda mejorada", name=None):
    return MediaInfo(mime, size, w, h, None, alt, None, name)


def vid(mime="video/mp4", size=20 * MB, w=1920, h=1080, duration=30.0, captions=True, name=None):
    return MediaInfo(mime, size, w, h, duration, None, captions, name)


# --- X weighted length ---------------------------------------------------------------------------


class TestXLength:
    def test_url_counts_23_whatever_its_length(self):
        url = "https://www.cajaviviendapopular.gov.co/tramites-y-servicios/mejoramiento-de-vivienda-progresiva"
        assert len(url) > 23
        assert x_weighted_length("Consulte " + url) == len("Consulte ") + 23

    def test_scheme_less_domain_is_a_url_too(self):
        assert x_weighted_length("cajaviviendapopular.gov.co") == 23

    def test_emoji_weigh_two_even_multi_codepoint(self):
        assert x_weighted_length("🏠") == 2
        family = "👨\u200d👩\u200d👧\u200d👦"
        assert len(family) == 7
        assert x_weighted_length(family) == 2

    def test_accented_spanish_weighs_one(self):
        assert x_weighted_length("Señora, ¿ya solicitó la visita técnica?") == len(
            "Señora, ¿ya solicitó la visita técnica?"
        )
        # decomposed accent (e + U+0301) counts as one character after NFC normalisation
        assert x_weighted_length("te\u0301cnica") == 7

    def test_cjk_weighs_two(self):
        assert x_weighted_length("漢字") == 4

    def test_text_that_len_says_too_long_but_x_accepts(self):
        url = "https://www.cajaviviendapopular.gov.co/" + "a" * 200
        text = "Inscripciones abiertas para mejoramiento de vivienda: " + url
        assert len(text) > 280
        report = check_text("x", text)
        assert report.x_weighted_length == len("Inscripciones abiertas para mejoramiento de vivienda: ") + 23
        assert "x.length" not in report.codes()

    def test_over_280_is_an_error(self):
        report = check_text("x", "ñ" * 281)
        (f,) = only(report.findings, "x.length")
        assert f.severity == "error"
        assert report.blocking
        assert report.x_weighted_length == 281

    def test_cjk_over_limit_although_only_141_characters(self):
        report = check_text("x", "漢" * 141)
        assert report.x_weighted_length == 282
        assert [f.severity for f in only(report.findings, "x.length")] == ["error"]

    def test_near_limit_is_a_warning(self):
        at_90 = check_text("x", "á" * 252)
        assert [f.severity for f in only(at_90.findings, "x.length")] == ["warning"]
        assert not at_90.blocking
        at_280 = check_text("x", "á" * 280)
        assert [f.severity for f in only(at_280.findings, "x.length")] == ["warning"]
        below = check_text("x", "á" * 251)
        assert only(below.findings, "x.length") == []

    def test_invalid_characters_rejected(self):
        report = check_text("x", "Hola\ufffe ciudadanía")
        assert [f.severity for f in only(report.findings, "x.invalid_chars")] == ["error"]

    def test_empty_post_without_media_is_an_error(self):
        assert codes(check_text("x", "  ").findings, "error") == ["text.empty"]
        assert "text.empty" not in check_text("x", "", media=[img()]).codes()


# --- Other platform text limits ------------------------------------------------------------------


class TestPlatformText:
    def test_facebook_length(self):
        assert [f.severity for f in only(check_text("facebook", "a" * 63_207).findings, "fb.length")] == ["error"]
        assert [f.severity for f in only(check_text("facebook", "a" * 57_000).findings, "fb.length")] == ["warning"]
        assert only(check_text("facebook", "a" * 56_000).findings, "fb.length") == []

    def test_instagram_caption_length(self):
        report = check_text("instagram", "a" * 2_201, media=[img()])
        (f,) = only(report.findings, "ig.length")
        assert f.severity == "error"
        assert "2.201" in f.message and "2.200" in f.message
        assert only(check_text("instagram", "a" * 1_000, media=[img()]).findings, "ig.length") == []

    def test_instagram_hashtags(self):
        def caption(n):
            return "Feria de vivienda " + " ".join("#Etiqueta%d" % i if i else "#Vivienda" for i in range(n))

        assert [
            f.severity for f in only(check_text("instagram", caption(31), media=[img()]).findings, "ig.hashtags")
        ] == ["error"]
        assert [
            f.severity for f in only(check_text("instagram", caption(30), media=[img()]).findings, "ig.hashtags")
        ] == ["warning"]
        assert only(check_text("instagram", caption(10), media=[img()]).findings, "ig.hashtags") == []

    def test_instagram_hashtag_counting_ignores_links_numbers_and_words(self):
        text = "Visite https://cvp.gov.co/#inicio, sala #2 y el canal C# " + " ".join("#T%d" % i for i in range(30))
        assert only(check_text("instagram", text, media=[img()]).findings, "ig.hashtags")[0].severity == "warning"

    def test_instagram_mentions(self):
        mentions = " ".join("@cuenta_%d" % i for i in range(21))
        assert [f.severity for f in only(check_text("instagram", mentions, media=[img()]).findings, "ig.mentions")] == [
            "error"
        ]
        # e-mail addresses are not mentions
        emails = " ".join("persona%d@cajaviviendapopular.gov.co" % i for i in range(25))
        assert only(check_text("instagram", emails, media=[img()]).findings, "ig.mentions") == []

    def test_youtube_title_length_and_brackets(self):
        report = check_text("youtube", "Descripción", title="T" * 101, media=[vid()])
        assert [f.severity for f in only(report.findings, "yt.title_length")] == ["error"]
        near = check_text("youtube", "Descripción", title="T" * 95, media=[vid()])
        assert [f.severity for f in only(near.findings, "yt.title_length")] == ["warning"]

        report = check_text("youtube", "Descripción", title="Entrega de viviendas > 100", media=[vid()])
        (f,) = only(report.findings, "yt.title_chars")
        assert (f.severity, f.field, f.start, f.end) == ("error", "title", 21, 22)

    def test_youtube_title_required(self):
        assert "yt.title_required" in check_text("youtube", "Descripción", media=[vid()]).codes()

    def test_youtube_description_counts_utf8_bytes(self):
        text = "á" * 2_501  # 2,501 characters, 5,002 bytes
        report = check_text("youtube", text, title="Entrega de viviendas", media=[vid()])
        assert [f.severity for f in only(report.findings, "yt.description_length")] == ["error"]
        ascii_text = "a" * 4_600
        near = check_text("youtube", ascii_text, title="Entrega de viviendas", media=[vid()])
        assert [f.severity for f in only(near.findings, "yt.description_length")] == ["warning"]
        brackets = check_text("youtube", "ver <aquí>", title="Título", media=[vid()])
        assert [(f.start, f.field) for f in only(brackets.findings, "yt.description_chars")] == [
            (4, "text"),
            (9, "text"),
        ]

    def test_website_has_no_length_limit(self):
        report = check_text("sitio_web", "a" * 100_000)
        assert report.findings == []

    def test_unknown_channel(self):
        with pytest.raises(ValueError):
            check_text("tiktok", "hola")
        with pytest.raises(ValueError):
            check_media("twitter", [])


# --- Media ---------------------------------------------------------------------------------------


class TestMediaX:
    def test_four_images_ok_five_not(self):
        assert check_media("x", [img() for _ in range(4)]) == []
        assert codes(check_media("x", [img() for _ in range(5)]), "error") == ["media.count"]

    def test_no_mixing_images_and_video(self):
        assert "media.mixed" in codes(check_media("x", [img(), vid()]), "error")
        assert codes(check_media("x", [vid(), vid()]), "error") == ["media.count"]

    def test_gif_goes_alone(self):
        assert check_media("x", [img("image/gif", 12 * MB)]) == []
        assert "media.mixed" in codes(check_media("x", [img("image/gif"), img()]), "error")

    def test_sizes(self):
        assert codes(check_media("x", [img("image/png", 6 * MB)])) == ["media.size"]
        assert codes(check_media("x", [img("image/gif", 16 * MB)])) == ["media.size"]
        assert codes(check_media("x", [vid(size=600 * MB)])) == ["media.size"]
        assert check_media("x", [img("image/webp", 4 * MB)]) == []

    def test_duration(self):
        (f,) = check_media("x", [vid(duration=141)])
        assert (f.code, f.severity) == ("media.duration", "error")
        assert "2 min 21 s" in f.message
        assert check_media("x", [vid(duration=140)]) == []
        unknown = check_media("x", [vid(duration=None)])
        assert [(f.code, f.severity) for f in unknown] == [("media.duration_unknown", "info")]

    def test_formats(self):
        (f,) = check_media("x", [img("image/bmp")])
        assert (f.code, f.severity) == ("media.format", "error")
        assert "BMP" in f.message
        assert codes(check_media("x", [vid("video/webm")])) == ["media.format"]


class TestMediaInstagram:
    def test_text_only_post_is_an_error(self):
        report = check_text("instagram", "Entrega de títulos en Ciudad Bolívar")
        assert [(f.code, f.severity) for f in report.findings if f.code.startswith("media")] == [
            ("media.required", "error")
        ]

    def test_image_aspect_ratio(self):
        assert check_media("instagram", [img("image/jpeg", w=1080, h=1350)]) == []  # 4:5
        assert check_media("instagram", [img("image/jpeg", w=1080, h=566)]) == []  # 1.91:1
        (f,) = check_media("instagram", [img("image/jpeg", w=1080, h=1920)])
        assert (f.code, f.severity) == ("media.aspect_ratio", "error")
        assert "1080×1920" in f.message
        assert codes(check_media("instagram", [img("image/jpeg", w=1200, h=600)])) == ["media.aspect_ratio"]

    def test_video_limits(self):
        assert check_media("instagram", [vid(w=1080, h=1920, duration=45)]) == []
        assert codes(check_media("instagram", [vid(w=1080, h=1920, duration=2)])) == ["media.duration"]
        assert codes(check_media("instagram", [vid(w=1080, h=1920, duration=16 * 60)])) == ["media.duration"]
        assert codes(check_media("instagram", [vid(size=301 * MB)])) == ["media.size"]
        assert codes(check_media("instagram", [vid(w=1000, h=2000)])) == ["media.aspect_ratio"]

    def test_formats_sizes_count(self):
        assert codes(check_media("instagram", [img("image/gif")])) == ["media.format"]
        assert codes(check_media("instagram", [img("image/png")])) == ["media.format"]  # Meta: JPEG only
        assert codes(check_media("instagram", [img("image/jpeg", 9 * MB)])) == ["media.size"]
        assert check_media("instagram", [img("image/jpeg") for _ in range(10)]) == []
        assert codes(check_media("instagram", [img("image/jpeg") for _ in range(11)]), "error") == ["media.count"]

    def test_unknown_dimensions_is_info(self):
        (f,) = check_media("instagram", [img("image/jpeg", w=None, h=None)])
        assert (f.code, f.severity) == ("media.dimensions_unknown", "info")


class TestMediaYouTubeFacebook:
    def test_youtube_needs_exactly_one_video(self):
        assert codes(check_media("youtube", []), "error") == ["media.required"]
        assert codes(check_media("youtube", [vid(), vid()]), "error") == ["media.count"]
        assert check_media("youtube", [vid("video/x-msvideo")]) == []
        assert check_media("youtube", [vid("video/mpeg", size=200 * GB, duration=None)]) == []
        assert codes(check_media("youtube", [vid(size=257 * GB)])) == ["media.size"]
        assert "media.format" in codes(check_media("youtube", [vid(), img()]))

    def test_facebook(self):
        assert check_media("facebook", [img("image/tiff"), img("image/bmp"), vid("video/x-matroska")]) == []
        assert codes(check_media("facebook", [img("image/jpeg", 11 * MB)])) == ["media.size"]
        assert codes(check_media("facebook", [vid(duration=241 * 60)])) == ["media.duration"]
        assert codes(check_media("facebook", [vid(size=11 * GB)])) == ["media.size"]

    def test_pdf_only_on_website(self):
        pdf = MediaInfo("application/pdf", 300_000, name="boletin.pdf")
        for channel in ("x", "facebook", "instagram", "youtube"):
            found = only(check_media(channel, [pdf]), "media.pdf")
            assert [f.severity for f in found] == ["error"], channel
            assert "imagen" in found[0].message or "imagen" in found[0].suggestion
        assert check_media("sitio_web", [pdf]) == []


class TestAccessibility:
    @pytest.mark.parametrize("channel", ["x", "facebook", "instagram", "sitio_web"])
    def test_image_without_alt_text_is_a_warning_everywhere(self, channel):
        found = check_media(channel, [img("image/jpeg", alt="  ", name="afiche.png")])
        assert [(f.code, f.severity) for f in found] == [("a11y.alt_text", "warning")]
        assert "«afiche.png»" in found[0].message
        assert "no bloquea" in found[0].message
        assert check_media(channel, [img("image/jpeg", alt="Familia frente a su casa")]) == []

    def test_x_alt_text_length(self):
        assert codes(check_media("x", [img(alt="a" * 1001)]), "error") == ["a11y.alt_text_length"]

    def test_captions(self):
        assert [(f.code, f.severity) for f in check_media("facebook", [vid(captions=False)])] == [
            ("a11y.captions", "warning")
        ]
        assert [(f.code, f.severity) for f in check_media("facebook", [vid(captions=None)])] == [
            ("a11y.captions", "info")
        ]
        assert check_media("facebook", [vid(captions=True)]) == []

    def test_hashtag_case(self):
        text = "Feria #viviendadigna y #VIVIENDADIGNA, pero #ViviendaDigna y #bogota y #abcdefghijkl están bien"
        found = only(check_text("sitio_web", text).findings, "a11y.hashtag_case")
        assert [(f.severity, text[f.start : f.end]) for f in found] == [
            ("warning", "#viviendadigna"),
            ("warning", "#VIVIENDADIGNA"),
        ]
        assert "#ViviendaDigna" in found[0].suggestion
        assert only(check_text("sitio_web", "#abcdefghijklm").findings, "a11y.hashtag_case")


# --- Inclusive language --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_extra_rules(monkeypatch):
    monkeypatch.delenv(RULES_DIR_ENV, raising=False)


def lang(text, channel="sitio_web", **kwargs):
    return only(check_text(channel, text, **kwargs).findings, "lang.inclusive")


class TestInclusiveLanguage:
    def test_rule_list_is_substantial(self):
        rules = load_inclusive_rules()
        assert len(rules) >= 40

    @pytest.mark.parametrize(
        "phrase, suggestion",
        [
            ("los ciudadanos", "la ciudadanía"),
            ("los beneficiarios", "las personas beneficiarias"),
            ("los funcionarios", "el personal"),
            ("los niños", "la niñez"),
            ("los usuarios", "las personas usuarias"),
            ("los propietarios", "las personas propietarias"),
            ("los habitantes", "la población"),
            ("los trabajadores", "las personas trabajadoras"),
            ("los colombianos", "la población colombiana"),
            ("los bogotanos", "la ciudadanía bogotana"),
            ("el hombre", "la humanidad"),
            ("discapacitados", "personas con discapacidad"),
            ("minusválidos", "personas con discapacidad"),
            ("los desplazados", "personas víctimas de desplazamiento forzado"),
            ("los adultos mayores", "las personas mayores"),
            ("los ancianos", "las personas mayores"),
        ],
    )
    def test_required_rules(self, phrase, suggestion):
        text = "Durante la jornada, %s recibieron información." % phrase
        (f,) = lang(text)
        assert f.severity == "warning"
        assert text[f.start : f.end] == phrase
        assert f.suggestion == suggestion
        assert "Acuerdo 381" in f.message

    def test_positions_and_message(self):
        text = "La Caja atendió a los beneficiarios del programa."
        (f,) = lang(text)
        assert (f.start, f.end) == (18, 35)
        assert "«los beneficiarios»" in f.message and "«las personas beneficiarias»" in f.message

    def test_case_and_accent_insensitive(self):
        for text in ("LOS CIUDADANOS", "los ciudadános", "Los Ciudadanos", "lós ciudadanos"):
            (f,) = lang(text)
            assert (f.start, f.end) == (0, len(text))
        assert lang("LOS CIUDADANOS")[0].suggestion == "LA CIUDADANÍA"
        assert lang("Los ciudadanos llegaron")[0].suggestion == "La ciudadanía"

    def test_decomposed_accents_keep_original_offsets(self):
        text = "Para los ciuda\u0301danos y funcionarios"
        found = lang(text)
        assert [text[f.start : f.end] for f in found] == ["los ciuda\u0301danos", "funcionarios"]

    def test_whole_words_only(self):
        assert lang("Nuestros conciudadanos y los funcionariosx") == []
        assert lang("ciudadanosas niñosdios") == []
        assert lang("Ciudadanía y niñez") == []

    def test_quoted_text_does_not_fire(self):
        assert lang('Programa "Los niños primero" de la Secretaría') == []
        assert lang("Campaña «Todos los ciudadanos cuentan»") == []
        assert lang("El lema “Para los funcionarios” ganó") == []
        found = lang('Programa "Los niños primero" para los niños')
        assert [(f.start, f.end) for f in found] == [(34, 43)]

    def test_doublets_and_slash_forms_do_not_fire(self):
        for text in (
            "los ciudadanos y las ciudadanas",
            "las ciudadanas y los ciudadanos",
            "niños, niñas y adolescentes",
            "las niñas y los niños",
            "los trabajadores y trabajadoras",
            "el usuario o la usuaria",
            "ciudadanos(as) y funcionarios/as",
        ):
            assert lang(text) == [], text

    def test_doublet_does_not_excuse_non_gender_rules(self):
        found = lang("los discapacitados y discapacitadas")
        assert [f.suggestion for f in found] == ["personas con discapacidad", "personas con discapacidad"]

    def test_longest_phrase_wins(self):
        (f,) = lang("Invitamos a todos los ciudadanos")
        assert f.suggestion == "toda la ciudadanía"
        assert (f.start, f.end) == (12, 32)

    def test_phrase_across_line_break(self):
        (f,) = lang("Atendimos a los\nciudadanos del barrio")
        assert (f.start, f.end) == (12, 26)

    def test_links_and_mentions_do_not_fire(self):
        text = "Ver https://cvp.gov.co/funcionarios y cvp.gov.co/ciudadanos o escriba a @funcionarios"
        assert lang(text) == []

    def test_title_is_checked_with_its_own_offsets(self):
        report = check_text("youtube", "Entrega a la ciudadanía", title="Los beneficiarios reciben", media=[vid()])
        (f,) = only(report.findings, "lang.inclusive")
        assert (f.field, f.start, f.end) == ("title", 0, 17)

    def test_extra_rules_dir_from_env(self, monkeypatch, tmp_path):
        (tmp_path / "10_obra.yml").write_text(
            "rules:\n"
            "  - id: constructores\n"
            "    match: [los constructores]\n"
            "    suggest: [las empresas constructoras]\n"
            "  - id: el_hombre\n"
            "    enabled: false\n"
            "  - id: ciudadanos\n"
            "    match: [los ciudadanos]\n"
            "    suggest: [la comunidad]\n",
            encoding="utf-8",
        )
        (tmp_path / "notas.txt").write_text("no es una regla", encoding="utf-8")
        text = "Los constructores y el hombre; los ciudadanos."
        before = lang(text)
        assert [text[f.start : f.end] for f in before] == ["el hombre", "los ciudadanos"]

        monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
        after = lang(text)
        assert [(text[f.start : f.end], f.suggestion) for f in after] == [
            ("Los constructores", "Las empresas constructoras"),
            ("los ciudadanos", "la comunidad"),
        ]

    def test_bad_extra_rule_file_names_file_and_rule(self, monkeypatch, tmp_path):
        (tmp_path / "malo.yml").write_text(
            "rules:\n  - id: x\n    match: [los vecinos]\n    sugest: [el vecindario]\n", encoding="utf-8"
        )
        monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
        with pytest.raises(InclusiveRulesError, match=r"malo\.yml.*sugest"):
            load_inclusive_rules()

    def test_rules_are_cached_until_a_file_changes(self, monkeypatch, tmp_path):
        extra = tmp_path / "extra.yml"
        extra.write_text("rules:\n  - id: a\n    match: [los obreros]\n    suggest: [el personal de obra]\n")
        monkeypatch.setenv(RULES_DIR_ENV, str(tmp_path))
        first = load_inclusive_rules()
        assert load_inclusive_rules() is first
        extra.write_text(
            "rules:\n  - id: a\n    match: [los obreros, los albañiles]\n    suggest: [el personal de obra]\n"
        )
        second = load_inclusive_rules()
        assert second is not first
        assert len(first.find("los albañiles")) == 0
        assert len(second.find("los albañiles")) == 1


# --- Institutional guide and links ---------------------------------------------------------------


class TestGuide:
    def test_default_guide_is_modest(self):
        clean = "La Caja de la Vivienda Popular entrega 120 títulos de propiedad en Usme. #ViviendaDigna"
        for channel in ("x", "facebook", "sitio_web"):
            report = check_text(channel, clean)
            assert report.findings == [], (channel, report.findings)

    def test_campaign_requirements(self):
        report = check_text("x", "Mejoramos tu casa con el Plan Terrazas.", campaign="plan-terrazas")
        assert codes(report.findings) == ["guide.required_hashtag", "guide.required_mention"]
        assert all(f.severity == "warning" for f in report.findings)
        assert not report.blocking
        ok = check_text("x", "Mejoramos tu casa #planterrazas con @cvpbogota", campaign="plan-terrazas")
        assert ok.findings == []
        near_miss = check_text("x", "#PlanTerrazasYa @CVPBogota", campaign="plan-terrazas")
        assert codes(near_miss.findings) == ["guide.required_hashtag"]

    def test_campaign_channel_specific(self):
        report = check_text("instagram", "Plan #PlanTerrazas", media=[img()], campaign="plan-terrazas")
        assert [f.message for f in only(report.findings, "guide.required_hashtag")] == [
            "La guía institucional pide la etiqueta #MejoramientoDeVivienda en las piezas de la campaña "
            "«Plan Terrazas» para Instagram."
        ]
        assert "guide.required_mention" not in report.codes()

    def test_youtube_title_counts(self):
        guide = Guide.from_dict({"channels": {"youtube": {"hashtags": ["#CVP"]}}})
        ok = check_text("youtube", "Descripción", title="Entrega #CVP", media=[vid()], guide=guide)
        assert "guide.required_hashtag" not in ok.codes()

    def test_unknown_campaign(self):
        (f,) = check_text("facebook", "Texto", campaign="no-existe").findings
        assert (f.code, f.severity) == ("guide.unknown_campaign", "warning")

    def test_guide_validation(self):
        with pytest.raises(GuideError):
            Guide.from_dict({"channels": {"tiktok": {"hashtags": ["#CVP"]}}})
        with pytest.raises(GuideError):
            Guide.from_dict({"channels": {"x": {"hashtags": ["CVP"]}}})
        guide = Guide.from_dict(
            {"channels": {"all": {"mentions": ["@CVPBogota"]}}, "campaigns": {"c": {"x": {"mentions": "@cvpbogota"}}}}
        )
        assert guide.requirements("x", "c") == Requirements((), ("@CVPBogota",))

    def test_default_file_loads(self):
        guide = load_guide()
        assert "plan-terrazas" in guide.campaigns
        assert not guide.requirements("x")


class TestLinks:
    @pytest.mark.parametrize(
        "link",
        [
            "htps://cajaviviendapopular.gov.co",
            "http:/cajaviviendapopular.gov.co",
            "https//cajaviviendapopular.gov.co",
            "https://cajaviviendapopular",
            "https://cvp..gov.co/tramites",
            "http://",
            "https://cvp.gov.co:99999/",
            "www.cvp",
        ],
    )
    def test_malformed(self, link):
        text = "Más información en %s." % link
        found = only(check_text("facebook", text).findings, "link.malformed")
        assert [(f.severity, text[f.start : f.end]) for f in found] == [("error", link)]

    def test_well_formed(self):
        text = (
            "Consulte https://www.cajaviviendapopular.gov.co/tramites?id=3&x=1, "
            "(https://es.wikipedia.org/wiki/Usme_(Bogotá)). www.habitatbogota.gov.co "
            "Hora: 10 a. m. Escriba a prensa@cajaviviendapopular.gov.co o https://192.168.0.1/x"
        )
        report = check_text("facebook", text)
        assert report.findings == []

    def test_http_is_info(self):
        (f,) = check_text("facebook", "Ver http://www.cajaviviendapopular.gov.co/").findings
        assert (f.code, f.severity, f.suggestion) == (
            "link.insecure",
            "info",
            "https://www.cajaviviendapopular.gov.co/",
        )

    def test_offline_by_default(self, monkeypatch):
        def boom(*args, **kwargs):
            raise AssertionError("no network without check_links_online")

        monkeypatch.setattr(checks_core, "check_urls_online", boom)
        check_text("facebook", "Ver https://www.cajaviviendapopular.gov.co/")


class _Handler(http.server.BaseHTTPRequestHandler):
    def _reply(self, head_only):
        if self.path == "/ok":
            status = 200
        elif self.path == "/sin-head":
            status = 405 if head_only else 200
        else:
            status = 404
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self._reply(True)

    def do_GET(self):
        self._reply(False)

    def log_message(self, *args):
        pass


@pytest.fixture()
def local_server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


def test_links_online_against_local_server(local_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    text = "A %s/ok B %s/sin-head C %s/no-existe D http://127.0.0.1:%d/x" % (
        local_server,
        local_server,
        local_server,
        closed_port,
    )
    report = check_text("sitio_web", text, check_links_online=True)
    unreachable = only(report.findings, "link.unreachable")
    assert [(f.severity, text[f.start : f.end]) for f in unreachable] == [
        ("warning", local_server + "/no-existe"),
        ("warning", "http://127.0.0.1:%d/x" % closed_port),
    ]
    assert "404" in unreachable[0].message
    assert "conectar" in unreachable[1].message


# --- probe_media ---------------------------------------------------------------------------------


def _png(w, h):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00" * (3 * w) for _ in range(h))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _jpeg(w, h, orientation=None):
    out = b"\xff\xd8"
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    if orientation is not None:
        tiff = b"MM\x00*" + struct.pack(">I", 8) + struct.pack(">H", 1)
        tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
        payload = b"Exif\x00\x00" + tiff
        out += b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + b"\x01" * 64
    out += b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00" + b"\x00" * 10
    return out + b"\xff\xd9"


def _box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


_IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
_ROTATE_90 = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)


def _tkhd(w, h, matrix=_IDENTITY):
    payload = b"\x00\x00\x00\x07" + struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\x00" * 8
    payload += struct.pack(">hhhh", 0, 0, 0, 0) + struct.pack(">9i", *matrix)
    payload += struct.pack(">II", w << 16, h << 16)
    return _box(b"tkhd", payload)


def _mp4(duration_s, w, h, *, brand=b"isom", version=0, moov_last=False, matrix=_IDENTITY):
    timescale = 600
    if version == 0:
        mvhd = b"\x00\x00\x00\x00" + struct.pack(">IIII", 0, 0, timescale, int(duration_s * timescale))
    else:
        mvhd = b"\x01\x00\x00\x00" + struct.pack(">QQIQ", 0, 0, timescale, int(duration_s * timescale))
    mvhd += b"\x00" * 80
    audio = _box(b"trak", _tkhd(0, 0))
    video = _box(b"trak", _tkhd(w, h, matrix))
    moov = _box(b"moov", _box(b"mvhd", mvhd) + audio + video)
    ftyp = _box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")
    mdat = _box(b"mdat", b"\x00" * 4096)
    return ftyp + (mdat + moov if moov_last else moov + mdat)


class TestProbeMedia:
    def test_png_by_magic_bytes_not_extension(self, tmp_path):
        path = tmp_path / "afiche.jpg"
        path.write_bytes(_png(1080, 1350))
        info = probe_media(path, alt_text="Afiche de la feria")
        assert (info.media_type, info.width, info.height) == ("image/png", 1080, 1350)
        assert info.size == path.stat().st_size
        assert info.name == "afiche.jpg" and info.alt_text == "Afiche de la feria"
        assert check_media("x", [info]) == []
        assert codes(check_media("instagram", [info])) == ["media.format"]

    def test_jpeg_with_and_without_exif_rotation(self, tmp_path):
        plain = tmp_path / "a.jpg"
        plain.write_bytes(_jpeg(4032, 3024))
        assert (probe_media(plain).media_type, probe_media(plain).width, probe_media(plain).height) == (
            "image/jpeg",
            4032,
            3024,
        )
        rotated = tmp_path / "b.jpg"
        rotated.write_bytes(_jpeg(4032, 3024, orientation=6))
        info = probe_media(rotated)
        assert (info.width, info.height) == (3024, 4032)
        # displayed portrait 3:4 (0.75) is below Instagram's 4:5
        assert codes(check_media("instagram", [info]), "error") == ["media.aspect_ratio"]

    def test_gif_webp_bmp(self, tmp_path):
        gif = tmp_path / "g.gif"
        gif.write_bytes(b"GIF89a" + struct.pack("<HH", 480, 270) + b"\x00\x00\x00;")
        assert (probe_media(gif).media_type, probe_media(gif).width, probe_media(gif).height) == (
            "image/gif",
            480,
            270,
        )
        vp8x = (
            b"VP8X" + struct.pack("<I", 10) + b"\x00" * 4 + (1199).to_bytes(3, "little") + (627).to_bytes(3, "little")
        )
        webp = tmp_path / "w.webp"
        webp.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x)
        assert (probe_media(webp).media_type, probe_media(webp).width, probe_media(webp).height) == (
            "image/webp",
            1200,
            628,
        )
        bits = (799) | (599 << 14)
        vp8l = b"VP8L" + struct.pack("<I", 5) + b"\x2f" + bits.to_bytes(4, "little")
        webp_l = tmp_path / "l.webp"
        webp_l.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(vp8l)) + b"WEBP" + vp8l)
        assert (probe_media(webp_l).width, probe_media(webp_l).height) == (800, 600)
        bmp = tmp_path / "b.bmp"
        bmp.write_bytes(b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, 640, -480) + b"\x00" * 28)
        assert (probe_media(bmp).media_type, probe_media(bmp).width, probe_media(bmp).height) == (
            "image/bmp",
            640,
            480,
        )

    def test_pdf_disguised_as_png(self, tmp_path):
        path = tmp_path / "pieza.png"
        path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
        info = probe_media(path)
        assert info.media_type == "application/pdf"
        assert codes(check_media("instagram", [info])) == ["media.pdf"]
        assert check_media("sitio_web", [info]) == []

    def test_mp4_duration_and_dimensions(self, tmp_path):
        path = tmp_path / "video.mp4"
        path.write_bytes(_mp4(12.5, 1080, 1920))
        info = probe_media(path, has_captions=True)
        assert (info.media_type, info.duration, info.width, info.height) == ("video/mp4", 12.5, 1080, 1920)
        assert check_media("instagram", [info]) == []

    def test_mov_with_moov_at_the_end_and_64_bit_header(self, tmp_path):
        path = tmp_path / "clip.mov"
        path.write_bytes(_mp4(150, 1920, 1080, brand=b"qt  ", version=1, moov_last=True))
        info = probe_media(path)
        assert (info.media_type, info.duration, info.width, info.height) == ("video/quicktime", 150, 1920, 1080)
        assert "media.duration" in codes(check_media("x", [info]), "error")

    def test_rotated_phone_video(self, tmp_path):
        path = tmp_path / "celular.mp4"
        path.write_bytes(_mp4(20, 1920, 1080, matrix=_ROTATE_90))
        info = probe_media(path)
        assert (info.width, info.height) == (1080, 1920)

    def test_truncated_video_and_unknown_bytes(self, tmp_path):
        path = tmp_path / "roto.mp4"
        path.write_bytes(_mp4(12.5, 1080, 1920)[:40])
        info = probe_media(path)
        assert info.media_type == "video/mp4" and info.duration is None
        odd = tmp_path / "datos.png"
        odd.write_bytes(b"esto no es una imagen" * 10)
        unknown = probe_media(odd)
        assert unknown.media_type == "application/octet-stream"
        assert codes(check_media("x", [unknown]), "error") == ["media.format"]

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError):
            probe_media(tmp_path / "no-existe.png")


# --- Report --------------------------------------------------------------------------------------


class TestReport:
    def test_finding_and_report_serialise(self):
        report = check_text("x", "Los ciudadanos htps://cvp.gov.co")
        data = report.to_dict()
        assert data["blocking"] is True and data["channel"] == "x"
        assert data["counts"] == {"error": 1, "warning": 1, "info": 0}
        assert data["findings"][0]["code"] == "link.malformed"  # errors first
        assert set(data["findings"][0]) >= {"code", "severity", "message", "channel", "start", "end", "suggestion"}
        assert isinstance(report, CheckReport)

    def test_invalid_severity(self):
        with pytest.raises(ValueError):
            Finding("x", "fatal", "mensaje")

    def test_render_es(self):
        clean = check_text("x", "Entrega de viviendas en Usme. #ViviendaDigna")
        assert not clean.blocking
        assert "Sin observaciones" in render_findings_es(clean)
        bad = check_text("x", "ñ" * 300 + " los funcionarios")
        text = render_findings_es(bad)
        assert "No puede enviarse" in text
        assert "[ERROR]" in text and "[ADVERTENCIA]" in text
        assert "Sugerencia: el personal" in text
        assert "Longitud ponderada en X: 317 de 280." in text


def test_x_length_never_parses_a_huge_text(monkeypatch):
    """twitter-text is quadratic on some inputs: a text far beyond X's limit is refused unparsed."""
    from cvp.checks import xlength

    def boom(text):
        raise AssertionError("the parser must not see a text this long")

    monkeypatch.setattr(xlength, "_parse_tweet", boom)
    report = check_text("x", "a." * 50_000)
    assert report.blocking and report.x_weighted_length == 100_000
    assert [f.code for f in report.findings if f.severity == "error"] == ["x.length"]
