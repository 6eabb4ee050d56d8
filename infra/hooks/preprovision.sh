#!/bin/sh
# azd preprovision hook: refuse settings the app would refuse (what Bicep's decorators cannot express),
# then make a Standard Webhooks signing secret once per environment and keep it, so redeploying never
# rotates it behind the receivers' backs. Rotate on purpose with `azd env set`.
set -eu

fail() { echo "graphops: $1" >&2; exit 1; }

queue="${GRAPHOPS_QUEUE_NAME:-graph-operations}"
case "$queue" in *--*) fail "GRAPHOPS_QUEUE_NAME '$queue' has a double dash" ;; esac
printf '%s' "$queue" | grep -Eq '^[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$' ||
  fail "GRAPHOPS_QUEUE_NAME '$queue' must be 3-56 lower-case letters, digits and dashes, starting and ending with a letter or digit"

min="${GRAPHOPS_MIN_DELAY_SECONDS:-5}"
max="${GRAPHOPS_MAX_DELAY_SECONDS:-60}"
printf '%s' "$min$max" | grep -Eq '^[0-9]+$' || fail "GRAPHOPS_MIN_DELAY_SECONDS and GRAPHOPS_MAX_DELAY_SECONDS must be whole numbers"
[ "$max" -ge "$min" ] || fail "GRAPHOPS_MAX_DELAY_SECONDS ($max) must be at least GRAPHOPS_MIN_DELAY_SECONDS ($min)"

ratio="${GRAPHOPS_TELEMETRY_SAMPLING_RATIO:-1}"
printf '%s' "$ratio" | grep -Eq '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$' ||
  fail "GRAPHOPS_TELEMETRY_SAMPLING_RATIO must be from 0 to 1, not '$ratio'"

if [ "${GRAPHOPS_GRANT_GRAPH_PERMISSIONS:-false}" = "true" ]; then
  cloud="${GRAPHOPS_GRAPH_CLOUD:-global}"
  [ "$cloud" = "global" ] ||
    fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS works in the global cloud only (the Microsoft Graph Bicep extension does not exist in '$cloud'): set it to false and grant the permissions with the README's commands"
fi

if [ -z "$(azd env get-value GRAPHOPS_CALLBACK_SECRET 2>/dev/null || true)" ]; then
  secret="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  azd env set GRAPHOPS_CALLBACK_SECRET "$secret" >/dev/null
  echo "graphops: generated a callback signing secret (azd env get-value GRAPHOPS_CALLBACK_SECRET shows it)"
fi
