#!/usr/bin/env bash
# `make browser-deps` (part of `make test`): Debian's Chromium and its WebDriver, which the page tests drive
# through Selenium (tests/pages/). Installed with apt where missing; where that is impossible (no apt, no root)
# it says so and the page tests skip with the same message.
set -u
if command -v chromedriver >/dev/null && { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "browser-deps: no apt-get here; install Chromium and chromedriver yourself, or the page tests are skipped"
  exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  echo "browser-deps: chromium and chromium-driver are missing and installing them needs root; the page tests are skipped"
  exit 0
fi
echo "browser-deps: installing chromium and chromium-driver (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
  echo "browser-deps: apt could not install chromium and chromium-driver; the page tests are skipped"
exit 0
