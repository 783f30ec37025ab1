//! The serde JSON projection of an NDJSON line: the line is parsed by `serde_json`'s own
//! parser (so exactly the lines `serde_json::Value` accepts are accepted), but only the
//! fields a mapping reads are kept, into a flat table of [`PVal`]s along a plan of paths.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

/// What kind of JSON value `value` is, for messages ("a string", "an object"…).
pub(super) const fn value_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A node of the JSON projection: the keys read below it (node 0 is the line's object).
#[derive(Debug, Default, Clone)]
pub(super) struct PlanNode {
    children: Vec<(String, usize)>,
}

/// Adds a path to the plan; returns the node of each segment.
pub(super) fn plan_path(plan: &mut Vec<PlanNode>, segments: &[String]) -> Vec<usize> {
    let mut nodes = Vec::new();
    let mut at = 0;
    for segment in segments {
        let existing = plan[at]
            .children
            .iter()
            .find(|(key, _)| key == segment)
            .map(|(_, n)| *n);
        let next = existing.unwrap_or_else(|| {
            plan.push(PlanNode::default());
            let n = plan.len() - 1;
            plan[at].children.push((segment.clone(), n));
            n
        });
        nodes.push(next);
        at = next;
    }
    nodes
}

/// Forgets every value below `node` (its key is being read again).
fn reset_below(plan: &[PlanNode], values: &mut [PVal<'_>], node: usize) {
    for (_, child) in &plan[node].children {
        values[*child] = PVal::Absent;
        reset_below(plan, values, *child);
    }
}

/// A projected JSON value: what a record's field lookup needs of it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum PVal<'a> {
    Absent,
    Null,
    Str(Cow<'a, str>),
    Num(Number),
    Bool,
    Array,
    Object,
}

impl PVal<'_> {
    /// What kind of JSON value this is, in [`value_kind`]'s words.
    pub(super) const fn kind(&self) -> &'static str {
        match self {
            Self::Absent | Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Num(_) => "a number",
            Self::Str(_) => "a string",
            Self::Array => "an array",
            Self::Object => "an object",
        }
    }
}

/// Parses `text` as one JSON value with `serde_json`'s parser, keeping only the plan's
/// nodes (a repeated key: the last one wins, as in `serde_json::Value`).
pub(super) fn project<'a>(
    plan: &[PlanNode],
    text: &'a str,
    values: &mut [PVal<'a>],
) -> serde_json::Result<()> {
    let mut de = serde_json::Deserializer::from_str(text);
    NodeSeed {
        plan,
        node: 0,
        values,
    }
    .deserialize(&mut de)?;
    de.end()
}

struct NodeSeed<'p, 'v, 'a> {
    plan: &'p [PlanNode],
    node: usize,
    values: &'v mut [PVal<'a>],
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.values[self.node] = PVal::Bool;
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.values[self.node] = PVal::Num(v.into());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.values[self.node] = PVal::Num(v.into());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.values[self.node] = Number::from_f64(v).map_or(PVal::Null, PVal::Num);
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.values[self.node] = PVal::Str(Cow::Owned(v.to_owned()));
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.values[self.node] = PVal::Str(Cow::Borrowed(v));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.values[self.node] = PVal::Str(Cow::Owned(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.values[self.node] = PVal::Null;
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        self.values[self.node] = PVal::Array;
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let node = &self.plan[self.node];
        self.values[self.node] = PVal::Object;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match node.children.iter().find(|(name, _)| *name == *key) {
                Some((_, child)) => {
                    // a repeated key replaces the earlier value whole
                    let child = *child;
                    self.values[child] = PVal::Absent;
                    reset_below(self.plan, self.values, child);
                    map.next_value_seed(NodeSeed {
                        plan: self.plan,
                        node: child,
                        values: &mut *self.values,
                    })?;
                }
                None => map.next_value_seed(Skip)?,
            }
        }
        Ok(())
    }
}

/// A map key, as `serde_json::Value` reads it.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Any JSON value, parsed (and so validated) exactly as `serde_json::Value` would parse
/// it, then dropped.
struct Skip;

impl<'de> DeserializeSeed<'de> for Skip {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skip)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeySeed)?.is_some() {
            map.next_value_seed(Skip)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::transform::mapping::Mappings;
    use crate::transform::output::Rows;
    use crate::transform::record::{Bound, Scratch};

    /// The JSON projection gives exactly what `serde_json::Value` gives (event or rejection,
    /// message included) for generated lines and random mutations of them: repeated keys,
    /// nesting changes, escapes, types, broken syntax.
    #[test]
    fn json_projection_agrees_with_serde_json_value() {
        let m = Mappings::embedded().unwrap().get("betco").unwrap();
        let bound = Bound::new(&m).unwrap();
        let mut lines = vec![
            r#"{"fixture":{"id":"M-1"},"kind":"goal","ts":1795262400203,"id":1}"#.to_owned(),
            r#"{"fixture":{"id":"M-1"},"fixture":{"x":1},"kind":"goal","ts":1795262400203,"id":2}"#
                .to_owned(),
            r#"{"fixture":{"id":"M-1","id":"M-2"},"kind":"goal","ts":1795262400203,"id":"3"}"#
                .to_owned(),
            r#"{"fixture":"M-1","kind":"goal","ts":1795262400203,"id":4}"#.to_owned(),
            r#"{"fixture":{"id":"M-\u00e9\n"},"kind":"goal","ts":"1795262400203","id":5.0}"#
                .to_owned(),
            r#"{"fixture":{"id":null},"kind":"goal","ts":1795262400203,"id":6}"#.to_owned(),
            r#"{"fixture":{"id":"M"},"kind":"goal","ts":1e3,"id":7,"market":{"prices":[1]}}"#
                .to_owned(),
            r#"{"fixture":{"id":"M"},"kind":"goal","ts":1795262400203,"id":8,"x":[{"a":[1,{}]}]} "#
                .to_owned(),
            "[1,2]".to_owned(),
            r#""text""#.to_owned(),
            r#"{"fixture":{"id":"M"},"kind":"goal","ts":1795262400203,"id":9} x"#.to_owned(),
            r#"{"fixture":{"id":"M"},"kind":"goal","ts":1795262400203,"id":1e999}"#.to_owned(),
            r#"{"fixture":{"id":"\ud800"},"kind":"goal","ts":1795262400203,"id":10}"#.to_owned(),
        ];
        let mut generated = Vec::new();
        let spec = crate::generate::Spec {
            rows: 300,
            seed: 5,
            bad: std::collections::BTreeMap::new(),
            revision: 0,
        };
        crate::generate::generate(&m, &spec, &mut generated).unwrap();
        let generated = String::from_utf8(generated).unwrap();
        let mut seed = 99_u64;
        let mut next = move |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            usize::try_from(seed >> 33).unwrap() % n
        };
        for line in generated.lines() {
            lines.push(line.to_owned());
            for _ in 0..20 {
                let mut bytes = line.as_bytes().to_vec();
                for _ in 0..=next(3) {
                    let at = next(bytes.len() + 1);
                    let pool = b"\",:{}[]\\0.-enul tx9";
                    let b = pool[next(pool.len())];
                    if at < bytes.len() && next(2) == 0 {
                        bytes[at] = b;
                    } else {
                        bytes.insert(at, b);
                    }
                }
                if let Ok(text) = String::from_utf8(bytes) {
                    lines.push(text);
                }
            }
        }
        let (mut accepted, mut rejected) = (0, 0);
        for (n, text) in lines.iter().enumerate() {
            let (mut fast, mut slow) = (Rows::default(), Rows::default());
            let mut scratch = Scratch::default();
            let got = bound.map_row(n as u64, text, &mut scratch, &mut fast);
            let want = bound.map_value_row(
                n as u64,
                text,
                &mut scratch.zones,
                &mut scratch.lower,
                &mut scratch.id,
                &mut slow,
            );
            assert_eq!(got, want, "{text}");
            if got.is_ok() {
                accepted += 1;
                assert_eq!(fast.event(0), slow.event(0), "{text}");
                assert_eq!(fast.hash, slow.hash);
            } else {
                rejected += 1;
            }
        }
        assert!(accepted > 1000 && rejected > 1000, "{accepted} {rejected}");
    }
}
