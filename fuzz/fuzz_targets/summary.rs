//! The text and JSON summary renderers with arbitrary results: no panic,
//! the JSON parses back, the text has one block per image.
#![no_main]

mod common;

use chrono::{TimeZone, Utc};
use ecrscan_core::render::{write_json_summary, write_text_summary};
use ecrscan_core::{Summary, SummaryRow};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rows: Vec<SummaryRow> = common::results(data)
        .into_iter()
        .map(|result| SummaryRow {
            config_id: uuid::Uuid::nil(),
            region: "us-west-2".into(),
            registry: "123456789012".into(),
            result,
        })
        .collect();
    let summary = Summary { rows };
    let mut text = Vec::new();
    write_text_summary(&summary, &mut text).expect("rendering to memory works");
    let text = String::from_utf8(text).expect("UTF-8");
    assert_eq!(text.matches("Results for ").count(), summary.rows.len());
    let mut json = Vec::new();
    let now = Utc.timestamp_opt(1_764_234_000, 0).single().expect("valid time");
    write_json_summary(&summary, now, &mut json).expect("rendering to memory works");
    let value: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert_eq!(value["images"].as_array().map(Vec::len), Some(summary.rows.len()));
});
