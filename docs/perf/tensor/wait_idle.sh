#!/usr/bin/env bash
# Waits until other processes use <5% of the machine (as anchors/run_all.sh does).
busy_pct() {
  local u n s i w q sq st b0 t0
  read -r _ u n s i w q sq st _ < /proc/stat; b0=$((u+n+s+q+sq)); t0=$((b0+i+w+st))
  sleep 2
  read -r _ u n s i w q sq st _ < /proc/stat
  echo $(( 100 * (u+n+s+q+sq - b0) / (u+n+s+q+sq+i+w+st - t0) ))
}
waited=0
while [ "$(busy_pct)" -gt 5 ]; do
  if [ "$waited" -ge "${WAIT_MAX:-300}" ]; then echo "still busy after ${waited}s; running anyway" >&2; exit 0; fi
  sleep 3; waited=$((waited + 5))
done
echo "idle after ${waited}s" >&2
