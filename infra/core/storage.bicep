// Storage for the Functions host, the tracking queues, the state table and the deployment package.
// Shared keys are off: every client, the host included, signs in with Entra ID.
param name string
param location string
param tags object
param deploymentContainerName string
param queueName string
@description('The results queue (GRAPHOPS_RESULTS_QUEUE); empty for none.')
param resultsQueueName string = ''
param stateTableName string
@description('Zone-redundant storage (three zones of the region) rather than locally redundant (one datacentre).')
param zoneRedundant bool = false
@description('Disabled when the private network is on: the account is then reached over its private endpoints only.')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'
@description('The Log Analytics workspace that receives the blob, queue and table services\' logs.')
param workspaceId string

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: publicNetworkAccess
    networkAcls: {
      defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'
      bypass: 'AzureServices'
    }
  }

  resource blobs 'blobServices' = {
    name: 'default'
    resource deployment 'containers' = {
      name: deploymentContainerName
      properties: { publicAccess: 'None' }
    }
  }

  resource queues 'queueServices' = {
    name: 'default'
    resource trackings 'queues' = {
      name: queueName
    }
    resource poison 'queues' = {
      name: '${queueName}-poison'
    }
  }

  resource tables 'tableServices' = {
    name: 'default'
    resource state 'tables' = {
      name: stateTableName
    }
  }
}

// Who read, wrote and deleted what: the blobs (the host's leases and keys, the deployment package), the
// queues (trackings, dead letters) and the state table.
resource blobLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: account::blobs
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'Transaction', enabled: true }]
  }
}

resource queueLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: account::queues
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'Transaction', enabled: true }]
  }
}

resource tableLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: account::tables
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'Transaction', enabled: true }]
  }
}

output id string = account.id
output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table

// The results queue (off by default), beside the tracking queues.
resource resultsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = if (!empty(resultsQueueName)) {
  parent: account::queues
  name: resultsQueueName
}
