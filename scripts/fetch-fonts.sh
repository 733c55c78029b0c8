#!/usr/bin/env bash
# Fetch the Fandol fonts (FandolFang 仿宋, FandolSong 宋, FandolKai 楷, FandolHei 黑) used by the documents/ package.
#
# Debian has no simplified-Chinese 仿宋 font package; the Fandol fonts (GPL with font exception) ship inside the
# texlive-lang-chinese .deb. Installing that package pulls ~240 MB, so we only download the .deb (~50 MB) and take the
# six .otf files out of it into the git-ignored documents/fonts/vendor/.
#
# Idempotent: a fast no-op when the fonts are already there. Without them the renderer falls back to Noto CJK
# (fonts-noto-cjk, installed by scripts/setup-system.sh), so a failure here only prints a message and exits 0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENDOR="$ROOT/documents/fonts/vendor"
FONTS=(FandolFang-Regular.otf FandolSong-Regular.otf FandolSong-Bold.otf
       FandolKai-Regular.otf FandolHei-Regular.otf FandolHei-Bold.otf)
SRC_DIR="usr/share/texlive/texmf-dist/fonts/opentype/public/fandol"
DOC_DIR="usr/share/doc/texlive-doc/fonts/fandol"
PKG="texlive-lang-chinese"

have_all() {
  local f
  for f in "${FONTS[@]}"; do
    [ -s "$VENDOR/$f" ] || return 1
  done
}

if have_all; then
  exit 0
fi

fallback() {
  echo "fetch-fonts: $1" >&2
  echo "fetch-fonts: 未能获取 Fandol 字体（仿宋/宋/楷/黑），公文将只使用 Noto CJK 字体渲染。" >&2
  echo "fetch-fonts: Fandol fonts not installed; documents will render with Noto CJK only (fonts-noto-cjk)." >&2
  echo "fetch-fonts: to retry: sudo apt-get update && bash scripts/fetch-fonts.sh" >&2
  exit 0
}

for tool in apt-get dpkg-deb tar; do
  command -v "$tool" >/dev/null 2>&1 || fallback "'$tool' not found (not a Debian/Ubuntu system?)"
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
# apt-get download as root warns that the _apt user cannot write to the target directory; let it read it.
chmod 755 "$TMP"

download() {
  (cd "$TMP" && apt-get download -q "$PKG" >"$TMP/apt.log" 2>&1)
}

if ! download; then
  if [ "$(id -u)" -eq 0 ]; then
    # Package lists may be missing on a fresh container.
    apt-get update -qq >/dev/null 2>&1 || true
    download || fallback "apt-get download $PKG failed: $(tail -n 1 "$TMP/apt.log")"
  else
    fallback "apt-get download $PKG failed (not root, package lists may be missing): $(tail -n 1 "$TMP/apt.log")"
  fi
fi

DEB="$(ls "$TMP"/${PKG}_*.deb 2>/dev/null | head -n 1)"
[ -n "$DEB" ] || fallback "no .deb was downloaded"

members=()
for f in "${FONTS[@]}"; do members+=("./$SRC_DIR/$f"); done
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$TMP" "${members[@]}" \
  || fallback "could not extract the fonts from $(basename "$DEB")"
# Licence files travel with the fonts (best effort; their names may change between texlive releases).
dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$TMP" --wildcards "./$DOC_DIR/*" 2>/dev/null || true

mkdir -p "$VENDOR"
for f in "${FONTS[@]}"; do
  # Copy under a temporary name, then rename: a half-written font never looks complete.
  cp "$TMP/$SRC_DIR/$f" "$VENDOR/.$f.part"
  mv -f "$VENDOR/.$f.part" "$VENDOR/$f"
done
if [ -d "$TMP/$DOC_DIR" ]; then
  for f in "$TMP/$DOC_DIR"/*; do cp "$f" "$VENDOR/"; done
fi
echo "fetch-fonts: Fandol fonts installed in ${VENDOR#$ROOT/} (from $(basename "$DEB"))"
