//! How user-written text appears in messages: names made printable, lists of
//! names, and did-you-mean suggestions for misspelled keys and names. Parsing and
//! validation both word their diagnostics with these.

/// The candidate closest to `input`, if one is close enough to be a likely typo (one
/// rule for every suggestion, the endpoint grammar's included).
pub(crate) use sinkgen_config::closest as did_you_mean;

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
