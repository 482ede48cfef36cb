//! The Atom feed renderer with arbitrary findings: always well-formed XML
//! that atom_syndication reads back, with one entry per distinct finding;
//! its pages hold the same entries, each page within its size.
#![no_main]

mod common;

use chrono::{TimeZone, Utc};
use ecrscan_core::render::{FeedOptions, FeedPage, atom_feed, write_atom_feed};
use ecrscan_core::{ConfigSpec, ScanConfig};
use libfuzzer_sys::fuzz_target;

fn entry_ids(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|err| panic!("not well-formed: {err}"));
    doc.descendants()
        .filter(|n| n.has_tag_name("entry"))
        .filter_map(|e| e.children().find(|c| c.has_tag_name("id"))?.text())
        .map(str::to_owned)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let results = common::results(data);
    let now = Utc.timestamp_opt(1_764_234_000, 0).single().expect("valid time");
    let spec = ConfigSpec::new("us-west-2", "123456789012", "fuzz/repo", Vec::<String>::new()).expect("valid");
    let config = ScanConfig::create(spec, now);
    let mut options = FeedOptions {
        self_url: Some("https://api.example.com/Prod/findings/x".into()),
        ..FeedOptions::default()
    };
    let mut out = Vec::new();
    write_atom_feed(&config, &results, now, &options, &mut out).expect("rendering to memory works");
    let xml = String::from_utf8(out).expect("the feed is UTF-8");
    let ids = entry_ids(&xml);
    let findings: usize = results.iter().map(|r| r.scan.findings.len()).sum();
    assert!(ids.len() <= findings);
    assert!(findings == 0 || !ids.is_empty());
    let model = atom_feed(&config, &results, now, &options).expect("atom_syndication reads the feed");
    assert_eq!(model.entries.len(), ids.len());

    // Pages of a size taken from the input hold the same entries, in order.
    let max_bytes = 1_000 + 100 * usize::from(data.first().copied().unwrap_or(0));
    let mut paged = Vec::new();
    let mut start = 0;
    loop {
        options.page = Some(FeedPage { start, max_bytes });
        let mut out = Vec::new();
        write_atom_feed(&config, &results, now, &options, &mut out).expect("rendering to memory works");
        let page = String::from_utf8(out).expect("the page is UTF-8");
        let page_ids = entry_ids(&page);
        assert!(page.len() <= max_bytes || page_ids.len() == 1, "page at {start}: {} bytes", page.len());
        let had_next = page.contains("rel=\"next\"");
        paged.extend(page_ids);
        if !had_next {
            break;
        }
        assert!(paged.len() > start, "every page makes progress");
        start = paged.len();
    }
    assert_eq!(paged, ids);
});
