"""The pages of ``rnn-apps serve`` in a headless Chromium (Debian's chromium and
chromium-driver, driven by selenium): one server, started as a user starts it, serves copies
of the saved tiny run folders (exported on the fly) and an export without a recorded recipe;
each page is given an input, and what it shows is checked against the fixtures' expected
outputs or the API's own answer.

With ``RNN_APPS_SCREENSHOTS=1`` each page is saved to ``docs/serve/NAME.png``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import wave
from pathlib import Path

import pytest

from tests.serving import serving

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "tests" / "fixtures" / "runs_0.1.0"
SERVED = ["sentiment", "translator", "ner", "char_music", "trigger_word"]
SCREENSHOTS = ROOT / "docs" / "serve"


def _expected(recipe: str) -> dict:
    return json.loads((RUNS / recipe / "expected.json").read_text())


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium showing pages of 1000x700; the tests skip where it cannot run."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.common.exceptions import WebDriverException

    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip(
            "Chromium cannot run here: no chromium or chromedriver on PATH "
            "(apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1000,700")
    try:
        driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    except WebDriverException as err:
        pytest.skip(f"Chromium cannot run here: {str(err.msg or err).strip().splitlines()[0]}")
    # the page itself 1000x700 (the window's size holds its frame too): the screenshots' size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 1000, "height": 700, "deviceScaleFactor": 1, "mobile": False},
    )
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``rnn-apps serve`` in its own process on copies of the tiny runs and on ``plain``, an
    export of the char_text run without its recorded recipe: the base URL."""
    folder = tmp_path_factory.mktemp("serve-pages")
    paths = []
    for name in SERVED:
        shutil.copytree(RUNS / name, folder / name)
        paths.append(folder / name)
    # a threshold that listen.wav's probabilities (0.36 to 0.65) cross: detections to show
    (folder / "trigger_word" / "threshold.json").write_text(json.dumps({"threshold": 0.5}))
    # exported in this process, as ``rnn-apps export RUN --out E`` does (load_run, export):
    # the server is the process started as users start it
    from recipes.core.runs import load_run

    load_run(RUNS / "char_text").export(folder / "plain")
    (folder / "plain" / "assets.extra" / "rnn_apps.json").unlink()
    paths.append(folder / "plain")
    with serving(paths, folder / "server.log") as url:
        yield url


@pytest.fixture
def page(browser, server):
    """Opens a page of the server: page("/models/ner") -> the driver."""

    def open_page(path: str):
        browser.get(server + path)
        return browser

    return open_page


def _wait(driver, css: str, timeout: float = 60):
    """The elements matching ``css`` once there are any; fails with the page's error line."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()]
        if found:
            return found
        error = driver.find_element(By.ID, "error")
        if error.is_displayed():
            pytest.fail(f"the page shows an error: {error.text}")
        time.sleep(0.1)
    pytest.fail(f"nothing matches {css!r} after {timeout} s")


def _submit(driver, fields: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By

    _wait(driver, "#app form")
    for css, value in fields.items():
        box = driver.find_element(By.CSS_SELECTOR, css)
        box.clear()
        box.send_keys(value)
    driver.find_element(By.CSS_SELECTOR, "#app button[type=submit]").click()


def _screenshot(driver, name: str) -> None:
    if os.environ.get("RNN_APPS_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SCREENSHOTS / f"{name}.png"))


def test_the_index_lists_every_model_with_its_recipe_and_page(page):
    driver = page("/")
    rows = _wait(driver, "#models tbody tr")
    cells = [[td.text for td in row.find_elements("css selector", "td")] for row in rows]
    recipes = {c[0]: c[1] for c in cells}
    assert recipes == {**{n: n for n in SERVED}, "plain": "(none recorded)"}
    links = {a.text: a.get_attribute("href") for a in driver.find_elements("css selector", "td a")}
    assert links["ner"].endswith("/models/ner")
    _screenshot(driver, "index")


def test_sentiment_shows_the_probabilities_as_bars(page):
    expected = _expected("sentiment")["stdout"][0]  # "great superb film"
    driver = page("/models/sentiment")
    _submit(driver, {"textarea": expected["text"]})
    values = _wait(driver, ".bar .value")
    shown = [float(v.text) for v in values]
    assert math.isclose(sum(shown), 1, abs_tol=0.002)
    names = [e.text for e in driver.find_elements("css selector", ".bar .name")]
    assert names == ["0", "1"]  # the export's labels output names the classes
    assert shown == [round(p, 3) for p in expected["probabilities"].values()]
    assert driver.find_element("css selector", ".verdict strong").text == expected["label"]
    styles = [e.get_attribute("style") for e in driver.find_elements("css selector", ".fill")]
    widths = [float(w.removeprefix("width:").strip(" %;")) for w in styles]  # "width: 81.5%;"
    assert widths == pytest.approx([100 * p for p in shown], abs=0.05)
    _screenshot(driver, "sentiment")


def test_translator_shows_the_n_best_and_the_attention_heatmap(page, server):
    expected = _expected("translator")["stdout"][1]  # "1 2" -> "seven. seven."
    driver = page("/models/translator")
    # the run's beam width (3), so the best is what rnn-apps translate printed
    fields = {"input[type=text]": expected["source"], "input[name=beam_width]": "3",
              "input[name=n_best]": "2"}  # fmt: skip
    _submit(driver, fields)
    (shown,) = _wait(driver, ".translation:not(:empty)")
    assert shown.text == expected["translation"] != ""
    body = {
        "signature_name": "translate",
        "inputs": {"text": [expected["source"]], "beam_width": 3, "n_best": 2},
    }
    request = urllib.request.Request(
        f"{server}/v1/models/translator:predict", json.dumps(body).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        outputs = json.load(answer)["outputs"]
    listed = driver.execute_script(
        "return [...document.querySelectorAll('.n-best li')]"
        ".map((li) => [li.querySelector('.text').textContent, li.querySelector('.score')"
        ".textContent])"
    )
    assert listed == [
        [t or "(empty)", f"{s:.4f}"]
        for t, s in zip(outputs["translations"][0], outputs["scores"][0], strict=True)
    ]
    assert len(listed) == 2 and listed[0][0] == expected["translation"]
    table = driver.execute_script(
        "const t = document.querySelector('table.attention');"
        "return {cols: [...t.rows[0].cells].slice(1).map((c) => c.textContent),"
        " rows: [...t.rows].slice(1).map((r) => r.cells[0].textContent),"
        " weights: [...t.rows].slice(1).map((r) => [...r.cells].slice(1)"
        ".map((c) => Number(c.dataset.weight)))}"
    )
    assert table["cols"] == ["1", "2"]  # the source's tokens
    output = [t for t in outputs["output_tokens"][0] if t]
    # the word tokens drawn without the tokenizer's joiner (U+FFED: "￭." is "." glued on)
    assert table["rows"] == [t.replace("\uffed", "") for t in output] and output[-1] == "</s>"
    served = [row[:2] for row in outputs["attention"][0][: len(output)]]
    flat = [w for row in table["weights"] for w in row]
    assert flat == pytest.approx([w for row in served for w in row], abs=1e-6)
    assert all(math.isclose(sum(row), 1, abs_tol=1e-4) for row in table["weights"])
    _screenshot(driver, "translator")


def test_ner_highlights_the_entities_by_type(page):
    expected = _expected("ner")["stdout"][0]  # "Alice flew to Paris ."
    driver = page("/models/ner")
    _submit(driver, {"input[type=text]": expected["text"]})
    _wait(driver, "mark.entity")
    shown = driver.execute_script(
        "return [...document.querySelectorAll('mark.entity')]"
        ".map((m) => [m.dataset.type, m.firstChild.textContent])"
    )
    # the spans recipes.ner.scoring.entities read off the same tags
    assert shown == [[e["type"], e["text"]] for e in expected["entities"]]
    sentence = driver.find_element("css selector", ".entities").text
    assert all(token in sentence for token in expected["tokens"])
    _screenshot(driver, "ner")


def test_char_music_draws_the_tune_and_offers_its_midi(page):
    expected = _expected("char_music")
    prime = expected["inputs"][0]
    driver = page("/models/char_music")
    _submit(driver, {"textarea": prime, "input[type=number]": "120"})
    (svg,) = _wait(driver, ".notation svg")
    assert svg.find_elements("css selector", "path")  # notes and staff lines drawn by abcjs
    assert "NaN" not in svg.get_dom_attribute("viewBox")
    assert driver.find_element("css selector", ".notation").size["height"] > 100
    (midi,) = _wait(driver, "a.midi")
    href = midi.get_attribute("href")
    assert href.startswith("data:audio/midi,")
    assert urllib.parse.unquote_to_bytes(href.split(",", 1)[1]).startswith(b"MThd")
    assert driver.find_element("css selector", ".sample").text.startswith(prime.rstrip("\n"))
    _screenshot(driver, "char_music")


def test_a_request_error_shows_the_servers_message(page, server):
    driver = page("/models/char_music")
    _submit(driver, {"input[type=number]": "10000000000"})
    body = {
        "signature_name": "serving_default",
        "inputs": {
            "prime": [""],
            "length": 10000000000,
            "temperature": 0.8,
            "top_k": 0,
            "top_p": 1.0,
            "seed": 1,
        },
    }
    request = urllib.request.Request(
        f"{server}/v1/models/char_music:predict", json.dumps(body).encode(), method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(request, timeout=30)
    message = json.load(answer.value)["error"]
    assert "length" in message
    error = driver.find_element("css selector", "#error")
    deadline = time.monotonic() + 30
    while not error.is_displayed() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert error.text == message


def _tone_wav(path: Path, seconds: float, rate: int) -> None:
    """A stereo 16-bit WAV of a 440 Hz tone: the page resamples it and mixes it down."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        frames = bytearray()
        for i in range(int(seconds * rate)):
            value = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
            frames += struct.pack("<hh", value, value // 2)
        out.writeframes(bytes(frames))


def test_trigger_word_draws_the_timeline_of_an_uploaded_wav(page, server, tmp_path):
    driver = page("/models/trigger_word")
    _wait(driver, "input[type=file]")
    canvas_blank = "return document.querySelector('canvas').toDataURL()"
    blank = driver.execute_script(canvas_blank)
    sound = tmp_path / "tone.wav"
    _tone_wav(sound, 1.0, 44100)
    driver.find_element("css selector", "input[type=file]").send_keys(str(sound))
    (summary,) = _wait(driver, ".summary:not(:empty)")
    # 1 s at 44.1 kHz is 16000 samples at 16 kHz: 50 frames of 20 ms
    assert summary.text.startswith("1.00 s, 50 frames of 20 ms")
    assert driver.execute_script(canvas_blank) != blank
    # a 16 kHz mono file goes through unchanged: the probabilities rnn-apps detect gave
    expected = _expected("trigger_word")["probabilities"]
    driver.find_element("css selector", "input[type=file]").send_keys(
        str(RUNS / "trigger_word" / "listen.wav")
    )
    (summary,) = _wait(driver, ".summary:not(:empty)")
    deadline = time.monotonic() + 30
    while summary.text.startswith("1.00 s") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert summary.text.startswith(f"2.37 s, {len(expected)} frames of 20 ms")
    peak = float(summary.text.split("highest probability ")[1].split()[0])
    assert math.isclose(peak, max(expected), abs_tol=0.002)
    # the detections listed are those :answer gives for the same samples (threshold 0.5)
    with wave.open(str(RUNS / "trigger_word" / "listen.wav")) as wav:
        frames = wav.readframes(wav.getnframes())
    samples = [v / 32768 for (v,) in struct.iter_unpack("<h", frames)]
    request = urllib.request.Request(
        f"{server}/v1/models/trigger_word:answer",
        json.dumps({"instances": [samples]}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        (answered,) = json.load(answer)["answers"]
    assert answered["detections"], answered  # the threshold is crossed
    listed = driver.execute_script(
        "return [...document.querySelectorAll('.detections li')].map((li) => li.textContent)"
    )
    assert listed == [f"{d['time']:.2f} s score {d['score']:.4f}" for d in answered["detections"]]
    _screenshot(driver, "trigger_word")


def test_a_model_without_a_recipe_gets_a_form_per_input_and_its_json(page):
    driver = page("/models/plain")
    _wait(driver, "#app form")
    fields = {
        e.get_attribute("name"): e for e in driver.find_elements("css selector", "#app textarea")
    }
    assert sorted(fields) == ["length", "prime", "seed", "temperature", "top_k", "top_p"]
    values = {"prime": "one", "length": "5", "temperature": "0.9", "top_k": "0", "top_p": "1",
              "seed": "5"}  # fmt: skip
    for name, value in values.items():
        fields[name].send_keys(value)
    driver.find_element("css selector", "#app button[type=submit]").click()
    (shown,) = _wait(driver, "pre.json:not(:empty)")
    text = json.loads(shown.text)["text"]
    assert text.startswith("one") and len(text) == len("one") + 5
    _screenshot(driver, "plain")
