. /tests/guest/lib.sh
check "true" true
sleep 100000
