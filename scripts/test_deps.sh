#!/usr/bin/env bash
# `make test-deps` (part of `make test`): the Debian packages the tests drive. Chromium and its WebDriver for the
# page tests (tests/pages/, through Selenium); strace, which watches the detector's system calls (fsync before
# the answer). Installed with apt where missing; where that is impossible (no apt, no root) it says so and those
# tests skip with the same message. In CI (CI=true) a missing package fails instead: a run that silently skipped
# them would pass without having looked at a single page.
set -u
missing() {
  echo "test-deps: $1"
  if [ "${CI:-}" = true ]; then echo "test-deps: CI=true, so this fails the run"; exit 1; fi
  exit 0
}
if command -v strace >/dev/null && command -v chromedriver >/dev/null && \
   { command -v chromium >/dev/null || command -v chromium-browser >/dev/null; }; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  missing "no apt-get here; install chromium, chromedriver and strace yourself, or the tests that need them are skipped"
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
  missing "chromium, chromium-driver or strace is missing and installing them needs root; the tests that need them are skipped"
fi
echo "test-deps: installing chromium, chromium-driver and strace (apt)"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq chromium chromium-driver strace >/dev/null 2>&1 || \
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver strace >/dev/null; } || \
  missing "apt could not install chromium, chromium-driver and strace; the tests that need them are skipped"
exit 0
