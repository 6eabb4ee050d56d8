// Key Vault in RBAC mode, holding the callback signing secret; the app reads it through a Key Vault reference.
param name string
param location string
param tags object
@secure()
param callbackSecret string
@description('Purge protection: a deleted vault keeps its name for the retention period, even from its owner.')
param enablePurgeProtection bool = false
@description('recover brings back a soft-deleted vault of the same name (after `azd down` without --purge).')
@allowed(['default', 'recover'])
param createMode string = 'default'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // true or absent: the service refuses false once it was on, and a dev environment must be purgeable.
    enablePurgeProtection: enablePurgeProtection ? true : null
    createMode: createMode
    publicNetworkAccess: 'Enabled'
  }

  resource secret 'secrets' = {
    name: 'graphops-callback-secret'
    properties: {
      value: callbackSecret
      contentType: 'Standard Webhooks secret (whsec_)'
    }
  }
}

output name string = vault.name
output callbackSecretUri string = vault::secret.properties.secretUri
