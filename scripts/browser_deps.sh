#!/usr/bin/env bash
# `make browser-deps` (part of `make test`): Debian's Chromium and its WebDriver, which the page tests drive
# through Selenium (tests/pages/). Installed with apt where missing; where that is impossible (no apt, no root)
# it says so and the page tests skip with the same message. In CI (CI=true) a missing browser fails instead: a run
# that silently skipped every page test would pass without having looked at a single page.
set -u
missing() {
  echo "browser-deps: $1"
  if [ "${CI:-}" = true ]; then echo "browser-deps: CI=true, so this fails the run"; exit 1; fi
  exit 0
}
if command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  missing "no apt-get here; install Chromium and chromedriver yourself, or the page tests are skipped"
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  missing "chromium and chromium-driver are missing and installing them needs root; the page tests are skipped"
fi
echo "browser-deps: installing chromium and chromium-driver (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
  missing "apt could not install chromium and chromium-driver; the page tests are skipped"
exit 0
