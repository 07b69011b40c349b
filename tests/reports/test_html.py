"""The static HTML report, opened in real headless Chromium through Selenium."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.types import SampleKey, Setting
from reports import write_report

from .factory import HOSTILE, make_records, make_spec, write_run

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
HOSTILE_KEY = SampleKey(task_id="mlflow-tracking-keras", model="gpt-3.5-turbo", setting=Setting.zero_shot,
                        temperature=1.0, sample_index=0)
INPUT_CODE = "import torch\nimport keras\nmodel.fit(x, y)\n"


@pytest.fixture(scope="module")
def report_dir(golden_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    mp = pytest.MonkeyPatch()
    mp.setattr("reports._report.load_input_codes", lambda ids, tasks_dir=None: {HOSTILE_KEY.task_id: (1, INPUT_CODE)})
    try:
        write_report(golden_run, ("html",), out_dir=out)
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian chromium and chromium-driver (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


def _console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_index_shows_tables_plots_and_samples(report_dir, driver):
    from selenium.webdriver.common.by import By

    driver.get((report_dir / "index.html").as_uri())
    assert driver.title == "adaptbench report: golden-run"
    tables = driver.find_elements(By.CSS_SELECTOR, "table.passk")
    assert len(tables) == 5
    assert "Temperature →" in tables[0].text and "Zero-Shot" in tables[0].text
    images = driver.find_elements(By.CSS_SELECTOR, "img.plot")
    assert len(images) == 7
    assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)
    assert "Verdict categories" in driver.find_element(By.ID, "failures").find_element(By.XPATH, "..").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "a.sample-link")) == 539
    assert _console_errors(driver) == []


def test_sample_drill_down_escapes_untrusted_text(report_dir, driver):
    from selenium.webdriver.common.by import By

    driver.get((report_dir / "index.html").as_uri())
    task = next(d for d in driver.find_elements(By.CSS_SELECTOR, "details.task") if HOSTILE_KEY.task_id in d.text)
    task.find_element(By.TAG_NAME, "summary").click()
    link = task.find_element(By.CSS_SELECTOR, f"a[href='samples/{HOSTILE_KEY.id()}.html']")
    link.click()
    assert driver.current_url.endswith(f"{HOSTILE_KEY.id()}.html")
    assert "pwned" not in driver.title
    assert driver.find_elements(By.TAG_NAME, "script") == []
    assert driver.find_elements(By.CSS_SELECTOR, "img[src='x']") == []
    completion = driver.find_element(By.CSS_SELECTOR, "pre.completion").text
    assert HOSTILE in completion  # shown literally, as text
    assert HOSTILE in driver.find_element(By.CSS_SELECTOR, "pre.stderr").text
    added = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "pre.diff span.add")]
    assert "+import mlflow" in added
    assert driver.find_element(By.ID, "verdict").text.startswith("Verdict:")
    assert _console_errors(driver) == []


def test_sample_page_without_input_script_says_so(tmp_path):
    records = [r for r in make_records() if r.key.task_id == HOSTILE_KEY.task_id]
    out = tmp_path / "report"
    write_report(write_run(tmp_path / "run", records, make_spec("run")), ("html",), out_dir=out,
                 tasks_dir=tmp_path / "no-tasks")
    page = (out / "samples" / f"{HOSTILE_KEY.id()}.html").read_text()
    assert "no diff is shown" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
