. /tests/guest/lib.sh
sleep 45
check "true" true
finish
