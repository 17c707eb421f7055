//! Recursive-descent parser: tokens to a type-checked tree, resolving every
//! variable and checking the scope as it goes. Precedence, lowest first:
//! `||`, `&&`, relations (`== != < <= > >= in`), `+ -`, `* / %`, unary
//! `! -`, then member calls `.startsWith()` and primaries.

use super::ast::{Arith, Bool, Compare, Method, Num, Text};
use super::lexer::{lex, Tok, Token};
use super::vars::{self, FieldKind, Leaf, Variable, ROOTS};
use super::{ConditionError, Scope};

/// Parentheses, unary operators, lists and call arguments nest at most this
/// deep (keeps the parser's recursion far from the stack's end).
const MAX_DEPTH: usize = 64;

/// What the parser found out about a condition.
pub(super) struct Parsed {
    pub(super) root: Bool,
    pub(super) scope: Scope,
    pub(super) uses_host_status: bool,
    pub(super) uses_metrics: bool,
    /// The first variable read, in source order, that is not host.id/name.
    pub(super) value: Option<Variable>,
}

pub(super) fn parse(text: &str) -> Result<Parsed, ConditionError> {
    let tokens = lex(text)?;
    if tokens[0].tok == Tok::End {
        return Err(error(1, "expected a condition such as host.cpu.percent > 80 but found end of input"));
    }
    let mut parser = Parser {
        tokens: &tokens,
        position: 0,
        depth: 0,
        scoped: None,
        uses_host_status: false,
        uses_metrics: false,
        value: None,
    };
    let expression = parser.or()?;
    let next = parser.peek();
    if next.tok != Tok::End {
        return Err(error(next.column, format!("expected an operator or end of input but found {}", next.describe())));
    }
    let root = match expression.node {
        Node::Bool(root) => root,
        other => {
            return Err(error(
                expression.column,
                format!("expected the condition to be a bool (true or false) but found {}", other.type_name()),
            ))
        }
    };
    Ok(Parsed {
        root,
        scope: parser.scoped.map_or(Scope::Host, |scoped| scoped.scope),
        uses_host_status: parser.uses_host_status,
        uses_metrics: parser.uses_metrics,
        value: parser.value,
    })
}

fn error(column: usize, message: impl Into<String>) -> ConditionError {
    ConditionError { column, message: message.into() }
}

enum Node {
    Bool(Bool),
    Num(Num),
    Text(Text),
}

impl Node {
    fn type_name(&self) -> &'static str {
        match self {
            Node::Bool(_) => "a bool",
            Node::Num(_) => "a number",
            Node::Text(_) => "a string",
        }
    }
}

/// A node and the column where it starts.
struct Typed {
    node: Node,
    column: usize,
}

/// The first variable of a non-host scope the condition reads.
struct Scoped {
    scope: Scope,
    path: String,
    column: usize,
}

fn scope_words(scope: Scope) -> &'static str {
    match scope {
        Scope::Host => "per host",
        Scope::Mount => "per mount",
        Scope::Container => "per container",
        Scope::Service => "per service",
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    position: usize,
    depth: usize,
    scoped: Option<Scoped>,
    uses_host_status: bool,
    uses_metrics: bool,
    value: Option<Variable>,
}

impl<'t> Parser<'t> {
    fn peek(&self) -> &'t Token {
        self.peek_at(0)
    }

    fn peek_at(&self, ahead: usize) -> &'t Token {
        let last = self.tokens.len() - 1;
        &self.tokens[(self.position + ahead).min(last)]
    }

    fn advance(&mut self) -> &'t Token {
        let token = self.peek();
        if token.tok != Tok::End {
            self.position += 1;
        }
        token
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<&'t Token, ConditionError> {
        let token = self.peek();
        if token.tok != tok {
            return Err(error(token.column, format!("expected {what} but found {}", token.describe())));
        }
        Ok(self.advance())
    }

    fn enter(&mut self, column: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(error(column, format!("expected at most {MAX_DEPTH} levels of nesting but found more")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    // ---- binary levels -------------------------------------------------

    fn or(&mut self) -> Result<Typed, ConditionError> {
        let mut left = self.and()?;
        while self.peek().tok == Tok::OrOr {
            self.advance();
            let right = self.and()?;
            let column = left.column;
            let node = Bool::Or(want_bool(left, "before '||'")?, want_bool(right, "after '||'")?);
            left = Typed { node: Node::Bool(node), column };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Typed, ConditionError> {
        let mut left = self.relation()?;
        while self.peek().tok == Tok::AndAnd {
            self.advance();
            let right = self.relation()?;
            let column = left.column;
            let node = Bool::And(want_bool(left, "before '&&'")?, want_bool(right, "after '&&'")?);
            left = Typed { node: Node::Bool(node), column };
        }
        Ok(left)
    }

    fn relation(&mut self) -> Result<Typed, ConditionError> {
        let mut left = self.additive()?;
        loop {
            let token = self.peek();
            let op = match token.tok {
                Tok::EqEq => Compare::Eq,
                Tok::NotEq => Compare::Ne,
                Tok::Lt => Compare::Lt,
                Tok::Le => Compare::Le,
                Tok::Gt => Compare::Gt,
                Tok::Ge => Compare::Ge,
                _ if token.is_ident("in") => {
                    self.advance();
                    left = self.membership(left)?;
                    continue;
                }
                _ => return Ok(left),
            };
            self.advance();
            let right = self.additive()?;
            left = compare(op, left, right)?;
        }
    }

    /// The list after `in` (the `in` consumed), its items of the needle's type.
    fn membership(&mut self, needle: Typed) -> Result<Typed, ConditionError> {
        let open = self.peek();
        if open.tok != Tok::LBracket {
            return Err(error(
                open.column,
                format!("expected a list such as ['a', 'b'] after 'in' but found {}", open.describe()),
            ));
        }
        self.advance();
        self.enter(open.column)?;
        let mut items = Vec::new();
        while self.peek().tok != Tok::RBracket {
            items.push(self.or()?);
            let next = self.peek();
            match next.tok {
                Tok::Comma => {
                    self.advance();
                }
                Tok::RBracket => {}
                _ => return Err(error(next.column, format!("expected ',' or ']' but found {}", next.describe()))),
            }
        }
        self.advance();
        self.leave();
        let column = needle.column;
        let expected = needle.node.type_name();
        let mismatch = |item: &Typed| {
            error(
                item.column,
                format!("expected {expected} in the list (as on the left of 'in') but found {}", item.node.type_name()),
            )
        };
        let node = match needle.node {
            Node::Num(needle) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item.node {
                        Node::Num(num) => list.push(num),
                        _ => return Err(mismatch(&item)),
                    }
                }
                Bool::NumberIn(needle, list.into())
            }
            Node::Text(needle) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item.node {
                        Node::Text(text) => list.push(text),
                        _ => return Err(mismatch(&item)),
                    }
                }
                Bool::TextIn(needle, list.into())
            }
            Node::Bool(needle) => {
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    match item.node {
                        Node::Bool(value) => list.push(value),
                        _ => return Err(mismatch(&item)),
                    }
                }
                Bool::BooleanIn(Box::new(needle), list.into())
            }
        };
        Ok(Typed { node: Node::Bool(node), column })
    }

    fn additive(&mut self) -> Result<Typed, ConditionError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.peek().tok {
                Tok::Plus => Arith::Add,
                Tok::Minus => Arith::Sub,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.multiplicative()?;
            left = arithmetic(op, left, right)?;
        }
    }

    fn multiplicative(&mut self) -> Result<Typed, ConditionError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().tok {
                Tok::Star => Arith::Mul,
                Tok::Slash => Arith::Div,
                Tok::Percent => Arith::Rem,
                _ => return Ok(left),
            };
            self.advance();
            let right = self.unary()?;
            left = arithmetic(op, left, right)?;
        }
    }

    fn unary(&mut self) -> Result<Typed, ConditionError> {
        let token = self.peek();
        let negate = match token.tok {
            Tok::Bang => false,
            Tok::Minus => true,
            _ => return self.member(),
        };
        self.advance();
        self.enter(token.column)?;
        let operand = self.unary()?;
        self.leave();
        let node = if negate {
            Node::Num(match want_num(operand, "after '-'")? {
                Num::Const(value) => Num::Const(-value),
                other => Num::Neg(Box::new(other)),
            })
        } else {
            Node::Bool(Bool::Not(want_bool(operand, "after '!'")?))
        };
        Ok(Typed { node, column: token.column })
    }

    /// A primary followed by method calls: `x.startsWith('a')`.
    fn member(&mut self) -> Result<Typed, ConditionError> {
        let mut receiver = self.primary()?;
        while self.peek().tok == Tok::Dot {
            self.advance();
            let name = self.peek();
            let Tok::Ident(word) = &name.tok else {
                return Err(error(
                    name.column,
                    format!("expected a method name (startsWith, endsWith, contains) after '.' but found {}", name.describe()),
                ));
            };
            self.advance();
            let method = match word.as_str() {
                "startsWith" => Method::StartsWith,
                "endsWith" => Method::EndsWith,
                "contains" => Method::Contains,
                _ if self.peek().tok != Tok::LParen => {
                    return Err(error(
                        name.column,
                        format!("expected a method call such as .contains('a') but found .{word}: only variables have fields"),
                    ))
                }
                _ => {
                    return Err(error(
                        name.column,
                        format!("expected a method startsWith, endsWith or contains but found {word}"),
                    ))
                }
            };
            let open = self.expect(Tok::LParen, &format!("'(' after {word}"))?;
            self.enter(open.column)?;
            let argument = self.or()?;
            self.expect(Tok::RParen, "')'")?;
            self.leave();
            let column = receiver.column;
            let Node::Text(text) = receiver.node else {
                return Err(error(
                    receiver.column,
                    format!("expected a string before .{word}() but found {}", receiver.node.type_name()),
                ));
            };
            let Node::Text(pattern) = argument.node else {
                return Err(error(
                    argument.column,
                    format!("expected a string as the argument of {word}() but found {}", argument.node.type_name()),
                ));
            };
            receiver = Typed { node: Node::Bool(Bool::Method(method, text, pattern)), column };
        }
        Ok(receiver)
    }

    fn primary(&mut self) -> Result<Typed, ConditionError> {
        let token = self.peek();
        let node = match &token.tok {
            Tok::Number(value) => Node::Num(Num::Const(*value)),
            Tok::Text(value) => Node::Text(Text::Const(value.as_str().into())),
            Tok::Ident(word) if word == "true" => Node::Bool(Bool::Const(true)),
            Tok::Ident(word) if word == "false" => Node::Bool(Bool::Const(false)),
            Tok::Ident(word) if self.peek_at(1).tok == Tok::LParen => {
                return Err(error(
                    token.column,
                    format!(
                        "expected a variable but found the function call {word}(): the only functions are the string methods x.startsWith(s), x.endsWith(s) and x.contains(s)"
                    ),
                ))
            }
            Tok::Ident(_) => return self.variable(),
            Tok::LParen => {
                self.advance();
                self.enter(token.column)?;
                let inner = self.or()?;
                self.expect(Tok::RParen, "')'")?;
                self.leave();
                return Ok(Typed {
                    node: inner.node,
                    column: token.column,
                });
            }
            Tok::LBracket => {
                return Err(error(
                    token.column,
                    "expected a number, a string, a variable or '(' but found '[': a list is only allowed on the right of 'in'",
                ))
            }
            _ => {
                return Err(error(
                    token.column,
                    format!(
                        "expected a number, a string, a variable or '(' but found {}",
                        token.describe()
                    ),
                ))
            }
        };
        self.advance();
        Ok(Typed { node, column: token.column })
    }

    // ---- variables -----------------------------------------------------

    /// A dotted path (the first token is an identifier): resolved to a
    /// variable, and its scope checked against the ones read before.
    fn variable(&mut self) -> Result<Typed, ConditionError> {
        let start = self.advance();
        let column = start.column;
        let Tok::Ident(root) = &start.tok else {
            unreachable!("variable() is called on an identifier");
        };
        let mut segments = vec![root.as_str()];
        // `.name` continues the path unless a `(` makes it a method call.
        while self.peek().tok == Tok::Dot && self.peek_at(2).tok != Tok::LParen {
            let Tok::Ident(segment) = &self.peek_at(1).tok else {
                break;
            };
            segments.push(segment.as_str());
            self.position += 2;
        }
        let variable = if root == "custom" { self.custom(&segments, column)? } else { resolve(&segments, column)? };
        self.note(&variable, column)?;
        let node = match variable {
            Variable::Number(var) => Node::Num(Num::Var(var)),
            Variable::Custom(name) => Node::Num(Num::Custom(name)),
            Variable::Text(var) => Node::Text(Text::Var(var)),
        };
        Ok(Typed { node, column })
    }

    /// `custom.<name>` or `custom['<name>']` (`segments` starts with `custom`).
    fn custom(&mut self, segments: &[&str], column: usize) -> Result<Variable, ConditionError> {
        match segments {
            ["custom", name] => Ok(Variable::Custom((*name).into())),
            ["custom"] if self.peek().tok == Tok::LBracket => {
                self.advance();
                let name = self.peek();
                let Tok::Text(value) = &name.tok else {
                    return Err(error(
                        name.column,
                        format!("expected a metric name in quotes such as custom['disk.io'] but found {}", name.describe()),
                    ));
                };
                if value.is_empty() {
                    return Err(error(name.column, "expected a metric name but found an empty string"));
                }
                self.advance();
                self.expect(Tok::RBracket, "']'")?;
                Ok(Variable::Custom(value.as_str().into()))
            }
            ["custom"] => Err(error(column, "custom is not a variable: expected custom.<name> or custom['<name>']")),
            _ => Err(error(
                column,
                format!(
                    "unknown variable {}; a custom metric whose name has dots is written custom['{}']",
                    segments.join("."),
                    segments[1..].join(".")
                ),
            )),
        }
    }

    /// Records a variable read at `column`: the flags, the value variable,
    /// and the scope (at most one non-host scope).
    fn note(&mut self, variable: &Variable, column: usize) -> Result<(), ConditionError> {
        let scope = variable.scope();
        if scope != Scope::Host {
            match &self.scoped {
                None => {
                    self.scoped = Some(Scoped {
                        scope,
                        path: variable.path(),
                        column,
                    })
                }
                Some(first) if first.scope != scope => {
                    return Err(error(
                        column,
                        format!(
                            "{} is {}, but this condition already reads {} ({}) at column {}; a condition reads host variables and at most one of host.disk.* (per mount), container.* (per container) or service.* (per service)",
                            variable.path(),
                            scope_words(scope),
                            first.path,
                            scope_words(first.scope),
                            first.column
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        if variable.is_metric() {
            self.uses_metrics = true;
        }
        if *variable == Variable::Text(vars::TextVar::HostStatus) {
            self.uses_host_status = true;
        }
        let identity = matches!(variable, Variable::Text(vars::TextVar::HostId | vars::TextVar::HostName));
        if self.value.is_none() && !identity {
            self.value = Some(variable.clone());
        }
        Ok(())
    }
}

/// Resolves a path of `host`, `container` or `service`.
fn resolve(segments: &[&str], column: usize) -> Result<Variable, ConditionError> {
    let full = segments.join(".");
    let mut fields = ROOTS;
    for (index, segment) in segments.iter().enumerate() {
        let Some(field) = fields.iter().find(|field| field.name == *segment) else {
            let known = if index == 0 {
                "variables start with host, container, service or custom".to_owned()
            } else {
                format!("{} has {}", segments[..index].join("."), vars::names(fields))
            };
            return Err(error(column, format!("unknown variable {full}; {known}")));
        };
        match &field.kind {
            FieldKind::Group(children) => fields = children,
            FieldKind::Leaf(leaf) if index + 1 == segments.len() => {
                return Ok(match *leaf {
                    Leaf::Number(var) => Variable::Number(var),
                    Leaf::Text(var) => Variable::Text(var),
                })
            }
            FieldKind::Leaf(leaf) => {
                let kind = match leaf {
                    Leaf::Number(_) => "a number",
                    Leaf::Text(_) => "a string",
                };
                return Err(error(
                    column,
                    format!("unknown variable {full}; {} is {kind} and has no fields", segments[..=index].join(".")),
                ));
            }
        }
    }
    Err(error(column, format!("{full} is not a variable: expected one of its fields; {full} has {}", vars::names(fields))))
}

fn want_bool(typed: Typed, place: &str) -> Result<Box<Bool>, ConditionError> {
    match typed.node {
        Node::Bool(value) => Ok(Box::new(value)),
        other => Err(error(typed.column, format!("expected a bool {place} but found {}", other.type_name()))),
    }
}

fn want_num(typed: Typed, place: &str) -> Result<Num, ConditionError> {
    match typed.node {
        Node::Num(value) => Ok(value),
        other => Err(error(typed.column, format!("expected a number {place} but found {}", other.type_name()))),
    }
}

fn arithmetic(op: Arith, left: Typed, right: Typed) -> Result<Typed, ConditionError> {
    let symbol = match op {
        Arith::Add => "+",
        Arith::Sub => "-",
        Arith::Mul => "*",
        Arith::Div => "/",
        Arith::Rem => "%",
    };
    let column = left.column;
    let left = want_num(left, &format!("before '{symbol}'"))?;
    let right = want_num(right, &format!("after '{symbol}'"))?;
    Ok(Typed { node: Node::Num(Num::Arith(op, Box::new(left), Box::new(right))), column })
}

/// A comparison: numbers with numbers, strings with strings (all six
/// operators), bools with bools (`==`, `!=`).
fn compare(op: Compare, left: Typed, right: Typed) -> Result<Typed, ConditionError> {
    let symbol = op.symbol();
    let column = left.column;
    let ordering = !matches!(op, Compare::Eq | Compare::Ne);
    let node = match (left.node, right.node) {
        (Node::Num(l), Node::Num(r)) => Bool::CompareNumbers(op, l, r),
        (Node::Text(l), Node::Text(r)) => Bool::CompareTexts(op, l, r),
        (Node::Bool(_), _) if ordering => {
            return Err(error(column, format!("expected a number or a string before '{symbol}' but found a bool")))
        }
        (Node::Bool(l), Node::Bool(r)) => Bool::EqualBools { negated: op == Compare::Ne, left: Box::new(l), right: Box::new(r) },
        (l, r) => {
            return Err(error(
                right.column,
                format!("expected {} after '{symbol}' (as on its left) but found {}", l.type_name(), r.type_name()),
            ))
        }
    };
    Ok(Typed { node: Node::Bool(node), column })
}
