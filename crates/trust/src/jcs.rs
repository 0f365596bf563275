//! JSON Canonicalization Scheme (JCS, RFC 8785) of a `serde_json::Value`.
//!
//! Object members are sorted by the UTF-16 code units of their names, numbers are written as
//! ECMAScript's `Number.prototype.toString` writes an IEEE 754 double, strings are escaped as
//! ECMAScript's `JSON.stringify` escapes them, and there is no whitespace.
//!
//! Two consequences of working on a parsed `Value`: an object with a duplicate member name has
//! already lost all but its last value (RFC 8785 requires rejecting it; serde_json keeps the
//! last), and an integer beyond ±2^53 is written as the nearest double, as RFC 8785 §3.2.2.3
//! prescribes (`18446744073709551615` becomes `18446744073709552000`). Peers should send such
//! values as strings, as I-JSON (RFC 7493) asks.

use std::fmt::Write as _;

use serde_json::{Number, Value};

/// The canonical form of `value`, as a string.
pub fn to_string(value: &Value) -> String {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// The canonical form of `value`, as the UTF-8 bytes that get hashed or signed.
pub fn to_vec(value: &Value) -> Vec<u8> {
    to_string(value).into_bytes()
}

/// The JSON text is not a JSON document serde_json would read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a JSON document (at byte {0})")]
pub struct NotJson(pub usize);

/// The canonical form of a JSON object's text, with the range of each top-level member's
/// canonical value in it (a part of an envelope is hashed without parsing the envelope).
#[derive(Debug)]
pub struct CanonicalText {
    out: String,
    top: Vec<(String, std::ops::Range<usize>)>,
}

impl CanonicalText {
    /// The whole canonical document.
    pub fn as_str(&self) -> &str {
        &self.out
    }

    /// The canonical value of the top-level member `name`, when the document is an object
    /// that has it.
    pub fn member(&self, name: &str) -> Option<&str> {
        let (_, range) = self.top.iter().find(|(key, _)| key == name)?;
        Some(&self.out[range.clone()])
    }
}

/// The canonical form of the JSON document `text`: exactly [`to_string`] of the `Value`
/// serde_json would read from it (a repeated member name keeps its last value, numbers go
/// through the same parser), written straight from the text without building the `Value`,
/// with where each top-level member's value is. Refuses what serde_json refuses, nesting
/// deeper than its recursion limit included.
pub fn canonical_text(text: &str) -> Result<CanonicalText, NotJson> {
    let mut writer = TextWriter {
        text: text.as_bytes(),
        source: text,
        at: 0,
        out: String::with_capacity(text.len()),
        depth: 0,
        top: Vec::new(),
    };
    writer.value()?;
    writer.whitespace();
    if writer.at != writer.text.len() {
        return Err(NotJson(writer.at));
    }
    Ok(CanonicalText {
        out: writer.out,
        top: writer.top,
    })
}

/// serde_json's recursion limit: deeper documents do not parse.
const MAX_DEPTH: usize = 127;

/// One pass over JSON text writing its canonical form. Each object's members are written in
/// the order they come, and put in order (and rid of repeated names) when the object ends,
/// which they usually already are.
struct TextWriter<'a> {
    text: &'a [u8],
    source: &'a str,
    at: usize,
    out: String,
    depth: usize,
    top: Vec<(String, std::ops::Range<usize>)>,
}

/// A member written to the output: its name and where it is (`"name":value`).
struct Written<'a> {
    name: std::borrow::Cow<'a, str>,
    start: usize,
    value_start: usize,
    end: usize,
}

impl<'a> TextWriter<'a> {
    fn fail<T>(&self) -> Result<T, NotJson> {
        Err(NotJson(self.at))
    }

    fn whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.text.get(self.at) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<(), NotJson> {
        self.whitespace();
        match self.text.get(self.at) {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => self.string().map(|name| write_string(&mut self.out, &name)),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.fail(),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<(), NotJson>) -> Result<(), NotJson> {
        if self.depth == MAX_DEPTH {
            return self.fail();
        }
        self.depth += 1;
        f(self)?;
        self.depth -= 1;
        Ok(())
    }

    fn literal(&mut self, word: &str) -> Result<(), NotJson> {
        if !self.text[self.at..].starts_with(word.as_bytes()) {
            return self.fail();
        }
        self.at += word.len();
        self.out.push_str(word);
        Ok(())
    }

    /// A string at `self.at`, decoded; borrowed from the text when it has no escape (and so
    /// is written back exactly as it was).
    fn string(&mut self) -> Result<std::borrow::Cow<'a, str>, NotJson> {
        let start = self.at;
        self.at += 1;
        let mut escaped = false;
        loop {
            match self.text.get(self.at) {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.at += 2;
                }
                Some(c) if *c < 0x20 => return self.fail(),
                Some(_) => self.at += 1,
                None => return self.fail(),
            }
        }
        self.at += 1;
        let Some(token) = self.source.get(start..self.at) else {
            return self.fail();
        };
        if !escaped {
            return Ok(std::borrow::Cow::Borrowed(&token[1..token.len() - 1]));
        }
        // Escapes (and lone surrogates) are read by serde_json itself.
        serde_json::from_str::<String>(token)
            .map(std::borrow::Cow::Owned)
            .or_else(|_| self.fail())
    }

    fn number(&mut self) -> Result<(), NotJson> {
        let start = self.at;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.text.get(self.at) {
            self.at += 1;
        }
        let token = &self.source[start..self.at];
        let digits = token.strip_prefix('-').unwrap_or(token);
        // A plain integer a double holds exactly is written as it is (as `write_number`
        // would); anything else goes through serde_json's reading of it.
        let plain = !digits.is_empty()
            && digits.len() <= 15
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" && token.len() == 1 || !digits.starts_with('0'));
        if plain {
            self.out.push_str(token);
            return Ok(());
        }
        match serde_json::from_str::<Value>(token) {
            Ok(Value::Number(number)) => {
                write_number(&mut self.out, &number);
                Ok(())
            }
            _ => Err(NotJson(start)),
        }
    }

    /// Takes the opening bracket at `self.at` and writes it, and the closing one too when the
    /// container is empty (then `true`).
    fn open(&mut self, open: char, close: char) -> bool {
        self.at += 1;
        self.out.push(open);
        self.whitespace();
        if self.text.get(self.at) != Some(&(close as u8)) {
            return false;
        }
        self.at += 1;
        self.out.push(close);
        true
    }

    fn array(&mut self) -> Result<(), NotJson> {
        if self.open('[', ']') {
            return Ok(());
        }
        loop {
            self.value()?;
            self.whitespace();
            match self.text.get(self.at) {
                Some(b',') => self.out.push(','),
                Some(b']') => break,
                _ => return self.fail(),
            }
            self.at += 1;
        }
        self.at += 1;
        self.out.push(']');
        Ok(())
    }

    fn object(&mut self) -> Result<(), NotJson> {
        let top = self.depth == 1;
        let object_start = self.out.len();
        if self.open('{', '}') {
            return Ok(());
        }
        let mut members: Vec<Written<'a>> = Vec::new();
        loop {
            self.whitespace();
            if self.text.get(self.at) != Some(&b'"') {
                return self.fail();
            }
            if !members.is_empty() {
                self.out.push(',');
            }
            let start = self.out.len();
            let name = self.string()?;
            write_string(&mut self.out, &name);
            self.whitespace();
            if self.text.get(self.at) != Some(&b':') {
                return self.fail();
            }
            self.at += 1;
            self.out.push(':');
            let value_start = self.out.len();
            self.value()?;
            members.push(Written {
                name,
                start,
                value_start,
                end: self.out.len(),
            });
            self.whitespace();
            match self.text.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => break,
                _ => return self.fail(),
            }
        }
        self.at += 1;
        let in_order = members
            .windows(2)
            .all(|pair| utf16_cmp(&pair[0].name, &pair[1].name).is_lt());
        if !in_order {
            // Sorted by name, the last of each repeated name kept (as serde_json keeps it).
            members.sort_by(|a, b| utf16_cmp(&a.name, &b.name));
            let mut kept: Vec<Written<'a>> = Vec::with_capacity(members.len());
            for member in members {
                match kept.last_mut() {
                    Some(last) if last.name == member.name => *last = member,
                    _ => kept.push(member),
                }
            }
            let written = self.out.split_off(object_start + 1);
            let mut moved = Vec::with_capacity(kept.len());
            for (i, member) in kept.into_iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let start = self.out.len();
                let shift = |at: usize| at - object_start - 1;
                self.out
                    .push_str(&written[shift(member.start)..shift(member.end)]);
                moved.push(Written {
                    name: member.name,
                    start,
                    value_start: start + member.value_start - member.start,
                    end: self.out.len(),
                });
            }
            members = moved;
        }
        self.out.push('}');
        if top {
            self.top = members
                .into_iter()
                .map(|m| (m.name.into_owned(), m.value_start..m.end))
                .collect();
        }
        Ok(())
    }
}

/// Orders member names by their UTF-16 code units (RFC 8785 §3.2.3). That is the order of
/// their UTF-8 bytes unless one has a character above U+FFFF.
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let supplementary = |s: &str| s.bytes().any(|b| b >= 0xf0);
    if supplementary(a) || supplementary(b) {
        a.encode_utf16().cmp(b.encode_utf16())
    } else {
        a.as_bytes().cmp(b.as_bytes())
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(members) => {
            let mut members: Vec<(&String, &Value)> = members.iter().collect();
            // serde_json's map is ordered by UTF-8 bytes; JCS wants UTF-16 code units, which
            // differ for names with characters above U+FFFF.
            members.sort_by(|a, b| utf16_cmp(a.0, b.0));
            out.push('{');
            for (i, (name, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_value(out, member);
            }
            out.push('}');
        }
    }
}

/// Integers that a double holds exactly are written as they are (the fast path); everything
/// else goes through the double, as ECMAScript would.
fn write_number(out: &mut String, number: &Number) {
    const EXACT: u64 = 1 << 53;
    if let Some(i) = number.as_i64() {
        if i.unsigned_abs() <= EXACT {
            let _ = write!(out, "{i}");
            return;
        }
    } else if let Some(u) = number.as_u64()
        && u <= EXACT
    {
        let _ = write!(out, "{u}");
        return;
    }
    // A `Value` never holds NaN or an infinity; `null` is what JSON.stringify would write.
    match number.as_f64().and_then(format_number) {
        Some(text) => out.push_str(&text),
        None => out.push_str("null"),
    }
}

/// ECMAScript `Number.prototype.toString(10)` of a finite double (ECMA-262 §6.1.6.1.20), the
/// number format of RFC 8785 §3.2.2.3; `None` for NaN and the infinities, which JCS rejects.
pub fn format_number(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    if x == 0.0 {
        return Some("0".to_owned()); // both +0 and -0
    }
    let mut out = String::with_capacity(24);
    if x < 0.0 {
        out.push('-');
    }
    // Rust's `{:e}` writes the shortest digit string that reads back to the same double,
    // choosing the closest one when several are as short: the digits ECMAScript asks for.
    let (mut digits, exponent) = scientific_digits(&format!("{:e}", x.abs()))?;
    if let Some(even) = even_of_tie(x.abs(), &digits, exponent) {
        digits = even;
    }
    let k = i32::try_from(digits.len()).ok()?;
    let n = exponent + 1; // the value is 0.digits × 10^n
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{}{}", if n >= 1 { '+' } else { '-' }, (n - 1).abs());
    }
    Some(out)
}

/// The digits and decimal exponent of Rust's `{:e}` form: `"1.25e-3"` is `("125", -3)`.
fn scientific_digits(text: &str) -> Option<(String, i32)> {
    let (mantissa, exponent) = text.split_once('e')?;
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    Some((digits, exponent.parse().ok()?))
}

/// ECMAScript breaks a tie between two shortest digit strings that are exactly as close to
/// the value toward the even one; Rust's shortest formatting rounds such a tie up
/// (0x43143ff3c1cb0959 is exactly 1424953923781206.25: ECMAScript writes …206.2, Rust …206.3).
/// Returns the even digits when `digits` is the odd side of such a tie.
fn even_of_tie(x: f64, digits: &str, exponent: i32) -> Option<String> {
    // A tie needs the value's exact expansion to end one digit past `digits` with a 5, which
    // only happens at full precision; short digit strings are never ties.
    let last = digits.bytes().last()?;
    if digits.len() < 15 || last % 2 == 0 {
        return None;
    }
    // 800 digits hold the exact decimal expansion of any double (at most 767 significant).
    let (exact, exact_exponent) = scientific_digits(&format!("{x:.800e}"))?;
    if exact_exponent != exponent {
        return None;
    }
    let (prefix, rest) = exact.split_at(digits.len());
    if rest.trim_end_matches('0') != "5" {
        return None;
    }
    // The two candidates are `prefix` and `prefix + 1` in the last place; take the even one.
    let candidate = if prefix.as_bytes()[prefix.len() - 1] % 2 == 0 {
        prefix.to_owned()
    } else {
        let mut up = prefix.as_bytes().to_vec();
        let end = up.len() - 1;
        if up[end] == b'9' {
            // The even side would carry (…9 + 1 = …0); Rust's round-up already wrote it.
            return None;
        }
        up[end] += 1;
        String::from_utf8(up).ok()?
    };
    if candidate == digits {
        return None;
    }
    // Both sides of a tie read back as x unless x sits at a binade edge; make sure.
    let value: f64 = format!("{}.{}e{exponent}", &candidate[..1], &candidate[1..])
        .parse()
        .ok()?;
    (value == x).then_some(candidate)
}

/// A JSON string as ECMAScript's `JSON.stringify` writes it (RFC 8785 §3.2.2.2).
pub(crate) fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 8785 Appendix B: IEEE 754 bit patterns and their canonical text.
    #[test]
    fn rfc8785_appendix_b_numbers() {
        let table: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, want) in table {
            assert_eq!(
                format_number(f64::from_bits(bits)).as_deref(),
                Some(want),
                "{bits:016x}"
            );
            // The same value reached through a JSON document.
            let value: Value = serde_json::from_str(want).unwrap();
            assert_eq!(to_string(&value), want, "{bits:016x} via serde_json");
        }
        assert_eq!(format_number(f64::from_bits(0x7fffffffffffffff)), None); // NaN
        assert_eq!(format_number(f64::from_bits(0x7ff0000000000000)), None); // Infinity
    }

    /// RFC 8785 §3.2.2: the whole transformation of the RFC's sample document.
    #[test]
    fn rfc8785_sample_document() {
        let input = r#"{
            "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
            "literals": [null, true, false]
        }"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            to_string(&value),
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        // §3.2.4: the UTF-8 bytes of that output, as the RFC lists them in hex.
        let hex: String = to_vec(&value).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "7b226c69746572616c73223a5b6e756c6c2c747275652c66616c73655d2c226e756d626572\
             73223a5b3333333333333333332e333333333333332c31652b33302c342e352c302e3030\
             322c31652d32375d2c22737472696e67223a22e282ac245c75303030665c6e4127425c22\
             5c5c5c5c5c222f227d"
        );
    }

    /// RFC 8785 §3.2.3: member names are sorted by UTF-16 code units, which puts U+1F600 (a
    /// surrogate pair, 0xD83D…) before U+FB33 although its UTF-8 bytes sort after.
    #[test]
    fn rfc8785_sorting_by_utf16_code_units() {
        let input = r#"{
            "\u20ac": "Euro Sign",
            "\r": "Carriage Return",
            "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One",
            "\ud83d\ude00": "Emoji: Grinning Face",
            "\u0080": "Control",
            "\u00f6": "Latin Small Letter O With Diaeresis"
        }"#;
        let value: Value = serde_json::from_str(input).unwrap();
        assert_eq!(
            to_string(&value),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\
             \"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn escapes_controls_only_and_keeps_other_characters_literal() {
        let value = json!("\u{0}\u{1f}\u{7f}\u{2028}é\"\\/");
        assert_eq!(
            to_string(&value),
            "\"\\u0000\\u001f\u{7f}\u{2028}é\\\"\\\\/\""
        );
    }

    #[test]
    fn integers_beyond_two_to_the_53_go_through_a_double() {
        assert_eq!(to_string(&json!(u64::MAX)), "18446744073709552000");
        assert_eq!(to_string(&json!(i64::MIN)), "-9223372036854776000");
        assert_eq!(to_string(&json!(9007199254740993_u64)), "9007199254740992");
        assert_eq!(to_string(&json!(-42)), "-42");
        assert_eq!(to_string(&json!(1e21)), "1e+21");
        assert_eq!(to_string(&json!(1e20)), "100000000000000000000");
        assert_eq!(to_string(&json!(1e-7)), "1e-7");
        assert_eq!(to_string(&json!(0.5)), "0.5");
        assert_eq!(to_string(&json!(-0.0)), "0");
    }

    /// The canonical form written from the text is the one of the parsed `Value`, whatever
    /// the member order, spacing, escapes, numbers and repeated names of the text.
    #[test]
    fn text_is_canonicalised_as_its_parsed_value() {
        let documents = [
            r#"{"b": [1, {"d": true, "c": null}], "a": {}, "": []}"#,
            r#"  {"z":1,"y":{"x":[{"w":2,"v":3}],"u":"\u0041\n\"q\"\/"},"a":-0,"c":1.50}  "#,
            r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001, -0.0, 9007199254740993, 123456789012345, 1234567890123456, -42, 0]}"#,
            r#"{"dup": 1, "other": [], "dup": {"b": 2, "a": 1}}"#,
            r#"{"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\ud83d\ude00": 5, "\u0080": 6, "\u00f6": 7}"#,
            r#"{"é": "\u00e9", "e\u0301": "x", "literals": [null, true, false], "\u0000": "\u001f\u007f"}"#,
            r#"[{"b":1,"a":2},[],[[]],"s",-1e-400,1e300]"#,
            r#""just a string""#,
            "12",
            r#"{"sorted":{"a":1,"b":{"c":[1,2,{"d":"e"}]}},"z":null}"#,
        ];
        for text in documents {
            let value: Value = serde_json::from_str(text).unwrap();
            let canonical = canonical_text(text).unwrap();
            assert_eq!(canonical.as_str(), to_string(&value), "{text}");
            if let Value::Object(members) = &value {
                for (name, member) in members {
                    assert_eq!(canonical.member(name), Some(to_string(member).as_str()));
                }
            }
        }
    }

    #[test]
    fn text_that_serde_json_refuses_is_refused() {
        let bad = [
            "",
            " ",
            "{",
            "}",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "tru",
            "nul",
            "\"\u{1}\"",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"open",
            "[1] 2",
            "{\"a\":1}}",
            "[\"\\",
        ];
        for text in bad {
            assert!(
                serde_json::from_str::<Value>(text).is_err(),
                "{text:?} parses"
            );
            assert!(canonical_text(text).is_err(), "{text:?} was canonicalised");
        }
        // Nesting: as deep as serde_json reads, and not one level more.
        for depth in [126, 127, 128, 129] {
            let text = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            assert_eq!(
                canonical_text(&text).is_ok(),
                serde_json::from_str::<Value>(&text).is_ok(),
                "depth {depth}"
            );
        }
    }

    #[test]
    fn nested_structures_have_no_whitespace() {
        let value = json!({"b": [1, {"d": true, "c": null}], "a": {}, "": []});
        assert_eq!(
            to_string(&value),
            r#"{"":[],"a":{},"b":[1,{"c":null,"d":true}]}"#
        );
    }
}
