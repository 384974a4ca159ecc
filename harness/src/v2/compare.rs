//! Comparing a model's outputs with expected outputs: by name, shape, datatype and values.

use oip::{NamedTensor, TensorData};
use std::fmt;

/// How far a floating-point value may be from the expected one: `|actual - expected| <= absolute + relative * |expected|`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// Relative part, e.g. `1e-6`.
    pub relative: f64,
    /// Absolute part, for values near zero.
    pub absolute: f64,
}

impl Tolerance {
    /// Whether `actual` is close enough to `expected` (NaN only matches NaN; infinities only themselves).
    pub fn accepts(&self, expected: f64, actual: f64) -> bool {
        if expected.is_nan() || actual.is_nan() {
            return expected.is_nan() && actual.is_nan();
        }
        if expected.is_infinite() || actual.is_infinite() {
            return expected == actual;
        }
        (actual - expected).abs() <= self.absolute + self.relative * expected.abs()
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tolerance {:e} relative + {:e} absolute",
            self.relative, self.absolute
        )
    }
}

/// One way the actual outputs differ from the expected ones.
#[derive(Debug, Clone, PartialEq)]
pub enum Difference {
    /// An expected output is absent.
    Missing {
        /// Output name.
        output: String,
    },
    /// An output was returned that is not expected.
    Extra {
        /// Output name.
        output: String,
    },
    /// Shapes differ.
    Shape {
        /// Output name.
        output: String,
        /// Expected shape.
        expected: Vec<i64>,
        /// Actual shape.
        actual: Vec<i64>,
    },
    /// Datatypes differ.
    Datatype {
        /// Output name.
        output: String,
        /// Expected datatype.
        expected: String,
        /// Actual datatype.
        actual: String,
    },
    /// One element is outside the tolerance (or unequal, for integer and BYTES outputs).
    Value {
        /// Output name.
        output: String,
        /// Flat row-major index.
        index: usize,
        /// Expected element, as text in the output's datatype.
        expected: String,
        /// Actual element, as text.
        actual: String,
        /// Tolerance applied; `None` for exact comparison.
        tolerance: Option<Tolerance>,
    },
    /// More elements differ than are listed individually.
    MoreValues {
        /// Output name.
        output: String,
        /// How many further elements differ.
        count: usize,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::Missing { output } => write!(f, "output \"{output}\" is missing"),
            Difference::Extra { output } => write!(f, "output \"{output}\" is not expected"),
            Difference::Shape {
                output,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "output \"{output}\": expected shape {expected:?}, got {actual:?}"
                )
            }
            Difference::Datatype {
                output,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "output \"{output}\": expected datatype {expected}, got {actual}"
                )
            }
            Difference::Value {
                output,
                index,
                expected,
                actual,
                tolerance,
            } => {
                write!(
                    f,
                    "output \"{output}\"[{index}]: expected {expected}, got {actual}"
                )?;
                match tolerance {
                    Some(t) => write!(f, " ({t})"),
                    None => write!(f, " (exact)"),
                }
            }
            Difference::MoreValues { output, count } => {
                write!(f, "output \"{output}\": {count} more elements differ")
            }
        }
    }
}

/// Every difference found between expected and actual outputs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Mismatch {
    /// The differences, in expected-output order then extra outputs.
    pub differences: Vec<Difference>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.differences.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join("; "))
    }
}

/// Value differences listed per output before the rest are only counted.
const MAX_LISTED: usize = 5;

/// Compares outputs by name (order does not matter), then shape, datatype and values.
///
/// FP32 elements are compared as f32 (both sides were parsed as f64 and narrowed, as JSON
/// carries no width), FP64 as f64, both within `tolerance`; integer, BOOL and BYTES exactly.
pub fn compare_outputs(
    expected: &[NamedTensor],
    actual: &[NamedTensor],
    tolerance: Tolerance,
) -> Result<(), Mismatch> {
    let mut differences = Vec::new();
    for e in expected {
        match actual.iter().find(|a| a.name == e.name) {
            None => differences.push(Difference::Missing {
                output: e.name.clone(),
            }),
            Some(a) => compare_one(e, a, tolerance, &mut differences),
        }
    }
    for a in actual {
        if !expected.iter().any(|e| e.name == a.name) {
            differences.push(Difference::Extra {
                output: a.name.clone(),
            });
        }
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(Mismatch { differences })
    }
}

fn compare_one(e: &NamedTensor, a: &NamedTensor, tolerance: Tolerance, out: &mut Vec<Difference>) {
    let output = e.name.clone();
    if e.shape != a.shape {
        out.push(Difference::Shape {
            output: output.clone(),
            expected: e.shape.clone(),
            actual: a.shape.clone(),
        });
    }
    if e.datatype != a.datatype || e.data.datatype() != a.data.datatype() {
        out.push(Difference::Datatype {
            output,
            expected: e.datatype.clone(),
            actual: a.datatype.clone(),
        });
        return;
    }
    if e.data.len() != a.data.len() {
        // Only reachable with an unvalidated tensor; the shape difference above usually explains it.
        if e.shape == a.shape {
            out.push(Difference::Shape {
                output,
                expected: e.shape.clone(),
                actual: a.shape.clone(),
            });
        }
        return;
    }
    let mut bad = Vec::new();
    match (&e.data, &a.data) {
        (TensorData::F32(ev), TensorData::F32(av)) => {
            for (i, (&x, &y)) in ev.iter().zip(av).enumerate() {
                if !tolerance.accepts(f64::from(x), f64::from(y)) {
                    bad.push((i, x.to_string(), y.to_string(), Some(tolerance)));
                }
            }
        }
        (TensorData::F64(ev), TensorData::F64(av)) => {
            for (i, (&x, &y)) in ev.iter().zip(av).enumerate() {
                if !tolerance.accepts(x, y) {
                    bad.push((i, x.to_string(), y.to_string(), Some(tolerance)));
                }
            }
        }
        (TensorData::Bytes(ev), TensorData::Bytes(av)) => {
            for (i, (x, y)) in ev.iter().zip(av).enumerate() {
                if x != y {
                    bad.push((i, quoted(x), quoted(y), None));
                }
            }
        }
        (ed, ad) => {
            // Integers and booleans: exact; widening to f64 is exact below 2^53 and enough to locate a difference.
            let (ev, av) = (
                ed.to_f64_vec().unwrap_or_default(),
                ad.to_f64_vec().unwrap_or_default(),
            );
            for (i, (&x, &y)) in ev.iter().zip(&av).enumerate() {
                if x != y {
                    bad.push((i, x.to_string(), y.to_string(), None));
                }
            }
        }
    }
    let total = bad.len();
    for (index, expected, actual, tolerance) in bad.into_iter().take(MAX_LISTED) {
        out.push(Difference::Value {
            output: output.clone(),
            index,
            expected,
            actual,
            tolerance,
        });
    }
    if total > MAX_LISTED {
        out.push(Difference::MoreValues {
            output,
            count: total - MAX_LISTED,
        });
    }
}

fn quoted(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        relative: 1e-6,
        absolute: 0.0,
    };

    fn f32s(name: &str, shape: Vec<i64>, v: &[f32]) -> NamedTensor {
        NamedTensor::new(name, shape, TensorData::F32(v.to_vec()))
    }

    #[test]
    fn equal_outputs_in_any_order_match() {
        let e = [f32s("a", vec![2], &[0.5, 0.25]), f32s("b", vec![1], &[1.0])];
        let a = [f32s("b", vec![1], &[1.0]), f32s("a", vec![2], &[0.5, 0.25])];
        assert_eq!(compare_outputs(&e, &a, TOL), Ok(()));
    }

    #[test]
    fn value_outside_tolerance_names_output_index_and_values() {
        let e = [f32s(
            "default_probability",
            vec![3, 1],
            &[0.1, 0.2, 0.1234567],
        )];
        let a = [f32s(
            "default_probability",
            vec![3, 1],
            &[0.1, 0.2, 0.3734567],
        )];
        let err = compare_outputs(&e, &a, TOL).unwrap_err().to_string();
        assert_eq!(
            err,
            "output \"default_probability\"[2]: expected 0.1234567, got 0.3734567 (tolerance 1e-6 relative + 0e0 absolute)"
        );
    }

    #[test]
    fn tolerance_is_relative_plus_absolute() {
        let t = Tolerance {
            relative: 1e-6,
            absolute: 1e-9,
        };
        assert!(t.accepts(1.0, 1.0 + 0.9e-6));
        assert!(!t.accepts(1.0, 1.0 + 1.1e-6));
        assert!(t.accepts(0.0, 0.9e-9));
        assert!(!t.accepts(0.0, 1.1e-9));
        assert!(t.accepts(f64::NAN, f64::NAN));
        assert!(!t.accepts(0.5, f64::NAN));
        assert!(!t.accepts(f64::INFINITY, 1e300));
    }

    #[test]
    fn fp32_comparison_happens_after_narrowing() {
        // 0.1 as f32 differs from 0.1 as f64 by ~1.5e-9 relative; both sides are f32 so this is exact.
        let e = [f32s("y", vec![1], &["0.1".parse::<f64>().unwrap() as f32])];
        let a = [f32s("y", vec![1], &[0.1f32])];
        assert_eq!(
            compare_outputs(
                &e,
                &a,
                Tolerance {
                    relative: 0.0,
                    absolute: 0.0
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn missing_extra_shape_and_datatype_are_all_reported() {
        let e = [
            f32s("p", vec![2, 1], &[0.1, 0.2]),
            f32s("q", vec![1], &[1.0]),
        ];
        let a = [
            NamedTensor::new("p", vec![1, 2], TensorData::F64(vec![0.1, 0.2])),
            f32s("r", vec![1], &[1.0]),
        ];
        let m = compare_outputs(&e, &a, TOL).unwrap_err();
        assert_eq!(
            m.differences,
            vec![
                Difference::Shape {
                    output: "p".into(),
                    expected: vec![2, 1],
                    actual: vec![1, 2]
                },
                Difference::Datatype {
                    output: "p".into(),
                    expected: "FP32".into(),
                    actual: "FP64".into()
                },
                Difference::Missing { output: "q".into() },
                Difference::Extra { output: "r".into() },
            ]
        );
        let text = m.to_string();
        assert!(
            text.contains("output \"q\" is missing")
                && text.contains("output \"r\" is not expected"),
            "{text}"
        );
    }

    #[test]
    fn many_value_differences_are_capped_and_counted() {
        let e = [f32s("y", vec![8], &[0.0; 8])];
        let a = [f32s("y", vec![8], &[1.0; 8])];
        let m = compare_outputs(&e, &a, TOL).unwrap_err();
        assert_eq!(m.differences.len(), MAX_LISTED + 1);
        assert_eq!(
            m.differences.last().unwrap().to_string(),
            "output \"y\": 3 more elements differ"
        );
    }

    #[test]
    fn integers_and_bytes_compare_exactly() {
        let e = [NamedTensor::new("c", vec![2], TensorData::I64(vec![3, 4]))];
        let a = [NamedTensor::new("c", vec![2], TensorData::I64(vec![3, 5]))];
        let err = compare_outputs(&e, &a, TOL).unwrap_err().to_string();
        assert_eq!(err, "output \"c\"[1]: expected 4, got 5 (exact)");
        let e = [NamedTensor::new(
            "s",
            vec![1],
            TensorData::Bytes(vec![b"yes".to_vec()]),
        )];
        let a = [NamedTensor::new(
            "s",
            vec![1],
            TensorData::Bytes(vec![b"no".to_vec()]),
        )];
        let err = compare_outputs(&e, &a, TOL).unwrap_err().to_string();
        assert_eq!(err, "output \"s\"[0]: expected \"yes\", got \"no\" (exact)");
    }
}
