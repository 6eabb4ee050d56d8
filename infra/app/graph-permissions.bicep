// Microsoft Graph application permissions for graphops' identity. Deploying this needs a directory
// admin (Privileged Role Administrator or Global Administrator), and the Microsoft Graph Bicep
// extension works in the global cloud only: elsewhere use the commands in the README.
extension microsoftGraphV1

@description('The managed identity\'s service principal object id.')
param principalId string

@description('The operation kinds this deployment tracks (graphops/kinds): each gets the read permission it needs.')
param kinds array = ['roleManagementAlertRefresh', 'authenticationMethodOperation']

@description('Also grant RoleManagementAlert.ReadWrite.Directory, needed to start alert refreshes.')
param includeStartAndTrack bool = false

// Least privilege: each read permission, with the kinds whose GET needs it, as Graph's reference pages name
// them (tests/unit/test_infra.py holds this table to graphops/kinds).
var readPermissionKinds = [
  { permission: 'RoleManagementAlert.Read.Directory', kinds: ['roleManagementAlertRefresh'] }
  { permission: 'UserAuthenticationMethod.Read.All', kinds: ['authenticationMethodOperation'] }
  { permission: 'Team.ReadBasic.All', kinds: ['teamsAsyncOperation'] }
  { permission: 'Chat.ReadBasic.All', kinds: ['chatAsyncOperation'] }
  { permission: 'Sites.Read.All', kinds: ['siteOperation', 'listOperation'] }
  { permission: 'User.Export.All', kinds: ['dataPolicyOperation'] }
  { permission: 'User.Read.All', kinds: ['dataPolicyOperation'] }
  { permission: 'eDiscovery.ReadWrite.All', kinds: ['ediscoveryCaseOperation'] }
  { permission: 'AttackSimulation.Read.All', kinds: ['attackSimulationOperation'] }
  { permission: 'ExternalConnection.ReadWrite.OwnedBy', kinds: ['externalConnectionOperation'] }
  { permission: 'Notes.Read.All', kinds: ['onenoteOperation'] }
  { permission: 'DelegatedAdminRelationship.Read.All', kinds: ['delegatedAdminRelationshipOperation'] }
]
resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph's application id, the same in every tenant
}

// One grant per permission whose kinds this deployment tracks: nothing else.
resource readGrants 'Microsoft.Graph/appRoleAssignedTo@v1.0' = [
  for entry in readPermissionKinds: if (length(intersection(entry.kinds, kinds)) > 0) {
    principalId: principalId
    resourceId: graph.id
    appRoleId: filter(graph.appRoles, role => role.value == entry.permission)[0].id
  }
]

resource startGrant 'Microsoft.Graph/appRoleAssignedTo@v1.0' = if (includeStartAndTrack) {
  principalId: principalId
  resourceId: graph.id
  appRoleId: filter(graph.appRoles, role => role.value == 'RoleManagementAlert.ReadWrite.Directory')[0].id
}
