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

# azd turns a bool or number parameter's text into a value with Go's strconv.ParseBool and ParseInt; text
# neither accepts is dropped without a word and Bicep's default deploys instead (GRAPHOPS_VNET_ENABLED=yes
# deploys no network). So every such setting is refused here unless azd would read it. Empty is the default.
bool_of() { # setting default -> true or false
  value=$(printenv "$1" || true)
  case "${value:-$2}" in
    1 | t | T | TRUE | true | True) echo true ;;
    0 | f | F | FALSE | false | False) echo false ;;
    *) fail "$1 must be true or false, not '$value'" ;;
  esac
}
for setting in GRAPHOPS_GRANT_GRAPH_PERMISSIONS GRAPHOPS_ENABLE_EVENTS GRAPHOPS_RECORD_QUEUE_TRACKINGS \
  GRAPHOPS_LEARNED_SCHEDULE GRAPHOPS_KEY_VAULT_PURGE_PROTECTION GRAPHOPS_ZONE_REDUNDANT GRAPHOPS_VNET_ENABLED \
  GRAPHOPS_DEPLOYER_DATA_ACCESS GRAPHOPS_MULTITENANT; do
  bool_of "$setting" false >/dev/null
done
for setting in GRAPHOPS_MIN_DELAY_SECONDS GRAPHOPS_MAX_DELAY_SECONDS GRAPHOPS_DEFAULT_TIMEOUT_SECONDS \
  GRAPHOPS_MAX_DELIVERY_ATTEMPTS GRAPHOPS_NOT_FOUND_GRACE_SECONDS GRAPHOPS_STATE_RETENTION_DAYS \
  GRAPHOPS_MAXIMUM_INSTANCE_COUNT GRAPHOPS_ALERT_QUEUE_LAG_SECONDS GRAPHOPS_INSTANCE_MEMORY_MB; do
  value=$(printenv "$setting" || true)
  [ -z "$value" ] || printf '%s' "$value" | grep -Eq '^[0-9]+$' || fail "$setting must be a whole number, not '$value'"
done

min="${GRAPHOPS_MIN_DELAY_SECONDS:-5}"
max="${GRAPHOPS_MAX_DELAY_SECONDS:-60}"
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

if [ "$(bool_of GRAPHOPS_GRANT_GRAPH_PERMISSIONS false)" = true ]; then
  cloud="${GRAPHOPS_GRAPH_CLOUD:-global}"
  [ "$cloud" = "global" ] ||
    fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS: graphops grants Graph permissions in the global cloud only, not in '$cloud': set it to false and grant them with the commands in docs/deploy.md (Graph permissions)"
fi
# Customer tenants are reached through the multitenant app only, which the Graph Bicep extension makes in the
# global cloud only (and an identity's token is exchanged in its own cloud only).
if [ "$(bool_of GRAPHOPS_MULTITENANT false)" = true ]; then
  cloud="${GRAPHOPS_GRAPH_CLOUD:-global}"
  [ "$cloud" = "global" ] ||
    fail "GRAPHOPS_MULTITENANT: graphops makes the multitenant app in the global cloud only, not in '$cloud' (docs/tenants.md)"
elif [ -n "${GRAPHOPS_TENANTS:-}" ]; then
  fail "GRAPHOPS_TENANTS lists customer tenants, which graphops reaches through the multitenant app: set GRAPHOPS_MULTITENANT to true (docs/tenants.md)"
fi


# What follows asks Azure (the az CLI, signed in to the subscription azd deploys to) about what is already there.
subscription="${AZURE_SUBSCRIPTION_ID:-}"
group="${AZURE_RESOURCE_GROUP:-rg-${AZURE_ENV_NAME:-}}" # main.bicep names the group rg-<environment>
errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
# Called as x=$(ask_az ...) || exit 1: fail inside $(...) ends only the subshell, having said why on stderr.
ask_az() { # what-for az-arguments...: az's answer on stdout, or stop naming what needed it
  why=$1
  shift
  command -v az >/dev/null 2>&1 || fail "$why needs the Azure CLI (az): install it and sign in with az login"
  az "$@" ${subscription:+--subscription "$subscription"} -o tsv 2>"$errors" ||
    fail "$why: az $1 $2 failed ($(tr '\n' ' ' <"$errors" | sed 's/ *$//')); sign in with az login to the subscription azd deploys to"
}
deployed() { # what-for: whether this environment's resource group exists
  exists=$(ask_az "$1" group exists -n "$group") || exit 1
  [ "$exists" = true ]
}

# Flex Consumption joins a virtual network through a subnet delegated to Microsoft.App/environments, which
# needs the subscription's Microsoft.App resource provider: without it the deployment fails late and vaguely.
if [ "$(bool_of GRAPHOPS_VNET_ENABLED false)" = true ]; then
  state=$(ask_az GRAPHOPS_VNET_ENABLED provider show -n Microsoft.App --query registrationState) || exit 1
  if [ "$state" != Registered ]; then
    echo "graphops: registering the Microsoft.App resource provider (GRAPHOPS_VNET_ENABLED needs it; a minute or two)"
    ask_az "GRAPHOPS_VNET_ENABLED needs the Microsoft.App resource provider, which is $state here and could not be registered by you (ask a subscription owner to run az provider register -n Microsoft.App)" \
      provider register -n Microsoft.App --wait >/dev/null || exit 1
  fi
fi

# A storage account does not turn from LRS into ZRS by a change of its SKU: that is a conversion, started on
# its own and done by the platform over hours or days (Azure Storage: "Change the redundancy configuration").
if [ "$(bool_of GRAPHOPS_ZONE_REDUNDANT false)" = true ] && deployed GRAPHOPS_ZONE_REDUNDANT; then
  skus=$(ask_az GRAPHOPS_ZONE_REDUNDANT storage account list -g "$group" --query "[?tags.\"azd-env-name\"=='${AZURE_ENV_NAME:-}'].[name, sku.name]") || exit 1
  printf '%s\n' "$skus" | while read -r account sku; do
    case "$sku" in
      "" | *ZRS) ;;
      *) fail "GRAPHOPS_ZONE_REDUNDANT: storage account $account is $sku, and storage does not change to ZRS as a property: start the conversion with az storage account migration start -g $group -n $account --sku Standard_ZRS --no-wait, wait until az storage account show -g $group -n $account --query sku.name says Standard_ZRS (hours to days), then azd provision again" ;;
    esac
  done || exit 1
fi

# A secret graphops makes once per environment: kept in the azd environment, and in Key Vault once deployed.
# Where the environment has none but Key Vault holds one (another machine, or a CI run without the pipeline's
# secrets), it is taken from the vault: a new one would stop the receivers verifying (the callback secret) or
# leave queued messages that no longer open (the envelope key).
keep_secret() { # setting vault-secret-name what-it-is new-value
  value=$(printenv "$1" || true)
  [ -z "$value" ] || return 0
  if deployed "$1"; then
    vault=$(ask_az "$1" keyvault list -g "$group" --query "[?tags.\"azd-env-name\"=='${AZURE_ENV_NAME:-}'].name | [0]") || exit 1
    if [ -n "$vault" ]; then
      if value=$(az keyvault secret show --vault-name "$vault" -n "$2" --query value -o tsv 2>"$errors"); then
        azd env set "$1" "$value" >/dev/null
        echo "graphops: took $1 from Key Vault $vault, where this environment keeps it"
        return 0
      fi
      # Only a vault that answers "not found" is known not to hold it (a deployment stopped half-way).
      grep -q SecretNotFound "$errors" ||
        fail "$1 is not in this azd environment and Key Vault $vault holds it as $2, which you cannot read: azd env set $1 with the value the deployment uses (or be granted Key Vault Secrets User on that secret), rather than make a new one"
    fi
  fi
  azd env set "$1" "$4" >/dev/null
  echo "graphops: generated $3, kept in this azd environment as $1"
}
keep_secret GRAPHOPS_ENVELOPE_KEY graphops-envelope-key "the key that seals graphops' own queue messages" \
  "$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
keep_secret GRAPHOPS_CALLBACK_SECRET graphops-callback-secret "a callback signing secret" \
  "whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
