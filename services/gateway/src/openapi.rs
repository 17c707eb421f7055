//! The REST API's OpenAPI 3.1 description, served at `GET /api/openapi.json`,
//! and the small page that browses it at `GET /api/docs` (no CDN: one HTML
//! file with its script, embedded in the binary).
//!
//! The description is not written by hand. Each handler carries its
//! `#[utoipa::path]` (params, body, answers) and [`crate::router`] adds it
//! with `routes!`, so a route and its description are one line and cannot
//! drift. [`finish`] adds what every operation shares:
//! - the title and version, and the security schemes: a user's access token
//!   (`bearer`, the default of every operation) and a Prometheus scrape token
//!   (`scrape_token`, for the operations that name it); operations anyone may
//!   call say `security(())`;
//! - the error shape `{"error":{"code","message"}}` (schema `Error`), and
//!   the error answers any operation can give, with the status of their
//!   [`ErrorCode`]: 400 (a bad id, query or JSON body), 401 (no valid token),
//!   404 (a path naming an item of no one's, or another tenant's), 413, 415
//!   and 422 (a request body), 500 and 503 (a service or the database that
//!   does not answer). Handlers list their own others (403, 409...).
//!
//! Invariant (tested in [`crate::router`]): every route the router serves
//! under `/api` is described, with its methods, and every described one is served.

use std::borrow::Cow;

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, RefOr, ResponseBuilder};
use vigil_bus::ErrorCode;

/// Name of the security scheme of a user's access token (every operation's default).
pub(crate) const BEARER: &str = "bearer";
/// Name of the security scheme of a Prometheus scrape token.
pub(crate) const SCRAPE_TOKEN: &str = "scrape_token";

/// The codes an error answer can carry: every [`ErrorCode`] and those of
/// statuses it has no code for (`ApiError::with_status`).
const OTHER_CODES: [&str; 3] = ["payload_too_large", "unsupported_media_type", "method_not_allowed"];

/// The error answer of every route: `{"error":{"code","message"}}` (schema `Error`).
pub(crate) struct ErrorBody;

impl utoipa::PartialSchema for ErrorBody {
    fn schema() -> RefOr<Schema> {
        let codes = ErrorCode::ALL.iter().map(|code| code.name()).chain(OTHER_CODES);
        let detail = ObjectBuilder::new()
            .property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes))
                    .description(Some("what kind of error; the HTTP status follows from it")),
            )
            .required("code")
            .property(
                "message",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some("what went wrong and what to do, naming the field or value")),
            )
            .required("message");
        ObjectBuilder::new().property("error", detail).required("error").into()
    }
}

impl utoipa::ToSchema for ErrorBody {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Error")
    }
}

/// What the router starts from: the title, version and security schemes.
pub(crate) fn base() -> OpenApi {
    let mut openapi = OpenApi::new(
        InfoBuilder::new()
            .title("Vigil REST API")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Tenant-scoped REST API of the Vigil gateway. Log in with POST /api/auth/login, then send \
                 `Authorization: Bearer <access_token>`. Every error is {\"error\":{\"code\",\"message\"}}.",
            ))
            .build(),
        utoipa::openapi::Paths::new(),
    );
    let components = openapi.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some("a user's access token, from POST /api/auth/login or /api/auth/refresh"))
                .build(),
        ),
    );
    components.add_security_scheme(
        SCRAPE_TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("a Prometheus scrape token an admin created for the tenant"))
                .build(),
        ),
    );
    openapi.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    openapi
}

/// Adds the answers every operation shares (see the module doc) to each
/// operation that does not list them itself.
pub(crate) fn finish(mut openapi: OpenApi) -> OpenApi {
    let components = openapi.components.get_or_insert_with(Default::default);
    components
        .schemas
        .insert(<ErrorBody as utoipa::ToSchema>::name().into_owned(), <ErrorBody as utoipa::PartialSchema>::schema());
    open_flattened_inputs(&mut components.schemas);
    for (path, item) in openapi.paths.paths.iter_mut() {
        let names_an_item = path.contains('{');
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            add_error_answers(operation, names_an_item);
        }
    }
    openapi
}

/// A record that flattens an input type with `deny_unknown_fields` (a
/// `RuleRecord` is a `RuleInput` plus its id and times) is described as
/// `allOf: [RuleInput, {id, ...}]`, and `RuleInput`'s
/// `additionalProperties: false` would refuse the record's own fields: inside
/// an `allOf`, such an input is inlined without it (the input itself, as a
/// request body, still refuses unknown fields).
fn open_flattened_inputs(schemas: &mut std::collections::BTreeMap<String, RefOr<Schema>>) {
    let closed: std::collections::BTreeMap<String, Schema> = schemas
        .iter()
        .filter_map(|(name, schema)| match schema {
            RefOr::T(Schema::Object(object)) if object.additional_properties.is_some() => {
                let mut open = object.clone();
                open.additional_properties = None;
                Some((format!("#/components/schemas/{name}"), Schema::Object(open)))
            }
            _ => None,
        })
        .collect();
    for schema in schemas.values_mut() {
        if let RefOr::T(Schema::AllOf(all_of)) = schema {
            for item in &mut all_of.items {
                if let RefOr::Ref(reference) = item {
                    if let Some(open) = closed.get(&reference.ref_location) {
                        *item = RefOr::T(open.clone());
                    }
                }
            }
        }
    }
}

fn add_error_answers(operation: &mut Operation, names_an_item: bool) {
    // `security(())` on the handler: one empty requirement, anyone may call it
    let anonymous = operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().all(|requirement| serde_json::to_value(requirement).is_ok_and(|value| value == serde_json::json!({})))
    });
    let has_body = operation.request_body.is_some();
    let has_input = has_body || operation.parameters.as_ref().is_some_and(|parameters| !parameters.is_empty());
    let answers = [
        (400, has_input, "the request is malformed: a bad id in the path, a bad query value or a body that is not JSON"),
        (401, !anonymous, "no valid access token: missing, malformed or expired (refresh it)"),
        (404, names_an_item, "no such item in the caller's tenant"),
        (413, has_body, "the body is larger than 1 MiB"),
        (415, has_body, "the body is not sent as application/json"),
        (422, has_body, "the body has the wrong shape, or a value that cannot be used (the message names the field)"),
        (500, true, "an internal error (logged by the gateway)"),
        (503, true, "a service or the database does not answer; retry"),
    ];
    for (status, applies, description) in answers {
        let status = status.to_string();
        if applies && !operation.responses.responses.contains_key(&status) {
            operation.responses.responses.insert(status, RefOr::T(error_answer(description)));
        }
    }
}

/// An error answer: the `Error` schema with `description`.
pub(crate) fn error_answer(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(RefOr::<Schema>::Ref(utoipa::openapi::Ref::from_schema_name("Error")))).build(),
        )
        .build()
}

/// The finished description, encoded once.
#[derive(Clone)]
pub(crate) struct Description {
    json: bytes::Bytes,
}

impl Description {
    pub(crate) fn new(openapi: &OpenApi) -> Description {
        // a description is plain data: it always encodes
        let json = serde_json::to_vec(openapi).unwrap_or_else(|error| {
            tracing::error!(%error, "cannot encode the openapi description");
            b"{}".to_vec()
        });
        Description { json: bytes::Bytes::from(json) }
    }
}

/// The REST API's description, OpenAPI 3.1.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    security(()),
    responses((status = 200, description = "this description (OpenAPI 3.1)", body = serde_json::Value)),
)]
pub(crate) async fn openapi_json(Extension(description): Extension<Description>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], description.json).into_response()
}

/// A page that browses the description: operations, params, bodies and schemas.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "docs",
    security(()),
    responses((status = 200, description = "the API's browsable documentation", content_type = "text/html", body = String)),
)]
pub(crate) async fn docs_page() -> Html<&'static str> {
    Html(include_str!("openapi.html"))
}
