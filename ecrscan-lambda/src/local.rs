//! The local server's guard (`ecrscan-api` outside Lambda, where API
//! Gateway's authentication is absent): a bearer token, required off
//! loopback, and a `Host` check against DNS rebinding.
//!
//! - With a token (`ECRSCAN_API_TOKEN`), every request but a CORS preflight
//!   must carry `Authorization: Bearer TOKEN` (compared in constant time),
//!   else 401 with `WWW-Authenticate: Bearer`.
//! - A request whose `Host` names neither an IP address the server listens
//!   on, nor `localhost` (when listening on loopback or every address), nor
//!   one of `ECRSCAN_ALLOWED_HOSTS` gets 421: a web page that rebinds its
//!   own name to 127.0.0.1 still sends its name.
//! - Listening on an address other than loopback without a token is
//!   refused at start.

use std::net::{IpAddr, SocketAddr};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

/// The shortest token accepted.
pub const MIN_TOKEN_CHARS: usize = 16;

/// Why the local server cannot start as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Off loopback, anyone on the network could use the API.
    #[error(
        "listening on {0} needs ECRSCAN_API_TOKEN: without it anyone who can reach {0} could list, add and delete configs"
    )]
    TokenRequired(SocketAddr),
    /// A token too short to guess hard.
    #[error("ECRSCAN_API_TOKEN must be at least {MIN_TOKEN_CHARS} characters")]
    TokenTooShort,
    /// A name that is not a host name.
    #[error("ECRSCAN_ALLOWED_HOSTS: {0:?} is not a host name")]
    InvalidHost(String),
}

/// Who may use the local server.
#[derive(Debug, Clone)]
pub struct LocalGuard {
    listen: SocketAddr,
    token: Option<String>,
    hosts: Vec<String>,
}

impl LocalGuard {
    /// The guard of a server listening on `listen`, with an optional token
    /// and extra host names (each without a port; case does not matter).
    pub fn new(
        listen: SocketAddr,
        token: Option<String>,
        hosts: Vec<String>,
    ) -> Result<LocalGuard, GuardError> {
        let token = token.filter(|token| !token.is_empty());
        match &token {
            Some(token) if token.chars().count() < MIN_TOKEN_CHARS => {
                return Err(GuardError::TokenTooShort);
            }
            None if !listen.ip().is_loopback() => return Err(GuardError::TokenRequired(listen)),
            _ => {}
        }
        let hosts = hosts
            .into_iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .map(|host| {
                let valid = host.len() <= 253
                    && host
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
                if valid {
                    Ok(host)
                } else {
                    Err(GuardError::InvalidHost(host.chars().take(60).collect()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(LocalGuard {
            listen,
            token,
            hosts,
        })
    }

    /// `router` behind the guard.
    pub fn protect(self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn(move |request, next| {
            let guard = self.clone();
            async move { guard.check(request, next).await }
        }))
    }

    async fn check(&self, request: Request, next: Next) -> Response {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()))
            .unwrap_or_default();
        if !self.host_allowed(host) {
            return refuse(
                StatusCode::MISDIRECTED_REQUEST,
                "this server does not answer for that Host (ECRSCAN_ALLOWED_HOSTS names more)",
            );
        }
        if let Some(token) = &self.token
            && request.method() != Method::OPTIONS
            && !bearer_matches(request.headers().get(header::AUTHORIZATION), token)
        {
            let mut response = refuse(
                StatusCode::UNAUTHORIZED,
                "this server wants Authorization: Bearer <ECRSCAN_API_TOKEN>",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ecrscan\""),
            );
            return response;
        }
        next.run(request).await
    }

    /// Whether `host` (`name[:port]`, `[v6]:port`) is one the server
    /// answers for.
    fn host_allowed(&self, host: &str) -> bool {
        let name = match host.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((name, _)) => name,
                None => return false,
            },
            None => host.rsplit_once(':').map_or(host, |(name, _)| name),
        }
        .to_ascii_lowercase();
        let listen = self.listen.ip();
        if let Ok(ip) = name.parse::<IpAddr>() {
            return ip == listen
                || listen.is_unspecified()
                || (listen.is_loopback() && ip.is_loopback());
        }
        (name == "localhost" && (listen.is_loopback() || listen.is_unspecified()))
            || self.hosts.contains(&name)
    }
}

fn bearer_matches(header: Option<&HeaderValue>, token: &str) -> bool {
    let Some(given) = header
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
    else {
        return false;
    };
    given.trim().as_bytes().ct_eq(token.as_bytes()).into()
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(listen: &str, token: Option<&str>, hosts: &[&str]) -> LocalGuard {
        LocalGuard::new(
            listen.parse().unwrap(),
            token.map(str::to_owned),
            hosts.iter().map(|h| h.to_string()).collect(),
        )
        .unwrap()
    }

    #[test]
    fn off_loopback_a_long_enough_token_is_required() {
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert_eq!(
            LocalGuard::new(any, None, vec![]).unwrap_err(),
            GuardError::TokenRequired(any)
        );
        assert_eq!(
            LocalGuard::new(any, Some(String::new()), vec![]).unwrap_err(),
            GuardError::TokenRequired(any),
            "an empty token is no token"
        );
        assert_eq!(
            LocalGuard::new(any, Some("short".into()), vec![]).unwrap_err(),
            GuardError::TokenTooShort
        );
        assert!(LocalGuard::new(any, Some("a-token-of-24-characters".into()), vec![]).is_ok());
        assert!(LocalGuard::new("127.0.0.1:3000".parse().unwrap(), None, vec![]).is_ok());
        assert!(LocalGuard::new("[::1]:3000".parse().unwrap(), None, vec![]).is_ok());
        assert!(matches!(
            LocalGuard::new(
                "127.0.0.1:3000".parse().unwrap(),
                None,
                vec!["evil host".into()]
            ),
            Err(GuardError::InvalidHost(_))
        ));
    }

    #[test]
    fn hosts_are_the_listen_address_localhost_and_the_named_ones() {
        let loopback = guard("127.0.0.1:3000", None, &["ecrscan.internal"]);
        for allowed in [
            "127.0.0.1:3000",
            "127.0.0.1",
            "localhost:3000",
            "LOCALHOST",
            "[::1]:3000",
            "ecrscan.internal:3000",
            "ECRSCAN.internal",
        ] {
            assert!(loopback.host_allowed(allowed), "{allowed}");
        }
        for refused in [
            "attacker.example:3000",
            "attacker.example",
            "localhost.attacker.example",
            "10.0.0.5:3000",
            "",
            "[::1",
        ] {
            assert!(!loopback.host_allowed(refused), "{refused}");
        }
        let everywhere = guard("0.0.0.0:3000", Some("a-token-of-24-characters"), &[]);
        assert!(everywhere.host_allowed("10.0.0.5:3000"));
        assert!(!everywhere.host_allowed("ecrscan.internal:3000"));
        let one = guard("10.0.0.5:3000", Some("a-token-of-24-characters"), &[]);
        assert!(one.host_allowed("10.0.0.5:3000"));
        assert!(!one.host_allowed("localhost:3000"));
        assert!(!one.host_allowed("10.0.0.6:3000"));
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = "a-token-of-24-characters";
        let value = |v: &str| HeaderValue::from_str(v).unwrap();
        assert!(bearer_matches(
            Some(&value(&format!("Bearer {token}"))),
            token
        ));
        for wrong in [
            "Bearer a-token-of-24-character".to_owned(),
            "Bearer a-token-of-24-charactersX".to_owned(),
            format!("Basic {token}"),
            token.to_owned(),
            "Bearer ".to_owned(),
        ] {
            assert!(!bearer_matches(Some(&value(&wrong)), token), "{wrong}");
        }
        assert!(!bearer_matches(None, token));
    }
}
