// graphops: a Flex Consumption function app that waits on Microsoft Graph long-running operations.
// Everything runs as one user-assigned managed identity; the storage account takes no shared keys.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds every resource name.')
param environmentName string

// The regions that offer Flex Consumption (as the Azure-Samples Flex templates list them): azd's prompt
// offers only these, and a region without Flex is refused before anything is created. docs/deploy.md lists the
// same (tests/unit/test_infra.py holds them together).
@minLength(1)
@description('Region for every resource: one that offers Flex Consumption.')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of a developer who may enqueue trackings and read state (for local runs); empty for none.')
param principalId string = ''

@description('What principalId is: User for a person, ServicePrincipal when CI signs in as an app.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param principalType string = 'User'

// azd fills principalId and principalType from whoever runs it, a CI pipeline's service principal included.
// A person deploying wants to enqueue and read state from their workstation; a pipeline needs no data at all.
@description('GRAPHOPS_DEPLOYER_DATA_ACCESS: give principalId Queue and Table Data Contributor on storage and Key Vault Secrets User on graphops\' secrets. Unset: on for a person (User), off for a service principal (CI).')
param deployerDataAccess bool = principalType == 'User'

@description('GRAPHOPS_PRODUCER_PRINCIPAL_ID: object id of a queue producer (a Function, a runbook), given Storage Queue Data Message Sender on the tracking queue only; empty for none.')
param producerPrincipalId string = ''

@description('What producerPrincipalId is: ServicePrincipal for a managed identity or an app.')
@allowed(['User', 'ServicePrincipal', 'Group'])
param producerPrincipalType string = 'ServicePrincipal'

@secure()
@minLength(38)
@description('Standard Webhooks signing secret: whsec_ + base64 of 24-64 random bytes. Stored in Key Vault only.')
param callbackSecret string

@secure()
@minLength(32)
@description('GRAPHOPS_ENVELOPE_KEY: seals graphops\' own queue messages, so a queue producer cannot forge them. Made once per environment by the preprovision hook; stored in Key Vault only.')
param envelopeKey string

@secure()
@description('GRAPHOPS_ENVELOPE_KEY_PREVIOUS: while rotating the envelope key, the old one, still accepted; empty otherwise.')
param envelopeKeyPrevious string = ''

@description('GRAPHOPS_GRAPH_CLOUD: global, usgov, usgovdod or china. Empty: follow the cloud this deploys to.')
@allowed(['', 'global', 'usgov', 'usgovdod', 'china'])
param graphCloud string = ''

@description('GRAPHOPS_CALLBACK_ALLOWED_HOSTS. Empty: the Logic Apps hosts of the Graph cloud.')
param callbackAllowedHosts string = ''

@description('GRAPHOPS_MONITOR_ALLOWED_HOSTS: where drive-copy monitors may be read. Empty: the cloud\'s SharePoint hosts.')
param monitorAllowedHosts string = ''

@description('Grant the identity its Microsoft Graph application permissions (needs a directory admin; graphops grants in the global cloud only).')
param grantGraphPermissions bool = false

@description('GRAPHOPS_START_ACTIONS: comma-separated start actions graphops may send with its identity (docs/start-actions.md). Empty: none. The grants add exactly their write permissions.')
param startActions string = ''

@description('GRAPHOPS_EXPORT_STORAGE_ACCOUNTS: comma-separated storage account names a personal data export (personalDataExport) may be written to. Empty: exports are refused.')
param exportStorageAccounts string = ''

@description('Comma-separated operation kinds this deployment tracks; the grants cover exactly these (docs/kinds.md).')
param trackedKinds string = 'roleManagementAlertRefresh,authenticationMethodOperation'

@description('GRAPHOPS_MULTITENANT: serve customer tenants too, through a new multitenant app registration whose only credential trusts the identity (docs/tenants.md). Off: the home tenant only.')
param multitenant bool = false

@description('GRAPHOPS_TENANTS: the customer tenants graphops serves, in the app\'s format (docs/settings.md), handed to the app as JSON. Empty: none.')
param tenants object = {}

@description('Publish every finished tracking as a CloudEvent to a new Event Grid topic (GRAPHOPS_EVENT_GRID_ENDPOINT).')
param enableEvents bool = false

@description('GRAPHOPS_RESULTS_QUEUE: a storage queue that receives every finished tracking\'s CloudEvent; empty for none.')
param resultsQueueName string = ''

@description('GRAPHOPS_RECORD_QUEUE_TRACKINGS: keep a state (status view, stale duplicates dropped) for trackings put straight on the queue too.')
param recordQueueTrackings bool = true

@description('GRAPHOPS_LEARNED_SCHEDULE: a kind with enough finished trackings polls by a schedule learned from their lengths.')
param learnedSchedule bool = true

@description('GRAPHOPS_THROTTLE_BUDGETS: empty for Graph\'s documented limits per tenant and service, off for none, or service=requests/seconds overrides.')
param throttleBudgets string = ''

@description('The operations console at /api/console: client id of an Entra ID app registration (ID tokens enabled, redirect URI https://<app>.azurewebsites.net/.auth/login/aad/callback). Empty: no console.')
param consoleClientId string = ''

@description('GRAPHOPS_CONSOLE_OPERATORS: comma-separated Entra object ids of the operators allowed into the console.')
param consoleOperators string = ''

@description('GRAPHOPS_TELEMETRY_SAMPLING_RATIO: the share of traces kept, 0 to 1 (metrics are never sampled).')
param telemetrySamplingRatio string = '1'

@description('Email address that receives graphops\' alerts; empty: the alerts fire in the portal only.')
param alertEmail string = ''

@description('Alert when a due message waits longer than this many seconds for a worker.')
@minValue(60)
@maxValue(86400)
param alertQueueLagSeconds int = 300

// The bounds below are graphops/settings.py's, so a value the app would refuse never deploys
// (tests/unit/test_infra.py holds them together). What Bicep cannot express (lower-case queue names,
// max delay >= min delay) the preprovision hook checks.
@description('GRAPHOPS_QUEUE_NAME: 3-56 lower-case letters, digits and single dashes ("-poison" is appended).')
@minLength(3)
@maxLength(56)
param queueName string = 'graph-operations'

@description('GRAPHOPS_MIN_DELAY_SECONDS')
@minValue(1)
@maxValue(3600)
param minDelaySeconds int = 5

@description('GRAPHOPS_MAX_DELAY_SECONDS (at least minDelaySeconds)')
@minValue(1)
@maxValue(21600)
param maxDelaySeconds int = 60

@description('GRAPHOPS_KIND_POLL_DELAYS: kind=min:max,... overriding the kinds\' own polling schedules; empty keeps them.')
param kindPollDelays string = ''

@description('GRAPHOPS_DEFAULT_TIMEOUT_SECONDS')
@minValue(1)
@maxValue(2592000)
param defaultTimeoutSeconds int = 86400

@description('GRAPHOPS_MAX_DELIVERY_ATTEMPTS')
@minValue(1)
@maxValue(50)
param maxDeliveryAttempts int = 12

@description('GRAPHOPS_NOT_FOUND_GRACE_SECONDS')
@minValue(0)
@maxValue(86400)
param notFoundGraceSeconds int = 120

@description('GRAPHOPS_STATE_RETENTION_DAYS: how long finished trackings (and dead letters) stay.')
@minValue(1)
@maxValue(365)
param stateRetentionDays int = 7

@description('Key Vault purge protection. Off by default so `azd down --purge` frees the vault name; turn it on for production (a deleted vault then holds its name for 90 days: redeploy with keyVaultCreateMode recover).')
param keyVaultPurgeProtection bool = false

@description('default, or recover: bring back this environment\'s soft-deleted vault (after `azd down` without --purge).')
@allowed(['default', 'recover'])
param keyVaultCreateMode string = 'default'

@description('Most instances Flex Consumption may scale the app to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Memory of each instance in MB (Flex Consumption bills by it): 512, 2048 or 4096.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('Zone redundancy: the plan spread over the region\'s availability zones and zone-redundant storage (ZRS). Costs more; the region must have zones.')
param zoneRedundant bool = false

@description('The private network: the app sends its traffic through a virtual network, and storage, Key Vault and the Event Grid topic are reached over private endpoints with their public endpoints closed.')
param vnetEnabled bool = false

// The comma-separated settings as names, spaces dropped (the hooks refuse an empty name before this runs).
var trackedKindNames = split(replace(trackedKinds, ' ', ''), ',')
var startActionNames = empty(trim(startActions)) ? [] : split(replace(startActions, ' ', ''), ',')
// Least privilege: the Microsoft Graph application permissions of the kinds this deployment tracks and the start
// actions it enables, and nothing else. The table is graphops/grants.json: each permission with the kinds whose
// GET needs it and the start actions whose request needs it, as Graph's reference pages name them (an action also
// needs the read permission of the kind it starts). The preprovision hooks read it for the names a deployment may
// give, and tests/unit/test_infra.py holds it to graphops/kinds and graphops/actions. OneNote's operations are in
// no row: OneNote refuses app-only tokens since 31 March 2025. The identity is granted these, and the multitenant
// app asks customer tenants for the same.
var grantsTable = loadJsonContent('../graphops/grants.json').permissions
var graphPermissionRows = filter(grantsTable, row => !empty(intersection(row.kinds, trackedKindNames)) || !empty(intersection(row.actions, startActionNames)))
var graphPermissions = [for row in graphPermissionRows: row.permission]

var abbrs = loadJsonContent('abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}graphops-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
var stateTableName = 'graphopsstate'
// Map the ARM cloud to Graph's; US Government L5 (DoD) cannot be told apart from L4 here, so it is a parameter.
var cloudByEnvironment = {
  AzureCloud: 'global'
  AzureUSGovernment: 'usgov'
  AzureChinaCloud: 'china'
}
var resolvedGraphCloud = empty(graphCloud) ? cloudByEnvironment[environment().name] : graphCloud

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'core/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}graphops-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'core/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
    queueName: queueName
    resultsQueueName: resultsQueueName
    stateTableName: stateTableName
    zoneRedundant: zoneRedundant
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    workspaceId: monitoring.outputs.workspaceId
  }
}

module events 'app/events.bicep' = if (enableEvents) {
  name: 'events'
  scope: rg
  params: {
    name: '${abbrs.eventGridDomainsTopics}graphops-${resourceToken}'
    location: location
    tags: tags
    senderPrincipalId: identity.outputs.principalId
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    workspaceId: monitoring.outputs.workspaceId
  }
}

module monitoring 'core/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    workspaceName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    appInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module alerts 'app/alerts.bicep' = {
  name: 'alerts'
  scope: rg
  params: {
    namePrefix: 'graphops-${resourceToken}'
    location: location
    tags: tags
    appInsightsName: monitoring.outputs.appInsightsName
    alertEmail: alertEmail
    queueLagSeconds: alertQueueLagSeconds
  }
}

module vault 'core/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    callbackSecret: callbackSecret
    envelopeKey: envelopeKey
    envelopeKeyPrevious: envelopeKeyPrevious
    rotatingEnvelopeKey: !empty(envelopeKeyPrevious)
    enablePurgeProtection: keyVaultPurgeProtection
    createMode: keyVaultCreateMode
    publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'
    workspaceId: monitoring.outputs.workspaceId
  }
}

// Each service's private endpoint, with the private DNS zone its name resolves in (the cloud's own suffixes).
var storageEndpoints = [
  { name: 'blob-${resourceToken}', id: storage.outputs.id, groupId: 'blob', zone: 'privatelink.blob.${environment().suffixes.storage}' }
  { name: 'queue-${resourceToken}', id: storage.outputs.id, groupId: 'queue', zone: 'privatelink.queue.${environment().suffixes.storage}' }
  { name: 'table-${resourceToken}', id: storage.outputs.id, groupId: 'table', zone: 'privatelink.table.${environment().suffixes.storage}' }
  { name: 'vault-${resourceToken}', id: vault.outputs.id, groupId: 'vault', zone: 'privatelink${replace(environment().suffixes.keyvaultDns, '.vault.', '.vaultcore.')}' }
]
// Flex Consumption deploys in the global cloud only, where Event Grid's private zone is this one.
var topicEndpoint = [
  { name: 'topic-${resourceToken}', id: enableEvents ? events.outputs.id : '', groupId: 'topic', zone: 'privatelink.eventgrid.azure.net' }
]

module network 'core/network.bicep' = if (vnetEnabled) {
  name: 'network'
  scope: rg
  params: {
    name: 'vnet-graphops-${resourceToken}'
    location: location
    tags: tags
    endpoints: enableEvents ? concat(storageEndpoints, topicEndpoint) : storageEndpoints
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    appInsightsName: monitoring.outputs.appInsightsName
    keyVaultName: vault.outputs.name
    identityPrincipalId: identity.outputs.principalId
    developerPrincipalId: deployerDataAccess ? principalId : ''
    developerPrincipalType: principalType
    rotatingEnvelopeKey: !empty(envelopeKeyPrevious)
    queueName: queueName
    producerPrincipalId: producerPrincipalId
    producerPrincipalType: producerPrincipalType
  }
}

// graphops makes Entra objects (grants, the multitenant app) with the Microsoft Graph Bicep extension in the global
// cloud only (its resources are Graph's global endpoint's here); elsewhere GRAPHOPS_GRAPH_PERMISSIONS says what to
// do, and the commands in docs/deploy.md grant.
var graphExtensionPossible = resolvedGraphCloud == 'global' && environment().name == 'AzureCloud'

// The app registration customer tenants consent to, with the identity as its federated credential. Unlike the
// grants it need not wait for Entra to replicate the identity: the credential names it by id, a string that Entra
// checks only at the token exchange.
module multitenantApp 'app/multitenant-app.bicep' = if (multitenant && graphExtensionPossible) {
  name: 'multitenant-app'
  scope: rg
  params: {
    uniqueName: 'graphops-${resourceToken}'
    displayName: 'graphops ${environmentName}'
    identityPrincipalId: identity.outputs.principalId
    permissions: graphPermissions
  }
}
var multitenantClientId = multitenant && graphExtensionPossible ? multitenantApp.outputs.appId : ''

module app 'app/function.bicep' = {
  name: 'function'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api' // azd finds the service by this tag: the site carries it, nothing else
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    appInsightsName: monitoring.outputs.appInsightsName
    callbackSecretUri: vault.outputs.callbackSecretUri
    envelopeKeyUri: vault.outputs.envelopeKeyUri
    envelopeKeyPreviousUri: vault.outputs.envelopeKeyPreviousUri
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: zoneRedundant
    virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''
    workspaceId: monitoring.outputs.workspaceId
    consoleClientId: consoleClientId
    consoleOperators: empty(consoleOperators) ? [] : split(replace(consoleOperators, ' ', ''), ',')
    graphopsSettings: {
      GRAPHOPS_QUEUE_NAME: queueName
      GRAPHOPS_GRAPH_CLOUD: resolvedGraphCloud
      GRAPHOPS_CALLBACK_ALLOWED_HOSTS: callbackAllowedHosts
      GRAPHOPS_MONITOR_ALLOWED_HOSTS: monitorAllowedHosts
      GRAPHOPS_MIN_DELAY_SECONDS: string(minDelaySeconds)
      GRAPHOPS_MAX_DELAY_SECONDS: string(maxDelaySeconds)
      GRAPHOPS_KIND_POLL_DELAYS: kindPollDelays
      GRAPHOPS_START_ACTIONS: startActions
      // The kinds granted: what a customer tenant's kinds default to (GRAPHOPS_TENANTS), never more than was asked for.
      GRAPHOPS_TRACKED_KINDS: trackedKinds
      GRAPHOPS_EXPORT_STORAGE_ACCOUNTS: exportStorageAccounts
      GRAPHOPS_EVENT_GRID_ENDPOINT: enableEvents ? events.outputs.endpoint : ''
      GRAPHOPS_RESULTS_QUEUE: resultsQueueName
      GRAPHOPS_RECORD_QUEUE_TRACKINGS: string(recordQueueTrackings)
      GRAPHOPS_LEARNED_SCHEDULE: string(learnedSchedule)
      GRAPHOPS_THROTTLE_BUDGETS: throttleBudgets
      GRAPHOPS_MULTITENANT_CLIENT_ID: multitenantClientId
      GRAPHOPS_TENANTS: empty(tenants) ? '' : string(tenants)
      GRAPHOPS_TELEMETRY_SAMPLING_RATIO: telemetrySamplingRatio
      // The Python worker hands each invocation the host's trace context: graphops' spans join the host's.
      PYTHON_ENABLE_OPENTELEMETRY: 'true'
      GRAPHOPS_CONSOLE_ENABLED: string(!empty(consoleClientId))
      GRAPHOPS_CONSOLE_OPERATORS: consoleOperators
      // What the console verifies operators' ID tokens by: issued by this tenant through the cloud's login
      // endpoint (the sign-in's openIdIssuer, app/function.bicep), for the console's app registration.
      GRAPHOPS_CONSOLE_TENANT_ID: tenant().tenantId
      GRAPHOPS_CONSOLE_CLIENT_ID: consoleClientId
      GRAPHOPS_CONSOLE_LOGIN_ENDPOINT: environment().authentication.loginEndpoint
      GRAPHOPS_DEFAULT_TIMEOUT_SECONDS: string(defaultTimeoutSeconds)
      GRAPHOPS_MAX_DELIVERY_ATTEMPTS: string(maxDeliveryAttempts)
      GRAPHOPS_NOT_FOUND_GRACE_SECONDS: string(notFoundGraceSeconds)
      GRAPHOPS_CREDENTIAL: 'managedidentity'
      GRAPHOPS_STATE_TABLE: stateTableName
      GRAPHOPS_STATE_RETENTION_DAYS: string(stateRetentionDays)
    }
  }
  dependsOn: [rbac] // the host needs its storage roles before its first start
}

// Entra replicates a new identity's service principal for a while after ARM reports it created, and a grant
// to it in that time fails ("Not a valid reference update", msgraph-bicep-types#193). The grants therefore
// wait for the function app, the slowest part of the deployment (minutes), rather than start with the
// identity; should one still fail, `azd provision` again grants (docs/deploy.md: Graph permissions).
module graphPermissions 'app/graph-permissions.bicep' = if (grantGraphPermissions && graphExtensionPossible) {
  name: 'graph-permissions'
  scope: rg
  params: {
    principalId: identity.outputs.principalId
    permissions: graphPermissions
  }
  dependsOn: [app]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.name
output GRAPHOPS_QUEUE_URL string = '${storage.outputs.queueEndpoint}${queueName}'
output GRAPHOPS_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output GRAPHOPS_IDENTITY_PRINCIPAL_ID string = identity.outputs.principalId
output GRAPHOPS_GRAPH_CLOUD string = resolvedGraphCloud
output GRAPHOPS_EVENT_GRID_TOPIC string = enableEvents ? events.outputs.name : ''
output GRAPHOPS_RESULTS_QUEUE string = resultsQueueName
output GRAPHOPS_CONSOLE_URL string = app.outputs.consoleUrl
var grantsNotAsked = 'not granted by this deployment (GRAPHOPS_GRANT_GRAPH_PERMISSIONS is false): grant them as docs/deploy.md says'
var grantsImpossible = 'NOT granted: graphops grants Graph permissions in the global cloud only; grant them with the commands in docs/deploy.md'
output GRAPHOPS_GRAPH_PERMISSIONS string = grantGraphPermissions ? (graphExtensionPossible ? 'granted' : grantsImpossible) : grantsNotAsked
// The multitenant app's application (client) id: `graphops consent link|check` and the customers' consent name it.
output GRAPHOPS_MULTITENANT_CLIENT_ID string = multitenantClientId
