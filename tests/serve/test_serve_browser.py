"""The demo page in a real browser: ``omnivec serve`` runs as a subprocess on a loopback port, headless Chromium
(Debian's ``chromium`` + ``chromium-driver``, installed by ``make browser``) opens ``/``, uploads a spoken-tone
file, waits for the page to say it is done, and the test reads the predictions and the image neighbours off the
page; a screenshot is saved. Skipped, saying why, where Chromium or Selenium is not installed."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serve_helpers import TONE_SHAPES, cached_runs

pytestmark = pytest.mark.slow  # a server subprocess driven by headless Chromium (make test-slow)

REPO = Path(__file__).resolve().parents[2]


def _browser() -> tuple[str, str]:
    pytest.importorskip("selenium", reason="selenium is not installed (pip install 'omnivec[test]')")
    pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'omnivec[serve]')")
    driver = shutil.which("chromedriver")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not driver or not chrome:
        pytest.skip("headless Chromium is not installed: run `make browser` (apt-get install chromium chromium-driver)")
    return chrome, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Path]]]:
    _browser()
    runs = cached_runs(tmp_path_factory)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    cmd = [sys.executable, "-m", "omnivec", "serve", str(runs["omnivec"]), "--port", str(port)]
    cmd += ["--index", str(runs["index"]), "--device", "cpu"]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"omnivec serve did not come up: {log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield url, runs
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chrome, driver = _browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1150"):
        opts.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        yield b
    finally:
        b.quit()


def test_page_uploads_a_tone_and_shows_predictions_and_neighbours(
    server: tuple[str, dict[str, Path]], browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, runs = server
    b: Any = browser
    b.get(url + "/")
    wait = WebDriverWait(b, 60)
    wait.until(ec.text_to_be_present_in_element((By.ID, "summary"), TONE_SHAPES))
    label = f"{runs['omnivec'].parent.name}/omnivec"  # a folder named like its family is named with its parent
    assert b.title == f"omnivec demo: {label}"
    assert b.find_element(By.TAG_NAME, "h1").text == f"omnivec demo run {label} · omnivec family · cpu"

    image = sorted(runs["images"].rglob("*.png"))[0]
    b.find_element(By.ID, "file").send_keys(str(image))
    b.find_element(By.ID, "run-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "done"))
    table = b.find_element(By.ID, "predictions").text
    assert "shapes" in table and any(c in table for c in ("circle", "square", "triangle", "cross")), table

    tone = sorted(runs["wavs"].rglob("*.wav"))[0]
    b.find_element(By.ID, "file").send_keys(str(tone))
    b.find_element(By.ID, "run-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"done: {tone.name} (audio)"))
    assert "retrieval (audio <-> image)" in b.find_element(By.ID, "predictions").text
    hits = b.find_elements(By.CSS_SELECTOR, "#neighbours .hit")
    assert len(hits) == 10 and "#1" in hits[0].text
    thumbs = b.find_elements(By.CSS_SELECTOR, "#neighbours .hit img")
    wait.until(lambda d: all(d.execute_script("return arguments[0].naturalWidth", t) == 64 for t in thumbs))

    b.find_element(By.ID, "text").send_keys("the match was won")
    b.execute_script("document.getElementById('file').value = ''")
    b.find_element(By.ID, "run-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), "done: text (text)"))
    assert "topics" in b.find_element(By.ID, "predictions").text

    b.find_element(By.ID, "text").clear()
    b.find_element(By.ID, "file").send_keys(str(image))  # the README's picture: a prediction and neighbours
    b.find_element(By.ID, "run-button").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"done: {image.name}"))
    assert len(b.find_elements(By.CSS_SELECTOR, "#neighbours .hit")) == 10
    shot = tmp_path / "serve.png"
    assert b.save_screenshot(str(shot)) and shot.stat().st_size > 1000
    with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
        assert r.status == 200
