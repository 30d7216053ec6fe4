#!/usr/bin/env bash
# Installs the system parts the renderers need (Chromium, LibreOffice Impress, poppler, fonts,
# bubblewrap) when they are missing. Idempotent: when everything is present it only checks and
# exits, so a second `make setup` takes seconds. Says what to do when it cannot install (not
# root, no apt).
set -euo pipefail

# command-or-file that proves a package is present -> Debian package that provides it
declare -A NEEDS=(
  [chromium]="/usr/bin/chromium"
  [libreoffice-impress]="/usr/bin/soffice"
  [poppler-utils]="/usr/bin/pdftoppm"
  [python3-uno]="/usr/lib/python3/dist-packages/uno.py"  # keeps LibreOffice warm per worker
  [bubblewrap]="/usr/bin/bwrap"  # the OS sandbox around every render worker
  [fonts-noto-core]="/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"
  [fonts-crosextra-carlito]="/usr/share/fonts/truetype/crosextra/Carlito-Regular.ttf"
  [fonts-liberation]="/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"
  [fonts-dejavu-core]="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
)

missing=()
for pkg in "${!NEEDS[@]}"; do
  [ -e "${NEEDS[$pkg]}" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present (chromium, libreoffice, python3-uno, poppler, bubblewrap, fonts)"
  exit 0
fi

echo "setup: installing system packages: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: cannot install ${missing[*]}: no apt-get on this machine. Install them with your" \
       "package manager, then run 'make setup' again." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "setup: cannot install ${missing[*]}: not root and no passwordless sudo. Run:" \
         "sudo apt-get install -y ${missing[*]}  then 'make setup' again." >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fc-cache -f >/dev/null 2>&1 || true
for pkg in "${missing[@]}"; do
  if [ ! -e "${NEEDS[$pkg]}" ]; then
    echo "setup: $pkg installed but ${NEEDS[$pkg]} is still missing; check 'apt-cache policy $pkg'." >&2
    exit 1
  fi
done
echo "setup: system packages installed"
