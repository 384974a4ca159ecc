//! YAML to JSON with source positions: every node's path maps to the line and column it starts at.
//!
//! Scenario errors must point at `file:line:column`; serde's data model carries no positions, so the
//! document is read once through the event parser, building the JSON value and a path index together.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

/// Where each node of a document starts, by path (`spec.teams[0].models[1].spec.memory`).
#[derive(Debug, Clone, Default)]
pub struct Positions {
    by_path: BTreeMap<String, Position>,
    keys: BTreeMap<String, Position>,
}

impl Positions {
    /// The position of the node at `path`, or of its nearest ancestor that exists.
    pub fn find(&self, path: &str) -> Position {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.by_path.get(&p) {
                return *pos;
            }
            match p.rfind(['.', '[']) {
                Some(i) => p.truncate(i),
                None => {
                    return self
                        .by_path
                        .get("")
                        .copied()
                        .unwrap_or(Position { line: 1, column: 1 });
                }
            }
        }
    }

    /// The position of the key naming the node at `path` (for unknown fields), else as [`Positions::find`].
    pub fn find_key(&self, path: &str) -> Position {
        self.keys
            .get(path)
            .copied()
            .unwrap_or_else(|| self.find(path))
    }

    /// Whether a node exists at exactly this path.
    pub fn contains(&self, path: &str) -> bool {
        self.by_path.contains_key(path)
    }
}

/// A YAML syntax problem, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub position: Position,
    /// The parser's description, or ours for duplicate keys and anchors.
    pub message: String,
}

enum Frame {
    Seq {
        path: String,
        items: Vec<Value>,
    },
    Map {
        path: String,
        map: Map<String, Value>,
        key: Option<String>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    root: Option<Value>,
    positions: Positions,
    error: Option<SyntaxError>,
    documents: usize,
}

fn pos(m: Marker) -> Position {
    // yaml-rust2 markers count columns from 0.
    Position {
        line: m.line(),
        column: m.col() + 1,
    }
}

impl Builder {
    fn next_path(&self) -> String {
        match self.stack.last() {
            None => String::new(),
            Some(Frame::Seq { path, items }) => format!("{path}[{}]", items.len()),
            Some(Frame::Map {
                path, key: Some(k), ..
            }) => {
                if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                }
            }
            Some(Frame::Map { path, .. }) => path.clone(),
        }
    }

    fn fail(&mut self, m: Marker, message: String) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                position: pos(m),
                message,
            });
        }
    }

    /// Adds a finished node to its parent (or makes it the document).
    fn push(&mut self, v: Value, m: Marker) {
        match self.stack.last_mut() {
            None => self.root = Some(v),
            Some(Frame::Seq { items, .. }) => items.push(v),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                Some(k) => {
                    map.insert(k, v);
                }
                None => {
                    // A key: must be a scalar, and unique in this mapping.
                    let k = match v {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            self.fail(m, "mapping keys must be plain scalars".into());
                            return;
                        }
                    };
                    if map.contains_key(&k) {
                        self.fail(m, format!("duplicate key `{k}` in the same mapping"));
                        return;
                    }
                    let Some(Frame::Map { key, .. }) = self.stack.last_mut() else {
                        unreachable!()
                    };
                    *key = Some(k);
                    let path = self.next_path();
                    self.positions.keys.insert(path.clone(), pos(m));
                    self.positions.by_path.insert(path, pos(m));
                }
            },
        }
    }

    fn is_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }
}

fn scalar(s: String, style: TScalarStyle) -> Value {
    if style != TScalarStyle::Plain {
        return Value::String(s);
    }
    match Yaml::from_str(&s) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(s), Value::Number),
        _ => Value::String(s),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, m: Marker) {
        if self.error.is_some() {
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        m,
                        "a scenario file holds one YAML document; remove the extra `---`".into(),
                    );
                }
            }
            Event::Alias(_) => self.fail(
                m,
                "YAML aliases are not supported in scenario files; repeat the value".into(),
            ),
            Event::Scalar(s, style, anchor, _) => {
                if anchor > 0 {
                    self.fail(m, "YAML anchors are not supported in scenario files".into());
                    return;
                }
                if !self.is_key_position() {
                    // A scalar value points at itself, not at its key: that is where the mistake is.
                    let path = self.next_path();
                    self.positions.by_path.insert(path, pos(m));
                }
                let key_pos = self.is_key_position();
                let v = if key_pos {
                    Value::String(s)
                } else {
                    scalar(s, style)
                };
                self.push(v, m);
            }
            Event::SequenceStart(_, _) | Event::MappingStart(_, _) => {
                if self.is_key_position() {
                    self.fail(m, "mapping keys must be plain scalars".into());
                    return;
                }
                let path = self.next_path();
                self.positions.by_path.entry(path.clone()).or_insert(pos(m));
                self.stack.push(if matches!(ev, Event::SequenceStart(..)) {
                    Frame::Seq {
                        path,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        path,
                        map: Map::new(),
                        key: None,
                    }
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let v = match self.stack.pop() {
                    Some(Frame::Seq { items, .. }) => Value::Array(items),
                    Some(Frame::Map { map, .. }) => Value::Object(map),
                    None => return,
                };
                self.push(v, m);
            }
            _ => {}
        }
    }
}

/// Parses one YAML document into JSON, with the position of every node.
pub fn parse(text: &str) -> Result<(Value, Positions), SyntaxError> {
    let mut b = Builder {
        stack: Vec::new(),
        root: None,
        positions: Positions::default(),
        error: None,
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        return Err(SyntaxError {
            position: pos(*e.marker()),
            message: e.info().to_string(),
        });
    }
    if let Some(e) = b.error {
        return Err(e);
    }
    Ok((b.root.unwrap_or(Value::Null), b.positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_paths() {
        let text = "a:\n  b:\n  - x: 1\n    y: \"2\"\n  - z: true\n";
        let (v, p) = parse(text).unwrap();
        assert_eq!(v["a"]["b"][0]["x"], 1);
        assert_eq!(v["a"]["b"][0]["y"], "2");
        assert_eq!(v["a"]["b"][1]["z"], true);
        // Scalars point at the value, keys are kept for unknown-field messages.
        assert_eq!(p.find("a.b[1].z"), Position { line: 5, column: 8 });
        assert_eq!(p.find_key("a.b[1].z"), Position { line: 5, column: 5 });
        assert_eq!(p.find("a.b[0].y"), Position { line: 4, column: 8 });
        // A missing leaf falls back to its parent.
        assert_eq!(p.find("a.b[0].missing"), p.find("a.b[0]"));
    }

    #[test]
    fn duplicate_keys_and_anchors_are_rejected() {
        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert!(e.message.contains("duplicate key `a`"), "{e:?}");
        assert_eq!(e.position.line, 2);
        assert!(parse("a: &x 1\nb: *x\n").is_err());
    }

    #[test]
    fn quoted_scalars_stay_strings() {
        let (v, _) = parse("a: \"true\"\nb: 'null'\nc: 0.5\nd: 100m\n").unwrap();
        assert_eq!(v["a"], "true");
        assert_eq!(v["b"], "null");
        assert_eq!(v["c"], 0.5);
        assert_eq!(v["d"], "100m");
    }
}
