// Key Vault in RBAC mode, holding the callback signing secret; the app reads it through a Key Vault reference.
param name string
param location string
param tags object
@secure()
param callbackSecret string
@secure()
@description('The key that seals graphops\' own queue messages.')
param envelopeKey string
@secure()
@description('The previous envelope key, while rotating; ignored unless rotatingEnvelopeKey.')
param envelopeKeyPrevious string = ''
@description('Whether an envelope key is being rotated (envelopeKeyPrevious is given).')
param rotatingEnvelopeKey bool = false
@description('Purge protection: a deleted vault keeps its name for the retention period, even from its owner.')
param enablePurgeProtection bool = false
@description('recover brings back a soft-deleted vault of the same name (after `azd down` without --purge).')
@allowed(['default', 'recover'])
param createMode string = 'default'
@description('Disabled when the private network is on: the vault is then reached over its private endpoint only.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'
@description('The Log Analytics workspace that receives the vault\'s audit events.')
param workspaceId string

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
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }

  resource secret 'secrets' = {
    name: 'graphops-callback-secret'
    properties: {
      value: callbackSecret
      contentType: 'Standard Webhooks secret (whsec_)'
    }
  }
}

// Every read of the signing secret, and every change to the vault.
resource auditLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: vault
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'audit', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output id string = vault.id
output name string = vault.name
resource envelope 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'graphops-envelope-key'
  properties: {
    value: envelopeKey
    contentType: 'HMAC key for graphops\' queue messages'
  }
}

resource envelopePrevious 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (rotatingEnvelopeKey) {
  parent: vault
  name: 'graphops-envelope-key-previous'
  properties: {
    value: envelopeKeyPrevious
    contentType: 'HMAC key for graphops\' queue messages (the previous one, while rotating)'
  }
}

output callbackSecretUri string = vault::secret.properties.secretUri
output envelopeKeyUri string = envelope.properties.secretUri
output envelopeKeyPreviousUri string = rotatingEnvelopeKey ? envelopePrevious.properties.secretUri : ''
