// Microsoft Graph application permissions for graphops' identity. Deploying this needs a directory
// admin (Privileged Role Administrator or Global Administrator). main.bicep deploys it only where Graph is
// the global cloud's: the Microsoft Graph Bicep extension's resources are Graph's global endpoint's.
extension microsoftGraphV1

@description('The managed identity\'s service principal object id.')
param principalId string

@description('The operation kinds this deployment tracks (graphops/kinds): each gets the read permission it needs.')
param kinds array = ['roleManagementAlertRefresh', 'authenticationMethodOperation']

@description('The start actions this deployment enables (graphops/actions.py): each gets the write permission it needs, and the read permission of the operation it starts.')
param startActions array = []

// Least privilege: each permission, with the kinds whose GET needs it and the start actions whose request
// needs it, as Graph's reference pages name them. The table is graphops/grants.json, which the preprovision
// hooks read for the names a deployment may give and tests/unit/test_infra.py holds to graphops/kinds and
// graphops/actions. An action also needs the read permission of the kind it starts. OneNote's operations are
// in no row: OneNote refuses app-only tokens since 31 March 2025.
var permissionTable = loadJsonContent('../../graphops/grants.json').permissions

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph's application id, the same in every tenant
}

// One grant per permission whose kinds this deployment tracks or whose actions it enables: nothing else.
resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for entry in permissionTable: if (length(intersection(entry.kinds, kinds)) > 0 || length(intersection(entry.actions, startActions)) > 0) {
    principalId: principalId
    resourceId: graph.id
    appRoleId: filter(graph.appRoles, role => role.value == entry.permission)[0].id
  }
]
