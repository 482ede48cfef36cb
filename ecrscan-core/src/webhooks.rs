//! What a webhook channel sends: a CloudEvents 1.0 structured JSON body,
//! signed per the Standard Webhooks specification.
//!
//! Headers: `webhook-id` (the change id: the idempotency key, the same on
//! every retry), `webhook-timestamp` (Unix seconds) and `webhook-signature`:
//! `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` under the
//! secret's key (`whsec_` and the base64 key).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::changes::{Change, ChangeKind};

/// A signing secret that is not `whsec_` and base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a webhook secret is whsec_ followed by a base64 key of 24 to 64 bytes (the value is not shown)"
)]
pub struct InvalidSecret;

/// Signs webhook messages with one secret.
#[derive(Clone)]
pub struct WebhookSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSigner(…)")
    }
}

impl WebhookSigner {
    /// A signer for `secret` (`whsec_<base64>`, as Standard Webhooks
    /// libraries generate them).
    pub fn from_secret(secret: &str) -> Result<WebhookSigner, InvalidSecret> {
        let encoded = secret.trim().strip_prefix("whsec_").ok_or(InvalidSecret)?;
        let key = STANDARD.decode(encoded).map_err(|_| InvalidSecret)?;
        if !(24..=64).contains(&key.len()) {
            return Err(InvalidSecret);
        }
        Ok(WebhookSigner { key })
    }

    /// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC takes a key of any length: this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => return String::new(),
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The three Standard Webhooks headers of a message.
    pub fn headers(&self, id: &str, timestamp: i64, body: &[u8]) -> [(&'static str, String); 3] {
        [
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", self.sign(id, timestamp, body)),
        ]
    }
}

/// The CloudEvents `type` of a change.
pub fn event_type(change: &Change) -> &'static str {
    match change.kind {
        ChangeKind::TagMoved => "dev.ecrscan.image.tag_moved",
        ChangeKind::FindingsChanged | ChangeKind::Baseline => "dev.ecrscan.image.findings_changed",
    }
}

/// A change as a CloudEvents 1.0 structured JSON event: `specversion`, `id`
/// (the change id), `source`, `type`, `subject`
/// (`REGISTRY/REGION/REPOSITORY@DIGEST`), `time` (when it was detected),
/// `datacontenttype` and `data` (the change's JSON).
pub fn cloud_event(change: &Change, source: &str) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0",
        "id": change.id.to_string(),
        "source": source,
        "type": event_type(change),
        "subject": format!(
            "{}/{}/{}@{}",
            change.registry, change.region, change.repository, change.digest
        ),
        "time": change.detected_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "datacontenttype": "application/json",
        "data": change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specifications_test_vector() {
        // From the Standard Webhooks specification's examples.
        let signer = WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signer.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_that_are_not_whsec_base64_are_refused_without_echo() {
        for bad in [
            "",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_!!!",
            "whsec_YWJj",
        ] {
            let err = WebhookSigner::from_secret(bad).unwrap_err();
            assert!(!err.to_string().contains("YWJj"));
        }
        assert!(
            format!(
                "{:?}",
                WebhookSigner::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
            )
            .len()
                < 20
        );
    }
}
