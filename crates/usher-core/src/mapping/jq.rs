//! jq programs, run by jaq: compiled once when the mapper is built, run per record.
//!
//! The programs are sandboxed: jaq loads no modules from disk (`import` fails), and the
//! filters that would reach outside the record are removed (`env`, `$ENV`, `input`,
//! `inputs`, `now`, `localtime`, `strflocaltime`, `input_filename`) or neutralised (`debug`
//! and `stderr` pass their input through without writing anywhere, `halt` is an error). A
//! program is a pure function of the record, so a dry run and the backfill agree.
//!
//! What is not bounded is the work a program does: `repeat(1)` or `range(1e18)` loop. Programs
//! come from the operator's config, not from the data, and the dry run shows such a mistake
//! before any backfill starts.

use std::panic::{AssertUnwindSafe, catch_unwind};

use jaq_core::box_iter::box_once;
use jaq_core::compile::Undefined;
use jaq_core::data::JustLut;
use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Cv, Error, Exn, Native, ValXs, Vars};
use jaq_json::{Num, Val};
use serde_json::{Map, Number, Value};

type Data = JustLut<Val>;
type Filter = jaq_core::Filter<Data>;

/// Filters removed: they read the environment, the clock or the system time zone.
const REMOVED: &[&str] = &["env", "now", "localtime", "strflocaltime"];

/// Deepest JSON converted between serde and jaq (serde_json's own parser stops at 128).
const MAX_DEPTH: usize = 128;

/// Longest error text kept from jaq; its messages quote values from the record.
const MAX_ERROR: usize = 160;

/// A compiled jq program.
pub(crate) struct Jq {
    filter: Filter,
}

impl std::fmt::Debug for Jq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jq(..)")
    }
}

fn no_output<'a>(_: Cv<'a, Data>) -> ValXs<'a, Val> {
    Box::new(std::iter::empty())
}

fn no_halt<'a>(_: Cv<'a, Data>) -> ValXs<'a, Val> {
    box_once(Err(Exn::from(Error::str(
        "halt is not available in usher mappings",
    ))))
}

impl Jq {
    /// Parses and compiles `code`, explaining what is wrong with a bad program.
    pub(crate) fn compile(code: &str) -> Result<Self, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs::<Data>()
            .chain(jaq_std::funs::<Data>())
            .chain(jaq_json::funs::<Data>())
            .filter(|(name, _, _)| !REMOVED.contains(name))
            .map(|(name, args, native)| match name {
                // The standard definitions of `debug`, `stderr` and `halt_error` call these,
                // so they must exist; they just do nothing observable.
                "debug_empty" | "stderr_empty" => (name, args, Native::<Data>::new(no_output)),
                "halt" => (name, args, Native::<Data>::new(no_halt)),
                _ => (name, args, native),
            });
        let arena = Arena::default();
        let modules = Loader::new(defs)
            .load(&arena, File { code, path: () })
            .map_err(|errs| {
                errs.into_iter()
                    .map(|(_, e)| load_error(code, &e))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                errs.into_iter()
                    .flat_map(|(_, es)| es)
                    .map(|(name, undefined)| undefined_error(name, &undefined))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        Ok(Self { filter })
    }

    /// Runs the program on `input`: `None` when it yields nothing, an error when it fails or
    /// yields more than one value.
    pub(crate) fn run(&self, input: Val) -> Result<Option<Val>, String> {
        // jaq is third-party code fed with arbitrary records; a panic in it must become this
        // record's error, not the end of the backfill.
        catch_unwind(AssertUnwindSafe(|| self.run_inner(input)))
            .unwrap_or_else(|_| Err("the jq program crashed (a bug in jaq)".into()))
    }

    fn run_inner(&self, input: Val) -> Result<Option<Val>, String> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([]));
        let mut outputs = self.filter.id.run((ctx, input));
        let first = match outputs.next() {
            None => return Ok(None),
            Some(r) => r.map_err(exception)?,
        };
        match outputs.next() {
            None => Ok(Some(first)),
            Some(Err(e)) => Err(exception(e)),
            Some(Ok(_)) => Err(
                "the jq program yielded more than one value (wrap it in first(...) or [...])"
                    .into(),
            ),
        }
    }
}

fn exception(e: Exn<'_, Val>) -> String {
    match e.get_err() {
        Ok(err) => format!("the jq program failed: {}", shorten(&err.to_string())),
        Err(_) => "the jq program stopped without a value".into(),
    }
}

fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_ERROR).collect();
    if s.chars().nth(MAX_ERROR).is_some() {
        out.push('…');
    }
    out
}

/// Where in `code` a slice of it starts, as a 1-based column.
fn column(code: &str, at: &str) -> Option<usize> {
    let start = (at.as_ptr() as usize).checked_sub(code.as_ptr() as usize)?;
    if start > code.len() {
        return None;
    }
    Some(code.get(..start)?.chars().count().saturating_add(1))
}

fn load_error(code: &str, e: &load::Error<&str>) -> String {
    let at = |s: &str| {
        let snippet: String = s.chars().take(20).collect();
        match column(code, s) {
            Some(c) if snippet.is_empty() => format!("at the end (column {c})"),
            Some(c) => format!("at column {c} (`{snippet}`)"),
            None => format!("near `{snippet}`"),
        }
    };
    match e {
        load::Error::Io(errs) => errs
            .iter()
            .map(|(path, _)| format!("imports `{path}`, but mappings cannot load modules"))
            .collect::<Vec<_>>()
            .join("; "),
        load::Error::Lex(errs) => errs
            .iter()
            .map(|(expect, rest)| format!("expected {} {}", expect.as_str(), at(rest)))
            .collect::<Vec<_>>()
            .join("; "),
        load::Error::Parse(errs) => errs
            .iter()
            .map(|(expect, found)| format!("expected {} {}", expect.as_str(), at(found)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn undefined_error(name: &str, undefined: &Undefined) -> String {
    let bare = name.trim_start_matches('$');
    if REMOVED.contains(&bare) || matches!(bare, "ENV" | "input" | "inputs" | "input_filename") {
        return format!(
            "uses `{name}`, which mappings do not offer: a mapping sees only the record \
             (no environment, clock or input files)"
        );
    }
    format!("uses an undefined {} `{name}`", undefined.as_str())
}

/// Converts a JSON value for jq.
#[cfg(test)]
pub(crate) fn to_val(value: &Value) -> Result<Val, String> {
    to_val_at(value, 0)
}

/// Converts a record's fields for jq, leaving out the columns in `skip`.
pub(crate) fn map_to_val(map: &Map<String, Value>, skip: &[&str]) -> Result<Val, String> {
    let entries = map
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| Ok((Val::from(k.clone()), to_val_at(v, 1)?)))
        .collect::<Result<jaq_json::Map, String>>()?;
    Ok(Val::obj(entries))
}

fn object_to_val(map: &Map<String, Value>, depth: usize) -> Result<Val, String> {
    let entries = map
        .iter()
        .map(|(k, v)| Ok((Val::from(k.clone()), to_val_at(v, depth.saturating_add(1))?)))
        .collect::<Result<jaq_json::Map, String>>()?;
    Ok(Val::obj(entries))
}

/// Refuses `what` (the record, jq's output) once it is nested deeper than [`MAX_DEPTH`].
fn check_depth(depth: usize, what: &str) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{what} is nested deeper than {MAX_DEPTH} levels"));
    }
    Ok(())
}

fn to_val_at(value: &Value, depth: usize) -> Result<Val, String> {
    check_depth(depth, "the record")?;
    Ok(match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Val::Num(Num::from_integral(i))
            } else if let Some(u) = n.as_u64() {
                Val::Num(Num::from_integral(u))
            } else {
                Val::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => Val::from(s.clone()),
        Value::Array(a) => a
            .iter()
            .map(|v| to_val_at(v, depth.saturating_add(1)))
            .collect::<Result<Val, String>>()?,
        Value::Object(m) => object_to_val(m, depth)?,
    })
}

/// Converts jq's output back to JSON. Byte strings become text (lossily); object keys that are
/// not strings are written as their JSON; NaN and infinities become null, as jq prints them.
pub(crate) fn from_val(val: &Val) -> Result<Value, String> {
    from_val_at(val, 0)
}

fn from_val_at(val: &Val, depth: usize) -> Result<Value, String> {
    check_depth(depth, "the jq output")?;
    Ok(match val {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Num(n) => num(n),
        Val::TStr(b) | Val::BStr(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        Val::Arr(a) => Value::Array(
            a.iter()
                .map(|v| from_val_at(v, depth.saturating_add(1)))
                .collect::<Result<_, _>>()?,
        ),
        Val::Obj(o) => {
            let mut m = Map::new();
            for (k, v) in o.iter() {
                let key = match k {
                    Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
                    other => other.to_string(),
                };
                m.insert(key, from_val_at(v, depth.saturating_add(1))?);
            }
            Value::Object(m)
        }
    })
}

fn num(n: &Num) -> Value {
    match n {
        Num::Int(i) => i64::try_from(*i).map_or(Value::Null, Value::from),
        Num::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        // Big integers and decimals: as JSON reads their text (beyond i64/u64, a float).
        other => serde_json::from_str::<Value>(&other.to_string()).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(code: &str, input: Value) -> Result<Option<Value>, String> {
        let jq = Jq::compile(code)?;
        jq.run(to_val(&input)?)?.map(|v| from_val(&v)).transpose()
    }

    #[test]
    fn programs_read_the_record_and_build_values() {
        assert_eq!(
            run(
                r#""\(.first) \(.last)""#,
                json!({"first": "Ann", "last": "Lee"})
            )
            .unwrap(),
            Some(json!("Ann Lee"))
        );
        assert_eq!(
            run("{plan: .p, n: (.n + 1)}", json!({"p": "gold", "n": 41})).unwrap(),
            Some(json!({"plan": "gold", "n": 42}))
        );
        assert_eq!(run(".missing", json!({})).unwrap(), Some(Value::Null));
        assert_eq!(run("empty", json!({})).unwrap(), None);
        assert_eq!(
            run(".a | ascii_downcase | test(\"^ann\")", json!({"a": "ANN"})).unwrap(),
            Some(json!(true))
        );
    }

    #[test]
    fn several_outputs_and_runtime_errors_are_reported_not_panicked() {
        assert!(
            run(".[]", json!({"a": 1, "b": 2}))
                .unwrap_err()
                .contains("more than one")
        );
        assert!(
            run(".a + 1", json!({"a": "x"}))
                .unwrap_err()
                .starts_with("the jq program failed")
        );
        assert!(
            run("halt", json!({}))
                .unwrap_err()
                .contains("halt is not available")
        );
        assert!(run("error(\"no\")", json!({})).unwrap_err().contains("no"));
    }

    #[test]
    fn programs_cannot_reach_outside_the_record() {
        for code in [
            "env",
            "$ENV",
            "now",
            "input",
            "inputs",
            "localtime",
            "input_filename",
        ] {
            let err = Jq::compile(code).unwrap_err();
            assert!(err.contains("mappings do not offer"), "{code}: {err}");
        }
        assert!(
            Jq::compile("import \"x\" as x; .")
                .unwrap_err()
                .contains("cannot load modules")
        );
        assert_eq!(
            run("debug | stderr | .a", json!({"a": 1})).unwrap(),
            Some(json!(1))
        );
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = Jq::compile(".a | ").unwrap_err();
        assert!(err.starts_with("expected"), "{err}");
        let err = Jq::compile("{a: .b").unwrap_err();
        assert!(err.contains("expected"), "{err}");
        assert!(
            Jq::compile("nosuchfilter")
                .unwrap_err()
                .contains("undefined filter `nosuchfilter`")
        );
    }

    #[test]
    fn numbers_cross_between_json_and_jq_intact() {
        let big = json!({"i": i64::MAX, "u": u64::MAX, "f": 1.5, "neg": -7});
        assert_eq!(run(".", big.clone()).unwrap(), Some(big));
        assert_eq!(run("nan", json!({})).unwrap(), Some(Value::Null));
    }

    #[test]
    fn deep_outputs_are_refused_instead_of_overflowing_the_stack() {
        let err = run("reduce range(1000) as $i (null; [.])", json!({})).unwrap_err();
        assert!(err.contains("nested deeper"), "{err}");
    }

    #[test]
    fn compiled_programs_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Jq>();
    }
}
