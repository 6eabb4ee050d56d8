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

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
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

output name string = account.name
output blobEndpoint string = account.properties.primaryEndpoints.blob
output queueEndpoint string = account.properties.primaryEndpoints.queue
output tableEndpoint string = account.properties.primaryEndpoints.table

// The results queue (off by default), beside the tracking queues.
resource resultsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = if (!empty(resultsQueueName)) {
  parent: account::queues
  name: resultsQueueName
}
