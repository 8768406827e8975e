#!/bin/sh
# Every option imagestream-launch --help lists is in its man page.
#   tests/check_manpage.sh LAUNCHER MAN_PAGE
set -eu
launcher=$1
page=$2
options=$("$launcher" --help | sed -n 's/^  \(-[a-z], \)\{0,1\}--\([a-z][a-z-]*\).*/\2/p')
[ -n "$options" ] || { echo "no options found in $launcher --help" >&2; exit 1; }
missing=""
for option in $options; do
  # The man page writes every hyphen as \-.
  escaped=$(printf '%s' "$option" | sed 's/-/\\\\-/g')
  grep -q -- "\\\\-\\\\-$escaped\\b" "$page" || missing="$missing --$option"
done
if [ -n "$missing" ]; then
  echo "$page does not describe:$missing" >&2
  exit 1
fi
echo "$(echo "$options" | wc -l) options of --help, all in $page"
