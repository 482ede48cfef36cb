//! What each kind of channel is sent for a change: pure functions of the
//! change, the sender's context and an explicit `now`.
//!
//! - webhook: a CloudEvents 1.0 structured JSON body, signed per Standard
//!   Webhooks (see [`crate::webhooks`]), at most [`MAX_WEBHOOK_BYTES`];
//! - slack: an incoming-webhook message, `text` and `blocks`;
//! - sns: `Publish` of the same CloudEvent, with the message attributes
//!   `kind`, `severity` and `repository`, at most [`MAX_SNS_BYTES`];
//! - eventbridge: one `PutEvents` entry, source `ecrscan`, detail the change
//!   JSON, at most [`MAX_EVENTBRIDGE_BYTES`].
//!
//! A change too large for its message keeps its most severe findings, whole
//! counts and `"truncated": true` ([`Change::truncated_to`]).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::changes::{Change, ChangeCounts, ChangeKind};
use crate::channels::{Channel, Target};
use crate::finding::Finding;
use crate::severity::{Severity, SeverityCounts};
use crate::webhooks::{WebhookSigner, cloud_event};

/// The largest webhook body sent.
pub const MAX_WEBHOOK_BYTES: usize = 64 * 1024;
/// SNS's limit on a message and its attributes.
pub const MAX_SNS_BYTES: usize = 256 * 1024;
/// EventBridge's limit on an entry.
pub const MAX_EVENTBRIDGE_BYTES: usize = 256 * 1024;
/// The EventBridge `source` of every event.
pub const EVENTBRIDGE_SOURCE: &str = "ecrscan";
/// The CloudEvents `type` of a test event.
pub const TEST_EVENT_TYPE: &str = "dev.ecrscan.test";
/// How many new findings a Slack message lists.
const SLACK_FINDINGS: usize = 10;

/// What a message may say beyond the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContext {
    /// The CloudEvents `source` (a URI reference: the API's URL, or
    /// `urn:ecrscan`).
    pub source: String,
    /// A link to the image's findings feed, where the API URL is known.
    pub findings_feed: Option<String>,
}

/// A change ready to send, or a test event.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice<'a> {
    /// The change.
    pub change: &'a Change,
    /// Whether it is a `channels test` event, marked as such in every message.
    pub test: bool,
}

/// One message for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// An HTTP POST of a JSON body (webhook, Slack).
    Http {
        /// Where to.
        url: String,
        /// Headers besides `content-type: application/json`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// An SNS `Publish`.
    Sns {
        /// The topic.
        topic_arn: String,
        /// The message: the CloudEvent JSON.
        message: String,
        /// String message attributes.
        attributes: Vec<(String, String)>,
        /// For a FIFO topic: the message group (the repository) and the
        /// deduplication id (the change id).
        fifo: Option<(String, String)>,
    },
    /// An EventBridge `PutEvents` entry.
    EventBridge {
        /// The bus name or ARN; `None`: the default bus.
        bus: Option<String>,
        /// `ecrscan`.
        source: String,
        /// `ECR Image Findings Changed`, `ECR Image Tag Moved` or
        /// `ecrscan Test Event`.
        detail_type: String,
        /// The change JSON.
        detail: String,
        /// The repository's ARN.
        resources: Vec<String>,
        /// When the change was detected.
        time: DateTime<Utc>,
    },
}

/// The synthetic change `channels test` sends: clearly marked, with a fresh
/// id so no receiver takes it for a duplicate.
pub fn test_change(now: DateTime<Utc>) -> Change {
    let mut finding = Finding::new("CVE-0000-0000", Severity::Critical);
    finding.description =
        Some("A test event from `ecrscan channels test`: nothing is vulnerable.".to_owned());
    finding.package_name = Some("ecrscan-test".to_owned());
    finding.package_version = Some("0.0.0".to_owned());
    Change {
        id: Uuid::new_v4(),
        kind: ChangeKind::FindingsChanged,
        region: "us-east-1".to_owned(),
        registry: "000000000000".to_owned(),
        repository: "ecrscan/test".to_owned(),
        digest: format!("sha256:{}", "0".repeat(64)),
        previous_digest: None,
        tags: vec!["test".to_owned()],
        scan_completed_at: Some(now),
        previous_scan_completed_at: None,
        detected_at: now,
        counts: ChangeCounts {
            before: SeverityCounts::new(),
            after: [(Severity::Critical, 1)].into_iter().collect(),
        },
        new: vec![finding],
        fixed: Vec::new(),
        severity_changed: Vec::new(),
        resurfaced: Vec::new(),
        suppressed: Vec::new(),
        truncated: false,
    }
}

fn cloud_event_json(notice: &Notice<'_>, change: &Change, context: &MessageContext) -> Vec<u8> {
    let mut event = cloud_event(change, &context.source);
    if notice.test {
        event["type"] = TEST_EVENT_TYPE.into();
    }
    serde_json::to_vec(&event).unwrap_or_default()
}

/// `build(change)` for the change cut so the result is at most `limit`
/// bytes beside `reserved` ones.
fn fitted(
    change: &Change,
    limit: usize,
    reserved: usize,
    build: impl Fn(&Change) -> Vec<u8>,
) -> Vec<u8> {
    let whole = build(change);
    if whole.len() + reserved <= limit {
        return whole;
    }
    let change_bytes = serde_json::to_vec(change).map(|j| j.len()).unwrap_or(0);
    let envelope = whole.len().saturating_sub(change_bytes);
    let budget = limit.saturating_sub(envelope + reserved);
    build(&change.truncated_to(budget))
}

/// The signed webhook request for a notice, as sent at `now`.
pub fn webhook(
    url: &str,
    notice: &Notice<'_>,
    context: &MessageContext,
    signer: &WebhookSigner,
    now: DateTime<Utc>,
) -> Outgoing {
    let body = fitted(notice.change, MAX_WEBHOOK_BYTES, 0, |change| {
        cloud_event_json(notice, change, context)
    });
    let id = notice.change.id.to_string();
    let headers = signer
        .headers(&id, now.timestamp(), &body)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    Outgoing::Http {
        url: url.to_owned(),
        headers,
        body,
    }
}

/// `text` for Slack's mrkdwn: `&`, `<` and `>` escaped (so no AWS-provided
/// string can mention `@channel` or forge a link), control characters
/// dropped, at most `max` characters.
fn slack_escaped(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().filter(|c| !c.is_control()).take(max) {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// A link Slack can show: http(s), with none of the characters that end
/// or split a Slack link.
fn slack_link(uri: &str) -> Option<&str> {
    let ok = (uri.starts_with("https://") || uri.starts_with("http://"))
        && uri.len() <= 500
        && !uri
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '<' | '>' | '|'));
    ok.then_some(uri)
}

fn image_name(change: &Change) -> String {
    match change.tags.first() {
        Some(tag) => format!("{}:{tag}", change.repository),
        None => change.repository.clone(),
    }
}

fn short_digest(digest: &str) -> String {
    let cut: String = digest.chars().take(19).collect();
    if cut.len() < digest.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn counts_line(counts: &SeverityCounts) -> String {
    if counts.is_empty() {
        return "no findings".to_owned();
    }
    counts
        .iter()
        .map(|(severity, count)| format!("{count} {}", severity.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn finding_line(finding: &Finding) -> String {
    let name = slack_escaped(&finding.name, 100);
    let name = match finding.uri.as_deref().and_then(slack_link) {
        Some(uri) => format!("<{uri}|{name}>"),
        None => name,
    };
    let package = [
        finding.package_name.as_deref(),
        finding.package_version.as_deref(),
    ]
    .into_iter()
    .flatten()
    .map(|part| slack_escaped(part, 100))
    .collect::<Vec<_>>()
    .join(" ");
    format!("• *{}* {name} {package}", finding.severity.as_str())
        .trim_end()
        .to_owned()
}

/// The Slack incoming-webhook message for a notice.
pub fn slack(url: &str, notice: &Notice<'_>, context: &MessageContext) -> Outgoing {
    let change = notice.change;
    let image = slack_escaped(&image_name(change), 300);
    let raised: Vec<&Finding> = change
        .severity_changed
        .iter()
        .filter(|c| c.to > c.from)
        .map(|c| &c.finding)
        .collect();
    let headline = match (change.kind, change.highest_new_severity()) {
        (ChangeKind::TagMoved, _) => format!("{image} now points at another image"),
        (_, Some(severity)) => format!("New {} findings in {image}", severity.as_str()),
        _ => format!("Findings fixed in {image}"),
    };
    let headline = if notice.test {
        format!("[TEST] {headline} (a test event from ecrscan channels test)")
    } else {
        headline
    };
    let mut summary = format!(
        "*{image}* (`{}`) in {} / {}\n*Now:* {}\n*New:* {}  *Raised:* {}  *Fixed:* {}{}",
        slack_escaped(&short_digest(&change.digest), 40),
        slack_escaped(&change.registry, 20),
        slack_escaped(&change.region, 30),
        counts_line(&change.counts.after),
        change.new.len(),
        raised.len(),
        change.fixed.len(),
        if change.resurfaced.is_empty() {
            String::new()
        } else {
            format!(
                "  *Resurfaced (suppression ended):* {}",
                change.resurfaced.len()
            )
        },
    );
    if let Some(previous) = &change.previous_digest {
        summary.push_str(&format!(
            "\n*Before:* `{}`, {}",
            slack_escaped(&short_digest(previous), 40),
            counts_line(&change.counts.before)
        ));
    }
    if change.truncated {
        summary.push_str("\n_Lists cut to fit a message; the counts are whole._");
    }
    let mut blocks = vec![
        serde_json::json!({
            "type": "header",
            "text": {"type": "plain_text", "text": headline.chars().take(150).collect::<String>()}
        }),
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": summary}}),
    ];
    let top: Vec<String> = change
        .new
        .iter()
        .chain(&change.resurfaced)
        .chain(raised.iter().copied())
        .take(SLACK_FINDINGS)
        .map(finding_line)
        .collect();
    if !top.is_empty() {
        let more =
            (change.new.len() + change.resurfaced.len() + raised.len()).saturating_sub(top.len());
        let mut text = top.join("\n");
        if more > 0 {
            text.push_str(&format!("\n… and {more} more"));
        }
        blocks
            .push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(feed) = context.findings_feed.as_deref().and_then(slack_link) {
        blocks.push(serde_json::json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": format!("<{feed}|Findings feed>")}]
        }));
    }
    let text = match change
        .new
        .first()
        .or(change.resurfaced.first())
        .or(raised.first().copied())
    {
        Some(first) => format!(
            "{}: {} {} in {image}",
            if notice.test { "[TEST] " } else { "" }.to_owned() + "ecrscan",
            first.severity.as_str(),
            slack_escaped(&first.name, 100)
        ),
        None => headline.clone(),
    };
    let body = serde_json::json!({"text": text, "blocks": blocks});
    Outgoing::Http {
        url: url.to_owned(),
        headers: Vec::new(),
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

fn kind_attribute(notice: &Notice<'_>) -> String {
    if notice.test {
        "test".to_owned()
    } else {
        notice.change.kind.as_str().to_owned()
    }
}

/// The SNS `Publish` for a notice.
pub fn sns(topic_arn: &str, notice: &Notice<'_>, context: &MessageContext) -> Outgoing {
    let change = notice.change;
    let attributes = vec![
        ("kind".to_owned(), kind_attribute(notice)),
        (
            "severity".to_owned(),
            change
                .highest_new_severity()
                .map_or("NONE", Severity::as_str)
                .to_owned(),
        ),
        ("repository".to_owned(), change.repository.clone()),
    ];
    // Each attribute costs its name, its type ("String") and its value.
    let reserved = attributes
        .iter()
        .map(|(name, value)| name.len() + value.len() + "String".len())
        .sum();
    let message = fitted(change, MAX_SNS_BYTES, reserved, |change| {
        cloud_event_json(notice, change, context)
    });
    let fifo = topic_arn
        .ends_with(".fifo")
        .then(|| (change.repository.clone(), change.id.to_string()));
    Outgoing::Sns {
        topic_arn: topic_arn.to_owned(),
        message: String::from_utf8_lossy(&message).into_owned(),
        attributes,
        fifo,
    }
}

/// The AWS partition of a region.
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The EventBridge `detail-type` of a notice.
pub fn detail_type(notice: &Notice<'_>) -> &'static str {
    if notice.test {
        return "ecrscan Test Event";
    }
    match notice.change.kind {
        ChangeKind::TagMoved => "ECR Image Tag Moved",
        ChangeKind::FindingsChanged | ChangeKind::Baseline => "ECR Image Findings Changed",
    }
}

/// The EventBridge `PutEvents` entry for a notice.
pub fn eventbridge(bus: Option<&str>, notice: &Notice<'_>) -> Outgoing {
    let change = notice.change;
    let detail_type = detail_type(notice);
    let resources = vec![format!(
        "arn:{}:ecr:{}:{}:repository/{}",
        partition(&change.region),
        change.region,
        change.registry,
        change.repository
    )];
    // EventBridge counts the source, detail-type, resources and 14 bytes of time.
    let reserved = EVENTBRIDGE_SOURCE.len()
        + detail_type.len()
        + resources.iter().map(String::len).sum::<usize>()
        + 14;
    let detail = fitted(change, MAX_EVENTBRIDGE_BYTES, reserved, |change| {
        serde_json::to_vec(change).unwrap_or_default()
    });
    Outgoing::EventBridge {
        bus: bus.map(str::to_owned),
        source: EVENTBRIDGE_SOURCE.to_owned(),
        detail_type: detail_type.to_owned(),
        detail: String::from_utf8_lossy(&detail).into_owned(),
        resources,
        time: change.detected_at,
    }
}

/// The message for `channel`; a webhook needs its signer.
pub fn message_for(
    channel: &Channel,
    notice: &Notice<'_>,
    context: &MessageContext,
    signer: Option<&WebhookSigner>,
    now: DateTime<Utc>,
) -> Option<Outgoing> {
    Some(match &channel.target {
        Target::Webhook { url, .. } => webhook(url, notice, context, signer?, now),
        Target::Slack { url } => slack(url, notice, context),
        Target::Sns { topic_arn } => sns(topic_arn, notice, context),
        Target::Eventbridge { bus } => eventbridge(bus.as_deref(), notice),
    })
}

#[cfg(test)]
#[path = "messages_tests.rs"]
mod tests;
