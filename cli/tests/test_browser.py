"""The page and the alignment viewer in a real browser: Debian's headless Chromium, driven by
Python's playwright (never a downloaded browser), against ``autophon local`` with API tokens.

Screenshots are kept in ``test-artifacts/browser/`` (or $AUTOPHON_TEST_ARTIFACTS).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from praatio import textgrid as praatio_textgrid

from autophon_core.lexicon import normalise_words

CHROMIUM = Path(os.environ.get("AUTOPHON_CHROMIUM", "/usr/bin/chromium"))
# What Chromium needs on a machine without a display, GPU, user namespaces or network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(
    os.environ.get("AUTOPHON_TEST_ARTIFACTS")
    or Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
)
TOKEN = "browser-test-token"
TOKENS_ENV = "AUTOPHON_BROWSER_TEST_TOKENS"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: install Debian's chromium package (make test "
        "does where it can) or set AUTOPHON_CHROMIUM",
    ),
]
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing: pip install -e '.[test]'"
)


@pytest.fixture
def db_url(sqlite_url: str) -> str:
    """One database is enough here: the database paths are tested elsewhere."""
    return sqlite_url


@pytest.fixture
def server_config(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    monkeypatch.setenv(TOKENS_ENV, TOKEN)  # the server process inherits it
    return {
        "api": {"tokens_env": TOKENS_ENV},
        "queue": {"poll_interval_seconds": 0.3},
    }


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, chromium_sandbox=False
        )
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(60_000)
            sync_api.expect.set_options(timeout=60_000)
            yield page
        finally:
            browser.close()


def fox_word_tier(server: str, task_id: str, tmp_path: Path) -> tuple[list[Any], float]:
    """The word intervals of the result TextGrid, and its duration."""
    result = httpx.get(
        f"{server}/api/v1/tasks/{task_id}/result",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert result.status_code == 200, result.text
    path = tmp_path / "fox.TextGrid"
    path.write_bytes(zipfile.ZipFile(io.BytesIO(result.content)).read("fox.TextGrid"))
    grid = praatio_textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return list(grid.getTier("words").entries), grid.maxTimestamp


def check_word_positions(
    page: Any, words: list[Any], duration: float, t0: float, t1: float
) -> None:
    """Each word of the tier inside the window [t0, t1] lies where its times put it."""
    lane = page.locator('.lane[data-name="words"]')
    box = lane.bounding_box()
    inside = [word for word in words if t0 <= word.start and word.end <= t1]
    assert inside
    for word in inside:
        element = lane.locator(f'.interval[data-start="{word.start}"]')
        shown = element.bounding_box()
        assert shown is not None, word
        expected = box["x"] + (word.start - t0) / (t1 - t0) * box["width"]
        assert shown["x"] == pytest.approx(expected, abs=1.5), word
        expected_width = (word.end - word.start) / (t1 - t0) * box["width"]
        assert shown["width"] == pytest.approx(expected_width, abs=1.5), word


def expect_window(page: Any, t0: float, t1: float) -> None:
    """The viewer shows the time window [t0, t1] (to the ms of its readout)."""
    readout = page.locator("#readout")
    sync_api.expect(readout).to_contain_text("window ")
    page.wait_for_function(
        """([t0, t1]) => {
          const text = document.getElementById("readout").textContent;
          const m = text.match(/window (\\S+) to (\\S+) s/);
          return m && Math.abs(m[1] - t0) < 0.0015 && Math.abs(m[2] - t1) < 0.0015;
        }""",
        arg=[t0, t1],
    )


def test_upload_progress_viewer_and_playback(
    server: str, page: Any, samples: Path, tmp_path: Path
) -> None:
    page.goto(server)
    # Tokens are configured: without one, the page says what to do.
    message = page.locator("#message")
    sync_api.expect(message).to_contain_text("A valid API token is required")
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    sync_api.expect(message).to_be_empty()
    assert page.evaluate("localStorage.getItem('autophon.token')") == TOKEN

    # Every state a task row goes through, and every progress bar value shown.
    page.evaluate(
        """() => {
          window.seen = [];
          new MutationObserver(() => {
            for (const row of document.querySelectorAll("#tasks tr")) {
              const bar = row.querySelector("progress");
              window.seen.push([row.dataset.status, bar ? Number(bar.value) : null]);
            }
          }).observe(document.getElementById("tasks"), {subtree: true, childList: true});
        }"""
    )
    page.set_input_files("#files", [samples / "fox.wav", samples / "fox.txt"])
    page.click("#submit")
    row = page.locator("#tasks tr").first
    sync_api.expect(row.locator("progress")).to_have_attribute("value", "1")
    sync_api.expect(row).to_have_attribute("data-status", "completed")
    seen = page.evaluate("window.seen")
    assert ["processing", 0] in seen, seen  # the bar appeared while aligning ...
    assert seen[-1] == ["completed", 1], seen  # ... and reached its end
    sync_api.expect(row.locator(".progress-text")).to_have_text("done")
    task_id = row.get_attribute("id").removeprefix("t-")

    # How a task is shown halfway, with warnings (what the API sends, given to the page).
    halfway = {
        "id": "f" * 32,
        "status": "processing",
        "error": None,
        "files": [{"name": "a.wav"}, {"name": "b.wav"}, {"name": "c.wav"}],
        "words": 30,
        "duration_s": 30.0,
        "warnings": ["a.txt: a point tier was skipped."],
        "progress": {
            "files_done": 1,
            "files_total": 3,
            "audio_seconds_done": 10.0,
            "audio_seconds_total": 30.0,
            "seconds_left": 95.0,
            "updated_at": "2026-01-01T00:00:00Z",
        },
    }
    page.evaluate("task => show(task)", halfway)
    shown = page.locator(f"#t-{'f' * 32}")
    # The estimate counts down between reports.
    sync_api.expect(shown.locator(".progress-text")).to_have_text(
        re.compile(r"1 of 3 files, 10\.0 of 30\.0 s of audio; about 1 min 3[0-5] s left")
    )
    assert float(shown.locator("progress").get_attribute("value")) == pytest.approx(1 / 3)
    sync_api.expect(shown.locator(".warnings summary")).to_have_text("1 warning(s)")
    shown.locator(".warnings summary").click()
    sync_api.expect(shown.locator(".warnings li")).to_have_text(halfway["warnings"])
    sync_api.expect(shown.locator("button.cancel")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "tasks.png"), full_page=True)
    row = page.locator(f"#t-{task_id}")

    row.locator("a.view").click()
    page.wait_for_url(f"**/viewer?task={task_id}")
    page.wait_for_selector("body[data-ready='1']")
    words, duration = fox_word_tier(server, task_id, tmp_path)
    labels = page.locator('.lane[data-name="words"] .interval').all_inner_texts()
    assert labels == normalise_words((samples / "fox.txt").read_text())
    assert [w.label for w in words] == labels
    check_word_positions(page, words, duration, 0.0, duration)
    assert page.locator('.lane[data-name="phones"] .interval').count() > len(words)
    # The waveform was drawn: the canvas is not blank.
    assert page.evaluate(
        """() => {
          const c = document.getElementById("wave");
          const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          return pixels.some((v, i) => i % 4 !== 3 && v < 128);
        }"""
    )

    # Clicking a word plays it: the audio element jumps to the word's start.
    page.wait_for_function("document.getElementById('audio').readyState >= 1")
    page.evaluate(
        """() => { const a = document.getElementById("audio");
                   a.addEventListener("seeking", () => { window.seekedTo = a.currentTime; }); }"""
    )
    fox = next(w for w in words if w.label == "fox")
    page.locator(f'.lane[data-name="words"] .interval[data-start="{fox.start}"]').click()
    # The browser fires "seeking" from a task of its own, after the click has returned.
    page.wait_for_function("window.seekedTo !== undefined")
    assert page.evaluate("window.seekedTo") == pytest.approx(fox.start, abs=0.002)
    position = page.evaluate("document.getElementById('audio').currentTime")
    assert fox.start - 0.002 <= position <= fox.end + 0.1
    sync_api.expect(page.locator("#readout")).to_contain_text(
        f"selection {fox.start:.3f} to {fox.end:.3f} s"
    )
    page.screenshot(path=str(ARTIFACTS / "viewer.png"), full_page=True)

    # Zooming in twice shows a quarter of the recording, centred, the words still in place.
    page.click("#zoom-in")
    page.click("#zoom-in")
    t0, t1 = duration * 3 / 8, duration * 5 / 8
    expect_window(page, t0, t1)
    check_word_positions(page, words, duration, t0, t1)
    page.screenshot(path=str(ARTIFACTS / "viewer-zoomed.png"), full_page=True)
    for _ in range(4):  # 50 ms: the waveform is drawn from the recording's samples
        page.click("#zoom-in")
    t0, t1 = duration / 2 - duration / 128, duration / 2 + duration / 128
    expect_window(page, t0, t1)
    page.screenshot(path=str(ARTIFACTS / "viewer-samples.png"), full_page=True)
    page.keyboard.press("ArrowRight")  # a quarter of the window later
    t0, t1 = t0 + (t1 - t0) / 4, t1 + (t1 - t0) / 4
    expect_window(page, t0, t1)


def test_viewer_after_the_recording_was_deleted(
    server: str, page: Any, samples: Path, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    files = [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]
    task = httpx.post(f"{server}/api/v1/tasks", files=files, headers=headers, timeout=30).json()
    with httpx.stream(
        "GET", f"{server}/api/v1/tasks/{task['id']}/events", headers=headers, timeout=120
    ) as events:
        for _ in events.iter_lines():
            pass
    # What retention (or storage.delete_audio_after_alignment) does to the task folder.
    recordings = list((tmp_path / "data" / "tasks" / task["id"] / "input").glob("*.wav"))
    assert recordings
    for wav in recordings:
        wav.unlink()

    page.goto(server)
    page.evaluate(f"localStorage.setItem('autophon.token', '{TOKEN}')")
    page.goto(f"{server}/viewer?task={task['id']}")
    page.wait_for_selector("body[data-ready='1']")
    sync_api.expect(page.locator("#audio-note")).to_contain_text("recording was deleted")
    sync_api.expect(page.locator("#audio")).to_be_hidden()
    sync_api.expect(page.locator("#play-selection")).to_be_disabled()
    labels = page.locator('.lane[data-name="words"] .interval').all_inner_texts()
    assert labels == normalise_words((samples / "fox.txt").read_text())
    page.screenshot(path=str(ARTIFACTS / "viewer-audio-deleted.png"), full_page=True)

    # A view tampered with (Jobs write them) shows its text as text and runs nothing.
    view_file = next((tmp_path / "data" / "tasks" / task["id"] / "view").glob("*.json"))
    view = json.loads(view_file.read_text())
    attack = '<img src=x onerror="window.pwned=1">'
    view["tiers"][0]["intervals"][0][2] = attack
    view["tiers"][0]["intervals"][1][0] = '0"><img src=x onerror="window.pwned=1">'
    view["tiers"][1]["name"] = attack
    view_file.write_text(json.dumps(view))
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    sync_api.expect(page.locator('.lane[data-name="words"] .interval').first).to_have_text(attack)
    page.wait_for_timeout(500)  # an injected image would have failed to load by now
    assert page.evaluate("window.pwned") is None

    # A task aligned before views were written: its tiers on the time axis, nothing else.
    view_file.unlink()
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    labels = page.locator('.lane[data-name="words"] .interval').all_inner_texts()
    assert labels == normalise_words((samples / "fox.txt").read_text())
    sync_api.expect(page.locator("#message")).to_be_empty()
    page.screenshot(path=str(ARTIFACTS / "viewer-tiers-only.png"), full_page=True)

    # Back on the list: a task just uploaded can be cancelled ...
    page.goto(server)
    page.set_input_files("#files", [samples / "fox.wav", samples / "fox.txt"])
    page.click("#submit")
    newest = page.locator("#tasks tr").first
    newest.locator("button.cancel").click()
    sync_api.expect(newest).to_have_attribute("data-status", "cancelled")
    sync_api.expect(newest.locator("button.delete")).to_be_visible()
    # ... and deleting a finished task removes its row and the task.
    row = page.locator(f"#t-{task['id']}")
    page.on("dialog", lambda dialog: dialog.accept())
    row.locator("button.delete").click()
    sync_api.expect(row).to_have_count(0)
    gone = httpx.get(f"{server}/api/v1/tasks/{task['id']}", headers=headers)
    assert gone.status_code == 404
