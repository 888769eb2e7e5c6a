//! Reading `dashboards/phonestorm.json`: every panel's queries (rows'
//! nested panels included) and every template variable, as Grafana sees
//! them. Shared, by `#[path]`, by two test binaries: this crate's dashboard
//! test (metric names against the code) and the interop suite's Prometheus
//! test (each query against a real server). It does not interpret PromQL
//! or Grafana's macros; each user does what it needs with the text.

// Each binary uses a different part of this module.
#![allow(dead_code)]

/// One query of one panel (`targets[]` entry).
#[derive(Debug, Clone)]
pub(crate) struct PanelQuery {
    /// The panel's title (may name a variable, e.g. `$stage`).
    pub(crate) title: String,
    /// The panel's type: `timeseries`, `stat`, `heatmap`, `bargauge`, ...
    pub(crate) kind: String,
    /// The target's `refId` (`A`, `B`, ...).
    pub(crate) ref_id: String,
    /// The PromQL, Grafana variables and macros unexpanded.
    pub(crate) expr: String,
    /// `instant: true`: Grafana runs it as an instant query only.
    pub(crate) instant: bool,
}

/// A template variable.
#[derive(Debug, Clone)]
pub(crate) struct Variable {
    /// Its name, as `$name` in queries.
    pub(crate) name: String,
    /// `query`, `datasource`, ...
    pub(crate) kind: String,
    /// The definition, e.g. `label_values(metric, label)`; empty if none.
    pub(crate) definition: String,
    /// What "All" stands for (`allValue`), when the variable offers it.
    pub(crate) all_value: Option<String>,
}

/// Every query of every panel, in the dashboard's order, found wherever a
/// panel sits (top level or inside a collapsed row's `panels`).
pub(crate) fn panel_queries(dashboard: &serde_json::Value) -> Vec<PanelQuery> {
    let mut out = Vec::new();
    walk(dashboard.get("panels"), &mut out);
    out
}

fn walk(panels: Option<&serde_json::Value>, out: &mut Vec<PanelQuery>) {
    for p in panels.and_then(|p| p.as_array()).into_iter().flatten() {
        let text = |k: &str| p.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        for t in p
            .get("targets")
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            if let Some(expr) = t.get("expr").and_then(|e| e.as_str()) {
                out.push(PanelQuery {
                    title: text("title"),
                    kind: text("type"),
                    ref_id: t
                        .get("refId")
                        .and_then(|r| r.as_str())
                        .unwrap_or("")
                        .to_owned(),
                    expr: expr.to_owned(),
                    instant: t.get("instant").and_then(|i| i.as_bool()) == Some(true),
                });
            }
        }
        walk(p.get("panels"), out);
    }
}

/// The template variables, in the dashboard's order.
pub(crate) fn variables(dashboard: &serde_json::Value) -> Vec<Variable> {
    let list = dashboard
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(|l| l.as_array());
    list.into_iter()
        .flatten()
        .map(|v| {
            let text = |k: &str| v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_owned();
            let include_all = v.get("includeAll").and_then(|i| i.as_bool()) == Some(true);
            Variable {
                name: text("name"),
                kind: text("type"),
                definition: text("definition"),
                all_value: include_all.then(|| text("allValue")),
            }
        })
        .collect()
}

/// Every PromQL text in the dashboard: each panel query, then each
/// variable's definition.
pub(crate) fn all_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    panel_queries(dashboard)
        .into_iter()
        .map(|q| q.expr)
        .chain(
            variables(dashboard)
                .into_iter()
                .map(|v| v.definition)
                .filter(|d| !d.is_empty()),
        )
        .collect()
}
