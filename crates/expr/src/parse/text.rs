//! The text form: a small recursive-descent parser for the grammar in the crate doc.

use std::borrow::Cow;

use time::Date;

use super::{Builder, Operand, check_depth};
use crate::ast::{Expr, Op};
use crate::error::Error;
use crate::schema::{Attribute, Schema};

/// Parses the text form, e.g. `age >= 60 AND location IN ["central_region", "north"]`.
/// Errors give the column (and line, past the first) where the problem is.
pub fn parse_text<'s>(text: &str, schema: &'s Schema) -> Result<Expr<'s>, Error> {
    parse(text, schema, None)
}

/// [`parse_text`], with dates relative to `today` allowed wherever a date is:
/// `today`, `today - 6 months`, `today + 30 days`, `today - 2 years` (units `day`, `month`,
/// `year`, singular or plural). Each is replaced by the date it names, so the expression
/// prints with that date: `death_date >= today - 1 year` on 2025-06-15 prints
/// `death_date >= "2024-06-15"`. A month or year step that lands on a day the month lacks
/// takes the month's last day.
pub fn parse_text_on<'s>(text: &str, schema: &'s Schema, today: Date) -> Result<Expr<'s>, Error> {
    parse(text, schema, Some(today))
}

fn parse<'s>(text: &str, schema: &'s Schema, today: Option<Date>) -> Result<Expr<'s>, Error> {
    let tokens = lex(text).map_err(|(message, at)| located(Error::syntax(message), text, at))?;
    let mut parser = Parser {
        text,
        tokens,
        pos: 0,
        builder: Builder::new(schema),
        today,
    };
    let expr = parser.or(1)?;
    let token = parser.peek();
    if token.kind != Kind::End {
        return Err(parser.unexpected("AND, OR or the end of the query"));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Kind<'a> {
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
    /// `+` or `-` between a date and its offset: the sign.
    Sign(i64),
    Op(Op),
    /// A name or keyword.
    Word(&'a str),
    /// A string literal, unescaped.
    Str(Cow<'a, str>),
    /// A number as written.
    Number(&'a str),
    End,
}

#[derive(Debug, Clone)]
struct Token<'a> {
    kind: Kind<'a>,
    /// Byte offset into the text.
    at: usize,
}

impl Kind<'_> {
    fn describe(&self) -> String {
        match self {
            Kind::Open => "'('".into(),
            Kind::Close => "')'".into(),
            Kind::OpenList => "'['".into(),
            Kind::CloseList => "']'".into(),
            Kind::Comma => "','".into(),
            Kind::Sign(sign) => if *sign < 0 { "'-'" } else { "'+'" }.into(),
            Kind::Op(op) => format!("'{op}'"),
            Kind::Word(word) => format!("'{word}'"),
            Kind::Str(s) => format!("string {s:?}"),
            Kind::Number(n) => format!("number {n}"),
            Kind::End => "the end of the query".into(),
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Kind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

const KEYWORDS: [&str; 5] = ["AND", "OR", "NOT", "IN", "BETWEEN"];

/// Appends where in `text` the byte offset `at` is.
fn located(mut error: Error, text: &str, at: usize) -> Error {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    error.message = if line == 1 {
        format!("{} at column {column}", error.message)
    } else {
        format!("{} at line {line}, column {column}", error.message)
    };
    error
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

fn lex(text: &str) -> Result<Vec<Token<'_>>, (String, usize)> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        let kind = match c {
            c if c.is_whitespace() => {
                chars.next();
                continue;
            }
            '(' | ')' | '[' | ']' | ',' => {
                chars.next();
                match c {
                    '(' => Kind::Open,
                    ')' => Kind::Close,
                    '[' => Kind::OpenList,
                    ']' => Kind::CloseList,
                    _ => Kind::Comma,
                }
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let equals = chars.next_if(|&(_, next)| next == '=').is_some();
                match (c, equals) {
                    ('=', _) => Kind::Op(Op::Eq),
                    ('!', true) => Kind::Op(Op::Ne),
                    ('<', false) => Kind::Op(Op::Lt),
                    ('<', true) => Kind::Op(Op::Le),
                    ('>', false) => Kind::Op(Op::Gt),
                    ('>', true) => Kind::Op(Op::Ge),
                    _ => return Err(("expected '!=', found '!'".into(), at)),
                }
            }
            '"' | '\'' => Kind::Str(string(text, &mut chars)?),
            '+' => {
                chars.next();
                Kind::Sign(1)
            }
            // A '-' apart from its digits is the sign of a date offset (`today - 6 months`).
            '-' if !text[at + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
                chars.next();
                Kind::Sign(-1)
            }
            c if c == '-' || c.is_ascii_digit() => Kind::Number(number(text, &mut chars)?),
            c if is_name_start(c) => Kind::Word(name(text, &mut chars)?),
            c => return Err((format!("unexpected character {c:?}"), at)),
        };
        tokens.push(Token { kind, at });
    }
    tokens.push(Token {
        kind: Kind::End,
        at: text.len(),
    });
    Ok(tokens)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// The end offset of the input consumed so far.
fn offset(text: &str, chars: &mut Chars<'_>) -> usize {
    chars.peek().map_or(text.len(), |&(at, _)| at)
}

fn string<'a>(text: &'a str, chars: &mut Chars<'a>) -> Result<Cow<'a, str>, (String, usize)> {
    let (start, quote) = chars.next().expect("lexer peeked a quote");
    let body = start + 1;
    let mut unescaped: Option<String> = None;
    loop {
        let Some((at, c)) = chars.next() else {
            return Err(("unterminated string".into(), start));
        };
        if c == quote {
            return Ok(match unescaped {
                Some(s) => Cow::Owned(s),
                None => Cow::Borrowed(&text[body..at]),
            });
        }
        if c == '\\' {
            let buffer = unescaped.get_or_insert_with(|| text[body..at].to_owned());
            let escaped = match chars.next() {
                Some((_, 'n')) => '\n',
                Some((_, 't')) => '\t',
                Some((_, 'r')) => '\r',
                Some((_, c @ ('\\' | '"' | '\''))) => c,
                Some((_, c)) => return Err((format!("unknown escape '\\{c}'"), at)),
                None => return Err(("unterminated string".into(), start)),
            };
            buffer.push(escaped);
        } else if let Some(buffer) = unescaped.as_mut() {
            buffer.push(c);
        }
    }
}

/// `-? digit+ ("." digit+)? (("e" | "E") ("+" | "-")? digit+)?`
fn number<'a>(text: &'a str, chars: &mut Chars<'a>) -> Result<&'a str, (String, usize)> {
    let start = offset(text, chars);
    chars.next_if(|&(_, c)| c == '-');
    let digits = |chars: &mut Chars<'a>| {
        let mut any = false;
        while chars.next_if(|&(_, c)| c.is_ascii_digit()).is_some() {
            any = true;
        }
        any
    };
    if !digits(chars) {
        return Err(("expected a digit after '-'".into(), start));
    }
    if chars.next_if(|&(_, c)| c == '.').is_some() && !digits(chars) {
        return Err(("expected a digit after '.'".into(), offset(text, chars)));
    }
    if chars.next_if(|&(_, c)| c == 'e' || c == 'E').is_some() {
        chars.next_if(|&(_, c)| c == '+' || c == '-');
        if !digits(chars) {
            return Err(("expected the exponent's digits".into(), offset(text, chars)));
        }
    }
    let end = offset(text, chars);
    if chars.peek().is_some_and(|&(_, c)| is_name_char(c)) {
        return Err(("expected a space or operator after a number".into(), end));
    }
    Ok(&text[start..end])
}

/// `ident ("." ident)*`, where an ident is a letter or `_` followed by letters, digits, `_`, `-`.
fn name<'a>(text: &'a str, chars: &mut Chars<'a>) -> Result<&'a str, (String, usize)> {
    let start = offset(text, chars);
    loop {
        while chars.next_if(|&(_, c)| is_name_char(c)).is_some() {}
        if chars.next_if(|&(_, c)| c == '.').is_none() {
            break;
        }
        if chars.next_if(|&(_, c)| is_name_start(c)).is_none() {
            return Err(("expected a name after '.'".into(), offset(text, chars)));
        }
    }
    Ok(&text[start..offset(text, chars)])
}

struct Parser<'a, 's> {
    text: &'a str,
    tokens: Vec<Token<'a>>,
    pos: usize,
    builder: Builder<'s>,
    /// The day `today` names; `None` where relative dates are not allowed.
    today: Option<Date>,
}

impl<'a, 's> Parser<'a, 's> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.pos]
    }

    fn advance(&mut self) -> Token<'a> {
        let token = self.tokens[self.pos].clone();
        // The End token stays put, so peeking past the end is always safe.
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn eat_keyword(&mut self, keyword: &str) -> bool {
        let found = self.peek().kind.is_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn error_at(&self, error: Error, at: usize) -> Error {
        located(error, self.text, at)
    }

    fn unexpected(&self, expected: &str) -> Error {
        let token = self.peek();
        self.error_at(
            Error::syntax(format!(
                "expected {expected}, found {}",
                token.kind.describe()
            )),
            token.at,
        )
    }

    fn expect(&mut self, kind: Kind<'static>, expected: &str) -> Result<(), Error> {
        if self.peek().kind != kind {
            return Err(self.unexpected(expected));
        }
        self.advance();
        Ok(())
    }

    /// `or := and ("OR" and)*`
    fn or(&mut self, depth: usize) -> Result<Expr<'s>, Error> {
        let mut parts = vec![self.and(depth)?];
        while self.eat_keyword("OR") {
            parts.push(self.and(depth)?);
        }
        Ok(Expr::any(parts))
    }

    /// `and := unary ("AND" unary)*`
    fn and(&mut self, depth: usize) -> Result<Expr<'s>, Error> {
        let mut parts = vec![self.unary(depth)?];
        while self.eat_keyword("AND") {
            parts.push(self.unary(depth)?);
        }
        Ok(Expr::all(parts))
    }

    /// `unary := "NOT" unary | primary`
    fn unary(&mut self, depth: usize) -> Result<Expr<'s>, Error> {
        let at = self.peek().at;
        check_depth(depth).map_err(|error| self.error_at(error, at))?;
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        self.primary(depth)
    }

    /// `primary := "(" expr ")" | comparison`
    fn primary(&mut self, depth: usize) -> Result<Expr<'s>, Error> {
        if self.peek().kind == Kind::Open {
            self.advance();
            let expr = self.or(depth + 1)?;
            self.expect(Kind::Close, "')'")?;
            return Ok(expr);
        }
        self.comparison()
    }

    /// `comparison := attr op value | attr ["NOT"] "IN" list | attr "BETWEEN" value "AND" value`
    fn comparison(&mut self) -> Result<Expr<'s>, Error> {
        let token = self.peek().clone();
        let name = match token.kind {
            Kind::Word(word) if !KEYWORDS.iter().any(|k| word.eq_ignore_ascii_case(k)) => word,
            _ => return Err(self.unexpected("an attribute name or '('")),
        };
        self.advance();
        let attr = self
            .builder
            .attribute(name)
            .map_err(|error| self.error_at(error, token.at))?;
        let next = self.advance();
        match next.kind {
            Kind::Op(op) => {
                let (operand, at) = self.value()?;
                self.builder
                    .compare(attr, op, operand)
                    .map_err(|error| self.error_at(error, at))
            }
            ref kind if kind.is_keyword("IN") => self.list(attr, token.at),
            ref kind if kind.is_keyword("NOT") => {
                if !self.eat_keyword("IN") {
                    return Err(self.unexpected("IN after NOT"));
                }
                Ok(Expr::Not(Box::new(self.list(attr, token.at)?)))
            }
            ref kind if kind.is_keyword("BETWEEN") => {
                let (low, low_at) = self.value()?;
                let low = self
                    .builder
                    .compare(attr, Op::Ge, low)
                    .map_err(|error| self.error_at(error, low_at))?;
                if !self.eat_keyword("AND") {
                    return Err(self.unexpected("AND in BETWEEN ... AND ..."));
                }
                let (high, high_at) = self.value()?;
                let high = self
                    .builder
                    .compare(attr, Op::Le, high)
                    .map_err(|error| self.error_at(error, high_at))?;
                Ok(Expr::And(vec![low, high]))
            }
            kind => Err(self.error_at(
                Error::syntax(format!(
                    "expected an operator (=, !=, <, <=, >, >=, IN, NOT IN, BETWEEN) after '{name}', found {}",
                    kind.describe()
                )),
                next.at,
            )),
        }
    }

    /// `"[" value ("," value)* "]"`
    fn list(&mut self, attr: &'s Attribute, attr_at: usize) -> Result<Expr<'s>, Error> {
        self.expect(Kind::OpenList, "'[' to start a list of values")?;
        if self.peek().kind == Kind::CloseList {
            return Err(self.unexpected("a value (lists cannot be empty)"));
        }
        let mut operands = vec![self.value()?];
        while self.peek().kind == Kind::Comma {
            self.advance();
            operands.push(self.value()?);
        }
        self.expect(Kind::CloseList, "',' or ']'")?;
        // Coerce one at a time so an error points at the value at fault.
        let values = operands
            .into_iter()
            .map(|(operand, at)| {
                super::coerce(attr, operand).map_err(|error| self.error_at(error, at))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.builder
            .in_values(attr, values)
            .map_err(|error| self.error_at(error, attr_at))
    }

    /// `value := string | number | true | false | date`, with its offset, where
    /// `date := "today" (("+" | "-") digit+ unit)?` when parsing on a day.
    fn value(&mut self) -> Result<(Operand<'a>, usize), Error> {
        let token = self.peek().clone();
        if let (Some(today), true) = (self.today, token.kind.is_keyword("today")) {
            self.advance();
            let date = self.offset_from(today)?;
            return Ok((
                Operand::Str(Cow::Owned(crate::ast::iso_date(date))),
                token.at,
            ));
        }
        let operand = match token.kind {
            Kind::Str(s) => Operand::Str(s),
            Kind::Number(n) => Operand::Number(Cow::Borrowed(n)),
            ref kind if kind.is_keyword("true") => Operand::Bool(true),
            ref kind if kind.is_keyword("false") => Operand::Bool(false),
            _ => {
                return Err(self.unexpected("a value (a quoted string, a number, true or false)"));
            }
        };
        self.advance();
        Ok((operand, token.at))
    }

    /// The optional `("+" | "-") digit+ unit` after `today`, applied to it.
    fn offset_from(&mut self, today: Date) -> Result<Date, Error> {
        // `(sign, whether the count may carry its own sign)`: `today -6 months` lexes the
        // sign with the digits.
        let (sign, signed) = match self.peek().kind {
            Kind::Sign(sign) => {
                self.advance();
                (sign, false)
            }
            Kind::Number(n) if n.starts_with('-') => (1, true),
            _ => return Ok(today),
        };
        let count = self.peek().clone();
        let n = match count.kind {
            Kind::Number(n) => n.parse::<i64>().ok().filter(|n| signed || *n >= 0),
            _ => None,
        }
        .ok_or_else(|| self.unexpected("a whole number of days, months or years"))?;
        self.advance();
        let unit = self.peek().clone();
        let n = sign * n;
        let date = match unit.kind {
            Kind::Word(w) if w.eq_ignore_ascii_case("day") || w.eq_ignore_ascii_case("days") => {
                today.checked_add(time::Duration::days(n))
            }
            Kind::Word(w)
                if w.eq_ignore_ascii_case("month") || w.eq_ignore_ascii_case("months") =>
            {
                add_months(today, n)
            }
            Kind::Word(w) if w.eq_ignore_ascii_case("year") || w.eq_ignore_ascii_case("years") => {
                n.checked_mul(12).and_then(|m| add_months(today, m))
            }
            _ => return Err(self.unexpected("days, months or years")),
        };
        self.advance();
        date.ok_or_else(|| {
            self.error_at(
                Error::new(
                    crate::error::ErrorKind::WrongOperandType,
                    "the date is out of range",
                ),
                count.at,
            )
        })
    }
}

/// `date` moved by `months`, on the same day or the month's last day; None out of range.
fn add_months(date: Date, months: i64) -> Option<Date> {
    let index = i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = time::Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = date.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).ok()
}
