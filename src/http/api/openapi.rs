//! The parts of the API description no single handler states: the document's
//! header, the bearer scheme, the error answers every operation shares, and
//! the password rule the deployment configured.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use crate::http::error::ErrorBody;
use crate::http::BODY_LIMIT;

/// The document's header; the paths come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Latchkey",
        version = "1",
        description = "Accounts, sessions and multi-factor authentication. Authenticated calls send \
                       `Authorization: Bearer TOKEN`. Every error is `{\"error\": {\"code\", \"message\", \"fields\"?}}`."
    ),
    servers((url = "/api/v1")),
    components(schemas(ErrorBody)),
    tags(
        (name = "accounts", description = "Sign up and the caller's account"),
        (name = "sessions", description = "Sign in (with the code step), sign out, sessions"),
        (name = "mfa", description = "TOTP enrolment, authenticators, recovery codes"),
        (name = "passkeys", description = "Passkeys and security keys (WebAuthn): add, list, rename, remove"),
        (name = "security", description = "Security events, the replayed-code alarm, trusted clients"),
        (name = "tokens", description = "App tokens (`lk_…`) for scripts and apps: the API's reads and forward authentication"),
        (name = "meta", description = "This description"),
    )
)]
pub struct ApiDoc;

/// Answers any operation can give, by status: what the router, the body
/// reader and the store can answer before or besides the handler.
const EVERY_OPERATION: [(&str, &str); 3] = [
    ("405", "This method is not allowed on this path"),
    ("429", "Too many attempts; `Retry-After` says how many seconds to wait"),
    ("503", "The store or the password hasher cannot take the request now; retry shortly"),
];

/// Answers of an operation that reads a JSON body.
const WITH_BODY: [(&str, &str); 3] = [
    ("400", "The body is not JSON of the expected shape"),
    ("413", "The body is over the size limit"),
    ("415", "The body is not sent as `Content-Type: application/json`"),
];

/// The generated document, finished: the shared error answers on every
/// operation (each a reference to one `Error` response), the bearer scheme,
/// and the configured minimum password length on the sign-up body.
pub fn finish(generated: utoipa::openapi::OpenApi, password_min_length: usize) -> String {
    let mut doc = serde_json::to_value(&generated).unwrap_or_else(|_| json!({}));
    let error = json!({ "$ref": "#/components/responses/Error" });
    let error_content = json!({ "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } });
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            let has_body = operation.get("requestBody").is_some();
            let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) else { continue };
            // A handler states its own refusals by status and description; their body is the one error shape.
            for (status, response) in responses.iter_mut() {
                let refusal = status.starts_with('4') || status.starts_with('5');
                if let (true, Some(response)) = (refusal, response.as_object_mut()) {
                    response.entry("content").or_insert_with(|| error_content.clone());
                }
            }
            let shared = EVERY_OPERATION.iter().chain(if has_body { WITH_BODY.iter() } else { [].iter() });
            for (status, _) in shared {
                responses.entry(status.to_string()).or_insert_with(|| error.clone());
            }
        }
    }
    let components = doc.as_object_mut().map(|d| d.entry("components").or_insert_with(|| json!({})));
    if let Some(Value::Object(components)) = components {
        components.insert(
            "securitySchemes".into(),
            json!({ "bearer": { "type": "http", "scheme": "bearer", "description": "A session token" } }),
        );
        let descriptions: Map<String, Value> = EVERY_OPERATION
            .iter()
            .chain(WITH_BODY.iter())
            .map(|(status, description)| (status.to_string(), json!(description)))
            .collect();
        components.insert(
            "responses".into(),
            json!({ "Error": {
                "description": format!(
                    "An error, in the shape every error has. By status: {} (bodies over {} KiB are 413).",
                    descriptions.iter().map(|(s, d)| format!("{s}: {}", d.as_str().unwrap_or(""))).collect::<Vec<_>>().join("; "),
                    BODY_LIMIT / 1024
                ),
                "content": error_content,
            } }),
        );
    }
    if let Some(password) = doc.pointer_mut("/components/schemas/SignUpBody/properties/password") {
        password["minLength"] = json!(password_min_length);
    }
    doc.to_string()
}
