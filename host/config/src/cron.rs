//! Cron expressions as spin-trigger-cron reads them, apart from the trigger
//! ([`crate::cron_trigger`]) so that the manifest can check them without depending on the app.

use std::str::FromStr;

/// Parses an expression as the plugin does: `sec min hour day-of-month month day-of-week [year]`.
pub fn parse_schedule(expression: &str) -> Result<cron::Schedule, String> {
    let fields = expression.split_whitespace().count();
    if !(6..=7).contains(&fields) {
        return Err(format!(
            "expected 6 fields (seconds first, e.g. \"1/2 * * * * *\") or 7 with a year, found {fields}"
        ));
    }
    cron::Schedule::from_str(expression).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_and_seven_fields() {
        assert!(parse_schedule("1/2 * * * * *").is_ok());
        assert!(parse_schedule("0 0 * * * * 2030").is_ok());
        assert!(parse_schedule("* * * * *").is_err());
        assert!(parse_schedule("0 0 25 * * *").is_err());
    }

    #[test]
    fn ticks_are_where_the_expression_says() {
        let s = parse_schedule("0 30 * * * *").expect("valid");
        let next: Vec<_> = s.upcoming(chrono::Utc).take(2).collect();
        assert_eq!((next[1] - next[0]).num_minutes(), 60);
        assert_eq!(next[0].format("%M:%S").to_string(), "30:00");
    }
}
