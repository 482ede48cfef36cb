//! The text and JSON summary renderers with arbitrary results: no panic,
//! the JSON parses back, the text has one block per image; pages hold the
//! same images, each page within its size.
#![no_main]

mod common;

use chrono::{TimeZone, Utc};
use ecrscan_core::render::{
    SummaryFormat, SummaryPage, write_json_summary, write_summary_page, write_text_summary,
};
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
    let summary = Summary {
        rows,
        ..Summary::default()
    };
    let mut text = Vec::new();
    write_text_summary(&summary, &mut text).expect("rendering to memory works");
    let text_string = String::from_utf8(text.clone()).expect("UTF-8");
    assert_eq!(text_string.matches("Results for ").count(), summary.rows.len());
    let mut json = Vec::new();
    let now = Utc.timestamp_opt(1_764_234_000, 0).single().expect("valid time");
    write_json_summary(&summary, now, &mut json).expect("rendering to memory works");
    let value: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
    assert_eq!(value["images"].as_array().map(Vec::len), Some(summary.rows.len()));

    // Pages of a size taken from the input hold the same images, in order.
    let max_bytes = 1 + 10 * usize::from(data.first().copied().unwrap_or(0));
    for format in [SummaryFormat::Text, SummaryFormat::Json] {
        let mut start = 0;
        let mut text_pages = Vec::new();
        let mut images = Vec::new();
        loop {
            let mut out = Vec::new();
            let next = write_summary_page(&summary, format, now, SummaryPage { start, max_bytes }, &mut out)
                .expect("rendering to memory works");
            let rows_here = match format {
                SummaryFormat::Text => {
                    text_pages.extend_from_slice(&out);
                    next.map_or(summary.rows.len(), |next| next) - start
                }
                SummaryFormat::Json => {
                    let page: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
                    assert_eq!(page["totals"], value["totals"]);
                    let here = page["images"].as_array().cloned().unwrap_or_default();
                    let count = here.len();
                    images.extend(here);
                    count
                }
            };
            assert!(out.len() <= max_bytes || rows_here <= 1, "{format:?} page at {start}: {} bytes", out.len());
            let Some(next) = next else { break };
            assert!(next > start, "every page makes progress");
            start = next;
        }
        match format {
            SummaryFormat::Text => assert_eq!(text_pages, text),
            SummaryFormat::Json => assert_eq!(Some(&images), value["images"].as_array()),
        }
    }
});
