#!/bin/sh
# A CI step that calls a psimbols server and branches on the documented exit codes.
# Usage: PSIMBOLS_CLIENT_CONFIG=client.json examples/ci-call.sh N
set -u
psimbols=${PSIMBOLS:-psimbols}
n=${1:-10}

value=$($psimbols call supermath factorial "n=$n" --timeout 5 --retry 2)
status=$?
case $status in
  0) echo "factorial($n) = $value" ;;
  1) echo "the server refused the input (see the message above)" >&2; exit 1 ;;
  3) echo "server unreachable: skipping this step" >&2; exit 0 ;;
  4) echo "authentication refused: check the client config and the key" >&2; exit 1 ;;
  5) echo "rate limited: try this job again later" >&2; exit 75 ;;
  *) echo "psimbols call failed with exit code $status" >&2; exit 1 ;;
esac

# Many calls: one process for all of them, one JSON line in and one out per call, in order.
i=1
while [ "$i" -le "$n" ]; do
  printf '{"module":"supermath","function":"is_prime","params":{"n":%s},"id":%s}\n' "$i" "$i"
  i=$((i + 1))
done > calls.jsonl
$psimbols call --batch calls.jsonl --timeout 5 > answers.jsonl
status=$?
primes=$(grep -c '"value":true' answers.jsonl)
echo "primes up to $n: $primes (exit $status)"
rm -f calls.jsonl answers.jsonl
exit $status
