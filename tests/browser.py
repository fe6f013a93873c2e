"""Open a report in headless Chromium: screenshot, decoded images, element text, every request.

Used by the browser test (the report must render offline with every image decoded and nothing
fetched from outside the file) and to take the README screenshot. It speaks the Chrome DevTools
Protocol over ``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated JSON), so it
needs only the standard library and a Chromium binary, never a browser download.

Example
-------
>>> cap = capture("reports/baseline/report.html", ids=["headline-p"])  # doctest: +SKIP
>>> cap.texts["headline-p"], cap.external_requests()  # doctest: +SKIP
('50%', [])
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome", "chrome")

CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    # Any host name fails to resolve, so a stray http(s) reference could not load even if one
    # slipped in; the request would still be recorded (and fail the test).
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
"""Flags every launch uses (a fresh ``--user-data-dir`` is added per launch)."""

_IMAGES_JS = """
(async () => {
  const imgs = Array.from(document.images);
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  return imgs.map(i => ({src: i.currentSrc.slice(0, 40), complete: i.complete,
                         naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight}));
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started or did not answer."""


def find_chromium() -> str | None:
    """Path of a Chromium: ``$PIPESIM_CHROMIUM``, else the first of :data:`CHROMIUM_NAMES` found."""
    env = os.environ.get("PIPESIM_CHROMIUM")
    if env:
        return env if Path(env).exists() or shutil.which(env) else None
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCapture:
    """What the browser saw.

    Attributes
    ----------
    screenshot
        PNG of the viewport (or the whole page with ``full_page``).
    images
        Per ``<img>``: ``src`` (first 40 characters), ``complete``, ``naturalWidth``,
        ``naturalHeight``.
    texts
        ``textContent`` of each requested element id (None when absent).
    data
        ``data-*`` attributes of each requested element id.
    requests
        URL of every request the page made (including the page itself).
    title
        Document title.
    pdf
        The page printed to PDF (A4, print stylesheet), when asked for.
    """

    screenshot: bytes
    images: list[dict[str, Any]]
    texts: dict[str, str | None]
    data: dict[str, dict[str, str]]
    requests: list[str]
    title: str
    pdf: bytes | None = None
    console: list[str] = field(default_factory=list)

    def external_requests(self) -> list[str]:
        """Requests that left the file: anything other than ``file:`` and ``data:`` URLs."""
        return [u for u in self.requests if not u.startswith(("file:", "data:"))]


class _Pipe:
    """A minimal CDP client over Chromium's debugging pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], write_fd: int, read_fd: int) -> None:
        self.proc = proc
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the debugging pipe (exit {self.proc.poll()})")
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self.write_fd, data) :]
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._read_message(deadline)
            self.events.append(ev)
            if ev.get("method") == method:
                return ev


def capture(
    html_path: str | Path,
    *,
    ids: Sequence[str] = (),
    width: int = 1280,
    height: int = 860,
    scale: float = 1.0,
    full_page: bool = False,
    pdf: bool = False,
    executable: str | None = None,
    timeout: float = 60.0,
) -> PageCapture:
    """Open ``html_path`` in a fresh headless Chromium and record what it shows and fetches.

    Parameters
    ----------
    html_path
        Local HTML file.
    ids
        Element ids whose text and ``data-*`` attributes to read.
    width, height
        Viewport size (CSS pixels); the screenshot is the first screen unless ``full_page``.
    scale
        Device pixel ratio of the screenshot.
    full_page
        Screenshot the whole page instead of the first screen.
    pdf
        Also print the page to PDF (A4, with the print stylesheet).
    executable
        Chromium binary (default: :func:`find_chromium`).
    timeout
        Seconds to wait for each step.

    Raises
    ------
    BrowserError
        When no Chromium is found, it fails to start, or it stops answering.
    """
    exe = executable or find_chromium()
    if exe is None:
        raise BrowserError(
            "no Chromium found (install the `chromium` package or set PIPESIM_CHROMIUM)"
        )
    url = Path(html_path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="pipesim-chromium-") as profile:
        log_path = Path(profile) / "chromium.log"
        args = [
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # Chromium reads commands on fd 3 and writes replies on fd 4: a shell moves our
        # stdin/stdout pipes there (no preexec_fn, so this is safe with threads).
        wrapper = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'
        with log_path.open("wb") as log:
            try:
                proc = subprocess.Popen(
                    ["/bin/sh", "-c", wrapper, exe, *args],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                )
            except OSError as exc:
                raise BrowserError(f"cannot start {exe}: {exc}") from exc
            assert proc.stdin is not None and proc.stdout is not None
            cdp = _Pipe(proc, proc.stdin.fileno(), proc.stdout.fileno())
            try:
                return _drive(cdp, url, ids, width, height, scale, full_page, pdf, timeout)
            except BrowserError as exc:
                log.flush()
                tail = log_path.read_text(errors="replace")[-2000:]
                raise BrowserError(f"{exc}\n--- chromium log ---\n{tail}") from None
            finally:
                try:
                    cdp.call("Browser.close", timeout=5)
                except (BrowserError, OSError):
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
                proc.stdin.close()
                proc.stdout.close()


def _drive(
    cdp: _Pipe,
    url: str,
    ids: Sequence[str],
    width: int,
    height: int,
    scale: float,
    full_page: bool,
    pdf: bool,
    timeout: float,
) -> PageCapture:
    target = cdp.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
    session = cdp.call(
        "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, timeout=timeout
    )["sessionId"]

    def call(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return cdp.call(method, params, session, timeout)

    call("Page.enable")
    call("Network.enable")
    call("Runtime.enable")
    call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False},
    )
    cdp.events.clear()
    call("Page.navigate", {"url": url})
    cdp.wait_event("Page.loadEventFired", timeout)
    images = call(
        "Runtime.evaluate", {"expression": _IMAGES_JS, "awaitPromise": True, "returnByValue": True}
    )["result"]["value"]
    probe = (
        "(() => { const ids = " + json.dumps(list(ids)) + "; const out = {};"
        " for (const id of ids) { const el = document.getElementById(id);"
        " out[id] = el ? {text: el.textContent, data: Object.assign({}, el.dataset)} : null; }"
        " return {title: document.title, ids: out}; })()"
    )
    found = call("Runtime.evaluate", {"expression": probe, "returnByValue": True})["result"][
        "value"
    ]
    params: dict[str, Any] = {"format": "png"}
    if full_page:
        metrics = call("Page.getLayoutMetrics")["cssContentSize"]
        params.update(
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": metrics["height"], "scale": 1},
        )
    shot = base64.b64decode(call("Page.captureScreenshot", params)["data"])
    pdf_bytes = None
    if pdf:
        pdf_bytes = base64.b64decode(
            call("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"]
        )
    requests = [
        ev["params"]["request"]["url"]
        for ev in cdp.events
        if ev.get("method") == "Network.requestWillBeSent"
    ]
    console = [
        str(ev["params"].get("args", [{}])[0].get("value", ""))
        for ev in cdp.events
        if ev.get("method") == "Runtime.consoleAPICalled"
    ]
    console += [
        str(ev["params"]["entry"].get("text", ""))
        for ev in cdp.events
        if ev.get("method") == "Log.entryAdded"
    ]
    texts = {k: (v["text"] if v else None) for k, v in found["ids"].items()}
    data = {k: (v["data"] if v else {}) for k, v in found["ids"].items()}
    return PageCapture(shot, images, texts, data, requests, found["title"], pdf_bytes, console)
