#!/bin/sh
# The HTTP API with curl. Locally: `graphops run` serves it on http://127.0.0.1:7071 (no key needed).
# In Azure: BASE=https://<app>.azurewebsites.net and KEY=$(az functionapp keys list -g <rg> -n <app> --query functionKeys.default -o tsv)
set -eu
BASE=${BASE:-http://127.0.0.1:7071}
KEY=${KEY:-}

# Subscribe: track an operation whose Location you already have; the outcome is POSTed to callbackUrl.
curl -sS -X POST "$BASE/api/operations" -H "x-functions-key: $KEY" -H 'Content-Type: application/json' \
  -H 'Idempotency-Key: reset-2026-11-28-adele' \
  -d '{"operationUrl": "https://graph.microsoft.com/v1.0/users/adele@contoso.com/authentication/operations/2d497bb-57bd-47a6-8749-5ccd0869f2bd?aadgdc=DUB02P",
       "callbackUrl": "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-10-01&sig=...",
       "correlationId": "adele-reset"}'
# -> 202 {"trackingId": "6c1f...", "statusUrl": ".../api/operations/6c1f..."}

# Read its state while it runs.
curl -sS "$BASE/api/operations/$TRACKING_ID" -H "x-functions-key: $KEY"

# Cancel (no callback will be sent); by id, by the subscribe's callbackUrl, or by the Idempotency-Key it sent
# (a key is bound to its request: the same key with another body is refused with 422).
curl -sS -X DELETE "$BASE/api/operations/$TRACKING_ID" -H "x-functions-key: $KEY"
curl -sS -X DELETE "$BASE/api/operations?idempotencyKey=reset-2026-11-28-adele" -H "x-functions-key: $KEY"
curl -sS -X DELETE "$BASE/api/operations" -H "x-functions-key: $KEY" -H 'Content-Type: application/json' \
  -d '{"callbackUrl": "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-10-01&sig=..."}'

# Start a role management alert refresh with graphops' own identity, and track it.
curl -sS -X POST "$BASE/api/role-management-alerts/refresh" -H "x-functions-key: $KEY" -H 'Content-Type: application/json' \
  -d '{"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": "https://prod-00.westeurope.logic.azure.com/..."}'

# The API's OpenAPI document.
curl -sS "$BASE/api/openapi.json"
