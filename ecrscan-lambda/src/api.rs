//! The HTTP API: the AWS sample's routes, as one axum router.
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | 200 `text/html`: the HTML report (totals, trend, repositories, images, changes of the last 7 days, suppressions), with a Content-Security-Policy that runs only its own script and loads nothing |
//! | `GET /configs` | 200, JSON array of configs in the sample's shape |
//! | `GET /channels` | 200, JSON array of the notification channels (secrets as references); created only with the CLI |
//! | `GET /changes.atom?since=&min_severity=` | 200, an Atom feed of the newest 500 changes, one entry per change with the change's id |
//! | `GET /changes?since=&min_severity=&start=` | 200, `{"changes":[…]}` newest first, in pages under 4 MiB (`next_start`, `Link: rel="next"`) |
//! | `POST /configs` | 201, `{"id":"<uuid>"}` and `Location: /configs/<id>`; 400 naming the invalid field; 413 over 64 KiB; 415 for a non-JSON content type |
//! | `GET /configs/{id}` | 200 config; 404 unknown; 400 not a UUID |
//! | `DELETE /configs/{id}` | 204; 404 unknown; 400 not a UUID |
//! | `GET /summary` | 200 `text/plain` in the sample's format; the JSON summary with `Accept: application/json` or `?format=json`; pages of at most [`PAGE_BYTES`], `?start=N` for the page from the Nth image, linked by a `Link: <…>; rel="next"` header (and `next_start` in JSON) |
//! | `GET /findings/{id}` | 200 `application/atom+xml`; 404 unknown; 400 not a UUID; `?severity=HIGH` keeps that severity and above; `?suppressed=include` shows the findings suppression rules cover, marked with their rule (left out by default); pages of at most [`PAGE_BYTES`], `?start=N` for the page from the Nth entry, linked as `next` (RFC 5005) |
//! | `GET /suppressions` | 200, JSON array of the suppression rules in force (`?all=true`: expired ones too) |
//! | `POST /suppressions` | 201, `{"id":"<uuid>"}` and `Location`; 400 naming the invalid field and the rule; 413, 415 as for configs |
//! | `GET /suppressions/{id}`, `DELETE /suppressions/{id}` | 200 the rule / 204; 404 unknown; 400 not a UUID |
//!
//! `GET /summary` and `GET /findings/{id}` answer from stored results where
//! they can (each result says when it was recorded); `?fresh=true` reads
//! ECR instead.
//!
//! Each route also answers with a trailing slash (`/configs/`). Every error
//! is JSON `{"error": "…"}`; 5xx errors say what failed in plain words and
//! log the details.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use ecrscan_core::render::{
    FeedOptions, FeedPage, HtmlReport, SummaryFormat, SummaryPage, html_content_security_policy,
    write_atom_feed, write_html_report, write_summary_page,
};
use ecrscan_core::scan::SuppressedFindings;
use ecrscan_core::suppress::{Suppression, SuppressionError, SuppressionSpec};
use ecrscan_core::trend::{TREND_DAYS, fleet_trend};
use ecrscan_core::{
    ChannelStore, ConfigError, ConfigSpec, ConfigStore, ResultStore, ScanBackend, ScanConfig,
    ScanOptions, Severity, StoreError, SuppressionStore, Suppressions, collect_results,
    collect_summary,
};
use serde::Deserialize;
use tower_http::cors::CorsLayer;
use uuid::Uuid;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a request may take before the handler gives up with 503:
/// before API Gateway's 29 s, so no function keeps calling ECR for an
/// answer nobody waits for.
pub const HANDLER_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);

/// The most bytes one page of a summary or findings feed takes: Lambda
/// answers at most 6 MB, the body escaped into a JSON envelope included.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Where configs are kept.
    pub store: Arc<dyn ConfigStore>,
    /// Where scan results come from: stored results where they are fresh
    /// enough, ECR for the rest.
    pub backend: Arc<dyn ScanBackend>,
    /// Where `?fresh=true` reads scan results: ECR itself.
    pub live_backend: Arc<dyn ScanBackend>,
    /// Concurrency of backend calls.
    pub options: ScanOptions,
    /// The API's public base URL (e.g. `https://abc.execute-api.us-west-2.amazonaws.com/Prod`),
    /// for the feed's `self` link; `None` leaves the link out.
    pub public_url: Option<String>,
    /// The one origin allowed by CORS (e.g. `https://dashboard.example.com`);
    /// `None` sends no CORS headers.
    pub cors_allow_origin: Option<HeaderValue>,
    /// Where recorded results and changes are kept; `None`: `/changes` is 404.
    pub results: Option<Arc<dyn ResultStore>>,
    /// Where notification channels are kept; `None`: `/channels` is 404.
    pub channels: Option<Arc<dyn ChannelStore>>,
    /// Where suppression rules are kept; `None`: no rules, and
    /// `/suppressions` is 404.
    pub suppressions: Option<Arc<dyn SuppressionStore>>,
    /// How long a request may take ([`HANDLER_DEADLINE`] by default).
    pub deadline: std::time::Duration,
}

impl AppState {
    /// State that reads every result from `backend` (fresh or not), with
    /// the default concurrency, no public URL and no CORS; change fields
    /// with struct update syntax.
    pub fn new(store: Arc<dyn ConfigStore>, backend: Arc<dyn ScanBackend>) -> AppState {
        AppState {
            store,
            live_backend: Arc::clone(&backend),
            backend,
            options: ScanOptions::default(),
            public_url: None,
            cors_allow_origin: None,
            results: None,
            channels: None,
            suppressions: None,
            deadline: HANDLER_DEADLINE,
        }
    }

    /// The suppression rules in force at `now` (none without a store).
    async fn suppressions_at(&self, now: chrono::DateTime<Utc>) -> Result<Suppressions, ApiError> {
        let Some(store) = &self.suppressions else {
            return Ok(Suppressions::none());
        };
        Ok(Suppressions::active_at(
            store.list_suppressions().await?.items,
            now,
        ))
    }

    fn suppression_store(&self) -> Result<&Arc<dyn SuppressionStore>, ApiError> {
        self.suppressions
            .as_ref()
            .ok_or_else(|| ApiError::NotFound("this server keeps no suppression rules".into()))
    }

    fn backend(&self, fresh: bool) -> &dyn ScanBackend {
        if fresh {
            self.live_backend.as_ref()
        } else {
            self.backend.as_ref()
        }
    }
}

/// The API's public base URL as the platform reports it (API Gateway's
/// domain and stage), set as a request extension by the Lambda adapter.
#[derive(Debug, Clone)]
pub struct PublicBaseUrl(pub String);

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    let deadline = state.deadline;
    let cors = state.cors_allow_origin.clone().map(|origin| {
        CorsLayer::new()
            .allow_origin(origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                header::AUTHORIZATION,
                HeaderName::from_static("x-amz-date"),
                HeaderName::from_static("x-amz-security-token"),
                HeaderName::from_static("x-amz-content-sha256"),
            ])
            .expose_headers([header::LOCATION])
    });
    let router = Router::new()
        .route("/", get(dashboard))
        .route("/configs", get(list_configs).post(create_config))
        .route("/configs/", get(list_configs).post(create_config))
        .route("/configs/{id}", get(get_config).delete(delete_config))
        .route("/summary", get(summary))
        .route("/summary/", get(summary))
        .route("/findings/{id}", get(findings))
        .route("/changes", get(changes))
        .route("/changes/", get(changes))
        .route("/changes.atom", get(changes_feed))
        .route("/channels", get(list_channels))
        .route("/channels/", get(list_channels))
        .route(
            "/suppressions",
            get(list_suppressions).post(create_suppression),
        )
        .route(
            "/suppressions/",
            get(list_suppressions).post(create_suppression),
        )
        .route(
            "/suppressions/{id}",
            get(get_suppression).delete(delete_suppression),
        )
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(move |request, next| {
            within_deadline(deadline, request, next)
        }))
        .with_state(state);
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Answers 503 when the handler is not done by `deadline`; the handler's
/// calls are dropped with it.
async fn within_deadline(
    deadline: std::time::Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, seconds = deadline.as_secs_f64(), "request gave up at its deadline");
            ApiError::Unavailable(format!(
                "the answer took longer than {} s; stored results answer faster (leave out fresh=true), or try again later",
                deadline.as_secs()
            ))
            .into_response()
        }
    }
}

/// Every way a request can fail, and its status code.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is invalid; the message says how.
    BadRequest(String),
    /// 404: the resource does not exist.
    NotFound(String),
    /// 405: the route exists, the method doesn't.
    MethodNotAllowed,
    /// 413: the body is over [`MAX_BODY_BYTES`].
    PayloadTooLarge,
    /// 415: the body is not JSON.
    UnsupportedMediaType,
    /// 502: AWS or the store failed; the message says what in plain words.
    Upstream(String),
    /// 500: something else failed.
    Internal(String),
    /// 503: the answer was not ready by the handler's deadline.
    Unavailable(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::NotFound(message) => (StatusCode::NOT_FOUND, message),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed on this route".to_owned(),
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is over {MAX_BODY_BYTES} bytes"),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "the request body must be JSON (Content-Type: application/json)".to_owned(),
            ),
            ApiError::Upstream(message) => (StatusCode::BAD_GATEWAY, message),
            ApiError::Internal(message) => (StatusCode::INTERNAL_SERVER_ERROR, message),
            ApiError::Unavailable(message) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(header::RETRY_AFTER, "60")],
                    Json(serde_json::json!({ "error": message })),
                )
                    .into_response();
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound { kind, id } => {
                ApiError::NotFound(format!("no {kind} with id {id}"))
            }
            StoreError::Corrupt { kind, .. } => {
                tracing::error!(error = %err, "a stored record is corrupt");
                ApiError::Internal(format!("the stored {kind} cannot be read"))
            }
            err => {
                tracing::error!(error = %err, "the config store failed");
                ApiError::Upstream("the config store could not be reached".into())
            }
        }
    }
}

impl From<ConfigError> for ApiError {
    fn from(err: ConfigError) -> ApiError {
        ApiError::BadRequest(err.to_string())
    }
}

impl From<SuppressionError> for ApiError {
    fn from(err: SuppressionError) -> ApiError {
        ApiError::BadRequest(err.to_string())
    }
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid id {:?}: a scan config id is a UUID",
            truncate(id)
        ))
    })
}

fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

async fn list_configs(State(state): State<AppState>) -> Result<Json<Vec<ScanConfig>>, ApiError> {
    Ok(Json(state.store.list().await?.items))
}

async fn create_config(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(&headers, body)?;
    let spec = ConfigSpec::from_json(&body)?;
    let config = ScanConfig::create(spec, Utc::now());
    state.store.put(&config).await?;
    tracing::info!(id = %config.id, repository = %config.repository, "scan config created");
    created(&format!("/configs/{}", config.id), config.id)
}

/// A request's JSON body: 415 for another content type, 413 over
/// [`MAX_BODY_BYTES`].
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    if !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        _ => ApiError::BadRequest(format!(
            "cannot read the request body: {}",
            rejection.body_text()
        )),
    })
}

/// 201 with `{"id": …}` and `Location: location`.
fn created(location: &str, id: Uuid) -> Result<Response, ApiError> {
    let location = HeaderValue::try_from(location)
        .map_err(|_| ApiError::Internal("cannot build the Location header".into()))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(serde_json::json!({ "id": id })),
    )
        .into_response())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

async fn get_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScanConfig>, ApiError> {
    Ok(Json(state.store.get(parse_id(&id)?).await?))
}

async fn delete_config(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    state.store.delete(id).await?;
    tracing::info!(%id, "scan config deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct SummaryQuery {
    format: Option<String>,
    /// One config's images only.
    config: Option<String>,
    #[serde(default)]
    fresh: bool,
    #[serde(default)]
    start: usize,
}

async fn summary(
    State(state): State<AppState>,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
    headers: HeaderMap,
    query: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let format = match query.format.as_deref() {
        Some("json") => SummaryFormat::Json,
        Some("text") => SummaryFormat::Text,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "unknown format {:?}: expected json or text",
                truncate(other)
            )));
        }
        None if accepts_json(&headers) => SummaryFormat::Json,
        None => SummaryFormat::Text,
    };
    let configs = match &query.config {
        Some(id) => vec![state.store.get(parse_id(id)?).await?],
        // A fresh summary of every image would read the whole fleet from
        // ECR for any reader, per instance.
        None if query.fresh => {
            return Err(ApiError::BadRequest(
                "fresh=true reads ECR directly: name one config with config=ID".into(),
            ));
        }
        None => state.store.list().await?.items,
    };
    let now = Utc::now();
    let suppressions = state.suppressions_at(now).await?;
    let summary = collect_summary(
        &configs,
        state.backend(query.fresh),
        &state.options,
        &suppressions,
    )
    .await;
    let page = SummaryPage {
        start: query.start,
        max_bytes: PAGE_BYTES,
    };
    let mut body = Vec::new();
    let next_start =
        write_summary_page(&summary, format, now, page, &mut body).map_err(render_error)?;
    let content_type = match format {
        SummaryFormat::Json => "application/json",
        SummaryFormat::Text => "text/plain; charset=utf-8",
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Some(link) = next_start.and_then(|start| {
        let base = public_base_url(&state, platform_url);
        next_summary_link(base.as_deref(), &query, start)
    }) {
        response.headers_mut().insert(header::LINK, link);
    }
    Ok(response)
}

/// `GET /`: the HTML report of every config's images (stored results, as
/// `/summary`), the changes of the last 7 days, the suppression rules and
/// the fleet's trend, rendered by the CLI's renderer. Its
/// Content-Security-Policy lets only the page's own inline script and
/// style run and nothing load; it may not be framed.
async fn dashboard(
    State(state): State<AppState>,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
) -> Result<Response, ApiError> {
    let configs = state.store.list().await?.items;
    let now = Utc::now();
    let rules = match &state.suppressions {
        Some(store) => store.list_suppressions().await?.items,
        None => Vec::new(),
    };
    let suppressions = Suppressions::active_at(rules.clone(), now);
    let summary = collect_summary(
        &configs,
        state.backend(false),
        &state.options,
        &suppressions,
    )
    .await;
    let changes = match &state.results {
        Some(results) => results.list_changes().await?.items,
        None => Vec::new(),
    };
    let trend = fleet_trend(&summary, &changes, TREND_DAYS, now);
    // Links relative to the server's root when the public URL is unknown.
    let api_url = public_base_url(&state, platform_url).unwrap_or_default();
    let report = HtmlReport {
        summary: &summary,
        changes: &changes,
        suppressions: &rules,
        trend: &trend,
        api_url: Some(&api_url),
    };
    let mut body = Vec::new();
    write_html_report(&report, now, &mut body).map_err(render_error)?;
    let policy = format!("{}; frame-ancestors 'none'", html_content_security_policy());
    let policy = HeaderValue::from_str(&policy)
        .map_err(|err| ApiError::Internal(format!("the page's policy is not a header: {err}")))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, policy),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response())
}

/// `Link: <…/summary?start=N…>; rel="next"`, keeping the query's format and
/// freshness; a relative reference without the API's public URL.
fn next_summary_link(
    base_url: Option<&str>,
    query: &SummaryQuery,
    start: usize,
) -> Option<HeaderValue> {
    let mut next = base_url
        .map(|base| format!("{base}/summary"))
        .unwrap_or_default();
    next.push_str(&format!("?start={start}"));
    if let Some(format) = &query.format {
        next.push_str(&format!("&format={format}"));
    }
    if let Some(config) = &query.config {
        next.push_str(&format!("&config={config}"));
    }
    if query.fresh {
        next.push_str("&fresh=true");
    }
    HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")).ok()
}

/// The API's public base URL, without a final `/`, when known.
fn public_base_url(
    state: &AppState,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
) -> Option<String> {
    state
        .public_url
        .clone()
        .or(platform_url.map(|axum::Extension(PublicBaseUrl(url))| url))
        .map(|base| base.trim_end_matches('/').to_owned())
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|media| {
            media
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        })
}

fn render_error(err: std::io::Error) -> ApiError {
    tracing::error!(error = %err, "rendering failed");
    ApiError::Internal("the response could not be rendered".into())
}

#[derive(Debug, Deserialize)]
struct ChangesQuery {
    since: Option<String>,
    min_severity: Option<String>,
    #[serde(default)]
    start: usize,
}

/// `since`: an RFC 3339 time, or a time ago (`24h`, `7d`).
fn parse_since(since: &str) -> Result<chrono::DateTime<Utc>, ApiError> {
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(since) {
        return Ok(at.with_timezone(&Utc));
    }
    humantime::parse_duration(since)
        .ok()
        .and_then(|ago| chrono::Duration::from_std(ago).ok())
        .and_then(|ago| Utc::now().checked_sub_signed(ago))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "invalid since {:?}: an RFC 3339 time or a time ago such as 24h",
                truncate(since)
            ))
        })
}

/// The notification channels, as stored: secrets are references. Channels
/// are created from the CLI only: nobody with API access can make ecrscan
/// send to an address of their choosing, so there is no POST.
async fn list_channels(
    State(state): State<AppState>,
) -> Result<Json<Vec<ecrscan_core::channels::Channel>>, ApiError> {
    let channels = state
        .channels
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("this server keeps no channels".into()))?;
    Ok(Json(
        channels
            .list_channels()
            .await?
            .items
            .iter()
            .map(ecrscan_core::channels::Channel::redacted)
            .collect(),
    ))
}

/// The newest changes a feed holds: feed readers poll, and keep what they saw.
const FEED_CHANGES: usize = 500;

async fn changes_feed(
    State(state): State<AppState>,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let (mut selected, _, _) = selected_changes(&state, &query).await?;
    selected.truncate(FEED_CHANGES);
    let self_url = public_base_url(&state, platform_url).map(|base| format!("{base}/changes.atom"));
    let mut body = Vec::new();
    ecrscan_core::render::write_changes_feed(&selected, Utc::now(), self_url.as_deref(), &mut body)
        .map_err(render_error)?;
    Ok(([(header::CONTENT_TYPE, "application/atom+xml")], body).into_response())
}

/// The changes a query selects, newest first, with its filters.
async fn selected_changes(
    state: &AppState,
    query: &ChangesQuery,
) -> Result<
    (
        Vec<ecrscan_core::Change>,
        Option<chrono::DateTime<Utc>>,
        Option<Severity>,
    ),
    ApiError,
> {
    let results = state
        .results
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("this server records no changes".into()))?;
    let (since, minimum) = changes_filter(query)?;
    let listing = results.list_changes().await?;
    let selected = ecrscan_core::changes::select(&listing.items, None, since, minimum);
    Ok((selected, since, minimum))
}

/// The `since` and `min_severity` of a changes query.
fn changes_filter(
    query: &ChangesQuery,
) -> Result<(Option<chrono::DateTime<Utc>>, Option<Severity>), ApiError> {
    let since = query.since.as_deref().map(parse_since).transpose()?;
    let minimum = query
        .min_severity
        .as_deref()
        .map(|severity| {
            severity.parse::<Severity>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "invalid min_severity {:?}: expected CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL or UNDEFINED",
                    truncate(severity)
                ))
            })
        })
        .transpose()?;
    Ok((since, minimum))
}

async fn changes(
    State(state): State<AppState>,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
    query: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let (selected, since, minimum) = selected_changes(&state, &query).await?;
    let mut body = Vec::new();
    let next_start = ecrscan_core::render::write_json_changes_page(
        &selected,
        query.start,
        PAGE_BYTES,
        &mut body,
    )
    .map_err(render_error)?;
    let mut response = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(start) = next_start {
        let mut next = public_base_url(&state, platform_url)
            .map(|base| format!("{base}/changes"))
            .unwrap_or_default();
        next.push_str(&format!("?start={start}"));
        if let Some(since) = since {
            next.push_str(&format!(
                "&since={}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        if let Some(minimum) = minimum {
            next.push_str(&format!("&min_severity={minimum}"));
        }
        if let Ok(link) = HeaderValue::from_str(&format!("<{next}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
struct FindingsQuery {
    severity: Option<String>,
    #[serde(default)]
    fresh: bool,
    #[serde(default)]
    start: usize,
    suppressed: Option<String>,
}

async fn findings(
    State(state): State<AppState>,
    platform_url: Option<axum::Extension<PublicBaseUrl>>,
    Path(id): Path<String>,
    query: Result<Query<FindingsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let min_severity = query
        .severity
        .as_deref()
        .map(|s| {
            s.parse::<Severity>()
                .map_err(|err| ApiError::BadRequest(err.to_string()))
        })
        .transpose()?;
    let suppressed = match query.suppressed.as_deref() {
        None | Some("exclude") => SuppressedFindings::Hidden,
        Some("include") => SuppressedFindings::Shown,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "invalid suppressed {:?}: expected include or exclude",
                truncate(other)
            )));
        }
    };
    let config = state.store.get(id).await?;
    let now = Utc::now();
    let suppressions = state.suppressions_at(now).await?;
    let results = collect_results(
        &config,
        state.backend(query.fresh),
        &state.options,
        &suppressions,
        suppressed,
    )
    .await;
    let options = FeedOptions {
        self_url: public_base_url(&state, platform_url).map(|base| format!("{base}/findings/{id}")),
        min_severity,
        page: Some(FeedPage {
            start: query.start,
            max_bytes: PAGE_BYTES,
        }),
        include_suppressed: suppressed == SuppressedFindings::Shown,
    };
    let mut body = Vec::new();
    write_atom_feed(&config, &results, now, &options, &mut body).map_err(render_error)?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct SuppressionsQuery {
    #[serde(default)]
    all: bool,
}

/// The rules in force (`?all=true`: expired ones too), oldest first.
async fn list_suppressions(
    State(state): State<AppState>,
    query: Result<Query<SuppressionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Suppression>>, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let now = Utc::now();
    let rules = state.suppression_store()?.list_suppressions().await?.items;
    Ok(Json(
        rules
            .into_iter()
            .filter(|rule| query.all || rule.is_active(now))
            .collect(),
    ))
}

async fn create_suppression(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let store = state.suppression_store()?;
    let body = json_body(&headers, body)?;
    let rule = SuppressionSpec::from_json(&body, Utc::now())?.create();
    store.put_suppression(&rule).await?;
    tracing::info!(id = %rule.id, vulnerability = %rule.vulnerability, "suppression rule created");
    created(&format!("/suppressions/{}", rule.id), rule.id)
}

async fn get_suppression(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Suppression>, ApiError> {
    let id = parse_rule_id(&id)?;
    Ok(Json(state.suppression_store()?.get_suppression(id).await?))
}

async fn delete_suppression(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_rule_id(&id)?;
    state.suppression_store()?.delete_suppression(id).await?;
    tracing::info!(%id, "suppression rule deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn parse_rule_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| {
        ApiError::BadRequest(format!(
            "invalid id {:?}: a suppression rule id is a UUID",
            truncate(id)
        ))
    })
}
