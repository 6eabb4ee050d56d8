#!/bin/sh
# azd preprovision hook: make a Standard Webhooks signing secret once per environment and keep it,
# so redeploying never rotates it behind the receivers' backs. Rotate on purpose with `azd env set`.
set -eu
if [ -z "$(azd env get-value GRAPHOPS_CALLBACK_SECRET 2>/dev/null || true)" ]; then
  secret="whsec_$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
  azd env set GRAPHOPS_CALLBACK_SECRET "$secret" >/dev/null
  echo "graphops: generated a callback signing secret (azd env get-value GRAPHOPS_CALLBACK_SECRET shows it)"
fi
