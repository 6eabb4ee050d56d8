# azd preprovision hook (Windows): refuse settings the app would refuse, then make a Standard Webhooks
# signing secret once per environment. Same rules as preprovision.sh.
#
# azd hands a hook the environment's values as environment variables: every value is read from there,
# never by calling azd (under Windows PowerShell 5.1 any line azd writes on stderr, such as its update
# notice, would stop this script). azd 1.19 and later run it in PowerShell 7 or, failing that, 5.1.
$ErrorActionPreference = 'Stop'
function Fail($message) { [Console]::Error.WriteLine("graphops: $message"); exit 1 }
function Test-QueueName($setting, $name) {
  if ($name -cnotmatch '^[a-z0-9][a-z0-9-]{1,54}[a-z0-9]$' -or $name.Contains('--')) {
    Fail "$setting '$name' must be 3-56 lower-case letters, digits and single dashes, starting and ending with a letter or digit"
  }
}

$queue = if ($env:GRAPHOPS_QUEUE_NAME) { $env:GRAPHOPS_QUEUE_NAME } else { 'graph-operations' }
Test-QueueName 'GRAPHOPS_QUEUE_NAME' $queue
if ($env:GRAPHOPS_RESULTS_QUEUE) {
  Test-QueueName 'GRAPHOPS_RESULTS_QUEUE' $env:GRAPHOPS_RESULTS_QUEUE
  if ($env:GRAPHOPS_RESULTS_QUEUE -ceq $queue -or $env:GRAPHOPS_RESULTS_QUEUE -ceq "$queue-poison") {
    Fail "GRAPHOPS_RESULTS_QUEUE must not be the tracking queue or its poison queue"
  }
}
$min = if ($env:GRAPHOPS_MIN_DELAY_SECONDS) { $env:GRAPHOPS_MIN_DELAY_SECONDS } else { '5' }
$max = if ($env:GRAPHOPS_MAX_DELAY_SECONDS) { $env:GRAPHOPS_MAX_DELAY_SECONDS } else { '60' }
if ("$min$max" -notmatch '^[0-9]+$') { Fail "GRAPHOPS_MIN_DELAY_SECONDS and GRAPHOPS_MAX_DELAY_SECONDS must be whole numbers" }
if ([long]$max -lt [long]$min) { Fail "GRAPHOPS_MAX_DELAY_SECONDS ($max) must be at least GRAPHOPS_MIN_DELAY_SECONDS ($min)" }
$ratio = if ($env:GRAPHOPS_TELEMETRY_SAMPLING_RATIO) { $env:GRAPHOPS_TELEMETRY_SAMPLING_RATIO } else { '1' }
if ($ratio -notmatch '^(0(\.[0-9]+)?|1(\.0+)?|\.[0-9]+)$') {
  Fail "GRAPHOPS_TELEMETRY_SAMPLING_RATIO must be from 0 to 1, not '$ratio'"
}

# The names a deployment may give, from graphops/grants.json.
$grants = Get-Content -Raw (Join-Path $PSScriptRoot '../../graphops/grants.json') | ConvertFrom-Json
function Test-Names($setting, $value, $known) {
  foreach ($raw in $value.Split(',')) {
    $name = $raw.Trim()
    if (-not $name) { Fail "$setting has an empty name (a stray comma?): '$value'" }
    if ($known -cnotcontains $name) { Fail "$setting`: '$name' is not one of $($known -join ',')" }
    $why = $grants.notGranted.$name
    if ($why) { Write-Host "graphops: $setting names $name, which is granted nothing ($why)" }
  }
}
$kinds = if ($env:GRAPHOPS_TRACKED_KINDS) { $env:GRAPHOPS_TRACKED_KINDS } else { 'roleManagementAlertRefresh,authenticationMethodOperation' }
Test-Names 'GRAPHOPS_TRACKED_KINDS' $kinds $grants.kinds
if ($env:GRAPHOPS_START_ACTIONS) { Test-Names 'GRAPHOPS_START_ACTIONS' $env:GRAPHOPS_START_ACTIONS $grants.startActions }

# The console lets in exactly the listed operators: with a sign-in and nobody listed it would be closed to all.
if ($env:GRAPHOPS_CONSOLE_CLIENT_ID) {
  $operators = "$env:GRAPHOPS_CONSOLE_OPERATORS".Replace(' ', '')
  if (-not $operators) {
    Fail "GRAPHOPS_CONSOLE_OPERATORS is empty: with GRAPHOPS_CONSOLE_CLIENT_ID set, list the Entra object ids of the console's operators"
  }
  if ($operators -notmatch '^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36})*$') {
    Fail "GRAPHOPS_CONSOLE_OPERATORS must be comma-separated Entra object ids (GUIDs), not '$operators'"
  }
}

$cloud = if ($env:GRAPHOPS_GRAPH_CLOUD) { $env:GRAPHOPS_GRAPH_CLOUD } else { 'global' }
if ($env:GRAPHOPS_GRANT_GRAPH_PERMISSIONS -eq 'true' -and $cloud -ne 'global') {
  Fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS: graphops grants Graph permissions in the global cloud only, not in '$cloud': set it to false and grant them with the README's commands"
}

# The key that seals graphops' own queue messages: made once, kept, never given to producers.
if (-not $env:GRAPHOPS_ENVELOPE_KEY) {
  $key = New-Object byte[] 32
  [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($key)
  azd env set GRAPHOPS_ENVELOPE_KEY ([Convert]::ToBase64String($key)) | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "azd env set GRAPHOPS_ENVELOPE_KEY failed" }
  Write-Host "graphops: generated the key that seals graphops' own queue messages (GRAPHOPS_ENVELOPE_KEY)"
}

if (-not $env:GRAPHOPS_CALLBACK_SECRET) {
  $bytes = New-Object byte[] 32
  [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
  azd env set GRAPHOPS_CALLBACK_SECRET ("whsec_" + [Convert]::ToBase64String($bytes)) | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "azd env set GRAPHOPS_CALLBACK_SECRET failed" }
  Write-Host "graphops: generated a callback signing secret, kept in this azd environment as GRAPHOPS_CALLBACK_SECRET"
}
