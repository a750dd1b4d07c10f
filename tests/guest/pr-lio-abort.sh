#!/bin/sh
# PREEMPT AND ABORT against the kernel's LIO target (tcm_loop, two initiators on one LUN),
# while the victim has writes in flight. Kept apart from pr-lio because the same command
# hung a 6.1 guest: a hang here fails this test alone.
. /tests/guest/lib.sh
. /tests/guest/pr.lib
pr_require
lio_two_paths

check "A joins" $PR join "$A" --key "$KA"
check "B registers" $PR register "$B" --key "$KB"
assert_eq "keys: A and B" "$KA $KB" "$(keys_on "$B")"

# A keeps writing until it is refused.
(
  i=0
  while [ $i -lt 2000 ]; do
    $PR write "$A" --offset $(((i % 64) * 4096)) >/dev/null 2>&1 || { echo "writer stopped rc=$? after $i writes"; exit 0; }
    i=$((i + 1))
  done
  echo "writer finished $i writes"
) >/tmp/writer.log 2>&1 &
sleep 2

run timeout 60 $PR fence "$B" --key "$KB" --victim-node 1 --abort
assert_eq "B fences node 1 with PREEMPT AND ABORT" 0 "$RC"
indent "$OUT"
assert_match "preempt and abort verified" "Preempted \{ aborted: true \}" "$OUT"
assert_eq "keys: B only" "$KB" "$(keys_on "$A")"
assert_eq "reservation moved to B" "reservation $KB node 2 $WERO" "$(res_on "$A")"
wait_until "A's writer is refused" 30 grep -q "writer stopped rc=4" /tmp/writer.log
indent "$(cat /tmp/writer.log)"
run $PR write "$A" --offset 0
assert_eq "A's write: reservation conflict (exit 4)" 4 "$RC"
check "B writes" $PR write "$B" --offset 0
finish
