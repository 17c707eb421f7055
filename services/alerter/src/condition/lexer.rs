//! Splits a condition into tokens, each with its 1-based column in chars.

use super::ConditionError;

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Number(f64),
    /// A string literal, escapes resolved.
    Text(String),
    /// An identifier, including the words `true`, `false` and `in`.
    Ident(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Bang,
    Minus,
    Plus,
    Star,
    Slash,
    Percent,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    AndAnd,
    OrOr,
    End,
}

#[derive(Clone, Debug)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) column: usize,
    /// The token as written (for error messages).
    pub(super) source: String,
}

impl Token {
    /// How an error message names it after "found".
    pub(super) fn describe(&self) -> String {
        match self.tok {
            Tok::End => "end of input".to_owned(),
            Tok::Number(_) | Tok::Text(_) | Tok::Ident(_) => self.source.clone(),
            _ => format!("'{}'", self.source),
        }
    }

    pub(super) fn is_ident(&self, word: &str) -> bool {
        matches!(&self.tok, Tok::Ident(name) if name == word)
    }
}

fn error(column: usize, message: impl Into<String>) -> ConditionError {
    ConditionError { column, message: message.into() }
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The tokens of `text`, ending with [`Tok::End`] (at the column after the
/// last char).
pub(super) fn lex(text: &str) -> Result<Vec<Token>, ConditionError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let tok = match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '0'..='9' => {
                let (value, end) = number(&chars, i)?;
                i = end;
                Tok::Number(value)
            }
            '\'' | '"' => {
                let (value, end) = string(&chars, i)?;
                i = end;
                Tok::Text(value)
            }
            c if is_ident_start(c) => {
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                Tok::Ident(chars[start..i].iter().collect())
            }
            _ => {
                let (tok, len) = match (c, next) {
                    ('=', Some('=')) => (Tok::EqEq, 2),
                    ('!', Some('=')) => (Tok::NotEq, 2),
                    ('<', Some('=')) => (Tok::Le, 2),
                    ('>', Some('=')) => (Tok::Ge, 2),
                    ('&', Some('&')) => (Tok::AndAnd, 2),
                    ('|', Some('|')) => (Tok::OrOr, 2),
                    ('(', _) => (Tok::LParen, 1),
                    (')', _) => (Tok::RParen, 1),
                    ('[', _) => (Tok::LBracket, 1),
                    (']', _) => (Tok::RBracket, 1),
                    (',', _) => (Tok::Comma, 1),
                    ('.', _) => (Tok::Dot, 1),
                    ('!', _) => (Tok::Bang, 1),
                    ('-', _) => (Tok::Minus, 1),
                    ('+', _) => (Tok::Plus, 1),
                    ('*', _) => (Tok::Star, 1),
                    ('/', _) => (Tok::Slash, 1),
                    ('%', _) => (Tok::Percent, 1),
                    ('<', _) => (Tok::Lt, 1),
                    ('>', _) => (Tok::Gt, 1),
                    ('=', _) => return Err(error(start + 1, "expected '==' but found '='")),
                    ('&', _) => return Err(error(start + 1, "expected '&&' but found '&'")),
                    ('|', _) => return Err(error(start + 1, "expected '||' but found '|'")),
                    _ => {
                        return Err(error(
                            start + 1,
                            format!("expected a number, a string, a variable or an operator but found '{c}'"),
                        ))
                    }
                };
                i += len;
                tok
            }
        };
        tokens.push(Token { tok, column: start + 1, source: chars[start..i].iter().collect() });
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1, source: String::new() });
    Ok(tokens)
}

/// `80`, `0.5`, `1e3`, `1.5e-2`: digits, an optional fraction (a dot
/// followed by digits), an optional exponent.
fn number(chars: &[char], start: usize) -> Result<(f64, usize), ConditionError> {
    let digits = |mut i: usize| {
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(start);
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let exponent = i;
        i += 1;
        if matches!(chars.get(i), Some('+' | '-')) {
            i += 1;
        }
        if !chars.get(i).is_some_and(char::is_ascii_digit) {
            let found = chars.get(i).map_or("end of input".to_owned(), |c| format!("'{c}'"));
            return Err(error(
                i + 1,
                format!(
                    "expected the digits of the exponent of {} but found {found}",
                    chars[start..=exponent].iter().collect::<String>()
                ),
            ));
        }
        i = digits(i);
    }
    let source: String = chars[start..i].iter().collect();
    match source.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok((value, i)),
        _ => Err(error(start + 1, format!("expected a finite number but found {source}"))),
    }
}

/// A string in `'` or `"` with the escapes `\\ \' \" \n \t`; on one line.
fn string(chars: &[char], start: usize) -> Result<(String, usize), ConditionError> {
    let quote = chars[start];
    let unterminated =
        |found: &str| error(start + 1, format!("unterminated string: expected a closing {quote} but found {found}"));
    let mut value = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err(unterminated("end of input")),
            Some('\n') => return Err(unterminated("the end of the line")),
            Some(&c) if c == quote => return Ok((value, i + 1)),
            Some('\\') => {
                let escaped = match chars.get(i + 1) {
                    None => return Err(unterminated("end of input")),
                    Some('\\') => '\\',
                    Some('\'') => '\'',
                    Some('"') => '"',
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some(other) => {
                        return Err(error(i + 1, format!("expected an escape \\\\, \\', \\\", \\n or \\t but found \\{other}")))
                    }
                };
                value.push(escaped);
                i += 2;
            }
            Some(&c) => {
                value.push(c);
                i += 1;
            }
        }
    }
}
