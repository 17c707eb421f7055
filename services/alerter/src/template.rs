//! Alert messages: handlebars templates rendered with an alert instance.
//!
//! A rule's `message`, e.g. `CPU at {{value}}% on {{host.name}}`, is
//! compiled once by [`MessageTemplate::compile`] and rendered as plain text
//! (no HTML escaping) for each alert event. A template may use the variables
//! in [`VARIABLES`], comments, and the blocks `{{#if x}}…{{else}}…{{/if}}`
//! and `{{#unless x}}…{{/unless}}` on those variables; anything else (another
//! variable, a helper, a partial) is refused at compile time with its line
//! and column. Documented in `docs/alerting-conditions.md`.
//!
//! **Invariant:** rendering a compiled template never fails: a missing value
//! renders as nothing.

use std::fmt;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg};
use serde_json::{json, Map, Value as Json};

/// The longest message template accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 2000;

/// The variables a message can use.
pub const VARIABLES: &[&str] =
    &["value", "host.name", "host.id", "mount", "container.name", "service.name", "rule.name", "severity"];

/// The name of the one template of a [`MessageTemplate`]'s registry.
const NAME: &str = "message";

/// Why a message template does not compile, at a 1-based line and column
/// (in chars).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A compiled message template.
#[derive(Clone)]
pub struct MessageTemplate {
    text: String,
    registry: Handlebars<'static>,
}

impl fmt::Debug for MessageTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageTemplate").field("text", &self.text).finish_non_exhaustive()
    }
}

/// What a message is rendered with. `None` renders as nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct MessageContext<'a> {
    /// The condition's value, already formatted (`92.5`).
    pub value: Option<&'a str>,
    pub host_id: &'a str,
    pub host_name: &'a str,
    pub mount: Option<&'a str>,
    pub container_name: Option<&'a str>,
    pub service_name: Option<&'a str>,
    pub rule_name: &'a str,
    pub severity: &'a str,
}

impl MessageTemplate {
    /// Compiles `text`: handlebars syntax, only the known variables and the
    /// `if`/`unless` blocks, at most [`MAX_TEMPLATE_BYTES`].
    pub fn compile(text: &str) -> Result<MessageTemplate, TemplateError> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(TemplateError {
                line: 1,
                column: 1,
                message: format!("expected a message of at most {MAX_TEMPLATE_BYTES} bytes but found {} bytes", text.len()),
            });
        }
        let template = Template::compile(text).map_err(|error| syntax_error(text, &error))?;
        check_template(text, &template)?;
        let mut registry = Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_template(NAME, template);
        Ok(MessageTemplate { text: text.to_owned(), registry })
    }

    /// The text it was compiled from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The message for `context`, as plain text.
    pub fn render(&self, context: &MessageContext<'_>) -> String {
        match self.registry.render(NAME, &data(context)) {
            Ok(message) => message,
            Err(error) => {
                // Not expected: compile() admits only what renders.
                tracing::error!(template = %self.text, error = %error, "message template failed to render; sending it unrendered");
                self.text.clone()
            }
        }
    }
}

/// The template's data: `{"value": .., "host": {"id", "name"}, "mount": ..,
/// "container": {"name"}, "service": {"name"}, "rule": {"name"},
/// "severity": ..}`, a missing value left out.
fn data(context: &MessageContext<'_>) -> Json {
    let optional = |value: Option<&str>| value.map_or(Json::Null, Json::from);
    let mut data = Map::new();
    data.insert("value".into(), optional(context.value));
    data.insert("host".into(), json!({ "id": context.host_id, "name": context.host_name }));
    data.insert("mount".into(), optional(context.mount));
    data.insert("container".into(), json!({ "name": optional(context.container_name) }));
    data.insert("service".into(), json!({ "name": optional(context.service_name) }));
    data.insert("rule".into(), json!({ "name": context.rule_name }));
    data.insert("severity".into(), Json::from(context.severity));
    Json::Object(data)
}

// ---- errors and positions ----------------------------------------------

fn error_at((line, column): (usize, usize), message: impl Into<String>) -> TemplateError {
    TemplateError { line, column, message: message.into() }
}

/// A handlebars syntax error, with its position (found in the text when
/// handlebars has none).
fn syntax_error(text: &str, error: &handlebars::TemplateError) -> TemplateError {
    use handlebars::TemplateErrorReason as Reason;
    let reason = error.reason();
    let at_end = error.pos().is_some_and(|position| offset_of(text, position) >= text.len());
    let message = match reason {
        Reason::InvalidSyntax(_) if at_end => {
            "expected '}}' closing a tag or {{/if}} / {{/unless}} closing a block but found end of input".to_owned()
        }
        Reason::InvalidSyntax(detail) => format!("invalid handlebars syntax: {}", detail.trim()),
        other => other.to_string(),
    };
    let position = error.pos().unwrap_or_else(|| {
        let needle = match reason {
            Reason::InvalidParam(param) => Some(param.as_str()),
            Reason::MismatchingClosedHelper(_, closing) | Reason::MismatchingClosedDecorator(_, closing) => {
                Some(closing.as_str())
            }
            _ => None,
        };
        needle.and_then(|needle| text.find(needle)).map_or((1, 1), |offset| line_column(text, offset))
    });
    error_at(position, message)
}

/// The 1-based line and column (in chars) of byte `offset`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// The byte offset of a 1-based line and column (in chars); the end of the
/// text when past it.
fn offset_of(text: &str, (line, column): (usize, usize)) -> usize {
    let mut line_start = 0;
    for _ in 1..line {
        match text[line_start..].find('\n') {
            Some(newline) => line_start += newline + 1,
            None => return text.len(),
        }
    }
    text[line_start..].char_indices().nth(column.saturating_sub(1)).map_or(text.len(), |(offset, _)| line_start + offset)
}

/// Where `needles` appear in that order after the tag at `tag` (the
/// position of its `{{`): the position of the last one, else the tag's.
fn locate(text: &str, tag: (usize, usize), needles: &[&str]) -> (usize, usize) {
    let mut offset = offset_of(text, tag);
    let mut found = offset;
    for needle in needles {
        match text[offset..].find(needle) {
            Some(at) => {
                found = offset + at;
                offset = found + needle.len();
            }
            None => return tag,
        }
    }
    line_column(text, found)
}

// ---- what a template may contain ---------------------------------------

const BLOCK_HELP: &str = "a message uses variables such as {{host.name}} and the blocks {{#if <variable>}}…{{else}}…{{/if}} and {{#unless <variable>}}…{{/unless}}";

fn check_template(text: &str, template: &Template) -> Result<(), TemplateError> {
    for (index, element) in template.elements.iter().enumerate() {
        let tag = template.mapping.get(index).map_or((1, 1), |mapping| (mapping.0, mapping.1));
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => check_expression(text, tag, helper)?,
            TemplateElement::HelperBlock(helper) => check_block(text, tag, helper)?,
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                return Err(error_at(tag, format!("expected a variable but found a partial ({{{{> …}}}}); {BLOCK_HELP}")))
            }
            _ => return Err(error_at(tag, format!("expected a variable but found a decorator or raw block; {BLOCK_HELP}"))),
        }
    }
    Ok(())
}

/// `{{variable}}` (no helper call).
fn check_expression(text: &str, tag: (usize, usize), helper: &HelperTemplate) -> Result<(), TemplateError> {
    match &helper.name {
        Parameter::Path(path) if helper.params.is_empty() && helper.hash.is_empty() => check_path(text, tag, &[], path),
        Parameter::Name(name) | Parameter::Path(Path::Relative((_, name))) => Err(error_at(
            locate(text, tag, &[name]),
            format!("expected a variable but found a call of the helper {name}; {BLOCK_HELP}"),
        )),
        _ => Err(error_at(tag, format!("expected a variable but found an expression; {BLOCK_HELP}"))),
    }
}

/// `{{#if variable}}…{{else}}…{{/if}}` or `{{#unless variable}}…{{/unless}}`.
fn check_block(text: &str, tag: (usize, usize), helper: &HelperTemplate) -> Result<(), TemplateError> {
    let name = match &helper.name {
        Parameter::Name(name) | Parameter::Path(Path::Relative((_, name))) => name.as_str(),
        _ => "",
    };
    if !matches!(name, "if" | "unless") {
        return Err(error_at(
            locate(text, tag, &[name]),
            format!("expected the block if or unless but found {name}; {BLOCK_HELP}"),
        ));
    }
    let path = match (helper.params.as_slice(), helper.hash.is_empty(), &helper.block_param) {
        ([Parameter::Path(path)], true, None) => path,
        _ => {
            return Err(error_at(
                locate(text, tag, &[name]),
                format!("expected {{{{#{name} <variable>}}}} with one variable; {BLOCK_HELP}"),
            ))
        }
    };
    check_path(text, tag, &[name], path)?;
    for inner in [&helper.template, &helper.inverse].into_iter().flatten() {
        check_template(text, inner)?;
    }
    Ok(())
}

fn check_path(text: &str, tag: (usize, usize), before: &[&str], path: &Path) -> Result<(), TemplateError> {
    let (name, raw) = match path {
        Path::Relative((segments, raw)) => {
            let names: Option<Vec<&str>> = segments
                .iter()
                .map(|segment| match segment {
                    PathSeg::Named(name) => Some(name.as_str()),
                    _ => None,
                })
                .collect();
            (names.map(|names| names.join(".")), raw.as_str())
        }
        Path::Local((_, _, raw)) => (None, raw.as_str()),
    };
    if name.as_deref().is_some_and(|name| VARIABLES.contains(&name)) {
        return Ok(());
    }
    let mut needles = before.to_vec();
    needles.push(raw);
    Err(error_at(locate(text, tag, &needles), format!("unknown variable {raw}; the variables are {}", VARIABLES.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> MessageContext<'static> {
        MessageContext {
            value: Some("92.5"),
            host_id: "h-1",
            host_name: "web-1",
            mount: Some("/var"),
            container_name: None,
            service_name: None,
            rule_name: "High CPU",
            severity: "critical",
        }
    }

    fn compile_error(text: &str) -> TemplateError {
        MessageTemplate::compile(text).expect_err(text)
    }

    fn render(text: &str, context: &MessageContext<'_>) -> String {
        MessageTemplate::compile(text).expect(text).render(context)
    }

    #[test]
    fn every_variable_renders() {
        let context = MessageContext { container_name: Some("db"), service_name: Some("nginx"), ..context() };
        let text = "{{value}}|{{host.name}}|{{host.id}}|{{mount}}|{{container.name}}|{{service.name}}|{{rule.name}}|{{severity}}";
        assert_eq!(render(text, &context), "92.5|web-1|h-1|/var|db|nginx|High CPU|critical");
    }

    #[test]
    fn seed_style_message_renders() {
        assert_eq!(render("CPU at {{value}}% on {{host.name}} ({{severity}})", &context()), "CPU at 92.5% on web-1 (critical)");
    }

    #[test]
    fn missing_values_render_empty() {
        let context = MessageContext { value: None, mount: None, ..context() };
        assert_eq!(render("[{{value}}][{{mount}}][{{container.name}}][{{service.name}}]", &context), "[][][][]");
    }

    #[test]
    fn nothing_is_html_escaped() {
        let context = MessageContext { host_name: "<a&b> \"q\" 'x'", ..context() };
        assert_eq!(render("{{host.name}} {{{host.name}}}", &context), "<a&b> \"q\" 'x' <a&b> \"q\" 'x'");
    }

    #[test]
    fn if_unless_and_else_blocks_render() {
        let text = "{{#if mount}}on {{mount}}{{else}}on the host{{/if}}{{#unless value}} (no value){{/unless}}";
        assert_eq!(render(text, &context()), "on /var");
        let bare = MessageContext { mount: None, value: None, ..context() };
        assert_eq!(render(text, &bare), "on the host (no value)");
        let chained = "{{#if container.name}}c{{else if service.name}}s{{else}}h{{/if}}";
        let service = MessageContext { service_name: Some("nginx"), ..context() };
        assert_eq!(render(chained, &service), "s");
        assert_eq!(render(chained, &context()), "h");
    }

    #[test]
    fn comments_whitespace_control_and_escapes_are_handlebars() {
        assert_eq!(render("a {{! note }}b {{~value~}} c \\{{value}}", &context()), "a b92.5c {{value}}");
    }

    #[test]
    fn plain_text_and_empty_templates_render_as_they_are() {
        assert_eq!(render("disk almost full", &context()), "disk almost full");
        assert_eq!(render("", &context()), "");
    }

    #[test]
    fn unknown_variable_is_refused_at_its_line_and_column() {
        let error = compile_error("Host {{hots.name}} is down");
        assert_eq!((error.line, error.column), (1, 8));
        assert_eq!(
            error.message,
            "unknown variable hots.name; the variables are value, host.name, host.id, mount, container.name, service.name, rule.name, severity"
        );
        assert_eq!(error.to_string(), format!("line 1, column 8: {}", error.message));
        let error = compile_error("first line\n  é {{ value }} {{ host.nme }}");
        assert_eq!((error.line, error.column), (2, 20));
        assert!(error.message.starts_with("unknown variable host.nme;"));
    }

    #[test]
    fn unknown_variable_inside_a_block_is_refused() {
        let error = compile_error("{{#if value}}x{{else}}{{hots}}{{/if}}");
        assert_eq!((error.line, error.column), (1, 25));
        let error = compile_error("{{#if valu}}x{{/if}}");
        assert_eq!((error.line, error.column), (1, 7));
        assert!(error.message.starts_with("unknown variable valu;"));
        let error = compile_error("{{#unless value}}{{#if x}}y{{/if}}{{/unless}}");
        assert_eq!((error.line, error.column), (1, 24));
    }

    #[test]
    fn helpers_partials_and_special_paths_are_refused() {
        let error = compile_error("{{lookup host 'name'}}");
        assert_eq!((error.line, error.column), (1, 3));
        assert!(error.message.contains("helper lookup"), "{}", error.message);
        let error = compile_error("x {{#each mount}}{{this}}{{/each}}");
        assert_eq!((error.line, error.column), (1, 6));
        assert!(error.message.contains("found each"), "{}", error.message);
        let error = compile_error("{{> footer}}");
        assert_eq!((error.line, error.column), (1, 1));
        assert!(error.message.contains("partial"), "{}", error.message);
        for (text, column) in [("{{this}}", 3), ("{{@index}}", 3), ("{{../value}}", 3)] {
            let error = compile_error(text);
            assert_eq!((error.line, error.column), (1, column), "{text}");
            assert!(error.message.starts_with("unknown variable"), "{text}");
        }
        let error = compile_error("{{#if value mount}}x{{/if}}");
        assert!(error.message.contains("one variable"), "{}", error.message);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let error = compile_error("CPU {{value");
        assert_eq!((error.line, error.column), (1, 12));
        assert!(error.message.contains("found end of input"), "{}", error.message);
        let error = compile_error("a\n{{#if value}}x");
        assert_eq!((error.line, error.column), (2, 15));
        let error = compile_error("{{#if value}}x{{/unless}}");
        assert_eq!((error.line, error.column), (1, 15));
        assert_eq!(error.message, "helper \"if\" was opened, but \"unless\" is closing");
        let error = compile_error("{{value}");
        assert_eq!(error.line, 1);
        assert!(error.column >= 8, "{error}");
    }

    #[test]
    fn templates_longer_than_the_limit_are_refused() {
        let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
        let error = compile_error(&long);
        assert_eq!((error.line, error.column), (1, 1));
        assert!(MessageTemplate::compile(&"x".repeat(MAX_TEMPLATE_BYTES)).is_ok());
    }

    #[test]
    fn a_template_is_send_and_sync_and_debug_shows_its_text() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<MessageTemplate>();
        let template = MessageTemplate::compile("{{value}}").unwrap();
        assert!(format!("{template:?}").contains("{{value}}"));
        assert_eq!(template.text(), "{{value}}");
    }
}
