#!/usr/bin/env python3
"""Checks ecrscan's HTML report in a real headless browser: Debian's Chromium
driven by Selenium through chromedriver (no download, no network).

    check_report.py [--summary S.json] [--hostile] [--screenshot OUT.png] PAGE.html ...

Options apply to the page after them. For each page, with scripts on:
  - it loads with no console errors and makes no network request;
  - with --summary, the totals shown equal the JSON summary's, and the table
    has one row per image;
  - filtering by text and by severity shows the rows they should, sorting by a
    count orders the rows by it, both ways;
  - with --hostile, the hostile text in it ran nothing (window.__pwned stays
    unset, no <img> came in) and is shown as text;
  - with --screenshot, a screenshot of the whole page is written;
and with scripts off, the whole table shows and the controls are hidden.
Prints "PAGE: ok" and the time the browser took to load it, as JSON.
Exit status 1 with the reasons when a check fails.
"""

import json
import os
import pathlib
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.support.ui import Select

SHOWN = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
RANK = {"CRITICAL": 6, "HIGH": 5, "MEDIUM": 4, "LOW": 3, "INFORMATIONAL": 2}


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def browser(scripts):
    options = Options()
    options.binary_location = os.environ.get("ECRSCAN_CHROMIUM", "/usr/bin/chromium")
    for argument in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
    ]:
        options.add_argument(argument)
    if not scripts:
        options.add_experimental_option(
            "prefs", {"profile.managed_default_content_settings.javascript": 2}
        )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(
        executable_path=os.environ.get("ECRSCAN_CHROMEDRIVER", "/usr/bin/chromedriver")
    )
    return webdriver.Chrome(options=options, service=service)


def requests_made(driver, page_url):
    """Every URL the page asked for besides itself."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url != page_url:
                urls.append(url)
    return urls


def visible_rows(driver):
    """The texts of the table's rows shown, in one call."""
    return driver.execute_script(
        "return Array.prototype.filter.call(document.querySelectorAll('#images-table tbody tr'),"
        " function (row) { return row.getClientRects().length > 0; })"
        ".map(function (row) { return row.textContent; });"
    )


def column(driver, name):
    headers = driver.find_elements(By.CSS_SELECTOR, "#images-table thead th")
    for index, header in enumerate(headers):
        if header.text.strip().rstrip(" ▲▼") == name:
            return index, header
    raise Failed(f"no column {name}")


def check_totals(driver, summary):
    totals = summary.get("totals", {})
    expected = {severity: totals.get(severity, 0) for severity in SHOWN}
    expected["OTHER"] = sum(v for k, v in totals.items() if k not in SHOWN)
    expected["SUPPRESSED"] = sum(summary.get("suppressed_totals", {}).values())
    for severity, count in expected.items():
        shown = driver.find_element(By.CSS_SELECTOR, f'dd[data-severity="{severity}"]').text
        check(shown == str(count), f"{severity}: the page shows {shown}, the JSON summary {count}")
    images = len(summary["images"])
    shown = driver.find_element(By.ID, "image-count").text
    check(shown == str(images), f"images: the page shows {shown}, the JSON summary {images}")
    rows = driver.find_elements(By.CSS_SELECTOR, "#images-table tbody tr")
    check(len(rows) == images, f"{len(rows)} rows for {images} images")


def check_filtering(driver, summary):
    filter_box = driver.find_element(By.ID, "filter")
    check(filter_box.is_displayed(), "the filter is not shown with scripts on")
    images = summary["images"]
    repository = images[0]["repository"]
    expected = sum(1 for image in images if repository.lower() in " ".join(
        str(image.get(key) or "") for key in ("registry", "region", "repository", "tag", "digest", "status")
    ).lower())
    filter_box.send_keys(repository)
    rows = visible_rows(driver)
    check(len(rows) == expected, f"filter {repository!r}: {len(rows)} rows shown, {expected} expected")
    check(
        all(repository in row for row in rows),
        f"filter {repository!r}: a row shown does not name it",
    )
    filter_box.clear()
    # clear() fires no input event.
    driver.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    check(len(visible_rows(driver)) == len(images), "clearing the filter does not show every row")

    Select(driver.find_element(By.ID, "min-severity")).select_by_visible_text("HIGH")
    expected = sum(
        1 for image in images
        if any(RANK.get(severity, 1) >= 5 for severity in image.get("severity_counts", {}))
    )
    shown = len(visible_rows(driver))
    check(shown == expected, f"at least HIGH: {shown} rows shown, {expected} expected")
    check(
        f"{expected} of {len(images)} images shown" in driver.find_element(By.ID, "shown").text,
        "the count of rows shown is not said",
    )
    Select(driver.find_element(By.ID, "min-severity")).select_by_visible_text("any")
    check(len(visible_rows(driver)) == len(images), "'any' does not show every row")


def check_sorting(driver):
    for name in ["HIGH", "CRITICAL"]:
        index, header = column(driver, name)
        button = header.find_element(By.TAG_NAME, "button")
        for direction in ["ascending", "descending"]:
            button.click()
            check(header.get_attribute("aria-sort") == direction, f"{name} is not sorted {direction}")
            values = driver.execute_script(
                "var i = arguments[0]; return Array.prototype.map.call("
                "document.querySelectorAll('#images-table tbody tr'),"
                " function (row) { return Number(row.cells[i].textContent); });",
                index,
            )
            ordered = sorted(values, reverse=direction == "descending")
            check(values == ordered, f"sorted by {name} {direction}, the rows are not: {values[:20]}")
    index, header = column(driver, "Repository")
    header.find_element(By.TAG_NAME, "button").click()
    names = driver.execute_script(
        "var i = arguments[0]; return Array.prototype.map.call("
        "document.querySelectorAll('#images-table tbody tr'),"
        " function (row) { return row.cells[i].textContent; });",
        index,
    )
    check(names == sorted(names), "sorted by repository, the rows are not")


def check_hostile(driver):
    check(
        driver.execute_script("return typeof window.__pwned") == "undefined",
        f"an injected script ran: window.__pwned = {driver.execute_script('return window.__pwned')!r}",
    )
    check(not driver.find_elements(By.TAG_NAME, "img"), "an <img> element came in")
    check(len(driver.find_elements(By.TAG_NAME, "script")) == 1, "a second <script> element came in")
    text = driver.find_element(By.TAG_NAME, "body").text
    for shown in ["<img src=x onerror=", "</script><script>window.__pwned="]:
        check(shown in text, f"the hostile text {shown!r} is not shown as text")


def check_page(path, summary_path, hostile, screenshot):
    page = pathlib.Path(path).resolve()
    url = page.as_uri()
    summary = json.loads(pathlib.Path(summary_path).read_text()) if summary_path else None

    driver = browser(scripts=True)
    try:
        driver.get(url)
        load_ms = driver.execute_script(
            "var n = performance.getEntriesByType('navigation')[0];"
            " return n ? n.loadEventEnd - n.startTime : null;"
        )
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        check(not errors, f"console errors: {errors}")
        requests = requests_made(driver, url)
        check(not requests, f"network requests: {requests}")
        resources = driver.execute_script("return performance.getEntriesByType('resource').length")
        check(resources == 0, f"{resources} resources loaded")
        check(
            driver.execute_script("return document.getElementById('controls').hidden") is False,
            "the script did not run: the controls are still hidden",
        )
        if summary:
            check_totals(driver, summary)
            check_filtering(driver, summary)
        check_sorting(driver)
        if hostile:
            check_hostile(driver)
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        check(not errors, f"console errors while sorting and filtering: {errors}")
        if screenshot:
            driver.execute_script("window.scrollTo(0, 0)")
            height = driver.execute_script("return document.body.scrollHeight")
            driver.set_window_size(1400, min(max(height, 1000), 6000))
            check(driver.save_screenshot(str(screenshot)), f"cannot write the screenshot {screenshot}")
    finally:
        driver.quit()

    driver = browser(scripts=False)
    try:
        driver.get(url)
        check(
            not driver.find_element(By.ID, "controls").is_displayed(),
            "with scripts off, the controls that need them are shown",
        )
        rows = driver.find_elements(By.CSS_SELECTOR, "#images-table tbody tr")
        check(len(visible_rows(driver)) == len(rows), "with scripts off, rows are hidden")
        if summary:
            check_totals(driver, summary)
        if hostile:
            check_hostile(driver)
    finally:
        driver.quit()
    return load_ms


def main():
    arguments = sys.argv[1:]
    if not arguments:
        sys.exit(__doc__)
    failures = 0
    summary = None
    hostile = False
    screenshot = None
    items = iter(arguments)
    for item in items:
        if item == "--summary":
            summary = next(items)
        elif item == "--hostile":
            hostile = True
        elif item == "--screenshot":
            screenshot = next(items)
        else:
            try:
                load_ms = check_page(item, summary, hostile, screenshot)
                size = pathlib.Path(item).stat().st_size
                print(f"{item}: ok")
                print(json.dumps({"page": item, "bytes": size, "load_ms": load_ms}))
            except (Failed, WebDriverException) as failure:
                failures += 1
                print(f"{item}: FAILED: {failure}", file=sys.stderr)
            summary, hostile, screenshot = None, False, None
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
