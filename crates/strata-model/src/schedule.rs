//! Schedule expressions as EventBridge takes them: `rate(N unit)` and the
//! six-field `cron(minutes hours day-of-month month day-of-week year)`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    Rate { value: u32, unit: RateUnit },
    Cron { fields: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateUnit {
    Minute,
    Hour,
    Day,
}

impl RateUnit {
    pub fn seconds(self) -> u64 {
        match self {
            Self::Minute => 60,
            Self::Hour => 3600,
            Self::Day => 86400,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rate { value, unit } => {
                let unit = match unit {
                    RateUnit::Minute => "minute",
                    RateUnit::Hour => "hour",
                    RateUnit::Day => "day",
                };
                write!(
                    f,
                    "rate({value} {unit}{})",
                    if *value == 1 { "" } else { "s" }
                )
            }
            Self::Cron { fields } => write!(f, "cron({})", fields.join(" ")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleError {
    pub reason: String,
    pub help: Option<String>,
}

fn fail(reason: impl Into<String>, help: impl Into<Option<String>>) -> ScheduleError {
    ScheduleError {
        reason: reason.into(),
        help: help.into(),
    }
}

pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix("rate(").and_then(|t| t.strip_suffix(')')) {
        return parse_rate(inner.trim());
    }
    if let Some(inner) = text.strip_prefix("cron(").and_then(|t| t.strip_suffix(')')) {
        return parse_cron(inner.trim());
    }
    let help = if text.split_whitespace().count() == 5 {
        "EventBridge cron has six fields (a year at the end) and `?` in day-of-month or day-of-week, e.g. `cron(0 3 * * ? *)`".to_owned()
    } else {
        "write `rate(5 minutes)` or `cron(0 3 * * ? *)`".to_owned()
    };
    Err(fail("expected `rate(...)` or `cron(...)`", help))
}

fn parse_rate(inner: &str) -> Result<Schedule, ScheduleError> {
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(fail(
            "a rate is `rate(VALUE UNIT)`",
            "for example `rate(5 minutes)`".to_owned(),
        ));
    };
    let value: u32 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| fail(format!("`{value}` is not a positive whole number"), None))?;
    let (unit, singular) = match unit {
        "minute" => (RateUnit::Minute, true),
        "minutes" => (RateUnit::Minute, false),
        "hour" => (RateUnit::Hour, true),
        "hours" => (RateUnit::Hour, false),
        "day" => (RateUnit::Day, true),
        "days" => (RateUnit::Day, false),
        other => {
            return Err(fail(
                format!("unknown unit `{other}`"),
                "the unit is minute(s), hour(s) or day(s)".to_owned(),
            ));
        }
    };
    // EventBridge is strict about grammar: `rate(1 minutes)` and `rate(5 minute)` are refused.
    if singular != (value == 1) {
        let fixed = Schedule::Rate { value, unit };
        return Err(fail(
            "the unit must be singular for 1 and plural otherwise",
            format!("write `{fixed}`"),
        ));
    }
    Ok(Schedule::Rate { value, unit })
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const FIELDS: [Field; 6] = [
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Field {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: &DAYS,
    },
    Field {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
    },
];

fn parse_cron(inner: &str) -> Result<Schedule, ScheduleError> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        let help = if fields.len() == 5 {
            format!("add the year field: `cron({inner} *)`")
        } else {
            "the fields are: minutes hours day-of-month month day-of-week year".to_owned()
        };
        return Err(fail(
            format!("cron takes 6 fields, found {}", fields.len()),
            help,
        ));
    }
    for (text, field) in fields.iter().zip(&FIELDS) {
        check_field(text, field)?;
    }
    // EventBridge cannot combine both day fields: one of them must be `?`.
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err(fail(
            "exactly one of day-of-month and day-of-week must be `?`",
            "for every day write `cron(MIN HOUR * * ? *)`; for weekdays `cron(MIN HOUR ? * MON-FRI *)`".to_owned(),
        ));
    }
    Ok(Schedule::Cron {
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    })
}

fn check_field(text: &str, field: &Field) -> Result<(), ScheduleError> {
    let special_ok = |s: &str| match field.name {
        "day-of-month" => {
            s == "?"
                || s == "L"
                || s == "LW"
                || (s.ends_with('W') && value(&s[..s.len() - 1], field).is_ok())
        }
        "day-of-week" => {
            s == "?"
                || s == "L"
                || (s.ends_with('L') && value(&s[..s.len() - 1], field).is_ok())
                || s.split_once('#').is_some_and(|(d, n)| {
                    value(d, field).is_ok() && matches!(n, "1" | "2" | "3" | "4" | "5")
                })
        }
        _ => false,
    };
    for item in text.split(',') {
        if item.is_empty() {
            return Err(fail(
                format!("empty item in the {} field `{text}`", field.name),
                None,
            ));
        }
        if special_ok(item) {
            if text.contains(',') && item == "?" {
                return Err(fail(
                    format!("`?` cannot be part of a list in the {} field", field.name),
                    None,
                ));
            }
            continue;
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(n) if n > 0 => {}
                _ => {
                    return Err(fail(
                        format!(
                            "`{step}` is not a valid increment in the {} field",
                            field.name
                        ),
                        None,
                    ));
                }
            }
        }
        if range == "*" {
            continue;
        }
        match range.split_once('-') {
            Some((a, b)) => {
                value(a, field)?;
                value(b, field)?;
            }
            None => {
                value(range, field)?;
            }
        }
    }
    Ok(())
}

fn value(text: &str, field: &Field) -> Result<u32, ScheduleError> {
    if let Some(i) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(i as u32 + field.min);
    }
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ => {
            let names = if field.names.is_empty() {
                String::new()
            } else {
                format!(
                    " or {}-{}",
                    field.names[0],
                    field.names[field.names.len() - 1]
                )
            };
            Err(fail(
                format!("`{text}` is out of range for {}", field.name),
                format!("{} takes {}-{}{names}", field.name, field.min, field.max),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_aws_examples() {
        for ok in [
            "rate(1 day)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 10 ? * 6L 2026-2030)",
            "cron(0 0 L * ? *)",
            "cron(0 0 15W * ? *)",
        ] {
            assert!(parse(ok).is_ok(), "{ok}: {:?}", parse(ok));
        }
    }

    #[test]
    fn refuses_what_eventbridge_refuses() {
        for bad in [
            "rate(1 days)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(5 weeks)",
            "rate(five minutes)",
            "cron(0 10 * * *)",
            "cron(0 10 * * * *)",
            "cron(0 10 ? * ? *)",
            "cron(60 10 * * ? *)",
            "cron(0 24 * * ? *)",
            "cron(0 0 32 * ? *)",
            "cron(0 0 ? * 8 *)",
            "cron(0 0 * 13 ? *)",
            "cron(0 0 * * ? 1969)",
            "every day",
            "cron(0/0 * * * ? *)",
        ] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn rate_help_names_the_fix() {
        let e = parse("rate(1 days)").expect_err("plural for 1");
        assert_eq!(e.help.as_deref(), Some("write `rate(1 day)`"));
    }
}
