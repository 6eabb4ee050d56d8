// Microsoft Graph application permissions for graphops' identity. Deploying this needs a directory
// admin (Privileged Role Administrator or Global Administrator). main.bicep deploys it only where Graph is
// the global cloud's: the Microsoft Graph Bicep extension's resources are Graph's global endpoint's.
extension microsoftGraphV1

@description('The managed identity\'s service principal object id.')
param principalId string

@description('The Microsoft Graph application permissions to grant (main.bicep chooses them from graphops/grants.json).')
param permissions array

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph's application id, the same in every tenant
}

// One grant per permission: nothing else.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for permission in permissions: {
    principalId: principalId
    resourceId: graph.id
    appRoleId: filter(graph.appRoles, role => role.value == permission)[0].id
  }
]
