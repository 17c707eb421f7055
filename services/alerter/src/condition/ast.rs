//! The compiled, type-checked form of a condition, and its evaluation.
//!
//! The parser only builds well-typed trees, so there is one node type per
//! value type and evaluation never checks a type. Evaluation borrows strings
//! from the facts and the tree: it never allocates. A missing value is `None`
//! and makes the result unknown, except where `&&`/`||` decide without it.

use super::vars::{read_custom, NumVar, TextVar};
use super::Facts;

/// An expression whose value is a bool.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Bool {
    Const(bool),
    Not(Box<Bool>),
    And(Box<Bool>, Box<Bool>),
    Or(Box<Bool>, Box<Bool>),
    CompareNumbers(Compare, Num, Num),
    CompareTexts(Compare, Text, Text),
    /// `==` (`false`) or `!=` (`true`) between bools.
    EqualBools {
        negated: bool,
        left: Box<Bool>,
        right: Box<Bool>,
    },
    NumberIn(Num, Box<[Num]>),
    TextIn(Text, Box<[Text]>),
    BooleanIn(Box<Bool>, Box<[Bool]>),
    Method(Method, Text, Text),
}

/// An expression whose value is a number.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Num {
    Const(f64),
    Var(NumVar),
    Custom(Box<str>),
    Neg(Box<Num>),
    Arith(Arith, Box<Num>, Box<Num>),
}

/// An expression whose value is a string.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Text {
    Const(Box<str>),
    Var(TextVar),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Compare {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Method {
    StartsWith,
    EndsWith,
    Contains,
}

impl Compare {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Compare::Eq => "==",
            Compare::Ne => "!=",
            Compare::Lt => "<",
            Compare::Le => "<=",
            Compare::Gt => ">",
            Compare::Ge => ">=",
        }
    }

    /// The comparison that is true exactly when this one is false (for
    /// numbers that are there).
    pub(super) fn negated(self) -> Compare {
        match self {
            Compare::Eq => Compare::Ne,
            Compare::Ne => Compare::Eq,
            Compare::Lt => Compare::Ge,
            Compare::Le => Compare::Gt,
            Compare::Gt => Compare::Le,
            Compare::Ge => Compare::Lt,
        }
    }

    fn apply<T: PartialOrd + ?Sized>(self, left: &T, right: &T) -> bool {
        match self {
            Compare::Eq => left == right,
            Compare::Ne => left != right,
            Compare::Lt => left < right,
            Compare::Le => left <= right,
            Compare::Gt => left > right,
            Compare::Ge => left >= right,
        }
    }
}

impl Bool {
    /// `Some(result)`, or `None` when a missing value leaves it unknown.
    pub(super) fn eval(&self, facts: &Facts<'_>) -> Option<bool> {
        match self {
            Bool::Const(value) => Some(*value),
            Bool::Not(inner) => inner.eval(facts).map(|value| !value),
            Bool::And(left, right) => {
                let left = left.eval(facts);
                if left == Some(false) {
                    return Some(false);
                }
                match (left, right.eval(facts)) {
                    (_, Some(false)) => Some(false),
                    (Some(true), Some(true)) => Some(true),
                    _ => None,
                }
            }
            Bool::Or(left, right) => {
                let left = left.eval(facts);
                if left == Some(true) {
                    return Some(true);
                }
                match (left, right.eval(facts)) {
                    (_, Some(true)) => Some(true),
                    (Some(false), Some(false)) => Some(false),
                    _ => None,
                }
            }
            Bool::CompareNumbers(op, left, right) => Some(op.apply(&left.eval(facts)?, &right.eval(facts)?)),
            Bool::CompareTexts(op, left, right) => Some(op.apply(left.eval(facts)?, right.eval(facts)?)),
            Bool::EqualBools { negated, left, right } => Some((left.eval(facts)? == right.eval(facts)?) != *negated),
            Bool::NumberIn(needle, list) => {
                let needle = needle.eval(facts)?;
                any_equal(list.iter().map(|item| item.eval(facts)), |item| item == needle)
            }
            Bool::TextIn(needle, list) => {
                let needle = needle.eval(facts)?;
                any_equal(list.iter().map(|item| item.eval(facts)), |item| item == needle)
            }
            Bool::BooleanIn(needle, list) => {
                let needle = needle.eval(facts)?;
                any_equal(list.iter().map(|item| item.eval(facts)), |item| item == needle)
            }
            Bool::Method(method, receiver, argument) => {
                let receiver = receiver.eval(facts)?;
                let argument = argument.eval(facts)?;
                Some(match method {
                    Method::StartsWith => receiver.starts_with(argument),
                    Method::EndsWith => receiver.ends_with(argument),
                    Method::Contains => receiver.contains(argument),
                })
            }
        }
    }
}

/// `in`: true when an item equals the needle, else unknown when an item is
/// missing, else false.
fn any_equal<T: Copy>(items: impl Iterator<Item = Option<T>>, equal: impl Fn(T) -> bool) -> Option<bool> {
    let mut unknown = false;
    for item in items {
        match item {
            Some(item) if equal(item) => return Some(true),
            Some(_) => {}
            None => unknown = true,
        }
    }
    (!unknown).then_some(false)
}

impl Num {
    /// The value; `None` when an operand is missing or the result is not a
    /// finite number (a division by zero).
    pub(super) fn eval(&self, facts: &Facts<'_>) -> Option<f64> {
        let value = match self {
            Num::Const(value) => return Some(*value),
            Num::Var(var) => return var.read(facts),
            Num::Custom(name) => return read_custom(name, facts),
            Num::Neg(inner) => -inner.eval(facts)?,
            Num::Arith(op, left, right) => {
                let left = left.eval(facts)?;
                let right = right.eval(facts)?;
                match op {
                    Arith::Add => left + right,
                    Arith::Sub => left - right,
                    Arith::Mul => left * right,
                    Arith::Div => left / right,
                    Arith::Rem => left % right,
                }
            }
        };
        value.is_finite().then_some(value)
    }
}

impl Text {
    pub(super) fn eval<'x>(&'x self, facts: &Facts<'x>) -> Option<&'x str> {
        match self {
            Text::Const(value) => Some(value),
            Text::Var(var) => var.read(facts),
        }
    }
}
