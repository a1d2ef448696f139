//! Errors rendered as pages. 5xx bodies are generic; the detail is logged once with the request id.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: &'static str,
    pub message: String,
}

/// An error a handler returns: it becomes a page with the right status.
#[derive(Debug)]
pub enum AppError {
    NotFound,
    BadRequest(String),
    Internal(String),
}

impl<E: std::error::Error> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError::Internal(e.to_string())
    }
}

pub fn not_found_page() -> Response {
    (
        StatusCode::NOT_FOUND,
        ErrorPage {
            title: "Not found",
            message: "There is nothing at this address. Check the link, or ask your IT team for \
                      your company's sign-in address."
                .into(),
        },
    )
        .into_response()
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::NotFound => not_found_page(),
            AppError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                ErrorPage {
                    title: "Bad request",
                    message,
                },
            )
                .into_response(),
            AppError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorPage {
                        title: "Something went wrong",
                        message: "The server could not complete this request. Try again in a \
                                  moment; if it keeps happening, tell your IT team."
                            .into(),
                    },
                )
                    .into_response()
            }
        }
    }
}

/// Outermost layer: the body-size limit answers before any handler runs, in plain text; give
/// the browser a page that says what happened instead.
pub async fn limit_pages(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    res: Response,
) -> Response {
    let plain = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|v| !v.as_bytes().starts_with(b"text/html"));
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE && plain {
        let mut page = (
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorPage {
                title: "This form could not be accepted",
                message: "The form was too large to accept. Nothing was changed.".into(),
            },
        )
            .into_response();
        // Keep the request id (and whatever inner layers set); make sure of the security headers.
        for (name, value) in res.headers() {
            if name != axum::http::header::CONTENT_TYPE
                && name != axum::http::header::CONTENT_LENGTH
            {
                page.headers_mut().insert(name.clone(), value.clone());
            }
        }
        super::headers::apply(page.headers_mut(), state.config.public_url.is_https());
        return page;
    }
    res
}
