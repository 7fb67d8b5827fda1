"""The report in a real browser: Debian's chromium, headless and offline, through selenium
and Debian's chromium-driver (no browser download; the driver matches the browser because
both come from the same Debian package version).

Every chart must render (SVG marks present), the console must stay free of errors, no
request may leave file://, and a screenshot is saved (under $SPARSIM_SCREENSHOT_DIR when
set, for CI artifacts; else the test's tmp folder).

Needs: apt-get install -y chromium chromium-driver; pip install -e '.[browser]'.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[browser]')")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    pytest.skip("chromium / chromedriver not installed (apt-get install -y chromium chromium-driver)",
                allow_module_level=True)

from sparsim.reports import write_report  # noqa: E402
from sparsim.studies.measured import compare_measured  # noqa: E402



@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sparsim-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
                 "--window-size=1400,1000",
                 # offline: any host name fails to resolve
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _open(driver, path: Path, timeout_s: float = 20.0) -> float:
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get_log("performance")
    start = time.perf_counter()
    driver.get(path.resolve().as_uri())
    expected = driver.execute_script(
        "return Object.keys(JSON.parse(document.getElementById('sparsim-specs').textContent)).length")
    while time.perf_counter() - start < timeout_s:
        done = driver.execute_script("return window.sparsimRendered + window.sparsimErrors.length")
        if done == expected:
            break
        time.sleep(0.05)
    return time.perf_counter() - start


def _check_page(driver, shot: Path):
    errors = driver.execute_script("return window.sparsimErrors")
    assert errors == []
    charts = driver.execute_script("""
        return Array.from(document.querySelectorAll('div.chart')).map(function (div) {
            var svg = div.querySelector('svg.marks');
            return [div.id, svg ? svg.querySelectorAll('path, rect, line, circle, text').length : 0,
                    svg ? svg.getBoundingClientRect().width : 0];
        });""")
    assert charts and driver.execute_script("return window.sparsimRendered") == len(charts)
    for chart_id, marks, width in charts:
        assert marks > 10 and width > 100, (chart_id, marks, width)
    console = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert console == []
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    assert urls and all(u.startswith(("file://", "data:", "blob:", "about:")) for u in urls), urls
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(height + 50, 16000))
    assert driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
    driver.set_window_size(1400, 1000)


def _shot_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("SPARSIM_SCREENSHOT_DIR", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_report_renders_offline_without_console_errors(browser, small_result, tmp_path):
    table, meta = small_result
    measured = compare_measured([{"kernel": "dense", "m": 4096, "k": 4096, "n": 4096, "dtype": "fp16",
                                  "density": 1.0, "hw": "a100-sxm4-80gb", "time_s": 5.0e-4},
                                 {"kernel": "csr", "m": 4096, "k": 4096, "n": 256, "dtype": "fp32",
                                  "density": 0.1, "hw": "h100-sxm5-80gb", "time_s": 9.0e-5}], model="analytic")
    path = write_report(tmp_path / "report.html", table, meta, measured)
    _open(browser, path)
    _check_page(browser, _shot_dir(tmp_path) / "report.png")
    # the study name with <script> in it is shown as text, not run
    assert "<script>alert('study')</script> report test" in browser.find_element("tag name", "h1").text


def test_dropdowns_redraw_the_chart(browser, small_result, tmp_path):
    from selenium.webdriver.support.ui import Select

    table, meta = small_result
    path = write_report(tmp_path / "report.html", table, meta)
    _open(browser, path)
    first = browser.find_element("css selector", "#chart-1")
    before = first.find_element("css selector", "svg.marks").get_attribute("innerHTML")
    select = Select(first.find_element("css selector", "select"))
    select.select_by_index(len(select.options) - 1)
    time.sleep(0.5)
    after = first.find_element("css selector", "svg.marks").get_attribute("innerHTML")
    assert after != before


def test_ten_thousand_point_report_opens_in_under_3_seconds(browser, tmp_path, synthetic_table):
    path = write_report(tmp_path / "big.html", synthetic_table, {"study": {"name": "big sweep"}})
    elapsed = _open(browser, path)
    _check_page(browser, _shot_dir(tmp_path) / "report-10k.png")
    assert elapsed < 3.0, elapsed
