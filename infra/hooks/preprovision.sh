#!/bin/sh
# azd preprovision hook: refuse settings the app would refuse (what Bicep's decorators cannot express),
# then make a Standard Webhooks signing secret once per environment and keep it, so redeploying never
# rotates it behind the receivers' backs. Rotate on purpose with `azd env set`.
#
# azd hands a hook the environment's values as environment variables: every value is read from there.
# (`azd env get-value` is no test for a missing value: it prints its "key not found" error on stdout.)
set -euf  # -f: a name with * in it is a name, not a pattern

fail() { echo "graphops: $1" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
grants="$here/../../graphops/grants.json"

check_queue() { # setting name
  case "$2" in *--*) fail "$1 '$2' has a double dash" ;; esac
  printf '%s' "$2" | grep -Eq '^[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$' ||
    fail "$1 '$2' must be 3-56 lower-case letters, digits and dashes, starting and ending with a letter or digit"
}

queue="${GRAPHOPS_QUEUE_NAME:-graph-operations}"
check_queue GRAPHOPS_QUEUE_NAME "$queue"
results="${GRAPHOPS_RESULTS_QUEUE:-}"
if [ -n "$results" ]; then
  check_queue GRAPHOPS_RESULTS_QUEUE "$results"
  [ "$results" != "$queue" ] && [ "$results" != "$queue-poison" ] ||
    fail "GRAPHOPS_RESULTS_QUEUE must not be the tracking queue or its poison queue"
fi

min="${GRAPHOPS_MIN_DELAY_SECONDS:-5}"
max="${GRAPHOPS_MAX_DELAY_SECONDS:-60}"
printf '%s' "$min$max" | grep -Eq '^[0-9]+$' || fail "GRAPHOPS_MIN_DELAY_SECONDS and GRAPHOPS_MAX_DELAY_SECONDS must be whole numbers"
[ "$max" -ge "$min" ] || fail "GRAPHOPS_MAX_DELAY_SECONDS ($max) must be at least GRAPHOPS_MIN_DELAY_SECONDS ($min)"

ratio="${GRAPHOPS_TELEMETRY_SAMPLING_RATIO:-1}"
printf '%s' "$ratio" | grep -Eq '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$' ||
  fail "GRAPHOPS_TELEMETRY_SAMPLING_RATIO must be from 0 to 1, not '$ratio'"

# The names a deployment may give, from graphops/grants.json (one list per line there).
known() { sed -n "s/^ *\"$1\": \[\(.*\)\],\{0,1\}$/\1/p" "$grants" | tr -d '" '; }
check_names() { # setting value known-names
  case "$2" in ,* | *, | *,,*) fail "$1 has an empty name (a stray comma?): '$2'" ;; esac
  old_ifs=$IFS
  IFS=,
  for name in $2; do
    name=$(printf '%s' "$name" | tr -d ' \t')
    [ -n "$name" ] || fail "$1 has an empty name (a stray comma?): '$2'"
    case ",$3," in *",$name,"*) ;; *) fail "$1: '$name' is not one of $3" ;; esac
    why=$(sed -n "s/.*\"$name\": \"\([^\"]*\)\".*/\1/p" "$grants")
    [ -z "$why" ] || echo "graphops: $1 names $name, which is granted nothing ($why)"
  done
  IFS=$old_ifs
}
check_names GRAPHOPS_TRACKED_KINDS "${GRAPHOPS_TRACKED_KINDS:-roleManagementAlertRefresh,authenticationMethodOperation}" "$(known kinds)"
[ -z "${GRAPHOPS_START_ACTIONS:-}" ] || check_names GRAPHOPS_START_ACTIONS "$GRAPHOPS_START_ACTIONS" "$(known startActions)"

# The console lets in exactly the listed operators: with a sign-in and nobody listed it would be closed to all.
if [ -n "${GRAPHOPS_CONSOLE_CLIENT_ID:-}" ]; then
  operators=$(printf '%s' "${GRAPHOPS_CONSOLE_OPERATORS:-}" | tr -d ' ')
  [ -n "$operators" ] ||
    fail "GRAPHOPS_CONSOLE_OPERATORS is empty: with GRAPHOPS_CONSOLE_CLIENT_ID set, list the Entra object ids of the console's operators"
  printf '%s' "$operators" | grep -Eq '^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36})*$' ||
    fail "GRAPHOPS_CONSOLE_OPERATORS must be comma-separated Entra object ids (GUIDs), not '$operators'"
fi

if [ "${GRAPHOPS_GRANT_GRAPH_PERMISSIONS:-false}" = "true" ]; then
  cloud="${GRAPHOPS_GRAPH_CLOUD:-global}"
  [ "$cloud" = "global" ] ||
    fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS: graphops grants Graph permissions in the global cloud only, not in '$cloud': set it to false and grant them with the README's commands"
fi

# The key that seals graphops' own queue messages: made once, kept, never given to producers.
if [ -z "${GRAPHOPS_ENVELOPE_KEY:-}" ]; then
  azd env set GRAPHOPS_ENVELOPE_KEY "$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >/dev/null
  echo "graphops: generated the key that seals graphops' own queue messages (GRAPHOPS_ENVELOPE_KEY)"
fi

if [ -z "${GRAPHOPS_CALLBACK_SECRET:-}" ]; then
  secret="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  azd env set GRAPHOPS_CALLBACK_SECRET "$secret" >/dev/null
  echo "graphops: generated a callback signing secret, kept in this azd environment as GRAPHOPS_CALLBACK_SECRET"
fi
