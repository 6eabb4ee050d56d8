// Parses and analyzes KQL queries with Microsoft's own Kusto language service, against a database schema.
// stdin: {"tables": {"name": "(col:type, ...)"}, "queries": ["...", ...]}
// stdout: [{"diagnostics": ["KS228 Error ..."], "columns": ["value"]}, ...] in the queries' order.
"use strict";
const path = require("path");
const here = path.join(__dirname, "..", "..", "node_modules", "@kusto", "language-service-next");
require(path.join(here, "bridge.min.js"));
require(path.join(here, "Kusto.Language.Bridge.min.js"));

const K = globalThis.Kusto.Language;
const items = (list) => Array.from({ length: list ? list.Count : 0 }, (_, i) => list.getItem(i));

const input = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tables = Object.entries(input.tables).map(([name, schema]) => new K.Symbols.TableSymbol.$ctor7(name, schema, ""));
const globals = K.GlobalState.Default.WithDatabase(new K.Symbols.DatabaseSymbol.ctor("logs", tables));
const results = input.queries.map((query) => {
  const code = K.KustoCode.ParseAndAnalyze(query, globals);
  const diagnostics = items(code.GetDiagnostics()).map((d) => `${d.Code} ${d.Severity} ${d.Message}`);
  const columns = code.ResultType && code.ResultType.Columns ? items(code.ResultType.Columns).map((c) => c.Name) : [];
  return { diagnostics, columns };
});
process.stdout.write(JSON.stringify(results));
