//! Earning multipliers (a gold tier's ×1.5, a campaign's ×2) as exact
//! fixed-point numbers, so that multiplying points never goes through floats.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{PointsError, Rounding};

/// A positive multiplier with four decimal places: `1.5` is 15 000 basis
/// points, `1` is [`Multiplier::ONE`].
///
/// It reads and writes JSON as a number (`1.5`). Zero, negative numbers,
/// more than four decimal places and anything above [`Multiplier::MAX`]
/// are refused when it is read, so a validated program never multiplies by
/// zero or by something it cannot state exactly.
///
/// ```
/// use growthkit::points::{Multiplier, Rounding};
///
/// let gold: Multiplier = serde_json::from_str("1.5")?;
/// assert_eq!(gold.basis_points(), 15_000);
/// assert_eq!(gold.apply(15, Rounding::Down)?, 22);
/// assert_eq!(gold.apply(15, Rounding::Nearest)?, 23);
/// assert!(serde_json::from_str::<Multiplier>("0").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Multiplier(u32);

impl Multiplier {
    /// Basis points in one: `1.0` is 10 000.
    pub const SCALE: u32 = 10_000;
    /// ×1, which changes nothing.
    pub const ONE: Multiplier = Multiplier(Self::SCALE);
    /// The largest multiplier accepted: ×1000.
    pub const MAX: Multiplier = Multiplier(1_000 * Self::SCALE);

    /// The multiplier of `basis_points` / 10 000, if it is above zero and at
    /// most [`Multiplier::MAX`].
    pub fn from_basis_points(basis_points: u32) -> Option<Multiplier> {
        (basis_points > 0 && basis_points <= Self::MAX.0).then_some(Multiplier(basis_points))
    }

    /// The multiplier in basis points (1.5 is 15 000).
    pub fn basis_points(self) -> u32 {
        self.0
    }

    /// `points × self`, made whole by `rounding`.
    #[inline]
    pub fn apply(self, points: u64, rounding: Rounding) -> Result<u64, PointsError> {
        // Nearly every product fits in 64 bits, and then the division by
        // the constant scale is a multiplication.
        match points.checked_mul(u64::from(self.0)) {
            Some(exact) => Ok(rounding.divide_narrow(exact, u64::from(Self::SCALE))),
            None => whole(
                u128::from(points) * u128::from(self.0),
                u128::from(Self::SCALE),
                rounding,
            ),
        }
    }

    /// `points` times this multiplier and `other` (a tier's and a rule's),
    /// exactly, then made whole once by `rounding` (rounded once, not
    /// after each multiplier: rounded down, never a fraction of a point
    /// more than both say). Unlike [`Multiplier::then`],
    /// a product above [`Multiplier::MAX`], or below a basis point, still
    /// multiplies: each multiplier was valid, so only points past
    /// `u64::MAX` are [`PointsError::Overflow`].
    pub(crate) fn apply_both(
        self,
        other: Multiplier,
        points: u64,
        rounding: Rounding,
    ) -> Result<u64, PointsError> {
        let scale = u64::from(Self::SCALE);
        let narrow = points
            .checked_mul(u64::from(self.0))
            .and_then(|p| p.checked_mul(u64::from(other.0)));
        if let Some(exact) = narrow {
            return Ok(rounding.divide_narrow(exact, scale * scale));
        }
        // At most 2^64 × 10^7 × 10^7 < 2^111: u128 holds it.
        let exact = u128::from(points) * u128::from(self.0) * u128::from(other.0);
        whole(exact, u128::from(scale * scale), rounding)
    }

    /// The product of two multipliers (a tier's and a campaign's), rounded
    /// to the nearest basis point, if it is still at most [`Multiplier::MAX`].
    pub fn then(self, other: Multiplier) -> Option<Multiplier> {
        u32::try_from(self.product(other))
            .ok()
            .and_then(Self::from_basis_points)
    }

    /// The product in basis points, rounded to the nearest, unbounded: at
    /// most 10^7 × 10^7 / 10^4 = 10^10.
    fn product(self, other: Multiplier) -> u128 {
        Rounding::Nearest.divide(
            u128::from(self.0) * u128::from(other.0),
            u128::from(Self::SCALE),
        )
    }
}

/// `exact / scale` (points times multipliers, over their scale), made
/// whole by `rounding`; only a result past `u64::MAX` is an overflow. The
/// path of products past 64 bits, which no real award takes.
#[cold]
fn whole(exact: u128, scale: u128, rounding: Rounding) -> Result<u64, PointsError> {
    u64::try_from(rounding.divide(exact, scale)).map_err(|_| PointsError::Overflow)
}

impl Default for Multiplier {
    fn default() -> Multiplier {
        Multiplier::ONE
    }
}

impl std::fmt::Display for Multiplier {
    /// `×1.5`, `×2`, `×1.0025`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, frac) = (self.0 / Self::SCALE, self.0 % Self::SCALE);
        if frac == 0 {
            write!(f, "×{whole}")
        } else {
            let digits = format!("{frac:04}");
            write!(f, "×{whole}.{}", digits.trim_end_matches('0'))
        }
    }
}

impl Serialize for Multiplier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_multiple_of(Self::SCALE) {
            serializer.serialize_u32(self.0 / Self::SCALE)
        } else {
            serializer.serialize_f64(f64::from(self.0) / f64::from(Self::SCALE))
        }
    }
}

impl<'de> Deserialize<'de> for Multiplier {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Multiplier, D::Error> {
        use serde::de::Error;
        let value = f64::deserialize(deserializer)?;
        let max = f64::from(Self::MAX.0 / Self::SCALE);
        if !(value > 0.0 && value <= max) {
            return Err(D::Error::custom(format!(
                "multiplier {value} is out of range: it must be above 0 and at most {max}"
            )));
        }
        let scaled = value * f64::from(Self::SCALE);
        let rounded = scaled.round();
        // A multiplier the operator wrote with more than four decimals
        // would silently change; refuse it instead.
        if (scaled - rounded).abs() > 1e-6 {
            return Err(D::Error::custom(format!(
                "multiplier {value} has more than four decimal places"
            )));
        }
        // In range and whole, so the cast is exact.
        Multiplier::from_basis_points(rounded as u32)
            .ok_or_else(|| D::Error::custom(format!("multiplier {value} is out of range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Multiplier, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn reads_and_writes_decimals_exactly() {
        for (json, bp) in [
            ("1", 10_000),
            ("1.5", 15_000),
            ("0.25", 2_500),
            ("1.0001", 10_001),
        ] {
            let m = parse(json).expect(json);
            assert_eq!(m.basis_points(), bp, "{json}");
            assert_eq!(
                parse(&serde_json::to_string(&m).expect("writes")).expect("reads"),
                m
            );
        }
        assert_eq!(
            serde_json::to_string(&Multiplier::ONE).expect("writes"),
            "1"
        );
    }

    #[test]
    fn refuses_zero_negative_too_large_and_too_precise() {
        for json in ["0", "-1", "0.00001", "1.23456", "1000.5", "1e9", "\"2\""] {
            assert!(parse(json).is_err(), "{json} should be refused");
        }
        assert!(parse("1000").is_ok());
        assert_eq!(Multiplier::from_basis_points(0), None);
        assert_eq!(Multiplier::from_basis_points(Multiplier::MAX.0 + 1), None);
    }

    #[test]
    fn applies_with_the_stated_rounding() {
        let m = Multiplier::from_basis_points(12_500).expect("×1.25");
        assert_eq!(m.apply(3, Rounding::Down), Ok(3));
        assert_eq!(m.apply(3, Rounding::Up), Ok(4));
        assert_eq!(m.apply(2, Rounding::Nearest), Ok(3)); // 2.5 rounds half up
        assert_eq!(
            Multiplier::ONE.apply(u64::MAX, Rounding::Down),
            Ok(u64::MAX)
        );
        assert_eq!(
            Multiplier::MAX.apply(u64::MAX, Rounding::Down),
            Err(PointsError::Overflow)
        );
    }

    #[test]
    fn one_multiplier_applies_as_both_with_the_other_at_one() {
        // The earning step takes one product when only one multiplier
        // applies: it must be the quotient of both with the other at ×1,
        // overflow included.
        let rounds = [Rounding::Down, Rounding::Up, Rounding::Nearest];
        let basis = [
            1,
            3,
            9_999,
            10_000,
            12_345,
            15_000,
            33_333,
            Multiplier::MAX.0,
        ];
        let points = [0, 1, 2, 3, 7, 99, 12_345, u64::MAX / 3, u64::MAX];
        for bp in basis {
            let m = Multiplier(bp);
            for p in points {
                for r in rounds {
                    let one = m.apply(p, r);
                    assert_eq!(one, m.apply_both(Multiplier::ONE, p, r), "{m} × {p}");
                    assert_eq!(one, Multiplier::ONE.apply_both(m, p, r), "{m} × {p}");
                }
            }
        }
    }

    #[test]
    fn a_product_within_64_bits_divides_as_the_wide_one() {
        // `apply` and `apply_both` divide a narrow product by their
        // constant scale in 64 bits: the same quotient as in 128 bits, at
        // the edge of the narrow path and beyond it.
        let scale = u128::from(Multiplier::SCALE);
        for bp in [1, 9_999, 10_000, 12_345, 15_000, Multiplier::MAX.0] {
            let m = Multiplier(bp);
            let edge = u64::MAX / u64::from(bp);
            for p in [
                0,
                1,
                7,
                12_345,
                edge - 1,
                edge,
                edge.saturating_add(1),
                u64::MAX,
            ] {
                for r in [Rounding::Down, Rounding::Up, Rounding::Nearest] {
                    let wide = whole(u128::from(p) * u128::from(bp), scale, r);
                    assert_eq!(m.apply(p, r), wide, "{m} × {p}, {r:?}");
                    let both = u128::from(p) * u128::from(bp) * u128::from(bp);
                    let wide = whole(both, scale * scale, r);
                    assert_eq!(m.apply_both(m, p, r), wide, "{m} × {m} × {p}, {r:?}");
                }
            }
        }
    }

    #[test]
    fn composes_and_displays() {
        let gold = Multiplier::from_basis_points(15_000).expect("×1.5");
        let double = Multiplier::from_basis_points(20_000).expect("×2");
        assert_eq!(
            gold.then(double).map(Multiplier::basis_points),
            Some(30_000)
        );
        assert_eq!(Multiplier::MAX.then(double), None);
        // Applied together, both multiply whatever their product.
        for rounding in [Rounding::Down, Rounding::Nearest, Rounding::Up] {
            assert_eq!(gold.apply_both(double, 7, rounding), Ok(21));
            assert_eq!(Multiplier::MAX.apply_both(double, 10, rounding), Ok(20_000));
            assert_eq!(
                Multiplier::MAX.apply_both(Multiplier::MAX, u64::MAX, rounding),
                Err(PointsError::Overflow)
            );
        }
        let tiny = Multiplier::from_basis_points(1).expect("×0.0001");
        assert_eq!(tiny.apply_both(tiny, 1_000_000, Rounding::Up), Ok(1));
        assert_eq!(tiny.apply_both(tiny, 1_000_000, Rounding::Down), Ok(0));
        // Rounded once: 10 000 × 1.5 × 1.0001 = 15 001.5.
        let odd = Multiplier::from_basis_points(10_001).expect("×1.0001");
        assert_eq!(gold.apply_both(odd, 10_000, Rounding::Down), Ok(15_001));
        assert_eq!(gold.apply_both(odd, 10_000, Rounding::Nearest), Ok(15_002));
        // As `then` then `apply` wherever the product is a whole number of
        // basis points.
        let fifth = Multiplier::from_basis_points(2_000).expect("×0.2");
        for points in [0, 1, 99, 12_345] {
            assert_eq!(
                gold.apply_both(fifth, points, Rounding::Up),
                gold.then(fifth).map_or(Err(PointsError::Overflow), |m| m
                    .apply(points, Rounding::Up))
            );
        }
        assert_eq!(gold.to_string(), "×1.5");
        assert_eq!(double.to_string(), "×2");
        assert_eq!(
            Multiplier::from_basis_points(10_025)
                .expect("valid")
                .to_string(),
            "×1.0025"
        );
    }
}
