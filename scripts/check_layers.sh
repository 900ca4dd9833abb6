#!/usr/bin/env bash
# Fails on an include that goes against the library's layering: every file under
# include/domino/<part>/ and src/<part>/ may include its own part and the parts that
# docs/ARCHITECTURE.md's `layers` block allows it, nothing else; and the umbrella header
# include/domino/domino.h names every public header.
#   scripts/check_layers.sh [ROOT]      check the tree at ROOT (default: this checkout)
#   scripts/check_layers.sh --self-test  show that an upward include is caught
set -euo pipefail

check() {
  local root=$1
  local spec
  spec=$(awk '/^```layers$/{on=1; next} /^```$/{on=0} on' "$root/docs/ARCHITECTURE.md")
  [[ -n $spec ]] || { echo "no \`\`\`layers block in $root/docs/ARCHITECTURE.md" >&2; return 2; }
  declare -A allowed=()
  local part deps
  while IFS=: read -r part deps; do
    part=$(echo "$part" | xargs)
    [[ -n $part ]] && allowed[$part]=" $part $(echo "$deps" | xargs) "
  done <<<"$spec"
  local bad=0 file dir target
  for dir in "$root"/include/domino/* "$root"/src/*; do
    [[ -d $dir ]] || continue
    part=$(basename "$dir")
    if [[ -z ${allowed[$part]+x} ]]; then
      echo "$dir: part '$part' is not in the layers block of docs/ARCHITECTURE.md"; bad=1; continue
    fi
    while IFS= read -r line; do
      file=${line%%:*}
      target=$(sed -E 's/.*#include "(domino\/)?([a-z_]+)\/.*/\2/' <<<"${line#*:}")
      [[ -n ${allowed[$target]+x} ]] || continue  # not one of our parts (a sibling header, a third-party one)
      if [[ ${allowed[$part]} != *" $target "* ]]; then
        echo "${file#"$root"/}: $part may not include $target (${line#*:})"; bad=1
      fi
    done < <(grep -rHE '^#include "(domino/)?[a-z_]+/' "$dir" || true)
  done
  local header
  if [[ -f $root/include/domino/domino.h ]]; then
    for header in "$root"/include/domino/*/*.h; do
      header=${header#"$root"/include/}
      grep -qF "#include \"$header\"" "$root/include/domino/domino.h" || { echo "include/domino/domino.h lacks $header"; bad=1; }
    done
  fi
  return $bad
}

if [[ ${1:-} == --self-test ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/docs" "$tmp/src/io" "$tmp/src/train"
  printf '```layers\nio: \ntrain: io\n```\n' >"$tmp/docs/ARCHITECTURE.md"
  echo '#include "io/files.h"' >"$tmp/src/train/a.cpp"
  check "$tmp" >/dev/null || { echo "self-test: an allowed include was refused"; exit 1; }
  echo '#include "domino/train/trainer.h"' >"$tmp/src/io/b.cpp"
  if check "$tmp" >/dev/null; then echo "self-test: an upward include was not caught"; exit 1; fi
  echo "self-test: ok"; exit 0
fi
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if check "$root"; then echo "layers: ok"; else echo "layers: the lines above break the rules of docs/ARCHITECTURE.md"; exit 1; fi
