"""End to end: ``pipesim studio`` in a subprocess, driven by Playwright in Debian's Chromium.

One studio serves the module (a twelve-week scenario, 100 replications a run, so each test takes
seconds). The tests open it, move the rep-count lever and see P(target) change with its interval,
type a refused value and see the schema's message, save a what-if and validate its file, comment
and decide on it and see both after a reload, and work from two pages at once. Screenshots go to
the test's folder; with ``PIPESIM_UPDATE_SCREENSHOTS=1`` also to ``docs/img/`` (docs/studio.md).
No browser is downloaded: the test uses the Chromium on the PATH and skips, saying why, without.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

pytest.importorskip("shiny")
sync_api = pytest.importorskip("playwright.sync_api")

from pipesim.cli.main import main  # noqa: E402
from pipesim.runs import discussion  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DOCS_IMG = ROOT / "docs" / "img"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and Path("/usr/bin/chromium").exists():
    CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on the PATH (Debian: apt-get install chromium)"
)

SMALL = """\
extends: baseline.yaml
name: small
description: The baseline over twelve weeks, for quick studio tests.
target: {revenue: 2350000, horizon_weeks: 12}
prehistory_days: 120
"""

WAIT_MS = 60_000


@dataclass
class Studio:
    url: str
    folder: Path
    catalogue: Path
    process: subprocess.Popen[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path, *extra: str) -> Studio:
    folder = tmp / "scenarios"
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "scenarios" / "baseline.yaml", folder / "baseline.yaml")
    (folder / "small.yaml").write_text(SMALL, encoding="utf-8")
    catalogue = tmp / "reports" / "runs.sqlite"
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipesim.cli", "studio", str(folder), "--port", str(port),
         "--catalogue", str(catalogue), "-n", "100", "--workers", "2", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"on (http://\S+)", line)
    assert match, f"the studio did not print its address: {line!r}"
    url = match.group(1)
    for _ in range(100):  # until it answers
        try:
            urllib.request.urlopen(url, timeout=1).close()
            break
        except urllib.error.HTTPError:
            break  # answering (403 without a token)
        except OSError:
            time.sleep(0.1)
    return Studio(url, folder, catalogue, process)


def _stop(studio: Studio) -> int:
    studio.process.send_signal(signal.SIGINT)
    try:
        return studio.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        studio.process.kill()
        raise


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Studio]:
    s = _start(tmp_path_factory.mktemp("studio"))
    yield s
    code = _stop(s)
    assert code == 0, "Ctrl-C stops the studio cleanly"
    # a what-if saved before the server stopped is still there and valid
    for w in discussion.list_what_ifs(s.catalogue):
        assert (s.folder / w.file).is_file()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _page(browser: object, url: str) -> object:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page.goto(url)
    page.wait_for_selector("#ref-p", timeout=WAIT_MS)
    return page


def _shot(page: object, tmp: Path, name: str, selector: str | None = None) -> None:
    target = page.locator(selector) if selector else page  # type: ignore[attr-defined]
    image = target.screenshot() if selector else page.screenshot(full_page=False)  # type: ignore[attr-defined]
    (tmp / name).write_bytes(image)
    if os.environ.get("PIPESIM_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        (DOCS_IMG / name).write_bytes(image)


def _set(page: object, lever: str, value: str) -> None:
    box = page.locator(f"#{lever}")  # type: ignore[attr-defined]
    box.fill(value)
    box.press("Tab")


def _percent(text: str) -> float:
    return float(text.strip().rstrip("%"))


def _final(page: object, status: str) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        f"document.querySelector('#{status}') && "
        f"document.querySelector('#{status}').innerText.startsWith('final')",
        timeout=WAIT_MS,
    )


def _choose_small(page: object) -> None:
    page.select_option("#scenario", "small.yaml")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelector('#ref-p') && document.body.innerText.includes('small: chance')",
        timeout=WAIT_MS,
    )


def test_the_page_leads_with_the_answer_and_a_lever_runs_a_paired_what_if(
    studio: Studio, browser: object, tmp_path: Path
) -> None:
    page = _page(browser, studio.url)
    _choose_small(page)
    ci = page.inner_text("#ref-ci")  # type: ignore[attr-defined]
    assert re.fullmatch(r"95% CI \d+\.\d%–\d+\.\d%", ci), ci
    _final(page, "ref-status")
    assert page.locator("#ref-charts svg").count() == 2  # type: ignore[attr-defined]
    for case in ("commit", "likely", "best"):
        assert page.inner_text(f"#ref-{case}").startswith("€")  # type: ignore[attr-defined]
    _shot(page, tmp_path, "studio-answer.png")

    reference = _percent(page.inner_text("#ref-p"))  # type: ignore[attr-defined]
    _set(page, "lever_reps_count", "4")
    page.wait_for_selector("#whatif-p", timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert "reps.count=4" in page.inner_text("#whatif-label")  # type: ignore[attr-defined]
    _final(page, "whatif-status")
    what_if = _percent(page.inner_text("#whatif-p"))  # type: ignore[attr-defined]
    same_seeds = _percent(page.inner_text("#whatif-ref-p"))  # type: ignore[attr-defined]
    assert same_seeds == reference  # the reference on the same 100 replications
    assert what_if < reference - 10, (what_if, reference)  # four reps instead of fifteen
    diff_ci = page.inner_text("#whatif-diff-ci")  # type: ignore[attr-defined]
    low, high = (float(x) for x in re.findall(r"[-+]\d+\.\d", diff_ci))
    diff = float(page.inner_text("#whatif-diff").split()[0])  # type: ignore[attr-defined]
    assert low <= diff <= high < 0
    assert abs(diff - (what_if - reference)) < 0.11
    assert "resolved" in page.inner_text("#whatif-verdict")  # type: ignore[attr-defined]
    assert re.search(r"95% CI", page.inner_text("#whatif-ci"))  # type: ignore[attr-defined]
    _shot(page, tmp_path, "studio-whatif.png")

    # a refused value is not run; the schema's message is shown
    _set(page, "lever_reps_count", "-4")
    page.wait_for_selector("#whatif-problems", timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert page.inner_text("#whatif-problems") == (  # type: ignore[attr-defined]
        "reps.count: must be between 1 and 1000 (got -4)"
    )
    assert page.locator("#whatif-p").count() == 0  # type: ignore[attr-defined]
    _shot(page, tmp_path, "studio-refused.png", "#whatif-section")

    # "add a lever": any numeric parameter by path, with the schema's bounds; a text is refused
    page.fill("#add_path", "segments.S1.description")  # type: ignore[attr-defined]
    page.click("#add_lever")  # type: ignore[attr-defined]
    page.wait_for_selector("#add-problem", timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert "is not a number" in page.inner_text("#add-problem")  # type: ignore[attr-defined]
    page.fill("#add_path", "segments.S1.buyers_per_week")  # type: ignore[attr-defined]
    page.click("#add_lever")  # type: ignore[attr-defined]
    added = "#lever_segments_S1_buyers_per_week"
    page.wait_for_selector(added, timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert float(page.input_value(added)) == 22  # type: ignore[attr-defined]
    assert page.input_value("#lever_reps_count") == "-4"  # type: ignore[attr-defined]
    assert "got -4" in page.inner_text("#whatif-problems")  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_save_comment_decide_and_reload(studio: Studio, browser: object, tmp_path: Path) -> None:
    page = _page(browser, studio.url)
    _choose_small(page)
    page.fill("#author", "Ana <b>bold</b>")  # type: ignore[attr-defined]
    _set(page, "lever_reps_count", "25")
    page.wait_for_selector("#whatif-p", timeout=WAIT_MS)  # type: ignore[attr-defined]
    page.fill("#save_name", "more_reps")  # type: ignore[attr-defined]
    page.fill("#save_note", "<script>window.hacked = 1</script> ten more reps")  # type: ignore[attr-defined]
    page.click("#save")  # type: ignore[attr-defined]
    page.wait_for_selector("#save-done", timeout=WAIT_MS)  # type: ignore[attr-defined]

    saved = studio.folder / "more_reps.yaml"
    data = yaml.safe_load(saved.read_text(encoding="utf-8"))
    assert data["extends"] == "small.yaml" and data["reps"] == {"count": 25}
    assert set(data) == {"extends", "name", "description", "reps"}
    result = CliRunner().invoke(main, ["validate", str(saved)])
    assert result.exit_code == 0, result.output

    card = "#whatif-more_reps"
    page.wait_for_selector(card, timeout=WAIT_MS)  # type: ignore[attr-defined]
    assert "<script>window.hacked = 1</script>" in page.inner_text(card)  # type: ignore[attr-defined]
    assert page.evaluate("window.hacked") is None  # type: ignore[attr-defined]
    assert page.locator(f"{card} script, {card} b").count() == 0  # type: ignore[attr-defined]

    # its run is in the catalogue and its full report is served
    w = discussion.find_what_if("more_reps", studio.catalogue)
    assert w is not None and w.run_key is not None and w.author == "Ana <b>bold</b>"
    href = page.get_attribute("#report-more_reps", "href")  # type: ignore[attr-defined]
    report = page.request.get(studio.url.rstrip("/") + "/" + href)  # type: ignore[attr-defined]
    assert report.status == 200 and "what-if" not in report.text()[:0]
    assert "more_reps" in report.text()
    assert page.request.get(studio.url + "whatif/..%2Fetc/report.html").status == 404  # type: ignore[attr-defined]

    page.select_option("#discuss_whatif", "more_reps")  # type: ignore[attr-defined]
    page.fill("#comment_text", "worth it if we can hire by March")  # type: ignore[attr-defined]
    page.click("#post_comment")  # type: ignore[attr-defined]
    page.wait_for_selector("#discuss-done", timeout=WAIT_MS)  # type: ignore[attr-defined]
    page.select_option("#decision", "accepted")  # type: ignore[attr-defined]
    page.click("#mark_decision")  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "document.querySelector('#decision-more_reps') && "
        "document.querySelector('#decision-more_reps').innerText === 'accepted'",
        timeout=WAIT_MS,
    )
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector(card, timeout=WAIT_MS)  # type: ignore[attr-defined]
    text = page.inner_text(card)  # type: ignore[attr-defined]
    assert "worth it if we can hire by March" in text
    assert page.inner_text("#decision-more_reps") == "accepted"  # type: ignore[attr-defined]
    _shot(page, tmp_path, "studio-saved.png", card)

    history = CliRunner().invoke(
        main, ["history", "--catalogue", str(studio.catalogue)], terminal_width=220
    )
    assert "comment: worth it if we can hire by March" in history.output
    assert "decision: accepted" in history.output
    page.close()  # type: ignore[attr-defined]


def test_two_pages_at_once_lose_nothing(studio: Studio, browser: object) -> None:
    first, second = _page(browser, studio.url), _page(browser, studio.url)
    for page, who in ((first, "Ben"), (second, "Cleo")):
        _choose_small(page)
        page.fill("#author", who)  # type: ignore[attr-defined]
        _set(page, "lever_campaigns_webinars_budget_per_week", "4000" if who == "Ben" else "500")
    for page, name in ((first, "webinars_up"), (second, "webinars_down")):
        page.fill("#save_name", name)  # type: ignore[attr-defined]
    first.click("#save")  # type: ignore[attr-defined]
    second.click("#save")  # type: ignore[attr-defined]
    for page in (first, second):
        page.wait_for_selector("#save-done", timeout=WAIT_MS)  # type: ignore[attr-defined]
    # each page sees the other's what-if (the catalogue is polled)
    for page in (first, second):
        for name in ("webinars_up", "webinars_down"):
            page.wait_for_selector(f"#whatif-{name}", timeout=WAIT_MS)  # type: ignore[attr-defined]
    for page, who in ((first, "Ben"), (second, "Cleo")):
        page.select_option("#discuss_whatif", "webinars_up")  # type: ignore[attr-defined]
        page.fill("#comment_text", f"{who} agrees")  # type: ignore[attr-defined]
    first.click("#post_comment")  # type: ignore[attr-defined]
    second.click("#post_comment")  # type: ignore[attr-defined]
    for page in (first, second):
        for who in ("Ben", "Cleo"):
            page.wait_for_function(  # type: ignore[attr-defined]
                "document.querySelector('#whatif-webinars_up') && document.querySelector("
                f"'#whatif-webinars_up').innerText.includes('{who} agrees')",
                timeout=WAIT_MS,
            )
    texts = [e.text for e in discussion.discussion(studio.catalogue, "webinars_up")]
    assert sorted(texts) == ["Ben agrees", "Cleo agrees"]
    for name in ("webinars_up", "webinars_down"):
        assert (studio.folder / f"{name}.yaml").is_file()
    first.close()  # type: ignore[attr-defined]
    second.close()  # type: ignore[attr-defined]


def test_what_does_it_take(studio: Studio, browser: object, tmp_path: Path) -> None:
    page = _page(browser, studio.url)
    _choose_small(page)
    lever = "campaigns.webinars.budget_per_week"
    page.select_option("#take_lever", lever)  # type: ignore[attr-defined]
    page.fill("#take_confidence", "0.6")  # type: ignore[attr-defined]
    page.click("#take_run")  # type: ignore[attr-defined]
    page.wait_for_selector("#take-table", timeout=120_000)  # type: ignore[attr-defined]
    rows = page.locator("#take-table tr").all_inner_texts()  # type: ignore[attr-defined]
    answer = next(r for r in rows if r.startswith("answer"))
    below = next(r for r in rows if r.startswith("one step below"))
    p_answer = float(re.search(r"(\d+\.\d)% \(95% CI", answer).group(1))  # type: ignore[union-attr]
    p_below = float(re.search(r"(\d+\.\d)% \(95% CI", below).group(1))  # type: ignore[union-attr]
    assert p_answer >= 60.0 > p_below
    value = float(answer.split()[1])
    step_below = float(below.split()[3])
    assert (
        value > step_below >= 2000
    )  # above today's budget of 2,000, one step above the last short
    _shot(page, tmp_path, "studio-take.png", "#take-section")
    page.close()  # type: ignore[attr-defined]


def test_a_token_guards_the_studio(tmp_path: Path, browser: object) -> None:
    token = "t" * 24
    s = _start(tmp_path, "--token", token)
    try:
        page = _page(browser, s.url)  # the page and its WebSocket pass with the token
        assert page.inner_text("#ref-p").endswith("%")  # type: ignore[attr-defined]
        page.close()  # type: ignore[attr-defined]
        assert s.url.endswith(f"?token={token}")
        bare = s.url.split("?")[0]
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(bare, timeout=5)
        assert denied.value.code == 403
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(bare + "?token=" + "x" * 24, timeout=5)
        with urllib.request.urlopen(s.url, timeout=5) as ok:
            assert ok.status == 200
            assert f"pipesim_studio_token={token}" in ok.headers["set-cookie"]
        request = urllib.request.Request(bare, headers={"Cookie": f"pipesim_studio_token={token}"})
        with urllib.request.urlopen(request, timeout=5) as ok:
            assert ok.status == 200
    finally:
        assert _stop(s) == 0


def test_another_host_without_a_token_gets_one_printed(tmp_path: Path) -> None:
    s = _start(tmp_path, "--host", "0.0.0.0")
    try:
        assert re.search(r"\?token=[\w-]{40,}$", s.url), s.url
    finally:
        assert _stop(s) == 0
