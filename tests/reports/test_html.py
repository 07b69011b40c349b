"""The static HTML report, opened in real headless Chromium through Selenium."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.types import SampleKey, Setting
from reports import write_report

from .factory import (
    FEEDBACK,
    HOSTILE,
    loop_key,
    make_loop_records,
    make_loop_spec,
    make_records,
    make_spec,
    write_run,
)

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
    assert len(images) == 8  # 2 heatmaps, 5 temperature plots, accuracy against cost
    assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in images)
    assert driver.find_elements(By.CSS_SELECTOR, "table.costs") and not driver.find_elements(By.ID, "rounds")
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


@pytest.fixture(scope="module")
def loop_report_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("loop-html")
    run_dir = write_run(root / "loop-run", make_loop_records(), make_loop_spec())
    write_report(run_dir, ("html",), out_dir=root / "report", tasks_dir=root / "no-tasks")
    return root / "report"


def _natural_width(driver, element) -> int:
    return driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", element)


def test_loop_index_shows_rounds_edits_cost_and_the_cost_plot(loop_report_dir, driver):
    from selenium.webdriver.common.by import By

    driver.get((loop_report_dir / "index.html").as_uri())
    plot = driver.find_element(By.CSS_SELECTOR, "#cost-plot")
    assert plot.tag_name == "img" and _natural_width(driver, plot) > 0
    rounds = driver.find_element(By.CSS_SELECTOR, "table.rounds").text
    assert "after round 4" in rounds and "small>big 6 0.0 33.3 100.0 100.0" in rounds
    edits = driver.find_element(By.CSS_SELECTOR, "table.edits").text
    assert "well-formed (%)" in edits and "small 22 22 63.6 8 0" in edits
    costs = driver.find_element(By.CSS_SELECTOR, "table.costs").text
    assert "cost / solved task (USD)" in costs and "small 33%, big 67%" in costs
    assert "Verdict categories of the attempts per round" in driver.find_element(By.ID, "rounds").find_element(
        By.XPATH, "..").text
    assert _console_errors(driver) == []


def test_sample_page_lists_every_attempt(loop_report_dir, driver):
    from selenium.webdriver.common.by import By

    key = loop_key("mlflow-tracking-keras", "small>big", 0)
    driver.get((loop_report_dir / "samples" / f"{key.id()}.html").as_uri())
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "table.attempts tbody tr")]
    assert len(rows) == 3
    assert rows[0].startswith("1 small fail runtime_error") and rows[2].startswith("3 big pass ok")
    assert rows[2].endswith("0.006000")  # the big model's API cost in round 3
    details = driver.find_elements(By.CSS_SELECTOR, "details.attempt")
    assert len(details) == 3 and details[-1].get_attribute("open") is not None
    details[0].find_element(By.TAG_NAME, "summary").click()
    assert "Asked with the task's own prompt." in details[0].text
    details[1].find_element(By.TAG_NAME, "summary").click()
    assert details[1].find_element(By.CSS_SELECTOR, "pre.feedback").text == FEEDBACK
    assert "<<<<<<< SEARCH" in details[1].find_element(By.CSS_SELECTOR, "pre.answer").text
    assert "Attempts (3), cost 0.007667 USD" in driver.find_element(By.ID, "attempts").text
    assert _console_errors(driver) == []
