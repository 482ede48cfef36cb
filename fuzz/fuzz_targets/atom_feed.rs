//! The Atom feed renderer with arbitrary findings: always well-formed XML
//! with one entry per distinct finding.
#![no_main]

mod common;

use chrono::{TimeZone, Utc};
use ecrscan_core::render::{FeedOptions, write_atom_feed};
use ecrscan_core::{ConfigSpec, ScanConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let results = common::results(data);
    let now = Utc.timestamp_opt(1_764_234_000, 0).single().expect("valid time");
    let spec = ConfigSpec::new("us-west-2", "123456789012", "fuzz/repo", Vec::<String>::new()).expect("valid");
    let config = ScanConfig::create(spec, now);
    let mut out = Vec::new();
    write_atom_feed(&config, &results, now, &FeedOptions::default(), &mut out).expect("rendering to memory works");
    let xml = String::from_utf8(out).expect("the feed is UTF-8");
    let doc = roxmltree::Document::parse(&xml).unwrap_or_else(|err| panic!("not well-formed: {err}"));
    let entries = doc.descendants().filter(|n| n.has_tag_name("entry")).count();
    let findings: usize = results.iter().map(|r| r.findings.len()).sum();
    assert!(entries <= findings);
    assert!(findings == 0 || entries > 0);
});
