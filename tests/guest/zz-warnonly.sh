. /tests/guest/lib.sh
echo "<4>WARNING: fake warning from the harness self-test" > /dev/kmsg
check "true" true
finish
