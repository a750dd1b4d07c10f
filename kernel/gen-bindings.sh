#!/usr/bin/env bash
# Generates kernel/bindings_generated.rs for the kernel tree KDIR, with the same clang flags
# and bindgen options the kernel used for its own Rust bindings.
set -euo pipefail
KDIR=$1 BINDGEN=$2
OUT=$(realpath -m "$3")
HERE=$(cd "$(dirname "$0")" && pwd)

cmdfile=$KDIR/rust/bindings/.bindings_generated.rs.cmd
[ -f "$cmdfile" ] || { echo "gen-bindings: $cmdfile missing (kernel not built?)" >&2; exit 1; }
# The recorded command is "bindgen IN <options> -o OUT -- <clang flags> ; sed ...": keep the
# clang flags only.
cflags=$(sed -n 's/^savedcmd_[^ ]* := //p' "$cmdfile" | sed 's/.* -- //; s/;.*//')

allow=()
while read -r kind regex; do
  case "$kind" in ''|'#'*) continue ;; esac
  allow+=("--allowlist-$kind" "^($regex)$")
done < "$HERE/bindings.allow"

params=()
while read -r line; do params+=($line); done < <(grep -Ev '^#|^$' "$KDIR/rust/bindgen_parameters")

cd "$KDIR"
# shellcheck disable=SC2086
"$BINDGEN" "$HERE/bindings_helper.h" "${params[@]}" "${allow[@]}" \
  --rust-target 1.68 --use-core --with-derive-default --ctypes-prefix ffi --no-layout-tests \
  --no-debug '.*' --enable-function-attribute-detection \
  -o "$OUT.tmp" -- $cflags -DMODULE
mv "$OUT.tmp" "$OUT"
