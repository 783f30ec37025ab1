//! Odds (decimal or fractional) and scores: the numeric values a mapping converts.

/// How a provider writes odds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OddsFormat {
    /// Decimal odds, `3.5`.
    Decimal,
    /// Fractional (UK) odds, `5/2` (= 3.5 decimal), `evens` (= 2.0).
    Fractional,
}

impl OddsFormat {
    /// Decimal odds of a text value.
    ///
    /// ```
    /// use rstask::transform::values::OddsFormat;
    /// assert_eq!(OddsFormat::Fractional.parse("5/2"), Ok(3.5));
    /// assert_eq!(OddsFormat::Decimal.parse("1.91"), Ok(1.91));
    /// ```
    ///
    /// # Errors
    /// A message when the text is not odds of this format, or below 1.0.
    pub fn parse(self, text: &str) -> Result<f64, String> {
        let value = match self {
            Self::Decimal => text.parse::<f64>().ok(),
            Self::Fractional => parse_fraction(text),
        };
        match value {
            Some(v) => decimal_odds(v),
            None => Err(match self {
                Self::Decimal => format!("expected decimal odds like 2.5, got: {text:?}"),
                Self::Fractional => format!("expected fractional odds like 5/2, got: {text:?}"),
            }),
        }
    }

    /// Writes decimal odds in this format (the generator's inverse; fractional odds are
    /// written over the smallest denominator up to 100 that is exact, else `x/100`).
    #[must_use]
    pub fn format(self, decimal: f64) -> String {
        match self {
            Self::Decimal => format!("{decimal:.2}"),
            Self::Fractional => {
                let profit = decimal - 1.0;
                if (profit - 1.0).abs() < 1e-9 {
                    return "evens".to_owned();
                }
                for den in 1..=100_u32 {
                    let num = profit * f64::from(den);
                    if (num - num.round()).abs() < 1e-9 {
                        return format!("{}/{den}", num.round());
                    }
                }
                format!("{}/100", (profit * 100.0).round())
            }
        }
    }
}

/// Decimal odds must be finite and at least 1.0.
///
/// # Errors
/// When they are not.
pub fn decimal_odds(value: f64) -> Result<f64, String> {
    if value.is_finite() && value >= 1.0 {
        Ok(value)
    } else {
        Err(format!("expected odds of at least 1.0, got: {value}"))
    }
}

fn parse_fraction(text: &str) -> Option<f64> {
    let text = text.trim();
    if ["evens", "evs", "even"]
        .iter()
        .any(|e| text.eq_ignore_ascii_case(e))
    {
        return Some(2.0);
    }
    let (num, den) = text.split_once('/')?;
    let num: u32 = num.trim().parse().ok()?;
    let den: u32 = den.trim().parse().ok()?;
    if den == 0 {
        return None;
    }
    Some(1.0 + f64::from(num) / f64::from(den))
}

/// A score: a non-negative integer that fits `UInt16`.
///
/// # Errors
/// A message when the text is not one.
pub fn parse_score(text: &str) -> Result<u16, String> {
    text.trim()
        .parse::<u16>()
        .map_err(|_| format!("expected a score from 0 to 65535, got: {text:?}"))
}

/// The same for a JSON number.
///
/// # Errors
/// When it is not an integer from 0 to 65535.
pub fn score_of_number(number: &serde_json::Number) -> Result<u16, String> {
    number
        .as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| format!("expected a score from 0 to 65535, got: {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_odds() {
        let f = OddsFormat::Fractional;
        assert_eq!(f.parse("5/2"), Ok(3.5));
        assert_eq!(f.parse("1/2"), Ok(1.5));
        assert_eq!(f.parse("evens"), Ok(2.0));
        assert_eq!(f.parse("EVS"), Ok(2.0));
        assert_eq!(f.parse(" 11/10 "), Ok(2.1));
        for bad in ["5/0", "2.5", "a/b", "5/", "-1/2", ""] {
            assert!(f.parse(bad).is_err(), "{bad}");
        }
        for odds in [3.5, 2.0, 1.5, 2.1, 7.0, 1.2] {
            assert_eq!(f.parse(&f.format(odds)), Ok(odds), "{odds}");
        }
    }

    #[test]
    fn decimal_odds_and_scores() {
        assert_eq!(OddsFormat::Decimal.parse("2.50"), Ok(2.5));
        assert!(OddsFormat::Decimal.parse("0.5").is_err());
        assert!(OddsFormat::Decimal.parse("NaN").is_err());
        assert!(OddsFormat::Decimal.parse("5/2").is_err());
        assert_eq!(parse_score("3"), Ok(3));
        assert!(parse_score("-1").is_err());
        assert!(parse_score("70000").is_err());
        assert!(parse_score("two").is_err());
        assert_eq!(score_of_number(&serde_json::Number::from(7)), Ok(7));
        assert!(score_of_number(&serde_json::Number::from_f64(1.5).unwrap()).is_err());
    }
}
