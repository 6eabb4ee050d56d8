// The function app on Flex Consumption, running as the user-assigned identity for everything.
param name string
param planName string
param location string
param tags object
@description('The azd service this site is: only the site carries the azd-service-name tag (azd refuses two).')
param serviceName string
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param appInsightsName string
param callbackSecretUri string
param envelopeKeyUri string
@description('The previous envelope key\'s secret, while rotating; empty for none.')
param envelopeKeyPreviousUri string = ''
param maximumInstanceCount int
@description('Memory of each instance, in MB: 2048 by default; 512 is cheaper, 4096 for heavy loads.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048
@description('Spread the plan\'s instances over the region\'s availability zones.')
param zoneRedundant bool = false
@description('The delegated subnet the app sends its traffic through (the private network); empty for none.')
param virtualNetworkSubnetId string = ''
@description('The Log Analytics workspace that receives the app\'s function logs.')
param workspaceId string
@description('The GRAPHOPS_* settings, from main.bicep parameters.')
param graphopsSettings object

@description('Client id of the Entra ID app registration operators sign in to the console with; empty: no console.')
param consoleClientId string = ''

@description('Entra object ids of the operators allowed into the console.')
param consoleOperators array = []

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    virtualNetworkSubnetId: empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId
    // Only what Flex Consumption accepts: it refuses FTPS settings among others (ARM error 51021), and
    // FTP is closed by the publishing-credentials policies below.
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      remoteDebuggingEnabled: false
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
  }

  resource settings 'config' = {
    name: 'appsettings'
    properties: union(graphopsSettings, {
      // Identity-based host storage: service URIs from the account itself, so sovereign clouds work.
      AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
      AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
      AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      // The identity that reads Microsoft Graph.
      AZURE_CLIENT_ID: identityClientId
      // Telemetry with Entra ID: Application Insights has local auth disabled.
      APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      // The component's resource id: the console links each tracking to its trace in the portal.
      GRAPHOPS_APPINSIGHTS_RESOURCE_ID: appInsights.id
      // The signing secret never sits in app settings: a Key Vault reference, read with the identity.
      GRAPHOPS_CALLBACK_SECRET: '@Microsoft.KeyVault(SecretUri=${callbackSecretUri})'
      // Likewise the key that seals graphops' own queue messages (a producer with queue access has not got it).
      GRAPHOPS_ENVELOPE_KEY: '@Microsoft.KeyVault(SecretUri=${envelopeKeyUri})'
      GRAPHOPS_ENVELOPE_KEY_PREVIOUS: empty(envelopeKeyPreviousUri) ? '' : '@Microsoft.KeyVault(SecretUri=${envelopeKeyPreviousUri})'
    })
  }

  // No publishing with user names and passwords: deployments go through Entra ID.
  resource ftp 'basicPublishingCredentialsPolicies' = {
    name: 'ftp'
    properties: { allow: false }
  }

  resource scm 'basicPublishingCredentialsPolicies' = {
    name: 'scm'
    properties: { allow: false }
  }
}

// The operations console (/api/console) behind App Service authentication with Entra ID. The platform refuses
// first: every path needs a signed-in operator (anyone else is sent to sign in, and a signed-in account that is
// not one of GRAPHOPS_CONSOLE_OPERATORS is refused with 403), except the API's routes, which keep their
// function keys (Logic Apps), and openapi.json. The console then checks again itself, believing no
// X-MS-CLIENT-PRINCIPAL-* header: it verifies the ID token the platform forwards (X-MS-TOKEN-AAD-ID-TOKEN)
// against the tenant's published keys, for this registration (GRAPHOPS_CONSOLE_CLIENT_ID, main.bicep).
// tests/unit/test_infra.py holds the excluded paths to function_app.py's routes.
var apiPaths = [
  '/api/operations'
  '/api/operations/*'
  '/api/start'
  '/api/role-management-alerts/refresh'
  '/api/openapi.json'
]
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (!empty(consoleClientId)) {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'RedirectToLoginPage'
      redirectToProvider: 'azureactivedirectory'
      excludedPaths: apiPaths
    }
    httpSettings: {
      requireHttps: true
      forwardProxy: { convention: 'NoProxy' } // no forwarded host names are believed
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: consoleClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
        }
        validation: {
          defaultAuthorizationPolicy: {
            allowedPrincipals: { identities: consoleOperators }
          }
        }
      }
    }
    login: {
      // The platform forwards the operator's ID token in X-MS-TOKEN-AAD-ID-TOKEN only with its token store on;
      // the console verifies it (graphops/console/signin.py). With no client secret no access or refresh token
      // is issued: the store keeps the ID token of each session.
      tokenStore: { enabled: true }
    }
  }
}

// The host's and the functions' own logs, beside Application Insights' telemetry.
resource appLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'graphops'
  scope: app
  properties: {
    workspaceId: workspaceId
    logs: [{ category: 'FunctionAppLogs', enabled: true }]
    metrics: [{ category: 'AllMetrics', enabled: true }]
  }
}

output name string = app.name
output defaultHostName string = app.properties.defaultHostName
output consoleUrl string = empty(consoleClientId) ? '' : 'https://${app.properties.defaultHostName}/api/console/'

