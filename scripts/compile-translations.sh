#!/usr/bin/env bash
# Compile the committed catalogs (webapp/translations/*/LC_MESSAGES/messages.po) into the .mo files Flask-Babel
# reads. The .mo files are build output (git-ignored); `make setup` runs this. Idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
"$PYBABEL" -q compile -d webapp/translations
