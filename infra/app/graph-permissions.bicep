// Microsoft Graph application permissions for graphops' identity. Deploying this needs a directory
// admin (Privileged Role Administrator or Global Administrator), and the Microsoft Graph Bicep
// extension works in the global cloud only: elsewhere use the commands in the README.
extension microsoftGraphV1

@description('The managed identity\'s service principal object id.')
param principalId string

@description('Also grant RoleManagementAlert.ReadWrite.Directory, needed to start alert refreshes.')
param includeStartAndTrack bool = false

// Least privilege: read-only permissions to read the two operation kinds.
var readPermissions = [
  'RoleManagementAlert.Read.Directory' // role management alert refresh operations
  'UserAuthenticationMethod.Read.All' // authentication method (password reset) operations
]
var permissions = includeStartAndTrack ? concat(readPermissions, ['RoleManagementAlert.ReadWrite.Directory']) : readPermissions

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph's application id, the same in every tenant
}

resource grants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for permission in permissions: {
    principalId: principalId
    resourceId: graph.id
    appRoleId: filter(graph.appRoles, role => role.value == permission)[0].id
  }
]
