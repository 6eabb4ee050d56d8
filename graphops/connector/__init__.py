"""The Power Platform custom connector: its API definition and properties, made from graphops' own API document
(graphops/openapi.json) and its start actions (graphops.graph.actions), so that a new action or field is in the
connector as soon as it is in the API. ``graphops connector`` writes them to connector/."""
