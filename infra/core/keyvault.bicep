// Key Vault in RBAC mode, holding the callback signing secret; the app reads it through a Key Vault reference.
param name string
param location string
param tags object
@secure()
param callbackSecret string

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
    enablePurgeProtection: true
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
