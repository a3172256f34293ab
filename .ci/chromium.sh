#!/usr/bin/env bash
# Installs Debian's chromium with apt-get when /usr/bin/chromium is missing, and prints its version.
# The console's browser tests (test/console, SPEC §12) drive it with playwright-core, whose own
# browser downloads are not used; under CI they fail, rather than skip, without it.
#
#   bash .ci/chromium.sh && CI=1 npx jest test/console
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  echo "installing Debian's chromium" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
/usr/bin/chromium --version
