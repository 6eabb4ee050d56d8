// What tells an operator that graphops needs them: alert rules on the app's own metrics (graphops.telemetry
// names them; tests/unit/test_telemetry.py holds the two together) and on one log line, an optional email action group, and a
// workbook with the console's questions. Metrics are never sampled, so the alerts see every event.
param namePrefix string
param location string
param tags object

@description('The Application Insights the app sends its metrics to.')
param appInsightsName string

@description('Who gets an email when an alert fires; empty: alerts fire in the portal only.')
param alertEmail string = ''

@description('Alert when a due message waits longer than this for a worker (seconds).')
param queueLagSeconds int = 300

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource oncall 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: '${namePrefix}-oncall'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'graphops'
    enabled: true
    emailReceivers: [
      {
        name: 'oncall'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

// Each rule's query ends in one row with a `value` column; the rule fires when it exceeds the threshold.
var rules = [
  {
    key: 'dead-letters'
    title: 'graphops: messages dead-lettered'
    description: 'A message went to the poison queue in the last hour: a bad request, or a sink that gave up. The console\'s poison page (or graphops poison list) says why.'
    severity: 2
    window: 'PT1H'
    frequency: 'PT15M'
    threshold: 0
    query: 'customMetrics | where name == "graphops.dead_letters" | summarize value = sum(valueSum)'
  }
  {
    key: 'callback-failures'
    title: 'graphops: callbacks failing'
    description: 'More than a fifth of callback attempts failed in the last hour (at least ten attempts): a receiver is down or refusing.'
    severity: 2
    window: 'PT1H'
    frequency: 'PT15M'
    threshold: 20
    query: 'customMetrics | where name == "graphops.deliveries" and tostring(customDimensions["graphops.sink"]) == "callback" | summarize failed = sumif(valueSum, tostring(customDimensions["graphops.result"]) != "delivered"), all = sum(valueSum) | where all >= 10 | project value = 100.0 * failed / all'
  }
  {
    key: 'forbidden'
    title: 'graphops: Graph refused to show an operation (forbidden)'
    description: 'A tracking ended forbidden: the app\'s identity lacks the Graph permission for that kind (docs/deploy.md: Graph permissions).'
    severity: 1
    window: 'PT1H'
    frequency: 'PT15M'
    threshold: 0
    query: 'customMetrics | where name == "graphops.tracking.duration" and tostring(customDimensions["graphops.outcome"]) == "forbidden" | summarize value = sum(valueCount)'
  }
  {
    key: 'graph-throttling'
    title: 'graphops: Graph throttling polls'
    description: 'More than a tenth of polls in the last 30 minutes were answered 429 (at least twenty polls): graphops backs off, but the tenant is near its limits.'
    severity: 3
    window: 'PT30M'
    frequency: 'PT15M'
    threshold: 10
    query: 'customMetrics | where name == "graphops.polls" | summarize throttled = sumif(valueSum, toint(customDimensions["http.response.status_code"]) == 429), all = sum(valueSum) | where all >= 20 | project value = 100.0 * throttled / all'
  }
  {
    key: 'queue-lag'
    title: 'graphops: the queue is falling behind'
    description: 'A due message waited longer than ${queueLagSeconds} s for a worker: the app is not keeping up (scale limit, failing starts).'
    severity: 2
    window: 'PT15M'
    frequency: 'PT5M'
    threshold: queueLagSeconds
    query: 'customMetrics | where name == "graphops.queue.lag" | summarize value = max(valueMax)'
  }
  {
    // A log line, not a metric: each process says it once, when it starts without the secret (graphops/common/
    // unresolved.py). A process lives for hours, so the window is long enough to keep the alert up between them.
    key: 'setting-unresolved'
    title: 'graphops: a Key Vault reference is not resolved'
    description: 'graphops started without a secret it keeps in Key Vault (GRAPHOPS_ENVELOPE_KEY, GRAPHOPS_ENVELOPE_KEY_PREVIOUS or GRAPHOPS_CALLBACK_SECRET): the platform could not resolve its reference. The work that needs it waits on the queue (nothing is lost) and the API answers 503. The trace names the setting and the refresh command (docs/operating.md, "A Key Vault reference not resolved").'
    severity: 1
    window: 'PT6H'
    frequency: 'PT15M'
    threshold: 0
    query: 'traces | where message has "settingUnresolved" | where tostring(parse_json(message).event) == "settingUnresolved" | summarize value = count()'
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [for rule in rules: {
  name: '${namePrefix}-${rule.key}'
  location: location
  tags: tags
  properties: {
    displayName: rule.title
    description: rule.description
    severity: rule.severity
    enabled: true
    scopes: [appInsights.id]
    evaluationFrequency: rule.frequency
    windowSize: rule.window
    criteria: {
      allOf: [
        {
          query: rule.query
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'value'
          operator: 'GreaterThan'
          threshold: rule.threshold
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: empty(alertEmail) ? [] : [oncall.id]
    }
  }
}]

// The console's questions, over the last day: outcomes, the slowest kinds, dead letters, Graph's answers.
var panels = [
  {
    title: 'Trackings finished, by outcome'
    query: 'customMetrics | where name == "graphops.tracking.duration" | summarize trackings = sum(valueCount) by outcome = tostring(customDimensions["graphops.outcome"]) | order by trackings desc'
    visualization: 'piechart'
  }
  {
    title: 'Slowest kinds (seconds from tracked to finished)'
    query: 'customMetrics | where name == "graphops.tracking.duration" | summarize trackings = sum(valueCount), average = sum(valueSum) / sum(valueCount), longest = max(valueMax) by [\'kind\'] = tostring(customDimensions["graphops.kind"]) | order by longest desc'
    visualization: 'table'
  }
  {
    title: 'Seen after Graph finished (seconds, by kind)'
    query: 'customMetrics | where name == "graphops.detection.lag" | summarize average = sum(valueSum) / sum(valueCount), longest = max(valueMax) by [\'kind\'] = tostring(customDimensions["graphops.kind"])'
    visualization: 'table'
  }
  {
    title: 'Dead letters, by reason'
    query: 'customMetrics | where name == "graphops.dead_letters" | summarize messages = sum(valueSum) by reason = tostring(customDimensions["graphops.reason"]), field = tostring(customDimensions["graphops.field"])'
    visualization: 'table'
  }
  {
    title: 'Polls, by Graph\'s HTTP status (hourly)'
    query: 'customMetrics | where name == "graphops.polls" | summarize polls = sum(valueSum) by bin(timestamp, 1h), status = tostring(customDimensions["http.response.status_code"])'
    visualization: 'timechart'
  }
  {
    title: 'Deliveries, by sink and result'
    query: 'customMetrics | where name == "graphops.deliveries" | summarize attempts = sum(valueSum) by sink = tostring(customDimensions["graphops.sink"]), result = tostring(customDimensions["graphops.result"])'
    visualization: 'table'
  }
]

var panelItems = [for panel in panels: {
  type: 3
  content: {
    version: 'KqlItem/1.0'
    title: panel.title
    query: panel.query
    size: 0
    timeContext: { durationMs: 86400000 }
    queryType: 0
    resourceType: 'microsoft.insights/components'
    visualization: panel.visualization
  }
}]

var heading = {
  type: 1
  content: { json: '## graphops\nTrackings, deliveries and dead letters over the last day. One tracking: search its id in Transaction search (graphops.tracking_id).' }
}

var workbookContent = {
  version: 'Notebook/1.0'
  items: concat([heading], panelItems)
  fallbackResourceIds: [appInsights.id]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(appInsights.id, 'graphops-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'graphops'
    category: 'workbook'
    sourceId: toLower(appInsights.id) // the portal matches workbooks to their resource by the lower-cased id
    serializedData: string(workbookContent)
  }
}

output alertRuleNames array = [for (rule, i) in rules: alerts[i].name]
output workbookId string = workbook.id
