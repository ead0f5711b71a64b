//! `/api/v1`: Mailpit's paths and JSON shapes.

pub mod info;
pub mod messages;
mod params;
pub mod parts;
pub mod search;
pub mod tags;

use axum::Router;
use axum::routing::{get, put};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/messages",
            get(messages::list)
                .put(messages::set_read)
                .delete(messages::delete),
        )
        .route("/search", get(search::search).delete(search::delete))
        .route("/tags", get(tags::list).put(tags::set))
        .route("/tags/{tag}", put(tags::rename).delete(tags::delete))
        .route("/message/{id}", get(messages::show))
        .route("/message/{id}/headers", get(messages::headers))
        .route("/message/{id}/raw", get(messages::raw))
        .route("/message/{id}/part/{part_id}", get(parts::part))
        .route("/info", get(info::info))
}
