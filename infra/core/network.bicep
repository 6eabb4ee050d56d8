// The private network (GRAPHOPS_VNET_ENABLED): the function app's outbound traffic through a delegated subnet,
// and storage, Key Vault and the Event Grid topic reached over private endpoints whose names resolve through
// private DNS zones linked to the network. Their public endpoints are then closed (main.bicep).
param name string
param location string
param tags object

@description('The services given a private endpoint: name, resource id, sub-resource (groupId) and its own DNS zone.')
param endpoints array

resource vnet 'Microsoft.Network/virtualNetworks@2024-05-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: { addressPrefixes: ['10.0.0.0/16'] }
    subnets: [
      {
        // Flex Consumption integrates with a subnet delegated to Microsoft.App/environments.
        name: 'app'
        properties: {
          addressPrefix: '10.0.1.0/24'
          delegations: [{ name: 'flex', properties: { serviceName: 'Microsoft.App/environments' } }]
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
      {
        name: 'endpoints'
        properties: {
          addressPrefix: '10.0.2.0/24'
          privateEndpointNetworkPolicies: 'Disabled'
        }
      }
    ]
  }
}

// Each endpoint's service has a zone of its own (blob, queue, table, vault, topic): one zone per endpoint.
resource zones 'Microsoft.Network/privateDnsZones@2024-06-01' = [for endpoint in endpoints: {
  name: endpoint.zone
  location: 'global'
  tags: tags
}]

resource links 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2024-06-01' = [for (endpoint, i) in endpoints: {
  parent: zones[i]
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: { id: vnet.id }
  }
}]

resource privateEndpoints 'Microsoft.Network/privateEndpoints@2024-05-01' = [for endpoint in endpoints: {
  name: 'pe-${endpoint.name}'
  location: location
  tags: tags
  properties: {
    subnet: { id: '${vnet.id}/subnets/endpoints' }
    privateLinkServiceConnections: [
      {
        name: endpoint.name
        properties: {
          privateLinkServiceId: endpoint.id
          groupIds: [endpoint.groupId]
        }
      }
    ]
  }
}]

resource zoneGroups 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2024-05-01' = [for (endpoint, i) in endpoints: {
  parent: privateEndpoints[i]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(endpoint.zone, '.', '-')
        properties: { privateDnsZoneId: zones[i].id }
      }
    ]
  }
}]

output appSubnetId string = '${vnet.id}/subnets/app'
