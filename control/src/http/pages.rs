//! The few pages the server writes itself: a link that does not exist or cannot open
//! any more, a page that is not there. Styled like the apps, in the reader's language.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::model::tenant::Language;

/// What a message page says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// No such page.
    NotFound,
    /// No such client link.
    NoSuchLink,
    /// The link expired, the call is over, or it was opened on another device.
    LinkGone,
    /// The server cannot open it now.
    TryLater,
}

impl Message {
    fn status(self) -> StatusCode {
        match self {
            Message::NotFound | Message::NoSuchLink => StatusCode::NOT_FOUND,
            Message::LinkGone => StatusCode::GONE,
            Message::TryLater => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Title and text.
    fn words(self, language: Language) -> (&'static str, &'static str) {
        match (self, language) {
            (Message::NotFound, Language::Ru) => ("Страница не найдена", "Проверьте адрес."),
            (Message::NotFound, Language::En) => ("Page not found", "Check the address."),
            (Message::NoSuchLink, Language::Ru) => (
                "Ссылка не найдена",
                "Проверьте, что ссылка скопирована полностью, или попросите новую.",
            ),
            (Message::NoSuchLink, Language::En) => (
                "This link does not exist",
                "Check that the whole link was copied, or ask for a new one.",
            ),
            (Message::LinkGone, Language::Ru) => (
                "Ссылка больше не действует",
                "Звонок завершён, срок ссылки истёк или она открыта на другом устройстве. Попросите новую ссылку.",
            ),
            (Message::LinkGone, Language::En) => (
                "This link no longer opens",
                "The call is over, the link has expired, or it was opened on another device. Ask for a new link.",
            ),
            (Message::TryLater, Language::Ru) => (
                "Не удаётся открыть звонок",
                "Попробуйте ещё раз через минуту.",
            ),
            (Message::TryLater, Language::En) => (
                "The call cannot be opened right now",
                "Please try again in a minute.",
            ),
        }
    }
}

/// The language of `known` (a tenant's), else the first of `Accept-Language` that
/// the pages speak, else Russian.
pub fn language(headers: &HeaderMap, known: Option<Language>) -> Language {
    if let Some(l) = known {
        return l;
    }
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    for part in accept.split(',') {
        let tag = part
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if tag.starts_with("ru") {
            return Language::Ru;
        }
        if tag.starts_with("en") {
            return Language::En;
        }
    }
    Language::Ru
}

/// The page for `message`, with its status.
pub fn message(language: Language, message: Message) -> Response {
    let (title, text) = message.words(language);
    let html = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"icon\" href=\"/common/icon.svg\">\
         <link rel=\"stylesheet\" href=\"/common/style.css\"></head>\
         <body class=\"message-page\"><main class=\"card narrow\" role=\"main\">\
         <h1>{title}</h1><p>{text}</p></main></body></html>",
        lang = language.as_str()
    );
    let mut r = super::web::secure(
        (message.status(), Html(html)).into_response(),
        "text/html; charset=utf-8",
    );
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_comes_from_the_tenant_then_the_browser() {
        let mut h = HeaderMap::new();
        assert_eq!(language(&h, None), Language::Ru);
        h.insert(
            header::ACCEPT_LANGUAGE,
            "de-DE,en-US;q=0.8".parse().unwrap(),
        );
        assert_eq!(language(&h, None), Language::En);
        assert_eq!(language(&h, Some(Language::Ru)), Language::Ru);
    }
}
