"""Retake the README's picture of the demo page (docs/figures/serve.png) on a trained run: the quickstart's.

    python bench/readme_screenshot.py [--run runs/quickstart/run] [--out docs/figures/serve.png]

Trains the quickstart's model when ``--run`` is absent (``omnivec quickstart --no-baselines``), writes 200 MNIST
test digits as PNG files (from $OMNIVEC_DATA), indexes them in the run's trunk space (``omnivec index``), starts
``omnivec serve`` on a free loopback port, uploads one held-out digit in headless Chromium (``make browser``
installs it), waits for the predictions and the neighbours, and saves the page, quantised to 128 colours.
It prints what the page predicted for the upload beside the digit's true label: a picture of a wrong answer is
refused unless ``--allow-wrong``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def digits(data_root: str, out: Path, n: int = 200) -> list[tuple[Path, str]]:
    """The first ``n`` MNIST test digits as ``out/<label>/<i>.png``; returns (path, label) pairs."""
    from PIL import Image

    from omnivec.config import preset
    from omnivec.data.task_catalog import get_task

    cfg = preset("cpu")
    cfg.data_root = data_root
    test = get_task("mnist", cfg).build(cfg).test
    names = get_task("mnist", cfg).build(cfg).class_names
    files = []
    for i in range(n):
        x, y = test[i]
        label = names[int(y)]
        path = out / label / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((x[0].clamp(0, 1) * 255).byte().numpy()).save(path)
        files.append((path, label))
    return files


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default="runs/quickstart/run")
    p.add_argument("--out", default=str(REPO / "docs" / "figures" / "serve.png"))
    p.add_argument("--data-root", default=os.environ.get("OMNIVEC_DATA", str(REPO.parent / "shared" / "data")))
    p.add_argument("--allow-wrong", action="store_true")
    a = p.parse_args()
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        sys.exit("headless Chromium is missing: run `make browser` first")
    run = Path(a.run)
    omnivec = [sys.executable, "-m", "omnivec"]
    if not (run / "config.yaml").is_file():
        quick = run.parent
        subprocess.run(
            [*omnivec, "quickstart", "--out", str(quick), "--no-baselines", "--data-root", a.data_root], check=True
        )
    from omnivec.api.search import build_index

    work = Path(tempfile.mkdtemp(prefix="screenshot-"))
    files = digits(a.data_root, work / "digits")
    query, truth = files[-1]  # indexed like the others; its nearest neighbour is itself, its others are similar
    build_index(run, "image", [work / "digits"], work / "index.npz", device="cpu")
    port = free_port()
    server = subprocess.Popen(
        [*omnivec, "serve", str(run), "--port", str(port), "--index", str(work / "index.npz"), "--device", "cpu"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("omnivec serve did not come up")
                time.sleep(0.5)
        predicted = shoot(chrome, driver, url, query, work / "serve.png")
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(f"uploaded {query.name} (true label {truth}); the page says: {predicted}")
    said = [line.split()[1] for line in predicted.splitlines() if line.startswith("mnist ") and len(line.split()) > 1]
    if said[:1] != [truth] and not a.allow_wrong:
        sys.exit("the page's mnist prediction is not the digit's label; not saving (--allow-wrong saves it)")
    from PIL import Image

    Image.open(work / "serve.png").convert("RGB").quantize(128).save(a.out, optimize=True)
    print(f"wrote {a.out}")
    return 0


def shoot(chrome: str, driver: str, url: str, image: Path, shot: Path) -> str:
    """Upload ``image`` on the page, wait for the answers, save a screenshot; returns the predictions' text."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1100,1150"):
        opts.add_argument(arg)
    b = webdriver.Chrome(service=Service(driver), options=opts)
    try:
        b.get(url + "/")
        wait = WebDriverWait(b, 60)
        wait.until(ec.text_to_be_present_in_element((By.ID, "summary"), "mnist"))
        b.find_element(By.ID, "file").send_keys(str(image))
        b.find_element(By.ID, "run-button").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "status"), f"done: {image.name}"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#neighbours .hit")) == 10)
        time.sleep(1)  # the thumbnails' images decode
        b.save_screenshot(str(shot))
        return str(b.find_element(By.ID, "predictions").text)
    finally:
        b.quit()


if __name__ == "__main__":
    raise SystemExit(main())
