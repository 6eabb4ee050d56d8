// Role assignments: exactly what graphops needs, each scoped to the one resource it is needed on.
param storageAccountName string
param appInsightsName string
param keyVaultName string
param identityPrincipalId string
@description('A developer who may enqueue trackings (graphops track) against this account; empty for none.')
param developerPrincipalId string = ''
@description('User for a person; ServicePrincipal when CI signs in as an app.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param developerPrincipalType string = 'User'
@description('Whether the previous envelope key is in the vault too (while rotating).')
param rotatingEnvelopeKey bool = false
@description('The tracking queue: the one queue a producer may send to.')
param queueName string
@description('A producer (a Function, a runbook, a pipeline) that puts requests on the tracking queue; empty for none.')
param producerPrincipalId string = ''
@allowed(['User', 'ServicePrincipal', 'Group'])
param producerPrincipalType string = 'ServicePrincipal'

// Built-in role definition ids (tests/unit/test_infra.py checks each against its name).
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
  storageQueueDataMessageSender: 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6'
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' existing = {
  parent: storage
  name: 'default'
}

resource trackingQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' existing = {
  parent: queueService
  name: queueName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

// Blob: the Functions host keeps its leases and keys in blobs, and Flex Consumption reads the
// deployment package from its container. The host's identity-based storage needs Blob Data Owner.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Queue: the trigger reads and deletes messages, a step re-enqueues with a visibility delay, and
// messages that cannot go on are written to the -poison queue.
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Table: the trackings' state, read and merged at each step.
resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, identityPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Application Insights with local auth disabled accepts telemetry only from identities with this role.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identityPrincipalId, roles.monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// Key Vault: the app settings GRAPHOPS_CALLBACK_SECRET and GRAPHOPS_ENVELOPE_KEY(_PREVIOUS) are Key Vault
// references to these secrets. Each role is scoped to one secret, not the vault: nothing else put in the vault
// later is readable by the app.
var secretNames = concat(['graphops-callback-secret', 'graphops-envelope-key'], rotatingEnvelopeKey ? ['graphops-envelope-key-previous'] : [])

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in secretNames: {
  parent: vault
  name: name
}]

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in secretNames: {
  name: guid(secrets[i].id, identityPrincipalId, roles.keyVaultSecretsUser)
  scope: secrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}]

// A developer enqueuing trackings from a workstation (graphops track, graphops poison).
resource developerQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  name: guid(storage.id, developerPrincipalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

// ...and running the app locally against this account (graphops run): the HTTP API keeps state in a table.
resource developerTable 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  name: guid(storage.id, developerPrincipalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

// ...and, on another workstation, the preprovision hook reads the environment's secrets back from the vault
// rather than make new ones (which would stop receivers verifying and leave queued messages unopenable).
resource developerSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for (name, i) in secretNames: if (!empty(developerPrincipalId)) {
  name: guid(secrets[i].id, developerPrincipalId, roles.keyVaultSecretsUser)
  scope: secrets[i]
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}]

// A producer sends to the tracking queue and nowhere else: not the -poison queue (where it could write dead
// letters), not the results queue (where it could write results), and it reads nothing. Scoped to the queue.
resource producerQueue 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(producerPrincipalId)) {
  name: guid(trackingQueue.id, producerPrincipalId, roles.storageQueueDataMessageSender)
  scope: trackingQueue
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)
    principalId: producerPrincipalId
    principalType: producerPrincipalType
  }
}
