// An Event Grid custom topic for graphops' results: CloudEvents 1.0 input, Entra ID only (no access keys),
// and the app's identity as its one sender.
param name string
param location string
param tags object

@description('The identity that publishes: graphops\' user-assigned managed identity.')
param senderPrincipalId string

@description('Public network access, as the Function App has it (Flex Consumption without a virtual network).')
@allowed(['Enabled', 'Disabled'])
param publicNetworkAccess string = 'Enabled'

@description('The Log Analytics workspace that receives the topic\'s publish failures and data-plane requests.')
param workspaceId string

var roles = {
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7'
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: name
  location: location
  tags: tags
  // No identity of its own: the topic delivers to no destination that needs one (graphops only publishes).
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true // no access keys or SAS: a publisher needs an Entra ID token and the role below
    publicNetworkAccess: publicNetworkAccess
    minimumTlsVersionAllowed: '1.2'
  }
}

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(topic.id, senderPrincipalId, roles.eventGridDataSender)
  scope: topic
  properties: {
    principalId: senderPrincipalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
  }
}

output name string = topic.name
output endpoint string = topic.properties.endpoint
output id string = topic.id

resource topicLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: topic
  properties: {
    workspaceId: workspaceId
    logs: [{ categoryGroup: 'allLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}
