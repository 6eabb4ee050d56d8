# azd preprovision hook (Windows): refuse settings the app would refuse, then make a Standard Webhooks
# signing secret once per environment. Same rules as preprovision.sh.
#
# azd hands a hook the environment's values as environment variables: every value is read from there,
# never by calling azd for a value (under Windows PowerShell 5.1 any line azd writes on stderr, such as its
# update notice, would stop this script). azd runs it in PowerShell 7 or, failing that, Windows PowerShell
# 5.1; azure.yaml sets the hook's execution policy so that 5.1's default (Restricted) does not block it.
# Kept to ASCII: Windows PowerShell 5.1 reads a script without a byte-order mark in the ANSI code page.
$ErrorActionPreference = 'Stop'
function Fail($message) { [Console]::Error.WriteLine("graphops: $message"); exit 1 }
if ($PSVersionTable.PSVersion -lt [Version]'5.1') {
  Fail "this hook needs PowerShell 7 (pwsh) or Windows PowerShell 5.1, not $($PSVersionTable.PSVersion): install PowerShell 7 from https://aka.ms/powershell"
}
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
# azd turns a bool or number parameter's text into a value with Go's strconv.ParseBool and ParseInt; text
# neither accepts is dropped without a word and Bicep's default deploys instead (GRAPHOPS_VNET_ENABLED=yes
# deploys no network). So every such setting is refused here unless azd would read it. Empty is the default.
function Get-Bool($setting, $default) {
  $value = [Environment]::GetEnvironmentVariable($setting)
  $text = if ($value) { $value } else { $default }
  if (@('1', 't', 'T', 'TRUE', 'true', 'True') -ccontains $text) { return $true }
  if (@('0', 'f', 'F', 'FALSE', 'false', 'False') -ccontains $text) { return $false }
  Fail "$setting must be true or false, not '$value'"
}
foreach ($setting in @('GRAPHOPS_GRANT_GRAPH_PERMISSIONS', 'GRAPHOPS_ENABLE_EVENTS', 'GRAPHOPS_RECORD_QUEUE_TRACKINGS',
    'GRAPHOPS_LEARNED_SCHEDULE', 'GRAPHOPS_KEY_VAULT_PURGE_PROTECTION', 'GRAPHOPS_ZONE_REDUNDANT', 'GRAPHOPS_VNET_ENABLED',
    'GRAPHOPS_DEPLOYER_DATA_ACCESS', 'GRAPHOPS_MULTITENANT')) {
  $null = Get-Bool $setting 'false'
}
foreach ($setting in @('GRAPHOPS_MIN_DELAY_SECONDS', 'GRAPHOPS_MAX_DELAY_SECONDS', 'GRAPHOPS_DEFAULT_TIMEOUT_SECONDS',
    'GRAPHOPS_MAX_DELIVERY_ATTEMPTS', 'GRAPHOPS_NOT_FOUND_GRACE_SECONDS', 'GRAPHOPS_STATE_RETENTION_DAYS',
    'GRAPHOPS_MAXIMUM_INSTANCE_COUNT', 'GRAPHOPS_ALERT_QUEUE_LAG_SECONDS', 'GRAPHOPS_INSTANCE_MEMORY_MB')) {
  $value = [Environment]::GetEnvironmentVariable($setting)
  if ($value -and $value -notmatch '^[0-9]+$') { Fail "$setting must be a whole number, not '$value'" }
}
$min = if ($env:GRAPHOPS_MIN_DELAY_SECONDS) { $env:GRAPHOPS_MIN_DELAY_SECONDS } else { '5' }
$max = if ($env:GRAPHOPS_MAX_DELAY_SECONDS) { $env:GRAPHOPS_MAX_DELAY_SECONDS } else { '60' }
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
if ((Get-Bool 'GRAPHOPS_GRANT_GRAPH_PERMISSIONS' 'false') -and $cloud -ne 'global') {
  Fail "GRAPHOPS_GRANT_GRAPH_PERMISSIONS: graphops grants Graph permissions in the global cloud only, not in '$cloud': set it to false and grant them with the commands in docs/deploy.md (Graph permissions)"
}
# Customer tenants are reached through the multitenant app only, which the Graph Bicep extension makes in the
# global cloud only (and an identity's token is exchanged in its own cloud only).
if (Get-Bool 'GRAPHOPS_MULTITENANT' 'false') {
  if ($cloud -ne 'global') {
    Fail "GRAPHOPS_MULTITENANT: graphops makes the multitenant app in the global cloud only, not in '$cloud' (docs/tenants.md)"
  }
} elseif ($env:GRAPHOPS_TENANTS) {
  Fail "GRAPHOPS_TENANTS lists customer tenants, which graphops reaches through the multitenant app: set GRAPHOPS_MULTITENANT to true (docs/tenants.md)"
}

# What follows asks Azure (the az CLI, signed in to the subscription azd deploys to) about what is already there.
$subscription = $env:AZURE_SUBSCRIPTION_ID
$group = if ($env:AZURE_RESOURCE_GROUP) { $env:AZURE_RESOURCE_GROUP } else { "rg-$env:AZURE_ENV_NAME" } # main.bicep's name
# Runs az and returns its answer and its error text apart. Windows PowerShell 5.1 turns a native command's
# stderr into error records, which 'Stop' would throw on: here they are only collected.
function Invoke-Az([string[]]$arguments) {
  $ErrorActionPreference = 'Continue'
  if (-not (Get-Command az -ErrorAction SilentlyContinue)) { return @{ Missing = $true } }
  if ($subscription) { $arguments += @('--subscription', $subscription) }
  $all = & az @arguments -o tsv 2>&1
  $code = $LASTEXITCODE
  $out = @($all | Where-Object { $_ -isnot [System.Management.Automation.ErrorRecord] }) -join "`n"
  $err = @($all | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }) -join ' '
  return @{ Missing = $false; Ok = ($code -eq 0); Out = $out.Trim(); Err = $err.Trim() }
}
function Get-Az($why, [string[]]$arguments) {
  $answer = Invoke-Az $arguments
  if ($answer.Missing) { Fail "$why needs the Azure CLI (az): install it and sign in with az login" }
  if (-not $answer.Ok) {
    Fail "$why`: az $($arguments[0]) $($arguments[1]) failed ($($answer.Err)); sign in with az login to the subscription azd deploys to"
  }
  return $answer.Out
}
function Test-Deployed($why) { (Get-Az $why @('group', 'exists', '-n', $group)) -eq 'true' }

# Flex Consumption joins a virtual network through a subnet delegated to Microsoft.App/environments, which
# needs the subscription's Microsoft.App resource provider: without it the deployment fails late and vaguely.
if (Get-Bool 'GRAPHOPS_VNET_ENABLED' 'false') {
  $state = Get-Az 'GRAPHOPS_VNET_ENABLED' @('provider', 'show', '-n', 'Microsoft.App', '--query', 'registrationState')
  if ($state -ne 'Registered') {
    Write-Host "graphops: registering the Microsoft.App resource provider (GRAPHOPS_VNET_ENABLED needs it; a minute or two)"
    $null = Get-Az "GRAPHOPS_VNET_ENABLED needs the Microsoft.App resource provider, which is $state here and could not be registered by you (ask a subscription owner to run az provider register -n Microsoft.App)" @('provider', 'register', '-n', 'Microsoft.App', '--wait')
  }
}

# A storage account does not turn from LRS into ZRS by a change of its SKU: that is a conversion, started on
# its own and done by the platform over hours or days (Azure Storage: "Change the redundancy configuration").
if ((Get-Bool 'GRAPHOPS_ZONE_REDUNDANT' 'false') -and (Test-Deployed 'GRAPHOPS_ZONE_REDUNDANT')) {
  $query = "[?tags.""azd-env-name""=='$env:AZURE_ENV_NAME'].[name, sku.name]"
  $skus = Get-Az 'GRAPHOPS_ZONE_REDUNDANT' @('storage', 'account', 'list', '-g', $group, '--query', $query)
  foreach ($line in ($skus -split "`n")) {
    $account, $sku = $line -split '\s+', 2
    if ($sku -and $sku -notlike '*ZRS') {
      Fail "GRAPHOPS_ZONE_REDUNDANT: storage account $account is $sku, and storage does not change to ZRS as a property: start the conversion with az storage account migration start -g $group -n $account --sku Standard_ZRS --no-wait, wait until az storage account show -g $group -n $account --query sku.name says Standard_ZRS (hours to days), then azd provision again"
    }
  }
}

# A secret graphops makes once per environment: kept in the azd environment, and in Key Vault once deployed.
# Where the environment has none but Key Vault holds one (another machine, or a CI run without the pipeline's
# secrets), it is taken from the vault: a new one would stop the receivers verifying (the callback secret) or
# leave queued messages that no longer open (the envelope key).
function Set-AzdValue($setting, $value) {
  $ErrorActionPreference = 'Continue' # azd's update notice on stderr is no failure
  azd env set $setting $value | Out-Null
  if ($LASTEXITCODE -ne 0) { Fail "azd env set $setting failed" }
}
function New-RandomBase64 {
  $bytes = New-Object byte[] 32
  [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
  [Convert]::ToBase64String($bytes)
}
function Save-Secret($setting, $secretName, $what, $newValue) {
  if ([Environment]::GetEnvironmentVariable($setting)) { return }
  if (Test-Deployed $setting) {
    $query = "[?tags.""azd-env-name""=='$env:AZURE_ENV_NAME'].name | [0]"
    $vault = Get-Az $setting @('keyvault', 'list', '-g', $group, '--query', $query)
    if ($vault) {
      $found = Invoke-Az @('keyvault', 'secret', 'show', '--vault-name', $vault, '-n', $secretName, '--query', 'value')
      if ($found.Ok) {
        Set-AzdValue $setting $found.Out
        Write-Host "graphops: took $setting from Key Vault $vault, where this environment keeps it"
        return
      }
      # Only a vault that answers "not found" is known not to hold it (a deployment stopped half-way).
      if ($found.Err -notmatch 'SecretNotFound') {
        Fail "$setting is not in this azd environment and Key Vault $vault holds it as $secretName, which you cannot read: azd env set $setting with the value the deployment uses (or be granted Key Vault Secrets User on that secret), rather than make a new one"
      }
    }
  }
  Set-AzdValue $setting $newValue
  Write-Host "graphops: generated $what, kept in this azd environment as $setting"
}
Save-Secret 'GRAPHOPS_ENVELOPE_KEY' 'graphops-envelope-key' "the key that seals graphops' own queue messages" (New-RandomBase64)
Save-Secret 'GRAPHOPS_CALLBACK_SECRET' 'graphops-callback-secret' 'a callback signing secret' ('whsec_' + (New-RandomBase64))
