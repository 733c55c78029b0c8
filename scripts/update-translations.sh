#!/usr/bin/env bash
# Re-extract the UI messages (Chinese msgids) into webapp/translations/messages.pot and merge them into the
# catalogs (webapp/translations/<lang>/LC_MESSAGES/messages.po; created when missing). Translate the new and fuzzy
# entries, then run scripts/compile-translations.sh. tests/web/test_i18n.py fails while an entry is untranslated
# or fuzzy.
set -euo pipefail
cd "$(dirname "$0")/.."
PYBABEL="${PYBABEL:-.venv/bin/pybabel}"
LANGS="${LANGS:-en}"
"$PYBABEL" -q extract -F webapp/babel.cfg -k _l -k lazy_gettext --sort-by-file \
    --project "rencai-lvsetongdao" --copyright-holder "" --msgid-bugs-address "" \
    -o webapp/translations/messages.pot webapp
for lang in $LANGS; do
    if [ -f "webapp/translations/$lang/LC_MESSAGES/messages.po" ]; then
        "$PYBABEL" -q update -i webapp/translations/messages.pot -d webapp/translations -l "$lang" --ignore-obsolete
    else
        "$PYBABEL" -q init -i webapp/translations/messages.pot -d webapp/translations -l "$lang"
    fi
done
