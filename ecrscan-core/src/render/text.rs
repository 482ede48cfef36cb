//! Text from AWS made safe for a terminal.

/// `text` with control characters (escape sequences, line breaks) written
/// as `\u{…}`, so an AWS-provided string cannot move a terminal's cursor or
/// forge a line.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}
