//! The `Range` header of GetObject, as S3 reads it: one `bytes=` range,
//! `first-last`, `first-` (open) or `-suffix`.
//!
//! S3 follows RFC 9110 here: a header it cannot parse (another unit, a
//! list of ranges, garbage) is ignored and the whole object is sent with
//! 200, while a well-formed range that starts past the end is refused with
//! 416 `InvalidRange`. A last byte past the end is cut to the end.

/// What to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole object (no header, or one S3 ignores).
    Whole,
    /// Bytes `start..=end` (inclusive, as Content-Range says).
    Part { start: u64, end: u64 },
    /// 416 InvalidRange.
    Unsatisfiable,
}

pub fn resolve(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeAnswer::Whole;
    };
    let spec = spec.trim();
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = spec.split_once('-') else {
        return RangeAnswer::Whole;
    };
    let (first, last) = (first.trim(), last.trim());
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    match (first.is_empty(), last.is_empty()) {
        // `-N`: the last N bytes. A suffix of 0 is unsatisfiable; one longer
        // than the object is the whole object (as a 206).
        (true, false) => match number(last) {
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
            None => RangeAnswer::Whole,
        },
        (false, true) => match number(first) {
            Some(start) if start >= size => RangeAnswer::Unsatisfiable,
            Some(start) => RangeAnswer::Part {
                start,
                end: size - 1,
            },
            None => RangeAnswer::Whole,
        },
        (false, false) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start > end => RangeAnswer::Whole,
            (Some(start), Some(_)) if start >= size => RangeAnswer::Unsatisfiable,
            (Some(start), Some(end)) => RangeAnswer::Part {
                start,
                end: end.min(size - 1),
            },
            _ => RangeAnswer::Whole,
        },
        (true, true) => RangeAnswer::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeAnswer::*;

    #[test]
    fn reads_every_range_form_s3_accepts() {
        let cases: &[(Option<&str>, u64, RangeAnswer)] = &[
            (None, 10, Whole),
            (Some("bytes=0-4"), 10, Part { start: 0, end: 4 }),
            (Some("bytes=2-"), 10, Part { start: 2, end: 9 }),
            (Some("bytes=-3"), 10, Part { start: 7, end: 9 }),
            (Some("bytes=-30"), 10, Part { start: 0, end: 9 }),
            (Some("bytes=5-100"), 10, Part { start: 5, end: 9 }),
            (Some("bytes=9-9"), 10, Part { start: 9, end: 9 }),
            (Some("bytes=10-"), 10, Unsatisfiable),
            (Some("bytes=10-20"), 10, Unsatisfiable),
            (Some("bytes=-0"), 10, Unsatisfiable),
            (Some("bytes=0-"), 0, Unsatisfiable),
            (Some("bytes=-1"), 0, Unsatisfiable),
            // Ignored: whole object.
            (Some("bytes=5-2"), 10, Whole),
            (Some("bytes=0-1,3-4"), 10, Whole),
            (Some("items=0-1"), 10, Whole),
            (Some("bytes=a-b"), 10, Whole),
            (Some("bytes=-"), 10, Whole),
            (Some("bytes=+1-2"), 10, Whole),
        ];
        for &(header, size, expected) in cases {
            assert_eq!(resolve(header, size), expected, "{header:?} of {size}");
        }
    }
}
