"""Headless Chromium for tests: load a page from disk, collect console errors,
image states and a full-page screenshot.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``:
commands on fd 3, answers on fd 4, NUL-terminated JSON), so no port, driver or
extra package is needed.
"""

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("HARNESS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT = 90.0
WIDTH = 1366


def available() -> bool:
    return Path(CHROMIUM).is_file()


SKIP_REASON = (
    f"headless Chromium not found at {CHROMIUM} (apt-get install chromium, or set HARNESS_CHROMIUM)"
)


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        cmd_read, self._cmd_write = os.pipe()
        self._resp_read, resp_write = os.pipe()

        def child_fds() -> None:
            # move both ends above 10 first, so dup2 onto 3 and 4 cannot clobber either
            a = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(resp_write, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=child_fds,
            pass_fds=(3, 4),
        )
        os.close(cmd_read)
        os.close(resp_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._cmd_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read()
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._resp_read], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._resp_read, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium exited (code {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_write)
        os.close(self._resp_read)


@dataclass
class PageCheck:
    """What a person would see: errors, every image's state, the title, a screenshot."""

    errors: list[dict[str, Any]]
    page: dict[str, Any]
    screenshot_png: bytes


#: what the page looks like to a reader, as JSON: every image's state, the
#: title, whether the answer box is there, the page's width and height as it
#: opens (folded blocks folded), and, with every folded block opened so that
#: what it hides is checked too, the text boxes whose text does not fit (a
#: block wider inside than its box, or a name cell wrapped to more than three
#: lines); the folded blocks are folded again before the screenshot
_PAGE_CHECK = """(() => {
  const opened = {
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  };
  const folded = Array.from(document.querySelectorAll('details:not([open])'));
  folded.forEach(d => { d.open = true; });
  const out = JSON.stringify({
    images: Array.from(document.images).map(i =>
      [i.complete, i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]),
    title: document.title,
    answer: !!document.querySelector('#answer .answer'),
    width: opened.width,
    height: opened.height,
    folded: folded.length,
    unfolded_width: document.documentElement.scrollWidth,
    overflowing: Array.from(document.querySelectorAll(
        'h1, h2, h3, p, li, th, td, figcaption, summary, nav, figure'))
      .filter(e => getComputedStyle(e).display !== 'inline' && !e.closest('pre'))
      .filter(e => e.scrollWidth > e.clientWidth + 1
                || e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                   && !e.closest('.table-wrap'))
      .map(e => [e.tagName, e.textContent.slice(0, 80), e.scrollWidth, e.clientWidth]),
    tall_names: Array.from(document.querySelectorAll('td.label')).map(e => {
        const text = document.createRange();
        text.selectNodeContents(e);
        return [e.textContent,
                text.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight)];
      }).filter(([_, lines]) => lines > 3.5),
  });
  folded.forEach(d => { d.open = false; });
  return out;
})()"""


def inspect_page(path: Path, profile: Path, width: int = WIDTH) -> PageCheck:
    """Load ``path`` at ``width`` CSS pixels and report errors, images, text
    that overflows its box, and a screenshot."""
    browser = DevTools(profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=session)
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 768, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        browser.send("Page.navigate", {"url": path.as_uri()}, session=session)
        browser.wait_for("Page.loadEventFired")
        check = browser.send(
            "Runtime.evaluate",
            {"expression": _PAGE_CHECK, "returnByValue": True},
            session=session,
        )
        page = json.loads(check["result"]["value"])
        shot = browser.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=session,
        )
    finally:
        browser.close()

    errors = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (
            e.get("method") == "Runtime.consoleAPICalled"
            and e["params"]["type"] in ("error", "assert")
        )
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    return PageCheck(errors, page, base64.b64decode(shot["data"]))
