//! A sweep's runs: the cross product of its axes, and one axis value written into a strategy
//! spec at its field path. Pure.
//!
//! A path is checked against the TradingStrategy's own published schema (the CRD), not a list
//! kept here, so every field a strategy has can be swept and a misspelt one is refused naming
//! it — before any run starts.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

use crate::api::backtest::{MAX_RUNS, SweepAxis, SweepSpec};
use crate::api::trading_strategy::{TradingStrategy, TradingStrategySpec};

/// Why a sweep cannot run; each names the field of the Backtest at fault.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SweepError {
    #[error("spec.sweep.axes[{axis}].path: {path}: {problem}")]
    Path {
        axis: usize,
        path: String,
        problem: String,
    },
    #[error("spec.sweep.axes: {runs} runs, more than the {MAX_RUNS} a Backtest may have")]
    TooManyRuns { runs: u128 },
    #[error("spec.sweep: the strategy spec with these values does not read: {0}")]
    Spec(String),
}

/// One part of a field path: a field name or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Field(String),
    Index(usize),
}

/// One run: its index in the Job and the value of each axis (by path).
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub index: usize,
    pub values: BTreeMap<String, f64>,
}

/// Every point of the axes' cross product, numbered as [`SweepSpec::point`] numbers them;
/// one point without values when there are no axes.
pub fn points(axes: &[SweepAxis]) -> Result<Vec<Point>, SweepError> {
    let sweep = SweepSpec {
        axes: axes.to_vec(),
        ..SweepSpec::default()
    };
    let runs = sweep.run_count();
    if runs > MAX_RUNS as u128 {
        return Err(SweepError::TooManyRuns { runs });
    }
    Ok((0..runs as usize)
        .filter_map(|index| sweep.point(index).map(|values| Point { index, values }))
        .collect())
}

/// Checks every axis's path against the strategy schema: each must end at a number.
pub fn check_paths(axes: &[SweepAxis]) -> Result<(), SweepError> {
    for (axis, a) in axes.iter().enumerate() {
        let problem = |problem: String| SweepError::Path {
            axis,
            path: a.path.clone(),
            problem,
        };
        let segments = parse(&a.path).map_err(problem)?;
        let leaf = schema_at(strategy_schema(), &segments).map_err(problem)?;
        if !matches!(leaf_type(leaf), Some("number" | "integer")) {
            return Err(problem("not a number field".to_string()));
        }
        if leaf_type(leaf) == Some("integer") && a.values.iter().any(|v| v.fract() != 0.0) {
            return Err(problem(
                "an integer field: every value must be whole".to_string(),
            ));
        }
    }
    Ok(())
}

/// `spec` with the point's values written at their paths. A list index the spec does not
/// have is refused naming the axis; a missing object on the way (`params`) is created.
pub fn apply(
    spec: &TradingStrategySpec,
    axes: &[SweepAxis],
    point: &Point,
) -> Result<TradingStrategySpec, SweepError> {
    let mut value = serde_json::to_value(spec).map_err(|e| SweepError::Spec(e.to_string()))?;
    for (axis, a) in axes.iter().enumerate() {
        let Some(number) = point.values.get(&a.path) else {
            continue;
        };
        let problem = |problem: String| SweepError::Path {
            axis,
            path: a.path.clone(),
            problem,
        };
        let segments = parse(&a.path).map_err(problem)?;
        set(&mut value, &segments, json_number(*number)).map_err(problem)?;
    }
    serde_json::from_value(value).map_err(|e| SweepError::Spec(e.to_string()))
}

fn json_number(value: f64) -> Value {
    // Whole values go in as integers so integer fields (periods, rounds) read them.
    if value.fract() == 0.0 && value.abs() < 1e15 {
        Value::from(value as i64)
    } else {
        Value::from(value)
    }
}

fn parse(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if name.is_empty() {
            return Err("an empty field name".to_string());
        }
        segments.push(Segment::Field(name.to_string()));
        while !rest.is_empty() {
            let (index, after) = rest
                .split_once(']')
                .ok_or_else(|| "an unclosed `[`".to_string())?;
            let index = index
                .parse()
                .map_err(|_| format!("`{index}` is not a list index"))?;
            segments.push(Segment::Index(index));
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    Ok(segments)
}

/// The TradingStrategy's spec schema, as published in its CRD.
fn strategy_schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let crd = TradingStrategy::crd();
        let schema = crd
            .spec
            .versions
            .first()
            .and_then(|v| v.schema.as_ref())
            .and_then(|s| s.open_api_v3_schema.as_ref());
        serde_json::to_value(schema)
            .ok()
            .map(|s| s["properties"]["spec"].clone())
            .unwrap_or(Value::Null)
    })
}

fn leaf_type(schema: &Value) -> Option<&str> {
    schema.get("type").and_then(Value::as_str)
}

fn schema_at<'a>(mut schema: &'a Value, segments: &[Segment]) -> Result<&'a Value, String> {
    let mut at = String::new();
    for segment in segments {
        schema = match segment {
            Segment::Field(name) => {
                at = if at.is_empty() {
                    name.clone()
                } else {
                    format!("{at}.{name}")
                };
                if let Some(field) = schema.get("properties").and_then(|p| p.get(name)) {
                    field
                } else if let Some(map) =
                    schema.get("additionalProperties").filter(|m| m.is_object())
                {
                    map
                } else {
                    return Err(format!("the strategy spec has no field `{at}`"));
                }
            }
            Segment::Index(i) => {
                at = format!("{at}[{i}]");
                schema
                    .get("items")
                    .ok_or_else(|| format!("`{at}`: not a list"))?
            }
        };
    }
    Ok(schema)
}

fn set(value: &mut Value, segments: &[Segment], leaf: Value) -> Result<(), String> {
    let Some((last, parents)) = segments.split_last() else {
        return Err("an empty path".to_string());
    };
    let mut at = value;
    for segment in parents {
        at = match segment {
            Segment::Field(name) => {
                let object = at
                    .as_object_mut()
                    .ok_or_else(|| format!("`{name}`: not inside an object"))?;
                object
                    .entry(name.clone())
                    .or_insert_with(|| Value::Object(Default::default()))
            }
            Segment::Index(i) => {
                let items = at.as_array_mut().ok_or_else(|| "not a list".to_string())?;
                let len = items.len();
                items
                    .get_mut(*i)
                    .ok_or_else(|| format!("index {i}: the list has {len} item(s)"))?
            }
        };
    }
    match last {
        Segment::Field(name) => {
            let object = at
                .as_object_mut()
                .ok_or_else(|| format!("`{name}`: not inside an object"))?;
            object.insert(name.clone(), leaf);
        }
        Segment::Index(i) => {
            let items = at.as_array_mut().ok_or_else(|| "not a list".to_string())?;
            let len = items.len();
            *items
                .get_mut(*i)
                .ok_or_else(|| format!("index {i}: the list has {len} item(s)"))? = leaf;
        }
    }
    Ok(())
}
