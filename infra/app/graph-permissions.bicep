// Microsoft Graph application permissions for graphops' identity. Deploying this needs a directory
// admin (Privileged Role Administrator or Global Administrator), and the Microsoft Graph Bicep
// extension works in the global cloud only: elsewhere use the commands in the README.
extension microsoftGraphV1

@description('The managed identity\'s service principal object id.')
param principalId string

@description('The operation kinds this deployment tracks (graphops/kinds): each gets the read permission it needs.')
param kinds array = ['roleManagementAlertRefresh', 'authenticationMethodOperation']

@description('The start actions this deployment enables (graphops/actions.py): each gets the write permission it needs, and the read permission of the operation it starts.')
param startActions array = []

// Least privilege: each permission, with the kinds whose GET needs it and the start actions whose request
// needs it, as Graph's reference pages name them (tests/unit/test_infra.py holds this table to graphops/kinds
// and graphops/actions). An action also needs the read permission of the kind it starts.
var permissionTable = [
  { permission: 'RoleManagementAlert.Read.Directory', kinds: ['roleManagementAlertRefresh'], actions: ['roleManagementAlertRefresh'] }
  { permission: 'UserAuthenticationMethod.Read.All', kinds: ['authenticationMethodOperation'], actions: [] }
  { permission: 'Team.ReadBasic.All', kinds: ['teamsAsyncOperation'], actions: ['teamCreate', 'teamClone', 'teamArchive', 'teamUnarchive'] }
  { permission: 'Chat.ReadBasic.All', kinds: ['chatAsyncOperation'], actions: [] }
  { permission: 'Sites.Read.All', kinds: ['siteOperation', 'listOperation'], actions: ['siteContentTypeCopy', 'listContentTypeCopy'] }
  { permission: 'User.Export.All', kinds: ['dataPolicyOperation'], actions: ['personalDataExport'] }
  { permission: 'User.Read.All', kinds: ['dataPolicyOperation'], actions: ['personalDataExport'] }
  { permission: 'eDiscovery.ReadWrite.All', kinds: ['ediscoveryCaseOperation'], actions: ['ediscoveryEstimate', 'ediscoveryExportResult', 'ediscoveryExportReport', 'ediscoveryAddToReviewSet'] }
  { permission: 'AttackSimulation.Read.All', kinds: ['attackSimulationOperation'], actions: [] }
  { permission: 'ExternalConnection.ReadWrite.OwnedBy', kinds: ['externalConnectionOperation'], actions: ['externalConnectionSchema'] }
  { permission: 'Notes.Read.All', kinds: ['onenoteOperation'], actions: [] }
  { permission: 'DelegatedAdminRelationship.Read.All', kinds: ['delegatedAdminRelationshipOperation'], actions: [] }
  { permission: 'RoleManagementAlert.ReadWrite.Directory', kinds: [], actions: ['roleManagementAlertRefresh'] }
  { permission: 'Team.Create', kinds: [], actions: ['teamCreate', 'teamClone'] }
  { permission: 'TeamSettings.ReadWrite.All', kinds: [], actions: ['teamArchive', 'teamUnarchive'] }
  { permission: 'Files.ReadWrite.All', kinds: [], actions: ['driveItemCopy'] }
  { permission: 'Sites.Manage.All', kinds: [], actions: ['siteContentTypeCopy', 'listContentTypeCopy'] }
]
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
