//! Schedule triggers: EventBridge rules with `rate()` and AWS's `cron()`.

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use strata_model::schedule::Schedule;

use super::Context;
use crate::compute::deployment::ACCOUNT;
use crate::compute::request_id;

pub(super) async fn run(schedule: Schedule, rule: String, mut ctx: Context) {
    let cron = match &schedule {
        Schedule::Cron { fields } => match parse_cron(fields) {
            Ok(cron) => Some(cron),
            Err(e) => {
                ctx.report(format!("schedule {schedule} not started: {e}"));
                return;
            }
        },
        Schedule::Rate { .. } => None,
    };
    let mut last = Utc::now();
    loop {
        let next = match (&schedule, &cron) {
            (Schedule::Rate { value, unit }, _) => {
                last + chrono::Duration::seconds(i64::from(*value) * unit.seconds() as i64)
            }
            (_, Some(cron)) => match cron.find_next_occurrence(&Utc::now(), false) {
                Ok(next) => next,
                Err(_) => return, // no occurrence left (a year range in the past)
            },
            _ => return,
        };
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        if !ctx.sleep(wait).await {
            return;
        }
        last = next;
        let event = scheduled_event(&rule, &ctx.region, next);
        // A failed scheduled run is logged by the pool; EventBridge's retries
        // are not reproduced locally.
        let _ = ctx.pool.invoke(Bytes::from(event.to_string())).await;
    }
}

/// AWS's six-field cron (minutes hours day-of-month month day-of-week
/// year), with `?`, `L`, `W` and `#`, and weekdays numbered 1 (SUN) to 7.
pub fn parse_cron(fields: &[String]) -> Result<croner::Cron, String> {
    // AWS writes "start/step" (`0/15`: from 0, every 15); croner takes a
    // step only on `*` or a range, so the start becomes a range to the
    // field's maximum. Years are left as written.
    const MAX: [u32; 5] = [59, 23, 31, 12, 7];
    let fields: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, field)| match MAX.get(i) {
            Some(max) => field
                .split(',')
                .map(|part| match part.split_once('/') {
                    Some((start, step)) if start.parse::<u32>().is_ok() => {
                        format!("{start}-{max}/{step}")
                    }
                    _ => part.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(","),
            None => field.clone(),
        })
        .collect();
    let pattern = format!("0 {}", fields.join(" "));
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .year(croner::parser::Year::Required)
        .alternative_weekdays(true)
        .build()
        .parse(&pattern)
        .map_err(|e| e.to_string())
}

/// The event EventBridge sends for a scheduled rule.
fn scheduled_event(rule: &str, region: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": request_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{ACCOUNT}:rule/{rule}")],
        "detail": {},
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn next(fields: &str, after: DateTime<Utc>) -> String {
        let fields: Vec<String> = fields.split(' ').map(str::to_owned).collect();
        parse_cron(&fields)
            .and_then(|c| {
                c.find_next_occurrence(&after, false)
                    .map_err(|e| e.to_string())
            })
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn aws_cron_expressions_fire_when_eventbridge_would() {
        // Thursday 2026-12-03 20:00 UTC.
        let now = Utc
            .with_ymd_and_hms(2026, 12, 3, 20, 0, 0)
            .single()
            .expect("valid");
        // 18:00 on weekdays: the next is Friday.
        assert_eq!(next("0 18 ? * MON-FRI *", now), "2026-12-04T18:00:00Z");
        // Weekday 6 is Friday in AWS's numbering (1 = Sunday).
        assert_eq!(next("0 10 ? * 6 *", now), "2026-12-04T10:00:00Z");
        // Every 15 minutes.
        assert_eq!(next("0/15 * * * ? *", now), "2026-12-03T20:15:00Z");
        // The last day of the month.
        assert_eq!(next("0 12 L * ? *", now), "2026-12-31T12:00:00Z");
    }
}
