#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/browser): Debian's chromium and chromium-driver, at /usr/bin/chromium
# and /usr/bin/chromedriver, the pair the tests drive through Selenium (tests/support/browser.py). A browser a test
# tool downloads by itself does not reach this kind of machine, Debian's packages do. With them a CJK font
# (fonts-wqy-zenhei: Simplified and Traditional Chinese), or the console's Chinese pages and their screenshots show
# empty boxes. Quick when all are present.
set -euo pipefail

present() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -d /usr/share/fonts/truetype/wqy ]; }
present && exit 0

sudo=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && sudo -n true 2>/dev/null || {
    echo "browser: /usr/bin/chromium or /usr/bin/chromedriver is missing; install them as root:" \
         "apt-get install -y --no-install-recommends chromium chromium-driver fonts-wqy-zenhei" >&2
    exit 1
  }
  sudo=(sudo -n)
fi
echo "browser: installing Debian's chromium, chromium-driver and fonts-wqy-zenhei" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver \
  fonts-wqy-zenhei >&2
present || { echo "browser: chromium-driver installed no /usr/bin/chromedriver" >&2; exit 1; }
