. /tests/guest/lib.sh
check "false fails" false
check_fails "true fails?" true
assert_eq "eq" a b
assert_match "m" "x" "abc"
wait_until "never" 1 false
echo "<4>WARNING: fake warning from the harness self-test" > /dev/kmsg
pass "but this prints no WARNING: in kernel lines"
finish
