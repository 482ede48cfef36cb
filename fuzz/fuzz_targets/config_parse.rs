//! Config parsing and validation: any bytes give a config or an error,
//! never a panic; what parses and validates round-trips exactly.
#![no_main]

use chrono::{TimeZone, Utc};
use ecrscan_core::{ConfigSpec, ScanConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = ConfigSpec::from_json(data) {
        let now = Utc.timestamp_opt(1_764_230_400, 0).single().expect("valid time");
        let config = ScanConfig::create(spec, now);
        let stored = config.to_json();
        let read = ScanConfig::from_stored_json(&stored).expect("a created config reads back");
        assert_eq!(read, config);
    }
    if let Ok(config) = ScanConfig::from_stored_json(data) {
        let again = ScanConfig::from_stored_json(&config.to_json()).expect("a stored config reads back");
        assert_eq!(again, config);
    }
    let _ = std::str::from_utf8(data).map(|text| text.parse::<ecrscan_core::StoreLocation>());
});
