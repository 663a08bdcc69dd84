//! Runs Argo CD resource customizations (health checks, action discovery, actions) in a real
//! Lua interpreter, the way Argo CD runs them.
//!
//! Argo CD embeds gopher-lua, a Lua 5.1, and gives scripts from `argocd-cm` only the base,
//! package and table libraries and an `os` reduced to `time` and `date` (no `string`, `math`,
//! `io`); the object is the global `obj`, decoded from JSON with every number a float. This
//! module builds the same sandbox on the reference Lua 5.1 (through `mlua`, vendored), so a
//! script that would fail in Argo CD for using `string.format` or a 5.3 integer division
//! fails here too.
//!
//! Actions read the clock. [`Clock::Pinned`] makes `os.time()` and `os.date(fmt)` answer for
//! a fixed instant (through the real `os.date`, so the format is still Lua's), which is how
//! expected outputs can hold a timestamp; [`Clock::Real`] leaves the clock alone.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use serde_json::{Map, Number, Value as Json};

/// What `os.time()` and `os.date()` see.
#[derive(Clone, Copy, Debug)]
pub enum Clock {
    /// The machine's clock.
    Real,
    /// Seconds since the Unix epoch.
    Pinned(i64),
}

/// Argo CD stops a script after one second; so does this (a loop is a failure, not a hang).
const TIMEOUT: Duration = Duration::from_secs(1);

/// A fresh interpreter with Argo CD's libraries, `clock`, and `object` as the global `obj`.
fn sandbox(object: &Json, clock: Clock) -> anyhow::Result<Lua> {
    let lua = Lua::new_with(
        StdLib::TABLE | StdLib::OS | StdLib::PACKAGE,
        LuaOptions::default(),
    )?;
    let pinned = match clock {
        Clock::Real => Value::Nil,
        Clock::Pinned(seconds) => Value::Number(seconds as f64),
    };
    // Replace the full os library by its two safe functions, as Argo CD's OpenSafeOs does,
    // also for `require("os")`.
    lua.load(
        r#"
        local real_date, real_time, pinned = os.date, os.time, ...
        local safe = {}
        if pinned == nil then
          safe.date, safe.time = real_date, real_time
        else
          safe.date = function(format, time) return real_date(format or "%c", time or pinned) end
          safe.time = function(fields) if fields == nil then return pinned end return real_time(fields) end
        end
        os = safe
        package.loaded.os = safe
        "#,
    )
    .set_name("sandbox")
    .call::<()>(pinned)?;
    lua.globals().set("obj", to_lua(&lua, object)?)?;
    let deadline = Instant::now() + TIMEOUT;
    lua.set_hook(
        HookTriggers::new().every_nth_instruction(10_000),
        move |_, _| {
            if Instant::now() > deadline {
                Err(mlua::Error::runtime(
                    "the script ran longer than Argo CD's 1 s limit",
                ))
            } else {
                Ok(VmState::Continue)
            }
        },
    )?;
    Ok(lua)
}

/// Runs `script` (named `name` in errors) against `object` and returns what it returned, as
/// JSON the way Argo CD encodes it.
pub fn run(name: &str, script: &str, object: &Json, clock: Clock) -> anyhow::Result<Json> {
    let lua = sandbox(object, clock)?;
    let returned: Value = lua
        .load(script)
        .set_name(name)
        .eval()
        .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    if !returned.is_table() {
        bail!(
            "{name} returned a {}, Argo CD expects a table",
            returned.type_name()
        );
    }
    from_lua(&returned, name)
}

/// An Argo CD health status.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct Health {
    pub status: String,
    #[serde(default)]
    pub message: String,
}

/// The statuses Argo CD accepts from a health script; anything else it reports as Unknown.
const HEALTH_STATUSES: [&str; 6] = [
    "Healthy",
    "Progressing",
    "Degraded",
    "Suspended",
    "Missing",
    "Unknown",
];

/// Runs a `health.lua`.
pub fn health(name: &str, script: &str, object: &Json) -> anyhow::Result<Health> {
    let returned = run(name, script, object, Clock::Real)?;
    let health: Health = serde_json::from_value(returned.clone())
        .with_context(|| format!("{name} returned {returned}, not {{status, message}}"))?;
    if !HEALTH_STATUSES.contains(&health.status.as_str()) {
        bail!(
            "{name} returned status {:?}, which Argo CD turns into Unknown",
            health.status
        );
    }
    Ok(health)
}

/// One action as a `discovery.lua` offers it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferedAction {
    pub name: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub icon_class: Option<String>,
}

/// Runs a `discovery.lua`; the actions sorted by name.
pub fn discover(name: &str, script: &str, object: &Json) -> anyhow::Result<Vec<OfferedAction>> {
    let returned = run(name, script, object, Clock::Real)?;
    let entries = match returned {
        // An empty table encodes as an empty array: no actions.
        Json::Array(items) if items.is_empty() => Map::new(),
        Json::Object(entries) => entries,
        other => bail!("{name} returned {other}, not a table of actions"),
    };
    let mut actions = Vec::new();
    for (action, settings) in entries {
        let mut settings = match settings {
            Json::Object(settings) => settings,
            Json::Array(items) if items.is_empty() => Map::new(),
            other => bail!("{name}: action {action} is {other}, not a table"),
        };
        settings.insert("name".into(), Json::String(action.clone()));
        actions.push(
            serde_json::from_value(Json::Object(settings))
                .with_context(|| format!("{name}: action {action}"))?,
        );
    }
    actions.sort();
    Ok(actions)
}

/// Runs an `action.lua` and returns the object it produced, with empty objects that the
/// Lua round trip turned into empty arrays restored, as Argo CD restores them.
pub fn act(name: &str, script: &str, object: &Json, clock: Clock) -> anyhow::Result<Json> {
    let returned = run(name, script, object, clock)?;
    if !returned.is_object() {
        bail!("{name} returned {returned}, not an object");
    }
    Ok(restore_empty_objects(returned, object))
}

/// JSON to Lua as Argo CD decodes it: numbers are floats, null is nil.
fn to_lua(lua: &Lua, value: &Json) -> mlua::Result<Value> {
    Ok(match value {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => Value::String(lua.create_string(s)?),
        Json::Array(items) => {
            let table = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                table.raw_set(i + 1, to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
        Json::Object(entries) => {
            let table = lua.create_table()?;
            for (key, item) in entries {
                table.raw_set(key.as_str(), to_lua(lua, item)?)?;
            }
            Value::Table(table)
        }
    })
}

/// Lua to JSON as Argo CD encodes it: a table with keys 1..n is an array, an empty table an
/// empty array, any other table an object with string keys; whole numbers are integers.
fn from_lua(value: &Value, path: &str) -> anyhow::Result<Json> {
    Ok(match value {
        Value::Nil => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Integer(i) => Json::from(*i),
        Value::Number(f) => number(*f).with_context(|| format!("{path} is {f}"))?,
        Value::String(s) => Json::String(s.to_str()?.to_string()),
        Value::Table(table) => table_to_json(table, path)?,
        other => bail!("{path} is a {}, which JSON cannot hold", other.type_name()),
    })
}

fn number(f: f64) -> Option<Json> {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Some(Json::from(f as i64))
    } else {
        Number::from_f64(f).map(Json::Number)
    }
}

fn table_to_json(table: &Table, path: &str) -> anyhow::Result<Json> {
    let mut entries = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        entries.push(pair?);
    }
    let length = table.raw_len();
    let is_array = entries.len() == length
        && entries.iter().all(|(key, _)| match key {
            Value::Integer(i) => *i >= 1 && (*i as usize) <= length,
            Value::Number(f) => f.fract() == 0.0 && *f >= 1.0 && (*f as usize) <= length,
            _ => false,
        });
    if is_array {
        let mut items = Vec::with_capacity(length);
        for i in 1..=length {
            let item: Value = table.raw_get(i)?;
            items.push(from_lua(&item, &format!("{path}[{i}]"))?);
        }
        return Ok(Json::Array(items));
    }
    let mut object = Map::new();
    for (key, item) in entries {
        let Value::String(key) = key else {
            bail!("{path} has a key of type {}, not a string", key.type_name());
        };
        let key = key.to_str()?.to_string();
        let item = from_lua(&item, &format!("{path}.{key}"))?;
        object.insert(key, item);
    }
    Ok(Json::Object(object))
}

/// Where the input held an object and the output holds an empty array at the same place,
/// the output gets the input's object back (Argo CD's `cleanReturnedObj`).
fn restore_empty_objects(new: Json, old: &Json) -> Json {
    match (new, old) {
        (Json::Array(items), Json::Object(original)) if items.is_empty() => {
            Json::Object(original.clone())
        }
        (Json::Object(entries), Json::Object(original)) => Json::Object(
            entries
                .into_iter()
                .map(|(key, value)| {
                    let value = match original.get(&key) {
                        Some(before) => restore_empty_objects(value, before),
                        None => value,
                    };
                    (key, value)
                })
                .collect(),
        ),
        (Json::Array(items), Json::Array(original)) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, value)| match original.get(i) {
                    Some(before) => restore_empty_objects(value, before),
                    None => value,
                })
                .collect(),
        ),
        (new, _) => new,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sandbox_has_no_string_math_or_io_library_and_a_reduced_os() {
        let object = json!({});
        for script in [
            "return {string.format('%d', 1)}",
            "return {math.floor(1.5)}",
            "return {io.open('/etc/passwd')}",
            "return {os.getenv('HOME')}",
            "return {os.execute('true')}",
        ] {
            assert!(
                run("probe", script, &object, Clock::Real).is_err(),
                "{script} ran"
            );
        }
        let date = run(
            "probe",
            "return {os.date('!%Y-%m-%dT%H:%M:%SZ'), require('os').time()}",
            &object,
            Clock::Pinned(1_767_623_400),
        )
        .unwrap();
        assert_eq!(date, json!(["2026-01-05T14:30:00Z", 1_767_623_400]));
    }

    #[test]
    fn numbers_are_floats_as_in_gopher_lua_and_whole_ones_come_back_as_integers() {
        let object = json!({"a": 3, "b": 0.5});
        let out = run(
            "probe",
            "return {a = obj.a .. '', b = obj.b * 2, c = 7 / 2}",
            &object,
            Clock::Real,
        )
        .unwrap();
        assert_eq!(out, json!({"a": "3", "b": 1, "c": 3.5}));
    }

    #[test]
    fn an_endless_script_is_stopped() {
        let error = run("loop", "while true do end", &json!({}), Clock::Real).unwrap_err();
        assert!(error.to_string().contains("1 s limit"), "{error}");
    }

    #[test]
    fn empty_objects_survive_the_round_trip_through_lua() {
        let before = json!({"spec": {"x": {}, "y": [], "z": 1}});
        let after = act("probe", "obj.spec.z = 2; return obj", &before, Clock::Real).unwrap();
        assert_eq!(after, json!({"spec": {"x": {}, "y": [], "z": 2}}));
    }
}
