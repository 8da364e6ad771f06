"""The Tablero in headless Chromium, against the real stack, with the hand-made week of test_dashboard.

The reader logs in through Airflow's login page and opens the week of 2 to 8 November 2026 (seeded
straight into the stack's records): the six charts load as images under the page's strict policy, the
tables beside them add up to the records, and a filter changes the numbers. A screenshot is kept.
"""

from __future__ import annotations

import shutil

import pytest

from tests.integration.test_browser import CHROMEDRIVER, CHROMIUM, Person, make_driver
from tests.unit.test_dashboard import seed

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WEEK = "/cvp/tablero?periodo=rango&desde=2026-11-02&hasta=2026-11-08"


@pytest.fixture
def reader(airflow_stack):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium y chromedriver no están instalados (apt-get install chromium chromium-driver)")
    driver, profile = make_driver()
    try:
        yield Person(driver, airflow_stack.base_url, airflow_stack.passwords())
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def week(stack_env):
    """The week's records in the stack's records database, after whatever other tests left there."""
    from sqlalchemy import func, select

    from cvp.office import Office
    from cvp.records.models import Need

    office = Office(stack_env.records_url)
    with office.session() as s:
        first = (s.scalar(select(func.max(Need.id))) or 0) + 1
    seed(office, first_id=first)
    return first


def tile(person: Person, name: str) -> str:
    return next(d.text for d in person.all(".indicadores div") if d.text.startswith(name)).split("\n")[-1]


def column_sum(person: Person, table: str, column: str) -> int:
    headers = [th.text for th in person.all(f"#tabla-{table} thead th")]
    i = headers.index(column)
    return sum(int(tr.find_elements("css selector", "td")[i].text) for tr in person.all(f"#tabla-{table} tbody tr"))


def test_the_reader_sees_the_charts_and_a_filter_changes_the_numbers(reader, week):
    from selenium.webdriver.support.ui import Select

    reader.login("lector")
    reader.css('nav a[href$="/cvp/tablero"]').click()  # the forms' navigation leads there
    reader.wait(lambda d: "/cvp/tablero" in d.current_url and reader.all("main h1"), what="tablero")
    reader.d.get(reader.base + WEEK)
    reader.wait(lambda d: reader.all("figure.grafico img"), what="charts")

    images = reader.all("figure.grafico img")
    assert len(images) == 6
    for img in images:  # each SVG decoded and drawn by the browser (the CSP allows data: images only)
        reader.wait(
            lambda d, img=img: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 0,
            what="chart drawn",
        )
    assert tile(reader, "Necesidades abiertas") == "3" and tile(reader, "Publicadas a tiempo") == "50,0 %"
    assert column_sum(reader, "interaccion_por_canal", "Publicaciones") == 3
    assert column_sum(reader, "flujo_necesidades", "Abiertas") == 3
    assert column_sum(reader, "rondas_control", "Devueltas") == 1
    assert "Precisar la cifra de títulos." in reader.css("#tabla-motivos_devolucion").text
    shot = reader.screenshot("tablero")

    Select(reader.css("#canal")).select_by_value("x")
    reader.css("form.filtros-tablero button[type=submit]").click()
    reader.wait(lambda d: "canal=x" in d.current_url and reader.all(".indicadores"), what="filtered")
    assert tile(reader, "Necesidades abiertas") == "2"
    assert column_sum(reader, "interaccion_por_canal", "Publicaciones") == 1
    assert "Canal: X (Twitter)" in reader.css("main").text
    assert shot.exists()
