# azd preprovision hook (Windows): make a Standard Webhooks signing secret once per environment.
$current = azd env get-value GRAPHOPS_CALLBACK_SECRET 2>$null
if (-not $current -or $LASTEXITCODE -ne 0) {
  $bytes = New-Object byte[] 32
  [System.Security.Cryptography.RandomNumberGenerator]::Create().GetBytes($bytes)
  azd env set GRAPHOPS_CALLBACK_SECRET ("whsec_" + [Convert]::ToBase64String($bytes)) | Out-Null
  Write-Host "graphops: generated a callback signing secret (azd env get-value GRAPHOPS_CALLBACK_SECRET shows it)"
}
