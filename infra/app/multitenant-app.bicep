// The multitenant app registration through which graphops reaches customer tenants without a secret: its only
// credential is a federated identity credential that trusts graphops' user-assigned identity (Entra's "configure an
// application to trust a managed identity"; msgraph-bicep-types' msi-as-a-fic-secretless sample). Each customer
// tenant consents to the app once (docs/tenants.md). Deploying this needs a user who may register applications
// in the home tenant; it grants nothing, so no directory admin. main.bicep deploys it only where Graph is the
// global cloud's: the Microsoft Graph Bicep extension's resources are Graph's global endpoint's.
extension microsoftGraphV1

@description('The application\'s unique name in the home tenant (an alternate key: one app per deployment).')
param uniqueName string

@description('The name customers\' administrators see when they consent.')
param displayName string

@description('The user-assigned identity\'s principal (object) id: the federated credential\'s subject, case-sensitive.')
param identityPrincipalId string

@description('The Microsoft Graph application permissions the app asks each customer tenant for (main.bicep chooses them from graphops/grants.json).')
param permissions array

// The audience of the identity's token in each cloud, as a federated credential names it. The identity and the
// app are in one cloud: Entra exchanges no token across clouds.
var exchangeAudiences = {
  AzureCloud: 'api://AzureADTokenExchange'
  AzureUSGovernment: 'api://AzureADTokenExchangeUSGov'
  AzureChinaCloud: 'api://AzureADTokenExchangeChina'
}

resource graph 'Microsoft.Graph/servicePrincipals@v1.0' existing = {
  appId: '00000003-0000-0000-c000-000000000000' // Microsoft Graph's application id, the same in every tenant
}

resource app 'Microsoft.Graph/applications@v1.0' = {
  uniqueName: uniqueName
  displayName: displayName
  signInAudience: 'AzureADMultipleOrgs'
  // Application permissions ('Role') only: graphops acts as itself, never on a user's behalf. This asks; a
  // customer's consent grants, in that tenant.
  requiredResourceAccess: [
    {
      resourceAppId: graph.appId
      resourceAccess: [
        for permission in permissions: {
          id: filter(graph.appRoles, role => role.value == permission)[0].id
          type: 'Role'
        }
      ]
    }
  ]
  // A customer tenant's service principal of this app cannot be given credentials of its own there.
  servicePrincipalLockConfiguration: {
    isEnabled: true
    allProperties: true
  }

  // The identity's token for the exchange audience, issued by the home tenant, is the app's client assertion.
  // Entra checks issuer, subject and audience only at the exchange: a wrong one is saved without a word.
  resource identityCredential 'federatedIdentityCredentials@v1.0' = {
    name: '${app.uniqueName}/graphops-identity'
    description: 'graphops\' user-assigned managed identity'
    issuer: '${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'
    subject: identityPrincipalId
    audiences: [exchangeAudiences[environment().name]]
  }
}

// The app's service principal in the home tenant (customer tenants get theirs when they consent).
resource servicePrincipal 'Microsoft.Graph/servicePrincipals@v1.0' = {
  appId: app.appId
}

output appId string = app.appId
output servicePrincipalId string = servicePrincipal.id
