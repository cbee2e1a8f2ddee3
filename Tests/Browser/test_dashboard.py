"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium (chromium-driver)
against `gemba serve --demo`, started by scripts/test.sh (GEMBA_HTTP_URL, GEMBA_ADMIN_PASSWORD).
Screenshots of each page go to GEMBA_SCREENSHOTS (default .build/screenshots) for a person to look at."""

import csv
import io
import json
import os
import pathlib
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as expected
from selenium.webdriver.support.ui import Select, WebDriverWait

HTTP = os.environ.get("GEMBA_HTTP_URL", "http://127.0.0.1:8080")
PASSWORD = os.environ.get("GEMBA_ADMIN_PASSWORD", "")
SHOTS = pathlib.Path(os.environ.get("GEMBA_SCREENSHOTS", ".build/screenshots"))


def call(path, body=None, token=None, method=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(HTTP + path, data=None if body is None else json.dumps(body).encode(), headers=headers,
                                     method=method or ("GET" if body is None else "POST"))
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture(scope="module")
def admin_session():
    """The owner's tokens, signed in once: sign-in is rate limited (10 a minute per address, 5 per account),
    so only the tests about signing in go through the form."""
    return call("/api/v1/auth/login", {"email": "admin@gemba.local", "password": PASSWORD})


@pytest.fixture(scope="module")
def admin_token(admin_session):
    token = admin_session["access_token"]
    # A fresh demo first publishes a simulated day; wait until it publishes live (a state sample from the last 10 s).
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        values = [v for v in call("/api/v1/latest?tag=state", token=token)["values"] if v["tag"] == "state"]
        if sum(1 for v in values if v["t"] > time.time() * 1000 - 10_000) >= 12:  # the demo's twelve machines
            return token
        time.sleep(0.1)  # polling interval; the deadline above bounds the wait
    raise AssertionError("the demo factory did not start publishing live")


@pytest.fixture
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.implicitly_wait(0)
    yield driver
    # No script error on any page. Refused requests (the tests provoke some) and sockets cut by a blip are logged too; they are not errors of the page.
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
              and "Failed to load resource" not in entry["message"] and "WebSocket connection" not in entry["message"]]
    driver.quit()
    assert not errors, errors


def downloads_to(driver, directory):
    """Lets the page save files (CSV downloads) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(directory.resolve())})


def downloaded(driver, directory, name):
    """The text of a finished download (Chromium writes `name.crdownload` until it is done)."""
    path = directory / name
    wait(driver, lambda _: path.exists() and not (directory / (name + ".crdownload")).exists(), timeout=20)
    return path.read_text()


def wait(driver, condition, timeout=20):
    """Polls `condition` until it holds; an element replaced while it was read (views re-render) is read again."""
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]).until(condition)


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def sign_in(driver, email, password):
    driver.get(HTTP + "/#/login")
    wait(driver, expected.visibility_of_element_located((By.ID, "email"))).send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".tile")))


def open_as_admin(driver, session):
    """The floor, signed in with the module's tokens (as the form would leave them in the session)."""
    driver.get(HTTP + "/#/login")
    driver.execute_script("sessionStorage.setItem('gemba.access', arguments[0]); sessionStorage.setItem('gemba.refresh', arguments[1]);",
                          session["access_token"], session["refresh_token"])
    driver.get(HTTP + "/#/floor")
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".tile")))


def tile_values(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('.tile')].map(t => t.dataset.machine + ':' + t.querySelector('.values')?.textContent)")


def test_operator_day_on_the_dashboard(browser, admin_token):
    driver = browser
    driver.get(HTTP + "/")
    shot(driver, "01-login")
    sign_in(driver, "admin@gemba.local", PASSWORD)

    # The floor shows the demo's machines, and their values change live.
    machines = call("/api/v1/machines", token=admin_token)["machines"]
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".tile")) == len(machines) >= 12)
    wait(driver, lambda d: all(v.split(":", 1)[1] for v in tile_values(d)))
    before = tile_values(driver)
    wait(driver, lambda d: tile_values(d) != before, timeout=15)
    wait(driver, lambda d: "OEE –" not in d.find_element(By.CSS_SELECTOR, ".tile .oee").text, timeout=30)
    assert driver.find_element(By.ID, "connection").text.endswith("live")
    # Offline on a plant network: everything the page loaded came from Gemba itself.
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(name.startswith(HTTP + "/") for name in loaded), loaded
    shot(driver, "02-floor")

    # A machine with a finished stop in the last hour: its chart has data, and a reason given sticks.
    now = int(time.time() * 1000)
    stop, machine = None, None
    for candidate in machines:
        stops = call(f"/api/v1/stops?machine={candidate['path']}&from={now - 3_600_000}&to={now}", token=admin_token)["stops"]
        closed = [s for s in stops if not s["open"] and s["start"] > now - 3_300_000]
        if closed:
            stop, machine = closed[-1], candidate["path"]
            break
    assert stop, "the demo has a stop in its last hour"
    driver.find_element(By.CSS_SELECTOR, f'.tile[data-machine="{machine}"]').click()
    canvas = wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "canvas.chart")))
    wait(driver, lambda _: canvas.get_attribute("data-last"))  # the history has arrived (the axes are drawn before it)
    painted = driver.execute_script(
        "const c = arguments[0], d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n;", canvas)
    assert painted > 500, "the trend chart is drawn"
    newest = int(canvas.get_attribute("data-last"))
    wait(driver, lambda d: int(d.find_element(By.CSS_SELECTOR, "canvas.chart").get_attribute("data-last") or 0) > newest, timeout=15)
    assert driver.find_element(By.CSS_SELECTOR, "canvas.chart") == canvas, "the chart grows live, without being redrawn from history"
    shot(driver, "03-machine")
    button = wait(driver, expected.element_to_be_clickable((By.CSS_SELECTOR, f'button[data-action="Set reason"][data-start="{stop["start"]}"]')))
    button.click()                                                                   # click 1: open the reasons
    row = f'tr[data-start="{stop["start"]}"]'
    driver.find_element(By.CSS_SELECTOR, f'{row} button[data-reason="unplanned_stop/material_shortage"]').click()  # click 2
    wait(driver, lambda d: "Material shortage" in d.find_element(By.CSS_SELECTOR, row).text)
    driver.refresh()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, row) and "Material shortage" in d.find_element(By.CSS_SELECTOR, row).text)
    assert driver.find_element(By.CSS_SELECTOR, f"{row} td:last-child").text not in ("", "machine")  # who gave the reason
    stored = call(f"/api/v1/stops?machine={machine}&from={stop['start']}&to={stop['end']}", token=admin_token)["stops"]
    assert any(s["start"] == stop["start"] and s["reason"] == "unplanned_stop/material_shortage" for s in stored)

    # The OEE view shows what the API answers for the same asset, periods and range: the machine's (linked from its page), then all.
    driver.find_element(By.ID, "machine-oee").click()
    assert_oee_equals_api(driver, admin_token, machine)
    driver.get(HTTP + "/#/oee")
    assert_oee_equals_api(driver, admin_token, "")
    shot(driver, "04-oee")
    driver.get(HTTP + "/#/admin")
    wait(driver, expected.presence_of_element_located((By.ID, "admin-people")))
    shot(driver, "05-admin")


def assert_oee_equals_api(driver, token, asset, period="shift", attempts=4):
    """The KPIs shown equal the API's for the range the page says it shows; returns the API's report.
    The page's range ends at the moment it asked, and the demo's samples from just before it may be
    committed just after: when the API, asked a moment later, answers otherwise, the page is loaded
    again (a new range) and compared again, a few times at most."""
    names = ["oee", "availability", "performance", "quality"]
    for attempt in range(attempts):
        wait(driver, lambda d: d.find_element(By.ID, "oee-asset").get_attribute("value") == asset)
        output = wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "#oee-output[data-from]")))
        shown_to = output.get_attribute("data-to")
        report = call(f"/api/v1/oee?asset={asset}&period={period}&from={output.get_attribute('data-from')}&to={shown_to}", token=token)
        shown = [driver.find_element(By.CSS_SELECTOR, f'.kpi[data-kpi="{name}"] .kpi-value').text for name in names]
        wanted = ["–" if report["total"][name]["value"] is None else f"{report['total'][name]['value'] * 100:.1f} %" for name in names]
        if shown == wanted or attempt == attempts - 1:
            for name, text, expected_text in zip(names, shown, wanted):
                assert text == expected_text, (asset, name)
            return report
        driver.refresh()
        wait(driver, lambda d: any(e.get_attribute("data-to") not in (None, shown_to) for e in d.find_elements(By.ID, "oee-output")))


def test_an_operator_splits_a_stop_from_the_machine_page(browser, admin_token, admin_session):
    now = int(time.time() * 1000)
    stop, machine = None, None
    for candidate in call("/api/v1/machines", token=admin_token)["machines"]:
        stops = call(f"/api/v1/stops?machine={candidate['path']}&from={now - 82_800_000}&to={now}", token=admin_token)["stops"]
        long = [s for s in stops if not s["open"] and s["duration_ms"] >= 180_000 and s["start"] > now - 82_800_000]
        if long:
            stop, machine = long[0], candidate["path"]
            break
    assert stop, "the demo's day has a stop of three minutes or more"
    reasons = [r["category"] + "/" + r["code"] for r in call("/api/v1/reasons", token=admin_token)["reasons"]
               if r["category"] in ("unplanned_stop", "planned_stop")]
    first, rest = reasons[0], reasons[1]
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + f"/#/machine/{machine}")
    wait(driver, expected.element_to_be_clickable((By.XPATH, '//button[text()="24 h"]'))).click()
    split = wait(driver, expected.element_to_be_clickable((By.CSS_SELECTOR, f'button[data-action="Split"][data-start="{stop["start"]}"]')))
    split.click()
    form = driver.find_element(By.CSS_SELECTOR, f'tr[data-start="{stop["start"]}"] form.split')
    minutes = form.find_element(By.CSS_SELECTOR, 'input[type="number"]')
    minutes.clear()
    minutes.send_keys("1")
    Select(form.find_element(By.CSS_SELECTOR, 'select[aria-label="Reason of the first part"]')).select_by_value(first)
    Select(form.find_element(By.CSS_SELECTOR, 'select[aria-label="Reason of the rest"]')).select_by_value(rest)
    shot(driver, "07-split")
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-start="{stop["start"] + 60_000}"]')))
    parts = [s for s in call(f"/api/v1/stops?machine={machine}&from={stop['start']}&to={stop['end']}", token=admin_token)["stops"]
             if stop["start"] <= s["start"] < stop["end"]]
    assert [(p["start"], p["reason"]) for p in parts] == [(stop["start"], first), (stop["start"] + 60_000, rest)]


def test_an_engineer_edits_a_shift_calendar_in_the_form(browser, admin_token, admin_session):
    site = call("/api/v1/machines", token=admin_token)["machines"][0]["site"]
    original = call(f"/api/v1/calendars/{site}", token=admin_token)
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + "/#/admin")
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#calendar-shifts .shift")) == len(original["patterns"]) == 3)
    assert driver.find_element(By.ID, "calendar-zone").get_attribute("value") == original["timeZone"]
    try:
        # A day off: add it, pick the date, save; the API has it.
        driver.find_element(By.XPATH, '//fieldset[.//*[@id="calendar-exceptions"]]/button[text()="Add day"]').click()
        date = driver.find_elements(By.CSS_SELECTOR, '#calendar-exceptions input[type="date"]')[-1]
        driver.execute_script("arguments[0].value = '2030-12-24'", date)
        driver.find_element(By.ID, "calendar-save").click()
        wait(driver, lambda d: "Saved" in d.find_element(By.CSS_SELECTOR, "#admin-calendars [role=status]").text)
        saved = call(f"/api/v1/calendars/{site}", token=admin_token)
        assert saved["patterns"] == original["patterns"]
        assert {"noProduction": {"date": "2030-12-24"}} in saved["exceptions"]
        # A shift without a name is refused with the server's words, and nothing changes.
        name = driver.find_element(By.CSS_SELECTOR, '#calendar-shifts .shift input[data-field="name"]')
        name.clear()
        driver.find_element(By.ID, "calendar-save").click()
        wait(driver, lambda d: "needs a name" in d.find_element(By.CSS_SELECTOR, "#admin-calendars [role=status]").text)
        assert call(f"/api/v1/calendars/{site}", token=admin_token) == saved
        shot(driver, "08-calendar")
    finally:
        call(f"/api/v1/calendars/{site}", original, token=admin_token, method="PUT")


def test_the_floor_shows_the_values_chosen(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    driver.find_element(By.CSS_SELECTOR, "details.chooser summary").click()
    power = wait(driver, expected.element_to_be_clickable((By.CSS_SELECTOR, '#floor-tags input[value="power"]')))
    speed = driver.find_element(By.CSS_SELECTOR, '#floor-tags input[value="speed"]')
    assert speed.is_selected() and not power.is_selected()
    power.click()
    speed.click()
    labels = "return [...document.querySelectorAll('.tile')].map(t => [...t.querySelectorAll('dt')].map(d => d.textContent).join(','))"
    wait(driver, lambda d: all("power" in tile and "speed" not in tile for tile in d.execute_script(labels)))
    driver.refresh()  # the choice stays with this browser
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile dt") and all("power" in t and "speed" not in t for t in d.execute_script(labels)))
    shot(driver, "09-floor-values")


class Blip:
    """A TCP proxy in front of Gemba whose connections the test cuts, and refuses for a while, as a network blip would."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.down = threading.Event()
        self.lock = threading.Lock()
        self.open = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.listener.accept()
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.open += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        self.down.set()
        with self.lock:
            for end in self.open:
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open = []

    def restore(self):
        self.down.clear()


def test_the_floor_recovers_from_a_network_blip_without_a_reload(browser, admin_token):
    host, port = HTTP.removeprefix("http://").split(":")
    blip = Blip((host, int(port)))
    driver = browser
    driver.get(blip.url + "/#/login")
    wait(driver, expected.visibility_of_element_located((By.ID, "email"))).send_keys("admin@gemba.local")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "sign-in").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile") and all(v.split(":", 1)[1] for v in tile_values(d)))
    wait(driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "live")
    driver.execute_script("window.notReloaded = true")
    blip.cut()
    wait(driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "reconnecting")
    shot(driver, "10-floor-reconnecting")
    blip.restore()
    wait(driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "live", timeout=30)
    before = tile_values(driver)
    wait(driver, lambda d: tile_values(d) != before, timeout=15)  # live values flow again
    assert driver.execute_script("return window.notReloaded === true"), "the page recovered without a reload"


def test_a_machine_that_starts_sending_appears_on_the_open_floor(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    wait(driver, lambda d: d.find_element(By.ID, "connection").get_attribute("data-state") == "live")
    path = f"plant1/assembly/line9/mill-{uuid.uuid4().hex[:6]}"
    driver.execute_script("window.notReloaded = true")
    call("/api/v1/ingest", {"records": [{"machine": path, "values": {"state": "producing", "speed": 1234.0}}]}, token=admin_token)
    tile = f'.tile[data-machine="{path}"]'
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, tile) and "1234" in d.find_element(By.CSS_SELECTOR, tile).text)
    assert driver.find_element(By.CSS_SELECTOR, tile).get_attribute("data-state") == "producing"
    assert driver.find_elements(By.CSS_SELECTOR, '.line[data-group="plant1 / assembly / line9"]'), "its line is added"
    assert driver.execute_script("return window.notReloaded === true")


def test_keyboard_dark_mode_and_tablet(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    # Keyboard: Tab reaches a machine tile and Enter opens it.
    focused = "return document.activeElement.className"
    for _ in range(40):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        if driver.execute_script(focused) == "tile":
            break
    assert driver.execute_script(focused) == "tile", "a tile is reachable with the keyboard"
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait(driver, lambda d: d.execute_script("return location.hash").startswith("#/machine/"))
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "canvas.chart")))
    # Dark mode follows the system's choice.
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    assert driver.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(18, 22, 28)"
    driver.get(HTTP + "/#/floor")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".tile .values dd"))
    shot(driver, "11-floor-dark")
    # A tablet held upright: nothing runs off the side of the screen.
    driver.set_window_size(820, 1180)
    machine = call("/api/v1/machines", token=admin_token)["machines"][0]["path"]
    for page, ready in [("/#/floor", ".tile"), (f"/#/machine/{machine}", ".stops table, .stops .empty"),
                        ("/#/oee", "#oee-output[data-from]"), ("/#/admin", "#admin-calendars")]:
        driver.get(HTTP + page)
        wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ready)))
        assert driver.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth"), page
    shot(driver, "12-admin-tablet-dark")


def test_a_viewer_is_not_offered_administration(browser, admin_token):
    email = f"viewer-{uuid.uuid4().hex[:6]}@gemba.test"
    invitation = call("/api/v1/invitations", {"email": email, "role": "viewer"}, token=admin_token)
    call("/api/v1/invitations/accept", {"token": invitation["token"], "password": "viewer pass phrase 1"})
    driver = browser
    sign_in(driver, email, "viewer pass phrase 1")
    assert "Administration" not in driver.find_element(By.ID, "nav").text
    driver.get(HTTP + "/#/admin")
    wait(driver, lambda d: "Not available" in d.find_element(By.ID, "main").text)
    shot(driver, "06-viewer-admin")
    driver.get(HTTP + "/#/account")  # everyone may change their own password
    wait(driver, expected.presence_of_element_located((By.ID, "current-password")))
    driver.get(HTTP + "/#/machine/" + call("/api/v1/machines", token=admin_token)["machines"][0]["path"])
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".stops table, .stops .empty")))
    assert not driver.find_elements(By.CSS_SELECTOR, ".stops button[data-start]"), "a viewer cannot give reasons"
    assert not driver.find_elements(By.CSS_SELECTOR, "#order-start, #order-end"), "a viewer cannot start or end orders"
    assert not driver.find_elements(By.ID, "machine-settings"), "a viewer cannot change production settings"


def accept_confirm(driver):
    """Accepts the page's confirm() dialog (revoking and removing ask first)."""
    wait(driver, expected.alert_is_present()).accept()


def test_an_invited_person_joins_in_the_form_and_changes_their_password(browser, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    email = f"new-{uuid.uuid4().hex[:6]}@gemba.test"
    driver.get(HTTP + "/#/admin")
    invite = wait(driver, expected.presence_of_element_located((By.ID, "invite-form")))
    invite.find_element(By.ID, "f-email").send_keys(email)
    Select(invite.find_element(By.ID, "f-role")).select_by_value("operator")
    invite.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    status = lambda d: d.find_element(By.CSS_SELECTOR, "#invite-form [role=status]").text
    wait(driver, lambda d: "(shown once)" in status(d))
    code = driver.find_element(By.ID, "invitation-code").text
    link = driver.find_element(By.CSS_SELECTOR, "#invite-form code.secret").text
    assert link == f"{HTTP}/#/join/{code}"
    # The invited person, in a browser with nobody signed in, opens the link (it fills in the code) and chooses a password.
    driver.execute_script("sessionStorage.clear()")
    driver.get(link)
    assert wait(driver, expected.visibility_of_element_located((By.ID, "invitation"))).get_attribute("value") == code
    driver.find_element(By.ID, "display-name").send_keys("Nora Neu")
    driver.find_element(By.ID, "new-password").send_keys("first pass phrase 1")
    driver.find_element(By.XPATH, '//button[text()="Join"]').click()
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".tile")))
    assert "Nora Neu · operator" in driver.find_element(By.ID, "who").text
    # Their own page: a wrong current password is refused in plain words, the right one changes it.
    driver.find_element(By.CSS_SELECTOR, '#who a[href="#/account"]').click()
    current = wait(driver, expected.visibility_of_element_located((By.ID, "current-password")))
    current.send_keys("not my password 1")
    driver.find_element(By.ID, "next-password").send_keys("second pass phrase 2")
    driver.find_element(By.ID, "change-password").click()
    wait(driver, lambda d: "current password is wrong" in d.find_element(By.CSS_SELECTOR, "#password-form [role=status]").text)
    current.clear()
    current.send_keys("first pass phrase 1")
    driver.find_element(By.ID, "change-password").click()
    wait(driver, lambda d: "Password changed" in d.find_element(By.CSS_SELECTOR, "#password-form [role=status]").text)
    shot(driver, "13-account")
    assert call("/api/v1/auth/login", {"email": email, "password": "second pass phrase 2"})["access_token"]
    with pytest.raises(urllib.error.HTTPError) as refused:
        call("/api/v1/auth/login", {"email": email, "password": "first pass phrase 1"})
    assert refused.value.code == 401
    # This session goes on after the change; "Sign out everywhere" ends it (its refresh token is refused after).
    driver.get(HTTP + "/#/floor")
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".tile")))
    refresh = driver.execute_script("return sessionStorage.getItem('gemba.refresh')")
    driver.get(HTTP + "/#/account")
    wait(driver, expected.element_to_be_clickable((By.ID, "sign-out-everywhere"))).click()
    accept_confirm(driver)
    wait(driver, expected.visibility_of_element_located((By.ID, "email")))
    with pytest.raises(urllib.error.HTTPError) as ended:
        call("/api/v1/auth/refresh", {"refresh_token": refresh})
    assert ended.value.code == 401


def test_an_admin_manages_devices_reasons_and_people_and_reads_the_audit_log(browser, admin_token, admin_session):
    # Someone to remove: invited and joined through the API.
    leaver = f"leaver-{uuid.uuid4().hex[:6]}@gemba.test"
    call("/api/v1/invitations/accept", {"token": call("/api/v1/invitations", {"email": leaver, "role": "viewer"}, token=admin_token)["token"],
                                        "password": "leaver pass phrase 1"})
    reason = next(r for r in call("/api/v1/reasons", token=admin_token)["reasons"] if r["category"] == "unplanned_stop" and not r["isFailure"])
    path = f"{reason['category']}/{reason['code']}"
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + "/#/admin")
    try:
        # A device credential limited to a subtree: created, listed by the API, revoked with the button.
        username = f"plc-{uuid.uuid4().hex[:6]}"
        device_form = wait(driver, expected.presence_of_element_located((By.ID, "device-form")))
        device_form.find_element(By.ID, "f-username").send_keys(username)
        device_form.find_element(By.ID, "f-subtree").send_keys("plant1/machining")
        device_form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
        wait(driver, lambda d: "(shown once)" in d.find_element(By.CSS_SELECTOR, "#device-form [role=status]").text)
        device = next(d for d in call("/api/v1/devices", token=admin_token)["items"] if d["username"] == username)
        assert device["subtree"] == "plant1/machining" and device["revoked_at"] is None
        driver.refresh()
        row = f'//section[@id="admin-devices"]//tr[td[text()="{username}"]]'
        wait(driver, expected.element_to_be_clickable((By.XPATH, row + '//button[text()="Revoke"]'))).click()
        accept_confirm(driver)
        wait(driver, lambda d: not d.find_elements(By.XPATH, row))
        assert next(d for d in call("/api/v1/devices", token=admin_token)["items"] if d["id"] == device["id"])["revoked_at"]

        # A reason made a failure (MTBF/MTTR count it): the form is filled from the row, and the API has the change.
        driver.find_element(By.CSS_SELECTOR, f'button[data-edit="{path}"]').click()
        assert driver.find_element(By.ID, "reason-name").get_attribute("value") == reason["name"]
        driver.find_element(By.ID, "reason-failure").click()
        driver.find_element(By.CSS_SELECTOR, '#reason-form button[type="submit"]').click()
        wait(driver, lambda d: "Saved" in d.find_element(By.CSS_SELECTOR, "#reason-form [role=status]").text)
        changed = next(r for r in call("/api/v1/reasons", token=admin_token)["reasons"] if r["code"] == reason["code"] and r["category"] == reason["category"])
        assert changed["isFailure"] and changed["name"] == reason["name"] and changed["lossClass"] == reason["lossClass"]

        # A person removed from the tenant.
        member = f'//section[@id="admin-people"]//tr[td[text()="{leaver}"]]'
        driver.find_element(By.XPATH, member + '//button[text()="Remove"]').click()
        accept_confirm(driver)
        wait(driver, lambda d: not d.find_elements(By.XPATH, member))
        assert leaver not in [m["email"] for m in call("/api/v1/members", token=admin_token)["items"]]
        assert not driver.find_elements(By.XPATH, '//section[@id="admin-people"]//tr[td[text()="admin@gemba.local"]]//button[text()="Remove"]'), \
            "nobody is offered to remove themselves"

        # An invitation withdrawn with its button: the code no longer works.
        invited = f"maybe-{uuid.uuid4().hex[:6]}@gemba.test"
        code = call("/api/v1/invitations", {"email": invited, "role": "viewer"}, token=admin_token)["token"]
        driver.refresh()
        invitation = f'//section[@id="admin-people"]//tr[td[text()="{invited}"]]'
        wait(driver, expected.element_to_be_clickable((By.XPATH, invitation + '//button[text()="Withdraw"]'))).click()
        accept_confirm(driver)
        wait(driver, lambda d: not d.find_elements(By.XPATH, invitation))
        with pytest.raises(urllib.error.HTTPError) as refused:
            call("/api/v1/invitations/accept", {"token": code, "password": "never used phrase 1"})
        assert refused.value.code == 401

        # The audit log shows what was just done, filtered by action.
        driver.find_element(By.ID, "audit-action").send_keys("device.")
        driver.find_element(By.XPATH, '//section[@id="admin-audit"]//button[text()="Show"]').click()
        wait(driver, lambda d: "device.revoke" in d.find_element(By.ID, "audit-output").text)
        actions = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#audit-output td:nth-child(3)")]
        assert actions and all(a.startswith("device.") for a in actions), actions
        shot(driver, "14-admin-audit")
    finally:
        call("/api/v1/reasons", reason, token=admin_token, method="PUT")


def test_an_operator_runs_an_order_and_an_engineer_sets_the_cycle_time(browser, admin_token, admin_session):
    now = int(time.time() * 1000)
    machine = next(m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"]
                   if "/machining/" in m["path"] and not call(f"/api/v1/orders?machine={m['path']}&from={now - 1}&to={now}", token=admin_token)["orders"])
    original = call(f"/api/v1/production-settings?machine={machine}", token=admin_token)
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + f"/#/machine/{machine}")
    try:
        order_id = f"PO-{uuid.uuid4().hex[:6]}"
        wait(driver, expected.visibility_of_element_located((By.ID, "order-id"))).send_keys(order_id)
        driver.find_element(By.ID, "order-product").send_keys("bracket-12")
        driver.find_element(By.ID, "order-target").send_keys("500")
        driver.find_element(By.CSS_SELECTOR, '#order-start button[type="submit"]').click()
        wait(driver, lambda d: f"Order {order_id}: bracket-12, target 500" in d.find_element(By.ID, "machine-order").text)
        stored = call(f"/api/v1/orders?machine={machine}&from={now - 1}&to={int(time.time() * 1000) + 1}", token=admin_token)["orders"]
        assert [(o["id"], o["product"], o["targetQuantity"], o.get("end")) for o in stored] == [(order_id, "bracket-12", 500, None)]
        driver.find_element(By.CSS_SELECTOR, '#order-end button[type="submit"]').click()
        wait(driver, expected.visibility_of_element_located((By.ID, "order-id")))
        ended = call(f"/api/v1/orders?machine={machine}&from={now - 1}&to={int(time.time() * 1000) + 1}", token=admin_token)["orders"]
        assert ended[0]["id"] == order_id and ended[0]["end"] > ended[0]["start"]

        cycle = driver.find_element(By.ID, "setting-cycle")
        status = lambda d: d.find_element(By.CSS_SELECTOR, "#machine-settings [role=status]").text
        cycle.clear()
        cycle.send_keys("0")  # refused in plain words, nothing saved
        driver.find_element(By.CSS_SELECTOR, '#machine-settings button[type="submit"]').click()
        wait(driver, lambda d: "must be more than 0 s" in status(d))
        assert call(f"/api/v1/production-settings?machine={machine}", token=admin_token) == original
        cycle.clear()
        cycle.send_keys("7.5")
        driver.find_element(By.CSS_SELECTOR, '#machine-settings button[type="submit"]').click()
        wait(driver, lambda d: "Saved" in status(d))
        saved = call(f"/api/v1/production-settings?machine={machine}", token=admin_token)
        assert saved["idealCycleTime"] == 7500
        assert {k: v for k, v in saved.items() if k != "idealCycleTime"} == {k: v for k, v in original.items() if k != "idealCycleTime"}
        shot(driver, "15-machine-order-settings")
    finally:
        call(f"/api/v1/production-settings?machine={machine}", original, token=admin_token, method="PUT")


def test_an_operator_records_scrap_on_the_machine_page_and_the_oee_page_shows_it_by_defect(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    machine = next(m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"] if "/machining/" in m["path"])
    driver.get(HTTP + f"/#/machine/{machine}")
    code = f"dent-{uuid.uuid4().hex[:6]}"
    wait(driver, expected.visibility_of_element_located((By.ID, "quality-quantity"))).send_keys("3")
    driver.find_element(By.ID, "quality-reason").send_keys(code)
    driver.find_element(By.ID, "quality-note").send_keys("found at final inspection")
    driver.find_element(By.CSS_SELECTOR, '#quality-form button[type="submit"]').click()
    wait(driver, lambda d: f"Recorded 3 scrap ({code})." in d.find_element(By.CSS_SELECTOR, "#quality-form [role=status]").text)
    now = int(time.time() * 1000)
    stored = [e for e in call(f"/api/v1/quality-entries?machine={machine}&from={now - 600_000}&to={now + 1}", token=admin_token)["entries"]
              if e["reason"] == code]
    assert [(e["kind"], e["quantity"], e["note"]) for e in stored] == [("scrap", 3, "found at final inspection")]
    assert code in driver.find_element(By.ID, "quality-entries").text
    product = f"bracket-{uuid.uuid4().hex[:4]}"  # an order that ran the last ten minutes, so a product has run time
    call(f"/api/v1/orders/PO-{product}", {"machine": machine, "product": product, "targetQuantity": 100, "start": now - 600_000, "end": now},
         token=admin_token, method="PUT")
    try:
        # The OEE page of the machine: the defect has its bar, as the API counts it.
        driver.get(HTTP + f"/#/oee/{machine}")
        wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "#oee-output[data-from]")))
        report = assert_oee_equals_api(driver, admin_token, machine, period="shift")
        bars = {bar["reason"]: bar["count"] for bar in report["total"]["quality_pareto"]}
        assert bars.get(code) == 3, bars
        texts = [t.text for t in driver.find_elements(By.CSS_SELECTOR, "#oee-quality svg.bars text")]
        assert code in texts and texts[texts.index(code) + 1].startswith("3 units · "), texts
        fpy = driver.find_element(By.CSS_SELECTOR, '[data-kpi="first_pass_yield"] .kpi-value').text
        value = report["total"]["first_pass_yield"]["value"]
        assert fpy == ("–" if value is None else f"{value * 100:.1f} %"), (fpy, value)
        # Speed by product: a row per product the API lists, with its performance.
        rows = {r.get_attribute("data-product"): r for r in driver.find_elements(By.CSS_SELECTOR, "#oee-products tbody tr")}
        assert product in rows and sorted(rows) == sorted(p["product"] for p in report["total"]["products"])
        for made in report["total"]["products"]:
            value = made["performance"]["value"]
            assert rows[made["product"]].find_elements(By.TAG_NAME, "td")[5].text == ("–" if value is None else f"{value * 100:.1f} %")
        orders = {r.get_attribute("data-order") for r in driver.find_elements(By.CSS_SELECTOR, "#oee-orders tbody tr")}
        assert f"PO-{product}" in orders and orders == {o["order"] for o in report["total"]["orders"]}
        shot(driver, "17-oee-quality")
    finally:
        # Withdrawn on the machine page: gone from the list and from the API.
        driver.get(HTTP + f"/#/machine/{machine}")
        item = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, f'#quality-entries li[data-id="{stored[0]["id"]}"] button')))
        item.click()
        wait(driver, lambda d: code not in d.find_element(By.ID, "quality-entries").text)
    assert not [e for e in call(f"/api/v1/quality-entries?machine={machine}&from={now - 600_000}&to={now + 1}", token=admin_token)["entries"]
                if e["reason"] == code]


def shown_duration(ms):
    """A duration as the dashboard writes it (ui.js `duration`)."""
    if ms < 60000:
        return f"{int(ms / 1000 + 0.5)} s"
    minutes = ms // 60000
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def test_the_oee_view_covers_chosen_dates_and_downloads_as_csv(browser, admin_token, admin_session, tmp_path):
    driver = browser
    open_as_admin(driver, admin_session)
    downloads_to(driver, tmp_path)
    driver.get(HTTP + "/#/oee")
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "#oee-output[data-from]")))
    Select(driver.find_element(By.ID, "oee-period")).select_by_value("day")
    Select(driver.find_element(By.ID, "oee-days")).select_by_value("custom")
    yesterday = driver.execute_script("const d = new Date(Date.now() - 86400e3); return d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0')")
    first = wait(driver, expected.visibility_of_element_located((By.ID, "oee-from")))
    driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))", first, yesterday)
    midnight = driver.execute_script("return new Date(arguments[0] + 'T00:00').getTime()", yesterday)
    wait(driver, lambda d: d.find_element(By.ID, "oee-output").get_attribute("data-from") == str(midnight))
    report = assert_oee_equals_api(driver, admin_token, "", period="day")
    assert [p["label"] for p in report["periods"]] and all(p["from"] >= midnight for p in report["periods"])
    assert driver.find_element(By.CSS_SELECTOR, "#oee-output .covers").text.startswith(f"All machines ({len(report['machines'])} machines), ")
    for kpi in ["oee", "availability", "performance", "quality"]:  # the trend: a dot per period with a value, on each line
        dots = driver.find_elements(By.CSS_SELECTOR, f"svg.lines g.kpi-{kpi} circle")
        assert len(dots) == sum(1 for p in report["periods"] if p[kpi]["value"] is not None), kpi
    # Beside the figures: how much of the range was not monitored and how much was unknown, as the API says.
    components = report["total"]["components"]
    coverage = driver.find_element(By.CSS_SELECTOR, "#oee-output .coverage")
    assert coverage.find_element(By.CSS_SELECTOR, '[data-time="not-monitored"]').text == f"Not monitored: {shown_duration(components['not_monitored_ms'])}"
    assert coverage.find_element(By.CSS_SELECTOR, '[data-time="unknown"]').text == f"Unknown: {shown_duration(components['unknown_ms'])}"
    shot(driver, "16-oee-dates")
    driver.find_element(By.ID, "oee-csv").click()
    rows = list(csv.DictReader(io.StringIO(downloaded(driver, tmp_path, "oee.csv"))))
    assert [r["period"] for r in rows] == [p["label"] for p in report["periods"]] + ["total"]
    for row, period in zip(rows, report["periods"] + [report["total"]]):
        for name in ["oee", "availability", "performance", "quality"]:
            value = period[name]["value"]
            assert row[name] == ("" if value is None else f"{value:.4f}"), (row["period"], name)
        assert int(row["total_count"]) == period["components"]["total_count"]
        for name in ["unknown", "not_monitored"]:
            assert row[f"{name}_min"] == f"{period['components'][f'{name}_ms'] / 60000:.1f}", (row["period"], name)
    # The audit log downloads as the server's CSV.
    driver.get(HTTP + "/#/admin")
    wait(driver, expected.element_to_be_clickable((By.XPATH, '//section[@id="admin-audit"]//button[text()="Download CSV"]'))).click()
    audit = downloaded(driver, tmp_path, "audit.csv")
    assert audit.startswith("id,time,actor_kind,actor_id,actor,action") and "auth.login" in audit


def test_a_page_opened_while_the_server_is_away_comes_by_itself_when_it_is_back(browser, admin_session):
    host, port = HTTP.removeprefix("http://").split(":")
    blip = Blip((host, int(port)))
    driver = browser
    driver.get(blip.url + "/#/login")
    driver.execute_script("sessionStorage.setItem('gemba.access', arguments[0]); sessionStorage.setItem('gemba.refresh', arguments[1]);",
                          admin_session["access_token"], admin_session["refresh_token"])
    driver.get(blip.url + "/#/floor")
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, ".tile")))
    driver.execute_script("window.notReloaded = true")
    blip.cut()
    driver.execute_script("location.hash = '#/oee'")
    wait(driver, lambda d: "cannot be reached" in d.find_element(By.ID, "main").text)
    blip.restore()
    wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, "#oee-output[data-from]")), timeout=30)
    assert driver.execute_script("return window.notReloaded === true")


def test_a_chart_zooms_by_dragging_and_goes_back_to_live(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    machine = next(m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"] if "/machining/" in m["path"])  # one with history
    driver.get(HTTP + "/#/machine/" + machine)
    canvas = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, "canvas.chart")))
    span = lambda c: int(c.get_attribute("data-to")) - int(c.get_attribute("data-from"))
    assert span(canvas) == 3_600_000
    # On a fresh demo the first drag sometimes zooms nothing (seen in one CI run in three): the page is
    # still settling (the banner of its first alarms can move the chart under the pointer). A drag that
    # zoomed nothing is made again, at most 3 times; the zoom itself is checked as before.
    back = None
    for _ in range(3):
        ActionChains(driver).move_to_element_with_offset(canvas, -200, 0).click_and_hold().move_by_offset(300, 0).release().perform()
        try:
            back = wait(driver, expected.visibility_of_element_located((By.ID, "back-to-live")), timeout=5)
            break
        except TimeoutException:
            canvas = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, "canvas.chart")))
    assert back is not None, "dragging across the chart zooms"
    zoomed = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "canvas.chart") != canvas and d.find_element(By.CSS_SELECTOR, "canvas.chart"))
    assert 0 < span(zoomed) < 3_600_000 / 2, "the dragged quarter of the hour is shown"
    assert not driver.find_elements(By.CSS_SELECTOR, '[aria-label="Range"] button[aria-pressed="true"]'), "no preset range is marked"
    shot(driver, "17-machine-zoomed")
    back.click()
    wait(driver, lambda d: span(d.find_element(By.CSS_SELECTOR, "canvas.chart")) == 3_600_000)
    assert not driver.find_element(By.ID, "back-to-live").is_displayed()
    # A range typed in: two hours of the simulated history, ten hours ago.
    start = driver.execute_script("const d = new Date(Date.now() - 10 * 3600e3); d.setSeconds(0, 0); return d.getTime()")
    for field, at in (("range-from", start), ("range-to", start + 7_200_000)):
        driver.execute_script("const d = new Date(arguments[1]); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());"
                              "arguments[0].value = d.toISOString().slice(0, 16)", driver.find_element(By.ID, field), at)
    driver.find_element(By.CSS_SELECTOR, '#range-form button[type="submit"]').click()
    chart = wait(driver, lambda d: int(d.find_element(By.CSS_SELECTOR, "canvas.chart").get_attribute("data-from")) == start
                 and d.find_element(By.CSS_SELECTOR, "canvas.chart"))
    assert span(chart) == 7_200_000 and start <= int(chart.get_attribute("data-last")) < start + 7_200_000, "the history of those two hours is drawn"


def test_a_trend_is_forecast_with_its_band(browser, admin_token, admin_session):
    driver = browser
    open_as_admin(driver, admin_session)
    machine = next(m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"] if "/machining/" in m["path"])  # one with history
    driver.get(HTTP + "/#/machine/" + machine)
    canvas = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, "canvas.chart")))
    tag = canvas.get_attribute("data-tag")
    assert canvas.get_attribute("data-forecast") == "0"
    driver.find_element(By.ID, "forecast").click()
    # The next quarter hour of the hour shown, minute by minute, in its band; the band's record on the history beside it.
    chart = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'canvas.chart[data-tag="{tag}"]').get_attribute("data-forecast") == "60"
                 and d.find_element(By.CSS_SELECTOR, f'canvas.chart[data-tag="{tag}"]'))
    assert int(chart.get_attribute("data-to")) - int(chart.get_attribute("data-from")) > 3_600_000
    note = driver.find_element(By.CSS_SELECTOR, f'[data-forecast-note="{tag}"]').text
    assert "90 % band held" in note, note
    forecast = call(f"/api/v1/forecast?machine={machine}&tag={tag}&steps=60", token=admin_token)
    assert len(forecast["points"]) == 60 and all(p["low"] <= p["v"] <= p["high"] for p in forecast["points"])
    assert 0.8 <= forecast["measuredCoverage"] <= 0.97, forecast["measuredCoverage"]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", chart)
    shot(driver, "18-machine-forecast")


def answer_prompt(driver, text):
    """Types `text` into the page's prompt() and accepts it."""
    alert = wait(driver, expected.alert_is_present())
    alert.send_keys(text)
    alert.accept()


def test_an_engineer_manages_assets_and_tags_in_administration(browser, admin_token, admin_session):
    """A machine configured before it sends, described, moved, retired and deleted from the page;
    a tag given a display name and range. Each step is checked in the API."""
    machine = f"plant9/assembly/line-{uuid.uuid4().hex[:4]}/press-1"
    moved = machine.replace("press-1", "press-2")
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + "/#/admin")
    form = wait(driver, expected.presence_of_element_located((By.ID, "asset-form")))
    Select(form.find_element(By.ID, "asset-level")).select_by_value("machine")
    form.find_element(By.ID, "asset-path").send_keys(machine)
    form.find_element(By.ID, "asset-name").send_keys("Press 1")
    form.find_element(By.ID, "asset-metadata").send_keys("vendor = Schuler\nserial = SP-0042")
    form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    row = f'//table[@id="asset-table"]//tr[@data-path="{machine}"]'
    wait(driver, expected.presence_of_element_located((By.XPATH, row)))
    details = {a["path"]: a for a in call("/api/v1/asset-details", token=admin_token)["items"]}
    assert details[machine]["display_name"] == "Press 1" and details[machine]["metadata"] == {"vendor": "Schuler", "serial": "SP-0042"}
    assert machine in [m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"]], "configured before any data"
    assert "in service" in driver.find_element(By.XPATH, row).text

    # Data arrives, then the tag gets details in the form.
    call("/api/v1/ingest", {"records": [{"machine": machine, "values": {"force": 410.5}}]}, token=admin_token)
    tag_form = driver.find_element(By.ID, "tag-form")
    for field, value in [("tag-machine", machine), ("tag-name", "force"), ("tag-display", "Press force"), ("tag-unit", "kN"),
                         ("tag-min", "0"), ("tag-max", "5000"), ("tag-decimals", "1")]:
        tag_form.find_element(By.ID, field).send_keys(value)
    tag_form.find_element(By.CSS_SELECTOR, 'button[type="submit"]').click()
    wait(driver, lambda d: "Saved" in d.find_element(By.CSS_SELECTOR, "#tag-form [role=status]").text)
    tag = call(f"/api/v1/tags?machine={machine}", token=admin_token)["tags"][0]
    assert (tag["display_name"], tag["unit"], tag["minimum"], tag["maximum"], tag["decimals"]) == ("Press force", "kN", 0, 5000, 1)

    # Moved with its button: the history follows the new path.
    driver.refresh()
    wait(driver, expected.element_to_be_clickable((By.CSS_SELECTOR, f'button[data-move="{machine}"]'))).click()
    alert = wait(driver, expected.alert_is_present())
    alert.send_keys(moved)  # replaces the suggested path
    alert.accept()
    moved_row = f'//table[@id="asset-table"]//tr[@data-path="{moved}"]'
    wait(driver, expected.presence_of_element_located((By.XPATH, moved_row)))
    assert [v["v"] for v in call(f"/api/v1/latest?machine={moved}", token=admin_token)["values"]] == [410.5]

    # Retired: ingest refuses it with the reason; reactivated from the same button.
    driver.find_element(By.CSS_SELECTOR, f'button[data-retire="{moved}"]').click()
    wait(driver, lambda d: "retired" in d.find_element(By.XPATH, moved_row).text)
    with pytest.raises(urllib.error.HTTPError) as refused:
        call("/api/v1/ingest", {"records": [{"machine": moved, "values": {"force": 1}}]}, token=admin_token)
    assert refused.value.code == 400 and "retired" in refused.value.read().decode()
    shot(driver, "15-admin-assets")

    # Deleted after typing its path: gone with its data.
    driver.find_element(By.CSS_SELECTOR, f'button[data-delete="{moved}"]').click()
    answer_prompt(driver, moved)
    wait(driver, lambda d: not d.find_elements(By.XPATH, moved_row))
    assert moved not in [m["path"] for m in call("/api/v1/machines", token=admin_token)["machines"]]
    actions = [e["action"] for e in call("/api/v1/audit?action=machine.", token=admin_token)["items"]]
    assert {"machine.move", "machine.retire", "machine.delete"} <= set(actions), actions


def click_live(driver, css):
    """Clicks an element of a list that the live stream redraws: found afresh until the click lands."""
    def clicked(d):
        element = expected.element_to_be_clickable((By.CSS_SELECTOR, css))(d)
        if element:
            element.click()
        return bool(element)
    wait(driver, clicked)


def test_an_operator_works_an_alarm_and_an_engineer_tries_a_rule(browser, admin_token, admin_session):
    values = [v for v in call("/api/v1/latest?tag=spindle_temp", token=admin_token)["values"] if v["tag"] == "spindle_temp"]
    machine = values[0]["machine"]
    rule = {"name": "Browser check", "severity": "high", "condition": "spindle_temp > -1000", "scope": machine}
    call("/api/v1/rules/browser-check", rule, token=admin_token, method="PUT")
    driver = browser
    try:
        open_as_admin(driver, admin_session)
        # The banner and the machine's tile count the alarm as soon as it stands.
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, f'.tile[data-machine="{machine}"] .alarm-count').is_displayed())
        assert driver.find_element(By.ID, "alarm-banner").is_displayed()
        driver.find_element(By.CSS_SELECTOR, "#alarm-banner a").click()
        row = f'#alarm-rows tr[data-rule="browser-check"][data-machine="{machine}"]'
        click_live(driver, f"{row} button.ack")
        wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, f'{row}[data-state="active_acknowledged"]')))
        # Shelve in two clicks: choose, confirm (the live list redraws meanwhile; the open form stays open).
        click_live(driver, f"{row} button.shelve")
        click_live(driver, f"{row} button.confirm-shelve")
        # A shelved alarm leaves the standing list and is found under "Shelved".
        wait(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, row))
        Select(driver.find_element(By.ID, "alarm-filter")).select_by_value("shelved")
        wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, f'{row}[data-state="shelved"]')))
        shot(driver, "20-alarms")
        alarms = call("/api/v1/alarms?state=all", token=admin_token)["items"]
        shelved = [a for a in alarms if a["rule"] == "browser-check"][0]
        assert shelved["state"] == "shelved" and shelved["shelved"]["reason"] == "Maintenance"
        # Work proposed from the alarm carries it as evidence, and the machine's page lists it.
        click_live(driver, f"{row} button.propose-work")
        wait(driver, lambda d: "/maintenance/WO-" in d.current_url)
        order_id = driver.current_url.split("/maintenance/")[-1]
        wait(driver, lambda d: d.find_element(By.ID, "wo-status").get_attribute("data-status") == "proposed")
        assert "alarm Browser check" in driver.find_element(By.ID, "wo-evidence").text
        driver.get(HTTP + f"/#/machine/{machine}")
        wait(driver, lambda d: f"{order_id} · Browser check" in d.find_element(By.ID, "machine-maintenance").text)
        # The alarm-performance page shows the ISA-18.2 figures the API computes.
        driver.get(HTTP + "/#/alarms/performance")
        rate = wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, '[data-figure="rate"] .value')))
        assert float(rate.text) >= 0
        # The rule editor names the place of an error, and previews a backtest.
        driver.get(HTTP + "/#/rules/browser-check")
        condition = wait(driver, expected.visibility_of_element_located((By.ID, "rule-condition")))
        condition.clear()
        condition.send_keys("spindle_temp >")
        driver.find_element(By.ID, "rule-validate").click()
        wait(driver, lambda d: "line 1, column" in d.find_element(By.ID, "rule-verdict").text)
        condition.clear()
        condition.send_keys("spindle_temp > 0 for 1m")
        driver.find_element(By.ID, "rule-backtest").click()
        summary = wait(driver, expected.presence_of_element_located((By.ID, "backtest-summary")))
        assert "nobody was notified" in summary.text
        shot(driver, "21-rule-editor")
    finally:
        call("/api/v1/rules/browser-check", token=admin_token, method="DELETE")


def test_an_admin_sets_up_on_call_and_sees_who_was_told(browser, admin_token, admin_session):
    """Preferences, a roster and a policy with an escalation chain made in the forms; an alarm
    then reaches the person on call, and the notification list shows to whom."""
    values = [v for v in call("/api/v1/latest?tag=spindle_temp", token=admin_token)["values"] if v["tag"] == "spindle_temp"]
    machine = values[-1]["machine"]
    me = "admin@gemba.local"
    driver = browser
    try:
        open_as_admin(driver, admin_session)
        driver.get(HTTP + "/#/notifications")
        channels = wait(driver, expected.visibility_of_element_located((By.ID, "f-me-channels")))
        channels.clear()
        channels.send_keys("floor-log")
        driver.find_element(By.CSS_SELECTOR, "#preferences-form button[type=submit]").click()
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#preferences-form [role=status]").text == "Saved.")
        for field, text in [("id", "browser-roster"), ("name", "Browser roster"), ("people", me)]:
            driver.find_element(By.ID, f"f-roster-{field}").send_keys(text)
        driver.find_element(By.CSS_SELECTOR, "#roster-form button[type=submit]").click()
        wait(driver, lambda d: f"{me} is on call now" in d.find_element(By.CSS_SELECTOR, "#roster-form [role=status]").text)
        assert driver.find_element(By.CSS_SELECTOR, '.on-call[data-roster="browser-roster"]').text == me
        for field, text in [("id", "browser-oncall"), ("name", "Browser on call"), ("tells", "roster:browser-roster"),
                            ("escalation", f"10m: user:{me}")]:
            driver.find_element(By.ID, f"f-policy-{field}").send_keys(text)
        Select(driver.find_element(By.ID, "f-policy-minimum_severity")).select_by_value("high")
        driver.find_element(By.CSS_SELECTOR, "#policy-form button[type=submit]").click()
        wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#policy-form [role=status]").text == "Saved.")
        policy = call("/api/v1/notification-policies", token=admin_token)["items"]
        chain = [p for p in policy if p["id"] == "browser-oncall"][0]["escalation"]
        assert chain == [{"after": "10m", "channels": [], "recipients": [f"user:{me}"]}]
        # An alarm: the person on call is told through their own channel; the list shows it within its refresh.
        call("/api/v1/rules/browser-oncall", {"name": "Browser on call", "severity": "high", "condition": "spindle_temp > -1000",
                                               "scope": machine}, token=admin_token, method="PUT")
        wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, f'#notification-list tr[data-recipient="{me}"]')), timeout=30)
        shot(driver, "22-notifications")
    finally:
        for path in ["/api/v1/rules/browser-oncall", "/api/v1/notification-policies/browser-oncall",
                     "/api/v1/notification-rosters/browser-roster", "/api/v1/me/notification-preferences"]:
            try:
                call(path, token=admin_token, method="DELETE")
            except urllib.error.HTTPError:
                pass


def test_a_maintenance_lead_decides_a_proposal_and_the_work_is_done_on_the_board(browser, admin_token, admin_session):
    machine = call("/api/v1/machines", token=admin_token)["machines"][0]["path"]
    now = int(time.time() * 1000)
    order = call("/api/v1/work-orders", {
        "machine": machine, "title": f"Spindle bearing {uuid.uuid4().hex[:4]}", "kind": "predictive", "priority": "high",
        "origin": {"source": "rul"},
        "evidence": {"summary": "vibration rising 0.4 mm/s per hour", "signals": ["vibration"],
                     "scores": [{"tag": "vibration", "time": now, "score": 0.87, "detector": "vibration-robust"}],
                     "estimate": {"quantity": "remaining_life", "value": 30, "low": 20, "high": 45, "unit": "h", "coverage": 0.9}}},
        token=admin_token)
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + "/#/maintenance")
    card = wait(driver, expected.element_to_be_clickable(
        (By.CSS_SELECTOR, f'[data-column="proposed"] .work-order[data-id="{order["id"]}"]')))
    shot(driver, "30-maintenance-board")
    card.click()
    evidence = wait(driver, expected.visibility_of_element_located((By.ID, "wo-evidence")))
    assert "remaining life: 30 h (20–45, 90 % interval)" in evidence.text and "0.87" in evidence.text
    status = lambda d: d.find_element(By.ID, "wo-status").get_attribute("data-status")

    # A decision needs a rationale; with one it is taken and logged.
    driver.find_element(By.ID, "wo-approve").click()
    wait(driver, lambda d: "A rationale is required." in d.find_element(By.CSS_SELECTOR, "#wo-decision [role=status]").text)
    assert call(f"/api/v1/work-orders/{order['id']}", token=admin_token)["status"] == "proposed"
    driver.find_element(By.ID, "wo-rationale").send_keys("trend is clear; replace during the next break")
    shot(driver, "31-maintenance-decision")
    driver.find_element(By.ID, "wo-approve").click()
    wait(driver, lambda d: status(d) == "approved")
    minutes = driver.find_element(By.ID, "wo-minutes")
    minutes.clear()
    minutes.send_keys("45")
    driver.find_element(By.ID, "wo-assignee").send_keys("Anna")
    driver.find_element(By.CSS_SELECTOR, '#wo-schedule button[type="submit"]').click()
    wait(driver, lambda d: status(d) == "scheduled")
    driver.find_element(By.ID, "wo-start").click()
    wait(driver, lambda d: status(d) == "in_progress")
    driver.find_element(By.ID, "wo-findings").send_keys("outer race pitted, bearing replaced")
    driver.find_element(By.ID, "wo-failure-mode").send_keys("bearing_wear")
    driver.find_element(By.ID, "wo-spent").send_keys("40")
    Select(driver.find_element(By.ID, "wo-confirmed")).select_by_value("true")
    driver.find_element(By.CSS_SELECTOR, '#wo-complete button[type="submit"]').click()
    wait(driver, lambda d: status(d) == "done")
    assert "prediction confirmed" in driver.find_element(By.ID, "wo-outcome").text
    log = [row.text for row in driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    assert [next(step for step in ["complete", "start", "schedule", "approve", "propose"] if f" {step} " in f" {row} ") for row in log[-5:]] \
        == ["complete", "start", "schedule", "approve", "propose"], log
    shot(driver, "32-maintenance-done")
    stored = call(f"/api/v1/work-orders/{order['id']}", token=admin_token)
    assert stored["schedule"]["assignee"] == "Anna" and stored["schedule"]["plannedMinutes"] == 45
    assert stored["completion"]["predictionConfirmed"] is True and stored["completion"]["failureMode"] == "bearing_wear"


def test_an_engineer_trains_evaluates_shadows_promotes_and_rolls_back_a_detector(browser, admin_token, admin_session):
    detector = f"trial-{uuid.uuid4().hex[:4]}"
    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + "/#/maintenance")
    # The demo's own detector is listed as the registry's version 1, seeded from the configuration.
    wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, '#detectors a[data-detector="vibration"]')))
    assert "v1 · active" in driver.find_element(By.ID, "detectors").text
    driver.find_element(By.ID, "new-detector").send_keys(detector)
    driver.find_element(By.CSS_SELECTOR, '#new-detector-form button[type="submit"]').click()
    config = wait(driver, expected.visibility_of_element_located((By.ID, "version-config")))
    config.clear()
    config.send_keys(json.dumps({"kind": "robust", "tag": "spindle_temp", "output": "spindle_temp.trial", "threshold": 0.7, "warmup": 50}))
    driver.find_element(By.ID, "version-note").send_keys("spindle temperature, first try")
    driver.find_element(By.CSS_SELECTOR, '#version-form button[type="submit"]').click()
    status = lambda d, version: d.find_element(By.CSS_SELECTOR, f'tr:has([data-version="{version}"]) [data-status]').get_attribute("data-status")
    wait(driver, lambda d: status(d, 1) == "draft")

    def step(version, name, expected_status):
        wait(driver, expected.element_to_be_clickable((By.CSS_SELECTOR, f'[data-version="{version}"] [data-step="{name}"]'))).click()
        wait(driver, lambda d: f"v{version}: {name} done" in d.find_element(By.ID, "registry-status").text, timeout=60)
        assert status(driver, version) == expected_status

    # Trained on the demo's simulated day (the range's default: the last 7 days), then evaluated on it.
    step(1, "train", "trained")
    step(1, "evaluate", "trained")
    versions = call(f"/api/v1/detectors/{detector}/versions", token=admin_token)["items"]
    assert versions[0]["training"]["machines"] == 12 and versions[0]["training"]["samples"] > 12 * 1000, versions[0]["training"]
    evaluation = versions[0]["evaluations"][-1]
    assert evaluation["samples"] >= versions[0]["training"]["samples"] and evaluation["inSample"] is True, evaluation
    row = driver.find_element(By.CSS_SELECTOR, 'tr:has([data-version="1"])').text
    assert "samples on 12 machines" in row and "precision" in row and "on its training data" in row, row
    shot(driver, "33-detector-registry")

    # In shadow its scores are written beside the live ones; promoted it runs; a second version rolls back to it.
    step(1, "shadow", "shadow")
    written = lambda tag: any(v["tag"] == tag for v in call(f"/api/v1/latest?tag={tag}", token=admin_token)["values"])
    wait(driver, lambda _: written("spindle_temp.trial.shadow"), timeout=30)
    step(1, "promote", "active")
    wait(driver, lambda _: written("spindle_temp.trial"), timeout=30)
    driver.find_element(By.CSS_SELECTOR, '#version-form button[type="submit"]').click()  # v2: the active configuration again
    wait(driver, lambda d: status(d, 2) == "draft")
    step(2, "promote", "active")
    assert status(driver, 1) == "retired"
    driver.find_element(By.ID, "rollback").click()
    wait(driver, lambda d: status(d, 1) == "active" and status(d, 2) == "retired")
    actions = [entry["action"] for entry in call("/api/v1/audit?limit=100", token=admin_token)["items"] if detector in entry.get("target", "")]
    assert {"detector.version.create", "detector.version.train", "detector.version.evaluate", "detector.shadow", "detector.promote",
            "detector.rollback"} <= set(actions), actions


def test_the_demo_golden_path_a_failing_bearing_is_caught_and_maintained_before_it_breaks(browser, admin_token, admin_session):
    """The demo's bearing starts failing half a minute into live publishing; its remaining-life
    estimate proposes work within minutes. Here it is approved, scheduled, started (the machine stops
    as planned maintenance) and done with the prediction confirmed, all in the browser."""
    machine = "plant1/machining/line1/cnc-2"
    deadline = time.monotonic() + 900
    proposal = None
    while proposal is None and time.monotonic() < deadline:
        proposal = next((o for o in call(f"/api/v1/work-orders?machine={machine}", token=admin_token)["items"]
                         if o["origin"]["source"] == "detector" and o["kind"] == "predictive"), None)
        time.sleep(1)  # polling interval; the deadline bounds the wait
    assert proposal, "the demo's failing bearing proposed no work within 15 minutes"
    assert proposal["evidence"]["estimate"]["quantity"] == "remaining_life" and proposal["evidence"]["estimate"]["value"] < 0.5
    latest = {v["tag"]: v for v in call(f"/api/v1/latest?machine={machine}", token=admin_token)["values"]}
    assert "vibration.rul_h" in latest and latest["vibration.rul_h"]["v"] < 12

    driver = browser
    open_as_admin(driver, admin_session)
    # The machine page shows the remaining life dropping.
    driver.get(HTTP + f"/#/machine/{machine}")
    life = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, '#machine-health dd[data-tag="vibration.rul_h"]')))
    wait(driver, lambda _: life.text.endswith(" min"))
    # The multivariate detector the demo trained on its first day flags the machine too, and says why: vibration first.
    why = wait(driver, lambda d: (found := d.find_elements(By.CSS_SELECTOR, '#machine-health dd[data-explanation="drive"]')) and found[0].text,
               timeout=60)
    assert why.startswith("vibration "), why
    shot(driver, "36-golden-path-machine-health")
    driver.get(HTTP + f"/#/maintenance/{proposal['id']}")
    evidence = wait(driver, expected.visibility_of_element_located((By.ID, "wo-evidence")))
    assert "remaining life" in evidence.text and "90 % interval" in evidence.text
    status = lambda d: d.find_element(By.ID, "wo-status").get_attribute("data-status")
    shot(driver, "33-golden-path-proposal")
    if proposal["status"] in ("proposed", "deferred"):
        driver.find_element(By.ID, "wo-rationale").send_keys("vibration will reach 7 mm/s within the hour: replace the bearing now")
        driver.find_element(By.ID, "wo-approve").click()
        wait(driver, lambda d: status(d) == "approved")
    started = int(time.time() * 1000)
    driver.find_element(By.CSS_SELECTOR, '#wo-schedule button[type="submit"]').click()
    wait(driver, lambda d: status(d) == "scheduled")
    driver.find_element(By.ID, "wo-start").click()
    wait(driver, lambda d: status(d) == "in_progress")
    # The simulated machine stops for the work.
    wait(driver, lambda _: {v["tag"]: v for v in call(f"/api/v1/latest?machine={machine}", token=admin_token)["values"]}["state"]["v"]
         == "planned_stop", timeout=15)
    # Its stop, still running, is already planned maintenance by the work order.
    maintenance_stop = lambda _: any(s["reason"] == "planned_stop/planned_maintenance" and s["assigned_by"] == f"work order {proposal['id']}"
                                     for s in call(f"/api/v1/stops?machine={machine}&from={started - 60_000}", token=admin_token)["stops"])
    wait(driver, maintenance_stop, timeout=15)
    driver.find_element(By.ID, "wo-findings").send_keys("outer race pitted; bearing replaced")
    driver.find_element(By.ID, "wo-failure-mode").send_keys("bearing_wear")
    driver.find_element(By.ID, "wo-spent").send_keys("25")
    Select(driver.find_element(By.ID, "wo-confirmed")).select_by_value("true")
    driver.find_element(By.CSS_SELECTOR, '#wo-complete button[type="submit"]').click()
    wait(driver, lambda d: status(d) == "done")
    shot(driver, "34-golden-path-done")
    # The stop counts as planned maintenance; the detector's event is a true positive; the machine produces again.
    stops = call(f"/api/v1/stops?machine={machine}&from={started - 60_000}", token=admin_token)["stops"]
    assert any(s["reason"] == "planned_stop/planned_maintenance" and s["assigned_by"] == f"work order {proposal['id']}" for s in stops), stops
    event = next(e for e in call(f"/api/v1/detector-events?machine={machine}&from=0", token=admin_token)["items"]
                 if e.get("workOrder") == proposal["id"])
    assert event["label"] == "true_positive"
    wait(driver, lambda _: {v["tag"]: v for v in call(f"/api/v1/latest?machine={machine}", token=admin_token)["values"]}["state"]["v"]
         == "producing", timeout=15)
    driver.get(HTTP + "/#/maintenance")
    wait(driver, lambda d: "100 %" in d.find_element(By.ID, "detectors").text)  # the detector's precision
    shot(driver, "35-golden-path-board")


def test_an_engineer_loads_a_fleet_model_file_into_a_version(browser, admin_token, admin_session, tmp_path):
    """A model trained by `gemba detect train-rul --no-age --model` on a run-to-failure file is
    chosen in the registry page's file picker: the version shows it loaded; a file that is not JSON
    and a model that reads the machines' age are refused with the reason."""
    import random
    import subprocess
    rng = random.Random(7)
    lines = []
    for unit in range(1, 9):
        life = rng.randint(80, 130)
        for cycle in range(life):
            wear = cycle / life + rng.uniform(-0.02, 0.02)
            lines.append(f"{unit} {cycle + 1} {wear:.5f} {50 + 20 * wear * wear + rng.uniform(-0.3, 0.3):.5f}")
    runs = tmp_path / "runs.txt"
    runs.write_text("\n".join(lines) + "\n")
    gemba = os.environ.get("GEMBA_BIN", ".build/debug/gemba")
    model, aged, text = tmp_path / "fleet.json", tmp_path / "aged.json", tmp_path / "notes.json"
    for path, extra in [(model, ["--no-age"]), (aged, [])]:
        run = subprocess.run([gemba, "detect", "train-rul", str(runs), *extra, "--model", str(path)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
    text.write_text("a note, not a model")
    detector = f"filefleet-{uuid.uuid4().hex[:4]}"
    call(f"/api/v1/detectors/{detector}/versions", {"kind": "fleet_rul", "signals": ["wear", "temp"], "output": f"{detector}.rul_h",
                                                     "life": {"cycle": "1m", "horizon": "20m"}}, token=admin_token)

    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + f"/#/maintenance/detector/{detector}")
    status = wait(driver, expected.presence_of_element_located((By.ID, "registry-status")))
    for path, words in [(text, "is not a JSON file"), (aged, "--no-age")]:
        picker = wait(driver, expected.presence_of_element_located((By.CSS_SELECTOR, 'input[data-load-model="1"]')))
        picker.send_keys(str(path))
        wait(driver, lambda _: words in driver.find_element(By.ID, "registry-status").text)
    picker = driver.find_element(By.CSS_SELECTOR, 'input[data-load-model="1"]')
    picker.send_keys(str(model))
    wait(driver, lambda _: "model loaded from fleet.json" in driver.find_element(By.ID, "registry-status").text, timeout=30)
    row = driver.find_element(By.CSS_SELECTOR, 'tr:has([data-version="1"])')
    assert "a model loaded from a file" in row.text and "trained" in row.text, row.text
    shot(driver, "40-fleet-model-loaded-from-a-file")


def test_a_fleet_model_trained_on_runs_to_failure_shows_a_machines_remaining_life(browser, admin_token, admin_session):
    """A fleet_rul version trained through the API on four machines' runs to failure (wear and
    temperature, two runs each): its registry page says what it learnt and how well it did on the
    runs it had not learnt; a new machine's page shows the remaining life it estimates."""
    import random
    rng = random.Random(3)
    detector = f"fleet-{uuid.uuid4().hex[:4]}"
    line = f"browser/fleet-{detector[-4:]}/line1"
    minute = 60_000
    start = (int(time.time() * 1000) - 86_400_000) // minute * minute

    def reading(machine, at, cycle, life):
        wear = cycle / life + rng.uniform(-0.02, 0.02)
        return {"machine": machine, "ts": at + 10_000, "values": {"wear": wear, "temp": 50 + 20 * wear * wear + rng.uniform(-0.3, 0.3)}}

    records, failures = [], []
    for number in range(1, 5):
        elapsed = 0
        for _ in range(2):
            life = rng.randint(80, 130)
            records += [reading(f"{line}/f{number}", start + (elapsed + cycle) * minute, cycle, life) for cycle in range(life)]
            elapsed += life
            failures.append({"machine": f"{line}/f{number}", "at": start + elapsed * minute})
    for offset in range(0, len(records), 500):
        call("/api/v1/ingest", {"records": records[offset:offset + 500]}, token=admin_token)
    versions = f"/api/v1/detectors/{detector}/versions"
    call(versions, {"kind": "fleet_rul", "signals": ["wear", "temp"], "scope": line, "output": f"{detector}.rul_h",
                    "life": {"cycle": "1m", "horizon": "20m"}}, token=admin_token)
    call(f"{versions}/1/train", {"from": start, "to": start + 400 * minute, "failures": failures}, token=admin_token)
    call(f"{versions}/1/promote", {}, token=admin_token)
    # A new machine, 90 minutes into a life of 100: about 10 left.
    call("/api/v1/ingest", {"records": [reading(f"{line}/f5", start + (600 + cycle) * minute, cycle, 100) for cycle in range(91)]},
         token=admin_token)

    driver = browser
    open_as_admin(driver, admin_session)
    driver.get(HTTP + f"/#/maintenance/detector/{detector}")
    row = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, 'tr:has([data-version="1"])')))
    wait(driver, lambda _: "runs to failure" in row.text)
    assert "8 runs to failure" in row.text and "cross-validated RMSE" in row.text and "fleet_rul on wear, temp" in row.text, row.text
    shot(driver, "38-fleet-model-registry")
    driver.get(HTTP + f"/#/machine/{line}/f5")
    life = wait(driver, expected.visibility_of_element_located((By.CSS_SELECTOR, f'#machine-health dd[data-tag="{detector}.rul_h"]')),
                timeout=30)
    wait(driver, lambda _: life.text.endswith(" min"), timeout=30)
    assert "fleet model" in driver.find_element(By.ID, "machine-health").text
    shot(driver, "39-fleet-model-machine-health")
