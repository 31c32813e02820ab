"""tests/e2e/webdriver.py - a small W3C WebDriver client for browser tests.

Chromedriver() starts Debian's chromedriver on a free loopback port and stops
it by PID; Browser(driver) opens a headless Chromium session through the W3C
WebDriver HTTP protocol, spoken with urllib (no selenium, no npm): navigate,
find elements by CSS selector, click, type, read text and properties, run a
script, take a screenshot, delete the session. Every request and every wait
is bounded in time.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from sluice_e2e import free_port

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C element reference key
CHROMIUM = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
CHROMEDRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def find_programs():
    """(chromium, chromedriver) paths, or None for a missing one."""
    def first(paths, name):
        for p in paths:
            if os.access(p, os.X_OK):
                return p
        return shutil.which(name)
    return first(CHROMIUM, "chromium"), first(CHROMEDRIVER, "chromedriver")


class WebDriverError(AssertionError):
    """An error reply: ERROR is the W3C error code ("no such element", ...)."""

    def __init__(self, error, message):
        AssertionError.__init__(self, "%s: %s" % (error, message[:2000]))
        self.error = error


class Chromedriver:
    """One chromedriver process on 127.0.0.1 (port picked in 27000-27999)."""

    def __init__(self, program, log_path=None):
        self.program = program
        self.port = free_port(27000, 27999)
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = log_path
        self.proc = None

    def start(self, timeout=20):
        out = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        try:
            self.proc = subprocess.Popen([self.program, "--port=%d" % self.port],
                                         stdout=out, stderr=subprocess.STDOUT)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("chromedriver exited %s" % self.proc.returncode)
            try:
                if request(self.url, "GET", "/status", timeout=2).get("ready"):
                    return self
            except (OSError, WebDriverError):
                pass
            time.sleep(0.1)
        raise AssertionError("chromedriver not ready in %ss" % timeout)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def request(base, method, path, body=None, timeout=30):
    """One WebDriver command; returns the reply's "value"."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            doc = json.loads(resp.read().decode() or "{}")
    except urllib.error.HTTPError as e:
        try:
            value = json.loads(e.read().decode()).get("value", {})
        except ValueError:
            value = {}
        raise WebDriverError(value.get("error", "http %d" % e.code),
                             value.get("message", "")) from None
    return doc.get("value")


class Browser:
    """A headless Chromium session. Elements are W3C element ids (strings)."""

    def __init__(self, driver, chromium, width=1280, height=900):
        self.driver = driver
        self.profile = tempfile.mkdtemp(prefix="sluice-chromium-")
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height), "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--lang=en-US"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "pageLoadStrategy": "normal",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {"binary": chromium, "args": args}}}}
        value = request(driver.url, "POST", "/session", caps, timeout=60)
        self.session = value["sessionId"]
        self.base = "%s/session/%s" % (driver.url, self.session)
        self.cmd("POST", "/timeouts", {"implicit": 0, "pageLoad": 20000, "script": 10000})

    def cmd(self, method, path, body=None, timeout=30):
        return request(self.base, method, path, body, timeout)

    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def refresh(self):
        self.cmd("POST", "/refresh", {})

    def url(self):
        return self.cmd("GET", "/url")

    def find(self, css):
        """The first element matching CSS; WebDriverError "no such element" if none."""
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def find_in(self, element, css):
        """The first element matching CSS inside ELEMENT."""
        return self.cmd("POST", "/element/%s/element" % element,
                        {"using": "css selector", "value": css})[ELEMENT]

    def find_all(self, css):
        return [e[ELEMENT] for e in self.cmd("POST", "/elements",
                                             {"using": "css selector", "value": css})]

    def click(self, element):
        self.cmd("POST", "/element/%s/click" % element, {})

    def send_keys(self, element, text):
        self.cmd("POST", "/element/%s/value" % element, {"text": text})

    def clear(self, element):
        self.cmd("POST", "/element/%s/clear" % element, {})

    def text(self, element):
        return self.cmd("GET", "/element/%s/text" % element)

    def prop(self, element, name):
        return self.cmd("GET", "/element/%s/property/%s" % (element, name))

    def execute(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def alert_text(self):
        """The text of an open alert/confirm/prompt, or None when there is none."""
        try:
            return self.cmd("GET", "/alert/text")
        except WebDriverError as e:
            if e.error == "no such alert":
                return None
            raise

    def console(self):
        """The browser console entries since the last call ({level, message}),
        through chromedriver's log extension; [] where it is not offered."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"}) or []
        except WebDriverError:
            return []

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot", timeout=60)))
        return path

    def wait(self, what, predicate, timeout=10, step=0.1):
        """Polls PREDICATE (a no-argument callable) until it returns a true value;
        returns it, or raises AssertionError naming WHAT."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except WebDriverError as e:
                if e.error not in ("no such element", "stale element reference"):
                    raise
                last = e
            time.sleep(step)
        raise AssertionError("timed out after %ss waiting for %s%s" % (
            timeout, what, " (%s)" % last if last else ""))

    def wait_visible(self, css, timeout=10):
        """The first element matching CSS once it is displayed."""
        return self.wait(css + " to be visible", lambda: self.execute(
            "var e = document.querySelector(arguments[0]);"
            "return e && e.offsetParent !== null ? true : false;", css) and self.find(css),
            timeout)

    def quit(self):
        try:
            self.cmd("DELETE", "", timeout=20)
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
