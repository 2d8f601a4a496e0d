//! The key-listing logic shared by ListObjects, ListObjectsV2 and
//! ListObjectVersions, separate from SQL so it can be tested on plain keys.
//!
//! Keys arrive in S3's order (UTF-8 bytes, which is SQLite's BINARY
//! collation on TEXT) starting at the prefix. A [`Lister`] keeps the ones
//! under the prefix and past the marker, folds keys that contain the
//! delimiter after the prefix into one common prefix each, and stops at
//! `max` entries, where a common prefix counts as one entry as S3 counts it.
//! The marker of the next page is the last entry returned, key or common
//! prefix; a common prefix equal to the marker was already returned and is
//! skipped, so pages never repeat one.

/// What the caller should do after offering a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Offer the next key.
    Next,
    /// Every key below this one belongs to a common prefix already taken:
    /// the caller may jump to the first key at or after it.
    SkipTo(String),
    /// The page is full or the prefix is exhausted.
    Done,
}

/// One page being collected.
#[derive(Debug)]
pub struct Lister<T> {
    prefix: String,
    delimiter: Option<String>,
    max: usize,
    after: Option<String>,
    pub contents: Vec<T>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// The last entry returned: the next page's marker.
    pub last: Option<String>,
}

impl<T> Lister<T> {
    pub fn new(prefix: &str, delimiter: Option<&str>, max: usize, after: Option<&str>) -> Self {
        Self {
            prefix: prefix.to_owned(),
            delimiter: delimiter.filter(|d| !d.is_empty()).map(str::to_owned),
            max,
            after: after.filter(|a| !a.is_empty()).map(str::to_owned),
            contents: Vec::new(),
            common_prefixes: Vec::new(),
            truncated: false,
            last: None,
        }
    }

    /// Where the caller's scan should start (inclusive): the later of the
    /// prefix and the marker.
    pub fn start(&self) -> &str {
        match &self.after {
            Some(after) if after.as_str() > self.prefix.as_str() => after,
            _ => &self.prefix,
        }
    }

    fn entries(&self) -> usize {
        self.contents.len() + self.common_prefixes.len()
    }

    /// The common prefix `key` folds into, if any.
    pub fn group_of(&self, key: &str) -> Option<String> {
        let delimiter = self.delimiter.as_deref()?;
        let rest = key.get(self.prefix.len()..)?;
        let at = rest.find(delimiter)?;
        Some(key[..self.prefix.len() + at + delimiter.len()].to_owned())
    }

    /// Offer the next key in order, with the item to keep if it is listed.
    pub fn offer(&mut self, key: &str, item: T) -> Step {
        if !key.starts_with(&self.prefix) {
            // Keys come sorted from the prefix on: the first one outside it
            // ends the range.
            return if key < self.prefix.as_str() {
                Step::Next
            } else {
                Step::Done
            };
        }
        if let Some(group) = self.group_of(key) {
            if self.common_prefixes.last() == Some(&group) || self.after.as_ref() == Some(&group) {
                return Step::SkipTo(skip_past(&group));
            }
            if self.after.as_deref().is_some_and(|a| key <= a) {
                // The marker is inside this group, beyond this key: the
                // group is listed once a key past the marker reaches it.
                return Step::Next;
            }
            if self.entries() >= self.max {
                self.truncated = true;
                return Step::Done;
            }
            self.common_prefixes.push(group.clone());
            self.last = Some(group.clone());
            return Step::SkipTo(skip_past(&group));
        }
        if self.after.as_deref().is_some_and(|a| key <= a) {
            return Step::Next;
        }
        if self.entries() >= self.max {
            self.truncated = true;
            return Step::Done;
        }
        self.contents.push(item);
        self.last = Some(key.to_owned());
        Step::Next
    }
}

/// A string after every key that starts with `group` except ones that
/// continue with U+10FFFF itself, which the lister folds again anyway.
fn skip_past(group: &str) -> String {
    let mut next = group.to_owned();
    next.push(char::MAX);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    /// List `keys` (sorted here) page by page and render each page.
    fn check(keys: &[&str], prefix: &str, delimiter: Option<&str>, max: usize) -> Vec<String> {
        let mut keys: Vec<&str> = keys.to_vec();
        keys.sort_unstable();
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut lister = Lister::new(prefix, delimiter, max, after.as_deref());
            let start = lister.start().to_owned();
            let mut i = keys.partition_point(|k| *k < start.as_str());
            while i < keys.len() {
                match lister.offer(keys[i], keys[i].to_owned()) {
                    Step::Next => i += 1,
                    Step::SkipTo(to) => i = keys.partition_point(|k| *k < to.as_str()),
                    Step::Done => break,
                }
            }
            pages.push(format!(
                "{:?} {:?}{}",
                lister.contents,
                lister.common_prefixes,
                if lister.truncated { " +" } else { "" }
            ));
            if !lister.truncated || pages.len() > 20 {
                break;
            }
            after = lister.last.clone();
        }
        pages
    }

    const KEYS: &[&str] = &[
        "a.txt",
        "photos/2024/jan.jpg",
        "photos/2024/feb.jpg",
        "photos/2025/mar.jpg",
        "photos/index.html",
        "videos/x.mp4",
        "z",
    ];

    #[test]
    fn lists_flat_with_pages() {
        assert_eq!(
            check(KEYS, "photos/", None, 2),
            vec![
                r#"["photos/2024/feb.jpg", "photos/2024/jan.jpg"] [] +"#,
                r#"["photos/2025/mar.jpg", "photos/index.html"] []"#,
            ]
        );
    }

    #[test]
    fn folds_common_prefixes_and_counts_each_as_one() {
        assert_eq!(
            check(KEYS, "", Some("/"), 1000),
            vec![r#"["a.txt", "z"] ["photos/", "videos/"]"#]
        );
        assert_eq!(
            check(KEYS, "photos/", Some("/"), 1000),
            vec![r#"["photos/index.html"] ["photos/2024/", "photos/2025/"]"#]
        );
        assert_eq!(
            check(KEYS, "", Some("/"), 1),
            vec![
                r#"["a.txt"] [] +"#,
                r#"[] ["photos/"] +"#,
                r#"[] ["videos/"] +"#,
                r#"["z"] []"#,
            ]
        );
    }

    #[test]
    fn a_prefix_matching_nothing_lists_nothing() {
        assert_eq!(check(KEYS, "nope/", Some("/"), 10), vec!["[] []"]);
        assert_eq!(check(&[], "", None, 10), vec!["[] []"]);
    }

    #[test]
    fn multi_character_delimiters_and_unicode_keys() {
        assert_eq!(
            check(&["a--b", "a--c", "a-d", "é--1", "é"], "", Some("--"), 10),
            vec![r#"["a-d", "é"] ["a--", "é--"]"#]
        );
    }

    #[test]
    fn start_after_inside_a_group_still_lists_the_group_once() {
        let mut lister: Lister<String> =
            Lister::new("", Some("/"), 10, Some("photos/2024/feb.jpg"));
        let mut keys: Vec<&str> = KEYS.to_vec();
        keys.sort_unstable();
        for key in keys {
            if lister.offer(key, key.to_owned()) == Step::Done {
                break;
            }
        }
        assert_eq!(lister.contents, vec!["z".to_owned()]);
        assert_eq!(
            lister.common_prefixes,
            vec!["photos/".to_owned(), "videos/".to_owned()]
        );
    }
}
