//! Showing user-written text inside a message, and did-you-mean suggestions.

/// `s` as it can be shown inside a one-line message: control characters escaped,
/// cut after 64 characters.
///
/// ```
/// assert_eq!(sinkgen_config::printable("a\tb"), "a\\tb");
/// ```
#[must_use]
pub fn printable(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c.is_control() || c == '`' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The candidate closest to `input`, if one is close enough to be a likely typo: at
/// most one edit (insert, delete, substitute, swap two neighbours) per three
/// characters, where case and the separators `-`, `_` and space do not count. The
/// input itself is never suggested. Inputs and candidates over 64 bytes are not
/// compared: they are not typos of names, and the distance is quadratic.
///
/// The front end's did-you-mean for keys and names and the endpoint grammar's for
/// schemes both use it.
///
/// ```
/// use sinkgen_config::closest;
///
/// assert_eq!(closest("endpont", ["endpoint", "framing"]), Some("endpoint"));
/// assert_eq!(closest("market-data", ["market_data"]), Some("market_data"));
/// assert_eq!(closest("colour", ["endpoint", "framing"]), None);
/// ```
#[must_use]
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if input.is_empty() || input.len() > 64 {
        return None;
    }
    let folded = fold(input);
    let length = folded.chars().count();
    let limit = (input.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == input || candidate.len() > 64 {
            continue;
        }
        let other = fold(candidate);
        let distance = if other == folded {
            0
        } else if other.chars().count().abs_diff(length) > limit {
            continue;
        } else {
            edit_distance(&folded, &other)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// Case and separator differences are the most likely typos of all.
fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rows of the optimal-string-alignment table.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            cur[j] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("tcp", "tcp"), 0);
        assert_eq!(edit_distance("tpc", "tcp"), 1);
        assert_eq!(edit_distance("nast", "nats"), 1);
        assert_eq!(edit_distance("unx", "unix"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        let schemes = ["unix", "tcp", "nats"];
        assert_eq!(closest("Unix", schemes), Some("unix"));
        assert_eq!(closest("tpc", schemes), Some("tcp"));
        assert_eq!(closest("ftp", schemes), None);
        assert_eq!(closest("zzzz", schemes), None);
        assert_eq!(closest("unix", schemes), None);
        assert_eq!(closest("", schemes), None);
        let keys = ["endpoint", "framing", "domain", "message"];
        assert_eq!(closest("Framing", keys), Some("framing"));
        assert_eq!(closest("domian", keys), Some("domain"));
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\0b"), "a\\u{0}b");
        assert_eq!(printable(&"x".repeat(70)).chars().count(), 65);
    }
}
