"""Headless Chromium from Debian's package, driven by Playwright (no browser download)."""

import contextlib

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium tries Google's services and this machine's closed network refuses it.
QUIET_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


@contextlib.contextmanager
def chromium(**context_options):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_FLAGS)
        try:
            yield browser.new_context(**context_options)
        finally:
            browser.close()
