"""The head, the professional and the technician drive a need through the forms in headless Chromium.

Debian's chromium and chromedriver (/usr/bin), no download: Selenium is given the driver's path.
Each person logs in through Airflow's own login page; the run is triggered through the REST API
and must reach publication.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import NEED, tiny_png

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SHOTS = Path(os.environ.get("CVP_SCREENSHOTS_DIR", "/tmp"))


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cvp-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1400,1000",
        "--lang=es-CO",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.implicitly_wait(0)
    return driver, profile


class Person:
    """One browser, logging in as whoever acts next through Airflow's login form."""

    def __init__(self, driver, base: str, passwords: dict[str, str]):
        self.d, self.base, self.passwords = driver, base, passwords

    def wait(self, condition, timeout: float = 20, what: str = ""):
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(condition, what)

    def css(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.d.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str):
        from selenium.webdriver.common.by import By

        return self.d.find_elements(By.CSS_SELECTOR, selector)

    def login(self, user: str) -> None:
        """Airflow's SimpleAuthManager login page, then back to the forms (its ``next``)."""
        self.d.delete_all_cookies()
        self.d.get(f"{self.base}/cvp/")
        self.wait(lambda d: "/auth/login" in d.current_url and self.all("input[name=username]"), what="login page")
        self.css("input[name=username]").send_keys(user)
        self.css("input[name=password]").send_keys(self.passwords[user])
        self.css("button[type=submit]").click()
        self.wait(lambda d: d.current_url.rstrip("/").endswith("/cvp") and self.all("main h1"), what="inbox")
        assert user in self.css(".usuario").text

    def open_from_inbox(self, need_id: int, activity_path: str) -> None:
        link = self.css(f'main a[href$="/necesidades/{need_id}/{activity_path}"]')
        link.click()
        self.wait(lambda d: d.current_url.endswith(f"/necesidades/{need_id}/{activity_path}"), what=activity_path)

    def submit_and_expect(self, button_selector: str, notice: str) -> None:
        self.css(button_selector).click()
        self.wait(lambda d: "aviso=" in d.current_url and notice in self.css("main").text, what=notice)

    def screenshot(self, name: str) -> Path:
        path = SHOTS / f"cvp-{name}.png"
        height = self.d.execute_script("return document.documentElement.scrollHeight")
        self.d.set_window_size(1400, min(max(height + 40, 1000), 4000))
        self.d.save_screenshot(str(path))
        self.d.set_window_size(1400, 1000)
        return path


def need_id_of(api, run_id: str) -> int:
    status, needs = api.call("GET", "/cvp/api/necesidades?estado=todas")
    assert status == 200, needs
    return next(n["id"] for n in needs if n["ejecucion"] == run_id)


def drive_need(person: Person, api, run_id: str, png_path: Path) -> int:
    """The procedure from activity 5 to 12 in the browser; returns the need's id."""
    from selenium.webdriver.common.keys import Keys

    from cvp.checks import x_weighted_length

    need = need_id_of(api, run_id)

    # Activity 5: the professional writes; the X counter is the server's weighted count.
    person.login("profesional")
    person.open_from_inbox(need, "texto")
    box = person.css("#texto_x")
    first_x = (
        "Hoy entregamos 120 títulos de propiedad en Ciudad Bolívar 🏠 https://www.cajaviviendapopular.gov.co/titulos"
    )
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(first_x)
    expected = str(x_weighted_length(first_x))
    person.wait(lambda d: person.css("#contador-x [data-contador-valor]").text == expected, what="X counter")
    assert expected != str(len(first_x))  # the URL weighs 23 and the emoji 2: not a plain count
    person.screenshot("editor")
    person.submit_and_expect("form[data-editor] button[type=submit]", "Texto presentado")

    # Control point 7: the head returns it, the comment is required.
    person.login("jefe")
    person.open_from_inbox(need, "revision-texto")
    assert person.all(".vista-x .post-x") and person.all(".vista-facebook .post-facebook")
    person.screenshot("revision-texto")
    person.css("button[value=devuelto]").click()
    person.wait(lambda d: person.css("[data-error-comentario]").is_displayed(), what="comment required")
    person.css("#comentario").send_keys("Precisar la cifra: son 118 títulos, no 120.")
    person.submit_and_expect("button[value=devuelto]", "Texto devuelto")

    # Activity 8: the professional sees the comment beside the text and revises.
    person.login("profesional")
    person.open_from_inbox(need, "texto")
    assert "Precisar la cifra: son 118 títulos" in person.css(".comentario-jefe").text
    box = person.css("#texto_x")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(first_x.replace("120", "118"))
    person.css("#nota").send_keys("Cifra corregida a 118.")
    person.screenshot("editor-ajustes")
    person.submit_and_expect("form[data-editor] button[type=submit]", "Texto presentado")

    # The head sees the change and approves.
    person.login("jefe")
    person.open_from_inbox(need, "revision-texto")
    assert "118" in person.css("ins").text and "120" in person.css("del").text
    person.submit_and_expect("button[value=aprobado]", "Texto aprobado")

    # Activity 10: the technician uploads the design.
    person.login("tecnico")
    person.open_from_inbox(need, "diseno")
    person.css("#alt_text").send_keys("Afiche: entrega de 118 títulos de propiedad en Ciudad Bolívar.")
    person.css("#archivo").send_keys(str(png_path))
    person.wait(lambda d: person.css("[data-previa-local]").is_displayed(), what="local preview")
    person.screenshot("carga-diseno")
    person.submit_and_expect("form[data-upload] button[type=submit]", "Diseño cargado")

    # Control point 12: the design with the approved text, approved.
    person.login("jefe")
    person.open_from_inbox(need, "revision-diseno")
    img = person.css("img.diseno")
    person.wait(
        lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 64,
        what="design image loaded",
    )
    assert "Hoy entregamos 118" in person.css(".revision-contenido").text
    person.screenshot("revision-diseno")
    person.submit_and_expect("button[value=aprobado]", "Diseño aprobado")
    return need


@pytest.fixture
def person(airflow_stack):
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("chromium y chromedriver no están instalados (apt-get install chromium chromium-driver)")
    driver, profile = make_driver()
    try:
        yield Person(driver, airflow_stack.base_url, airflow_stack.passwords())
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def test_head_returns_professional_revises_technician_uploads_and_the_run_publishes(person, head_api, tmp_path):
    run = f"navegador-{int(time.time())}"
    conf = dict(
        NEED, titulo="Entrega de títulos en Ciudad Bolívar (navegador)", accion_puntual=True, canales=["x", "facebook"]
    )
    assert head_api.trigger(run, conf)[0] == 200
    head_api.wait_task(run, "producir_contenidos")
    png = tmp_path / "afiche.png"
    png.write_bytes(tiny_png(64, 64))

    need = drive_need(person, head_api, run, png)

    assert head_api.wait_run(run) == "success", head_api.task_states(run)
    person.d.get(f"{person.base}/cvp/necesidades/{need}")
    person.wait(lambda d: "Publicaciones" in person.css("main").text)
    text = person.css("main").text
    assert "Publicar la pieza comunicativa" in text
    assert text.count("Publicada") >= 2  # one row per channel in the publications table
    person.screenshot("necesidad")
