# azd preprovision hook (Windows): refuse settings the app would refuse, then make a Standard Webhooks
# signing secret once per environment. Same rules as preprovision.sh.
$ErrorActionPreference = 'Stop'
function Fail($message) { Write-Error "graphops: $message"; exit 1 }

$queue = if ($env:GRAPHOPS_QUEUE_NAME) { $env:GRAPHOPS_QUEUE_NAME } else { 'graph-operations' }
if ($queue -cnotmatch '^[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$' -or $queue.Contains('--')) {
  Fail "GRAPHOPS_QUEUE_NAME '$queue' must be 3-56 lower-case letters, digits and single dashes, starting and ending with a letter or digit"
}
$min = if ($env:GRAPHOPS_MIN_DELAY_SECONDS) { [int]$env:GRAPHOPS_MIN_DELAY_SECONDS } else { 5 }
$max = if ($env:GRAPHOPS_MAX_DELAY_SECONDS) { [int]$env:GRAPHOPS_MAX_DELAY_SECONDS } else { 60 }
if ($max -lt $min) { Fail "GRAPHOPS_MAX_DELAY_SECONDS ($max) must be at least GRAPHOPS_MIN_DELAY_SECONDS ($min)" }
$ratio = if ($env:GRAPHOPS_TELEMETRY_SAMPLING_RATIO) { $env:GRAPHOPS_TELEMETRY_SAMPLING_RATIO } else { '1' }
if ($ratio -notmatch '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$') {
  Fail "GRAPHOPS_TELEMETRY_SAMPLING_RATIO must be from 0 to 1, not '$ratio'"
}
$cloud = if ($env:GRAPHOPS_GRAPH_CLOUD) { $env:GRAPHOPS_GRAPH_CLOUD } else { 'global' }
if ($env:GRAPHOPS_GRANT_GRAPH_PERMISSIONS -eq 'true' -and $cloud -ne 'global') {
  Fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS works in the global cloud only: set it to false and grant the permissions with the README's commands"
}

$current = azd env get-value GRAPHOPS_CALLBACK_SECRET 2>$null
if (-not $current -or $LASTEXITCODE -ne 0) {
  $bytes = New-Object byte[] 32
  [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
  azd env set GRAPHOPS_CALLBACK_SECRET ("whsec_" + [Convert]::ToBase64String($bytes)) | Out-Null
  Write-Host "graphops: generated a callback signing secret (azd env get-value GRAPHOPS_CALLBACK_SECRET shows it)"
}
