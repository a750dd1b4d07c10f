#!/usr/bin/env bash
# Judges one guest's serial log: verdict.sh NAME LOG
# Exit 0 when the test passed; otherwise exit 1 and print one reason per line.
#
# A test fails when its markers say so, when the final marker is missing (hang, panic, host
# timeout), or when the kernel printed anything that signals a bug, even if every check passed.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: verdict.sh NAME LOG" >&2; exit 2; }
name=$1 log=$2
[ -f "$log" ] || { echo "no serial log at $log"; exit 1; }

# Console lines end in CRLF; a stray NUL must not make grep treat the log as binary.
text=$(tr -d '\r\000' <"$log")
reasons=()

# Kernel messages carry a printk timestamp; only those are searched for bug signatures,
# so a test that prints, say, "no WARNING in dmesg" cannot fail itself.
KERNEL_LINE='\[ *[0-9]+\.[0-9]{6}\]'
BAD='Oops|BUG:|kernel BUG at|WARNING:|Kernel panic|panicked at|possible circular locking|inconsistent lock state|INFO: possible|lockdep|KASAN|UBSAN|general protection fault|Call Trace|detected stalls|blocked for more than|refcount_t:'
# Boot banners that merely mention a debug feature being on.
BENIGN='RCU lockdep checking is enabled|Lock dependency validator|lockdep: fixing up alternatives'
bad_lines=$(grep -E "$KERNEL_LINE" <<<"$text" | grep -E "$BAD" | grep -vE "$BENIGN" | sort -u || true)
if [ -n "$bad_lines" ]; then
  reasons+=("kernel reported a problem:")
  while IFS= read -r l; do reasons+=("  $l"); done < <(head -n 20 <<<"$bad_lines")
fi

if grep -q '^MXFS-TEST-TIMEOUT' <<<"$text"; then
  reasons+=("test did not finish within the guest timeout")
fi
if ! grep -q "^MXFS-GUEST-DONE $name " <<<"$text"; then
  if grep -q 'Kernel panic' <<<"$text"; then
    reasons+=("guest kernel panicked")
  else
    reasons+=("no final marker: the guest hung or was killed by the host timeout")
  fi
fi
end=$(grep -o "^MXFS-TEST-END $name rc=[0-9]*" <<<"$text" | tail -n 1 || true)
if [ -n "$end" ] && [ "${end##*rc=}" != 0 ]; then
  reasons+=("test exited with status ${end##*rc=}")
fi
failed_checks=$(grep -E '^not ok ' <<<"$text" || true)
if [ -n "$failed_checks" ]; then
  reasons+=("$(wc -l <<<"$failed_checks") check(s) failed, first: $(head -n 1 <<<"$failed_checks")")
fi
if grep -q '^MXFS-TEST-RESULT fail' <<<"$text"; then
  [ -n "$failed_checks" ] || reasons+=("test reported failure")
elif ! grep -q '^MXFS-TEST-RESULT pass' <<<"$text"; then
  reasons+=("test printed no result marker")
fi

# Conformance suites (tests/guest/conformance-*.sh): mxfs must pass every test plain XFS passes.
# The guest checks this itself; the host re-checks the numbers it printed.
while read -r _ suite mxfs_pass xfs_pass total; do
  m=${mxfs_pass#mxfs_pass=} x=${xfs_pass#xfs_pass=}
  if ! [[ $m =~ ^[0-9]+$ && $x =~ ^[0-9]+$ ]]; then
    reasons+=("malformed conformance line: CONFORMANCE $suite $mxfs_pass $xfs_pass $total")
  elif ((m < x)); then
    reasons+=("conformance $suite: mxfs passed $m, plain XFS $x ($total)")
  fi
done < <(grep -E '^CONFORMANCE ' <<<"$text" || true)
if [[ $name == conformance-* ]] && ! grep -q '^CONFORMANCE ' <<<"$text"; then
  reasons+=("conformance test printed no CONFORMANCE line")
fi

if ((${#reasons[@]})); then
  printf '%s\n' "${reasons[@]}"
  exit 1
fi
