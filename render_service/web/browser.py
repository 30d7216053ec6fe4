"""One long-lived Chromium per worker, driven by Playwright, loading each page into a reused tab.

Launching Chromium costs about half a second, loading into an open tab a few milliseconds, so
the browser lives as long as the worker. Every request except `data:` and `about:` is aborted,
so a page reaches neither the network nor local files. Everything that measures a page runs in
an isolated world (`evaluate`): the page's scripts share its DOM but not its globals, so they
cannot rewrite what measures them. A watchdog thread kills the browser
process when a request runs past its time (a script loop blocks every DevTools call, including
Playwright's own timeouts); the request then fails with `PageError` and the next one gets a
fresh browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

from playwright.sync_api import CDPSession, Page, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError

ALLOWED_SCHEMES = ("data:", "about:")


class PageError(Exception):
    """The page could not be rendered (timeout, crash); the browser has been replaced."""


def _block_outside_requests(route) -> None:
    if route.request.url.startswith(ALLOWED_SCHEMES):
        route.continue_()
    else:
        route.abort("blockedbyclient")


_DRIVER: Playwright | None = None
_SHARED: dict[tuple, Browser] = {}


def _driver() -> Playwright:
    """The process's one Playwright driver: the sync API allows one per thread, and the web
    and slide renderers of a worker share it."""
    global _DRIVER
    if _DRIVER is None:
        _DRIVER = sync_playwright().start()
    return _DRIVER


class Browser:
    """Chromium with one tab per JavaScript setting, loaded by `page(html, javascript=...)`."""

    def __init__(self, executable_path: str, viewport: tuple[int, int], timeout_s: float):
        if not os.access(executable_path, os.X_OK):
            raise FileNotFoundError(
                f"Chromium not found at {executable_path}: install it (apt-get install chromium) "
                "or set RenderConfig.chromium_path to its executable"
            )
        self.executable_path = executable_path
        self.viewport = {"width": viewport[0], "height": viewport[1]}
        self.timeout_s = timeout_s
        self._browser = None
        self._browser_pid: int | None = None
        self._pages: dict[bool, Page] = {}
        self._devtools: dict[Page, tuple[CDPSession, list[dict]]] = {}
        self._worlds: dict[Page, int] = {}  # the tab's isolated world (execution context id)

    @classmethod
    def shared(cls, executable_path: str, viewport: tuple[int, int], timeout_s: float) -> Browser:
        """The worker's browser for these settings, so web and slide renderers use one Chromium.
        Closing it is safe for the other user: the next page launches it again."""
        key = (executable_path, tuple(viewport), timeout_s)
        if key not in _SHARED:
            _SHARED[key] = cls(executable_path, viewport, timeout_s)
        return _SHARED[key]

    def _launch(self) -> None:
        self._browser = _driver().chromium.launch(
            executable_path=self.executable_path,
            args=["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
        )
        info = self._browser.new_browser_cdp_session().send("SystemInfo.getProcessInfo")
        self._browser_pid = next(p["id"] for p in info["processInfo"] if p["type"] == "browser")
        self._pages, self._devtools, self._worlds = {}, {}, {}

    def _tab(self, javascript: bool) -> Page:
        if self._browser is None:
            self._launch()
        if javascript not in self._pages:
            context = self._browser.new_context(
                viewport=self.viewport, java_script_enabled=javascript, service_workers="block"
            )
            context.route("**/*", _block_outside_requests)
            page = context.new_page()
            # DevTools stays attached with DOM and CSS on, so tracing a page costs no set-up.
            cdp = context.new_cdp_session(page)
            sheets: list[dict] = []
            cdp.on("CSS.styleSheetAdded", lambda event: sheets.append(event["header"]))
            cdp.send("DOM.enable")
            cdp.send("CSS.enable")
            self._pages[javascript] = page
            self._devtools[page] = (cdp, sheets)
        return self._pages[javascript]

    def devtools(self, page: Page) -> tuple[CDPSession, list[dict]]:
        """The tab's DevTools session and the headers of the style sheets of its current page."""
        return self._devtools[page]

    def evaluate(self, page: Page, function: str, arg: Any = None) -> Any:
        """`function(arg)` (JavaScript source) on the page's DOM, in an isolated world: page
        scripts that replace `Array.prototype.map` or `getBoundingClientRect` change only their
        own world. The value comes back as JSON data; a script error raises PageError, a
        browser failure PlaywrightError (which `page` turns into PageError)."""
        cdp, _ = self._devtools[page]
        call = {"expression": f"({function})({json.dumps(arg)})", "returnByValue": True}
        if page not in self._worlds:
            self._worlds[page] = self._new_world(cdp)
        try:
            reply = cdp.send("Runtime.evaluate", {**call, "contextId": self._worlds[page]})
        except PlaywrightError:  # the page navigated (meta refresh): the world went with it
            self._worlds[page] = self._new_world(cdp)
            reply = cdp.send("Runtime.evaluate", {**call, "contextId": self._worlds[page]})
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description", details.get("text", ""))
            raise PageError(f"the page could not be measured: {text.splitlines()[0]}")
        return reply["result"].get("value")

    @staticmethod
    def _new_world(cdp: CDPSession) -> int:
        frame = cdp.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        world = cdp.send("Page.createIsolatedWorld", {"frameId": frame, "worldName": "measure"})
        return world["executionContextId"]

    @contextlib.contextmanager
    def page(self, html: str, *, javascript: bool) -> Iterator[Page]:
        """Load `html` into the tab and yield it; loading and the block run under the time limit.
        Browser failures inside the block become `PageError`; other exceptions pass through."""
        fired = threading.Event()

        def kill():
            fired.set()
            if self._browser_pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._browser_pid, signal.SIGKILL)

        try:
            # Launching (after a discarded browser) is not the page's time: the limit starts after.
            tab = self._tab(javascript)
        except PlaywrightError as err:
            self._discard()
            raise PageError(f"browser failed to start: {str(err).splitlines()[0]}") from err
        watchdog = threading.Timer(self.timeout_s, kill)
        watchdog.start()
        try:
            self._devtools[tab][1].clear()
            tab.set_content(html, wait_until="load", timeout=self.timeout_s * 1000)
            yield tab
            self.evaluate(tab, "() => scrollTo(0, 0)")
        except PlaywrightError as err:
            self._discard()
            if fired.is_set() or "Timeout" in type(err).__name__:
                raise PageError(
                    f"page took longer than {self.timeout_s:g}s and was stopped"
                ) from err
            raise PageError(f"browser failed on this page: {str(err).splitlines()[0]}") from err
        finally:
            if self._browser is not None:
                self._reset(tab, javascript)  # under the watchdog: a busy page cannot stall it
            watchdog.cancel()
            if fired.is_set() and self._browser is not None:
                self._discard()  # killed while resetting: the next page gets a fresh browser

    def _reset(self, tab: Page, javascript: bool) -> None:
        """Leave nothing of this page for the next one: no popup (`window.open`) outlives its
        request, and where scripts ran, the tab loads a fresh document, which ends the page's
        timers and drops its globals (loading new content into the same document keeps the
        window and everything a script hung on it); `window.name` survives even that."""
        with contextlib.suppress(PlaywrightError):
            for popup in tab.context.pages[1:]:
                popup.close()
            if javascript:
                tab.goto("about:blank")
                self._worlds.pop(tab, None)  # gone with the document
                tab.evaluate("() => { window.name = ''; }")

    def _discard(self) -> None:
        """Drop the browser after a failure; the next request launches a fresh one."""
        if self._browser_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._browser_pid, signal.SIGKILL)
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                self._browser.close()
        self._browser, self._browser_pid = None, None
        self._pages, self._devtools, self._worlds = {}, {}, {}

    def close(self) -> None:
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                self._browser.close()
        self._browser, self._browser_pid = None, None
        self._pages, self._devtools, self._worlds = {}, {}, {}
