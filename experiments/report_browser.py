"""Look at the report as a person does: headless Chromium over the DevTools protocol.

One page load gives everything the checks need: console errors and uncaught exceptions,
every network request the page made (a self-contained report makes none beyond its own
``file:`` and ``data:`` URLs), what the first screen shows, and a screenshot of it.
Dependency-light on purpose: the system's ``chromium`` and ``websocket-client``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WIDTH, HEIGHT = 1400, 1000
_LOCAL_SCHEMES = ("file:", "data:", "about:")
_FIRST_SCREEN_JS = """(() => {
  const h = window.innerHeight;
  const seen = e => { const r = e.getBoundingClientRect();
                      return r.width > 0 && r.top >= 0 && r.bottom <= h; };
  const verdict = document.querySelector('#verdict');
  return {
    verdict: verdict && seen(verdict) ? verdict.innerText : null,
    rows: Array.from(document.querySelectorAll('#summary tbody tr'))
               .filter(seen).map(r => r.dataset.experiment),
    findings: Array.from(document.querySelectorAll('ol.findings li')).filter(seen).length,
  };
})()"""


class BrowserError(Exception):
    """Chromium is missing, did not start, or did not load the page."""


@dataclass
class PageCheck:
    """What one headless page load showed."""

    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    verdict: str | None = None
    rows_on_first_screen: list[str] = field(default_factory=list)
    findings_on_first_screen: int = 0
    screenshot: bytes = b""

    @property
    def external_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(_LOCAL_SCHEMES)]


def find_chromium() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout_s: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrowserError(f"chromium exited with code {proc.returncode} before it was ready")
        if marker.is_file():
            first = marker.read_text().split("\n", 1)[0].strip()
            if first.isdigit():
                return int(first)
        time.sleep(0.1)
    raise BrowserError(f"chromium opened no DevTools port within {timeout_s:g} s")


def _page_socket(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.load(answer)
    pages = [t for t in targets if t.get("type") == "page" and t.get("webSocketDebuggerUrl")]
    if not pages:
        raise BrowserError("chromium has no page target")
    return pages[0]["webSocketDebuggerUrl"]


class _Session:
    """A minimal CDP client: numbered commands, events collected as they arrive."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.ws = websocket.create_connection(url, timeout=timeout_s, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise BrowserError(f"the page did not fire {method} within {timeout_s:g} s")
            self.events.append(json.loads(self.ws.recv()))

    def close(self) -> None:
        self.ws.close()


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in (
            "error",
            "assert",
        ):
            args = params.get("args", [])
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif event.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(str(details.get("exception", {}).get("description") or details))
        elif event.get("method") == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error":
                errors.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
    return errors


def inspect_page(
    page: Path, width: int = WIDTH, height: int = HEIGHT, timeout_s: float = 60
) -> PageCheck:
    """Load ``page`` in headless Chromium and report what a person would see first."""
    exe = find_chromium()
    if exe is None:
        raise BrowserError(f"no Chromium found (looked for {', '.join(BROWSERS)})")
    # Chromium's helpers may still be writing the profile as it exits: cleanup is best effort.
    with tempfile.TemporaryDirectory(
        prefix="recdrill-chromium-", ignore_cleanup_errors=True
    ) as tmp:
        profile = Path(tmp)
        proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={profile}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            session = _Session(_page_socket(_devtools_port(profile, proc, timeout_s)), timeout_s)
            try:
                return _load(session, page, width, height, timeout_s)
            finally:
                session.close()
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    """End the Chromium this module started and its helpers (its own process group)."""
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _load(session: _Session, page: Path, width: int, height: int, timeout_s: float) -> PageCheck:
    for domain in ("Runtime", "Log", "Network", "Page"):
        session.call(f"{domain}.enable")
    session.call(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    session.call("Page.navigate", url=page.resolve().as_uri())
    session.wait_for("Page.loadEventFired", timeout_s)
    screen = session.call("Runtime.evaluate", expression=_FIRST_SCREEN_JS, returnByValue=True)
    shot = session.call("Page.captureScreenshot", format="png")
    value = screen.get("result", {}).get("value", {})
    return PageCheck(
        console_errors=_console_errors(session.events),
        requests=[
            e["params"]["request"]["url"]
            for e in session.events
            if e.get("method") == "Network.requestWillBeSent"
        ],
        verdict=value.get("verdict"),
        rows_on_first_screen=[r for r in value.get("rows", []) if r],
        findings_on_first_screen=int(value.get("findings", 0)),
        screenshot=base64.b64decode(shot["data"]),
    )
