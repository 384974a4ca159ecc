//! Kubernetes resource quantities (`100m`, `1Gi`, `3G`), enough for quota arithmetic.
//!
//! Values are kept in milli-units so CPU (`100m`) and memory (`1Gi`) share one exact type.

use std::fmt;

/// A parsed quantity in milli-units (1 CPU = 1000, 1 byte = 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity(pub i128);

impl Quantity {
    /// Parses `1`, `0.5`, `100m`, `1Ki`, `1Gi`, `3G`, `1e3`; `None` when malformed.
    pub fn parse(s: &str) -> Option<Quantity> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(s.len());
        let (num, suffix) = s.split_at(split);
        if num.is_empty() {
            return None;
        }
        let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
        let negative = int_part.starts_with('-');
        let int_digits = int_part.trim_start_matches(['+', '-']);
        if !int_digits.chars().all(|c| c.is_ascii_digit())
            || !frac_part.chars().all(|c| c.is_ascii_digit())
        {
            return None;
        }
        // Work in units of 10^-9 so fractional decimal inputs stay exact.
        let int: i128 = if int_digits.is_empty() {
            0
        } else {
            int_digits.parse().ok()?
        };
        let frac_str: String = frac_part
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        let frac: i128 = frac_str.parse().ok()?;
        let nano = int * 1_000_000_000 + frac;
        let (mul, div): (i128, i128) = match suffix {
            "" => (1, 1),
            "m" => (1, 1000),
            "k" => (1000, 1),
            "M" => (1_000_000, 1),
            "G" => (1_000_000_000, 1),
            "T" => (1_000_000_000_000, 1),
            "P" => (1_000_000_000_000_000, 1),
            "Ki" => (1 << 10, 1),
            "Mi" => (1 << 20, 1),
            "Gi" => (1 << 30, 1),
            "Ti" => (1 << 40, 1),
            "Pi" => (1 << 50, 1),
            e if e.starts_with(['e', 'E']) => (10i128.checked_pow(e[1..].parse().ok()?)?, 1),
            _ => return None,
        };
        // nano * 1000 (milli-units) / 1e9 = nano / 1e6; round up like Kubernetes does for sub-milli values.
        let milli_num = nano.checked_mul(mul)?;
        let denom = 1_000_000 * div;
        let milli = (milli_num + denom - 1) / denom;
        Some(Quantity(if negative { -milli } else { milli }))
    }

    /// Whole units, rounded up (bytes for memory, cores for CPU).
    pub fn units_ceil(self) -> i128 {
        (self.0 + 999).div_euclid(1000)
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        Quantity(self.0 + o.0)
    }
}

impl std::iter::Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::default(), |a, b| a + b)
    }
}

impl fmt::Display for Quantity {
    /// Canonical form as Kubernetes prints it: `100m`, `2`, `1Gi`, `3G`, `1500M`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        if m % 1000 != 0 {
            return write!(f, "{m}m");
        }
        let v = m / 1000;
        if v == 0 {
            return write!(f, "0");
        }
        // Shortest mantissa wins, so `4G` stays decimal and `1Gi` stays binary.
        let mut best = (v.abs(), String::new());
        for (suffix, factor) in [
            ("Pi", 1i128 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
            ("P", 1_000_000_000_000_000),
            ("T", 1_000_000_000_000),
            ("G", 1_000_000_000),
            ("M", 1_000_000),
            ("k", 1000),
        ] {
            if v % factor == 0 && (v / factor).abs() < best.0 {
                best = ((v / factor).abs(), suffix.to_string());
            }
        }
        if !best.1.is_empty() {
            let sign = if v < 0 { "-" } else { "" };
            return write!(f, "{sign}{}{}", best.0, best.1);
        }
        write!(f, "{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    #[test]
    fn parses_and_prints_canonical_forms() {
        let q = |s| Quantity::parse(s).unwrap();
        assert_eq!(q("100m"), Quantity(100));
        assert_eq!(q("0.5"), Quantity(500));
        assert_eq!(q("1Gi").units_ceil(), 1 << 30);
        assert_eq!(q("1G").units_ceil(), 1_000_000_000);
        assert_eq!((q("500m") + q("1500m")).to_string(), "2");
        assert_eq!(q("1Gi").to_string(), "1Gi");
        assert_eq!((q("1G") + q("3G")).to_string(), "4G");
        assert_eq!(q("250m").to_string(), "250m");
        assert_eq!(q("1e3").to_string(), "1k");
        assert!(Quantity::parse("abc").is_none());
        assert!(Quantity::parse("1Qi").is_none());
    }
}
