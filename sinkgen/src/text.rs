//! How user-written text appears in messages: names made printable, lists of
//! names, and did-you-mean suggestions for misspelled keys and names. Parsing and
//! validation both word their diagnostics with these.

/// The candidate closest to `input`, if one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // Long inputs are not typos of short names, and the edit distance is quadratic.
    if input.is_empty() || input.len() > 64 {
        return None;
    }
    let folded = fold(input);
    let limit = (input.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        if candidate == input || candidate.len() > 64 {
            continue;
        }
        let distance = if fold(candidate) == folded {
            0
        } else if candidate.len().abs_diff(input.len()) > limit {
            continue;
        } else {
            strsim::damerau_levenshtein(input, candidate)
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

/// A name as shown inside backticks in a message: control characters escaped, and
/// cut short, so hostile input cannot reshape the rendered diagnostic. The runtime
/// words its endpoint errors with the same function.
pub(crate) use sinkgen_config::printable;

/// `a`, `b` and `c`
pub(crate) fn list_of<S: AsRef<str>>(items: &[S]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("`{}`", s.as_ref())).collect();
    match quoted.as_slice() {
        [] => "none".to_owned(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["endpoint", "framing", "domain", "message"];
        assert_eq!(did_you_mean("endpont", keys), Some("endpoint"));
        assert_eq!(did_you_mean("Framing", keys), Some("framing"));
        assert_eq!(did_you_mean("domian", keys), Some("domain"));
        assert_eq!(did_you_mean("colour", keys), None);
        assert_eq!(
            did_you_mean("market-data", ["market_data"]),
            Some("market_data")
        );
        assert_eq!(did_you_mean("", keys), None);
    }
}
