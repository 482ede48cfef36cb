//! Turning fuzz input into scan results: fields are separated by 0xFF bytes.

use chrono::{TimeZone, Utc};
use ecrscan_core::{
    DigestScan, Finding, ImageRef, ImageScanResult, Origin, ScanStatus, Severity, SeverityCounts,
};

pub fn results(data: &[u8]) -> Vec<ImageScanResult> {
    let mut fields = data
        .split(|b| *b == 0xFF)
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned());
    let mut next = move || fields.next().unwrap_or_default();
    let mut results = Vec::new();
    for image in 0..3 {
        let mut findings = Vec::new();
        for i in 0..8 {
            let name = next();
            if name.is_empty() && i > 0 {
                break;
            }
            let severity = Severity::ALL[name.len() % Severity::ALL.len()];
            let mut finding = Finding::new(name, severity);
            finding.title = Some(next());
            finding.description = Some(next());
            finding.uri = Some(next());
            finding.package_name = Some(next());
            finding.package_version = Some(next());
            finding.fixed_in_version = Some(next());
            findings.push(finding);
        }
        let counts: SeverityCounts = findings.iter().map(|f| (f.severity, 1)).collect();
        let status = ScanStatus::ALL[findings.len() % ScanStatus::ALL.len()];
        results.push(ImageScanResult {
            image: ImageRef {
                repository: "fuzz/repo".into(),
                tag: Some(format!("t{image}")),
                digest: Some(format!("sha256:{image:064x}")),
                ..ImageRef::default()
            },
            scan: DigestScan {
                status,
                status_description: Some(next()),
                scan_completed_at: Utc.timestamp_opt(1_764_230_400 + image, 0).single(),
                vulnerability_source_updated_at: None,
                severity_counts: counts,
                findings,
            },
            origin: Origin::Live,
            findings_changed_at: None,
            suppressed_counts: SeverityCounts::new(),
        });
    }
    results
}
