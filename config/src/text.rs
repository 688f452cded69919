//! Showing user-written text inside a message, and did-you-mean for schemes.

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

/// The candidate closest to `input` if it is close enough to be a typo (at most one
/// edit per three characters; case, `-` and `_` do not count).
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    if input.is_empty() || input.len() > 64 {
        return None;
    }
    let folded = fold(input);
    let limit = (input.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let distance = if fold(candidate) == folded {
            0
        } else {
            edit_distance(&folded, candidate)
        };
        if distance <= limit && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, c)| c)
}

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
        assert_eq!(closest("Unix", &["unix", "tcp", "nats"]), Some("unix"));
        assert_eq!(closest("tpc", &["unix", "tcp", "nats"]), Some("tcp"));
        assert_eq!(closest("ftp", &["unix", "tcp", "nats"]), None);
        assert_eq!(closest("zzzz", &["unix", "tcp", "nats"]), None);
    }

    #[test]
    fn printable_escapes_and_cuts() {
        assert_eq!(printable("a\0b"), "a\\u{0}b");
        assert_eq!(printable(&"x".repeat(70)).chars().count(), 65);
    }
}
