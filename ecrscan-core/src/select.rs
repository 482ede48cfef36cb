//! Which images of a repository a config selects, and why: tags and tag
//! patterns, the most recent images, images pushed or pulled within some
//! days; never an archived image.
//!
//! A pure function of the repository's images (as every-tagged-image
//! resolution lists them, with their push and pull times), the config's
//! selection and an explicit `now`, so the plan and `ecrscan configs
//! explain` agree by construction.
//!
//! - Tags: an image is taken when one of its tags matches an entry of the
//!   config's tags (exactly, or as a [`Pattern`]); no entries take every
//!   tagged image. An untagged image is never taken.
//! - Recency, when the config has any of `most_recent`,
//!   `pushed_within_days` and `pulled_within_days`: of the images the tags
//!   take, an image is kept when it meets *any* of them — among the
//!   repository's `most_recent` most recently pushed (of those the tags
//!   take), pushed within the days, or pulled within the days (an image
//!   never pulled does not meet the pull clause). ECR updates pull times
//!   about once a day.
//! - An archived image is left out, whatever else it meets.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::Image;
use crate::config::ScanConfig;
use crate::pattern::{NameKind, Pattern};

/// What a config asks of a repository's images.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSelector {
    /// Tags and tag patterns; empty: every tagged image.
    pub tags: Vec<TagEntry>,
    /// Keep the N most recently pushed images.
    pub most_recent: Option<u32>,
    /// Keep images pushed within this many days.
    pub pushed_within_days: Option<u32>,
    /// Keep images pulled within this many days.
    pub pulled_within_days: Option<u32>,
}

/// One entry of a config's tags: a tag, or a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagEntry {
    /// Exactly this tag.
    Exact(String),
    /// Any tag matching.
    Pattern(Pattern),
}

impl TagEntry {
    /// The entry for `text`: a pattern when it has a `*` (checked against
    /// the tag rule, which the config has already done).
    pub fn of(text: &str) -> TagEntry {
        if text.contains('*') {
            match Pattern::parse(text, NameKind::Tag) {
                Ok(pattern) => TagEntry::Pattern(pattern),
                Err(_) => TagEntry::Exact(text.to_owned()),
            }
        } else {
            TagEntry::Exact(text.to_owned())
        }
    }

    /// Whether `tag` matches.
    pub fn matches(&self, tag: &str) -> bool {
        match self {
            TagEntry::Exact(exact) => exact == tag,
            TagEntry::Pattern(pattern) => pattern.matches(tag),
        }
    }

    /// The entry as written.
    pub fn as_str(&self) -> &str {
        match self {
            TagEntry::Exact(exact) => exact,
            TagEntry::Pattern(pattern) => pattern.as_str(),
        }
    }
}

impl ImageSelector {
    /// What `config` asks of each repository's images.
    pub fn of(config: &ScanConfig) -> ImageSelector {
        ImageSelector {
            tags: config.tags.iter().map(|tag| TagEntry::of(tag)).collect(),
            most_recent: config.most_recent,
            pushed_within_days: config.pushed_within_days,
            pulled_within_days: config.pulled_within_days,
        }
    }

    /// Whether the selector needs every image's details (push and pull
    /// times, every tag): anything but a plain list of exact tags.
    pub fn needs_listing(&self) -> bool {
        self.tags.is_empty()
            || self.has_recency()
            || self
                .tags
                .iter()
                .any(|entry| matches!(entry, TagEntry::Pattern(_)))
    }

    /// Whether any recency clause is given.
    pub fn has_recency(&self) -> bool {
        self.most_recent.is_some()
            || self.pushed_within_days.is_some()
            || self.pulled_within_days.is_some()
    }
}

/// Why an image was taken: the clauses it met, e.g. `tag v1.*`,
/// `most recent (#2)`, `pushed within 30 days`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chosen {
    /// The image, with the tags that selected it (all its tags when no tag
    /// entries were given).
    pub image: Image,
    /// The clauses it met.
    pub clauses: Vec<String>,
}

/// An image left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// The image.
    pub image: Image,
    /// Why, e.g. `archived`, `no tag matches v1.*`, `not among the 3 most
    /// recent, not pushed within 30 days`.
    pub reason: String,
}

/// What [`select`] took and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Selected {
    /// The images taken, most recently pushed first (then by digest).
    pub chosen: Vec<Chosen>,
    /// The images left out, in the same order.
    pub left_out: Vec<LeftOut>,
    /// Exact tag entries no image has.
    pub missing_tags: Vec<String>,
}

/// Selects of `images` (one repository's, each digest once with all its
/// tags) what `selector` asks for at `now`.
pub fn select(images: &[Image], selector: &ImageSelector, now: DateTime<Utc>) -> Selected {
    let mut ordered: Vec<&Image> = images.iter().collect();
    ordered.sort_by(|a, b| {
        b.pushed_at
            .cmp(&a.pushed_at)
            .then_with(|| a.digest.cmp(&b.digest))
    });
    let mut selected = Selected::default();
    // Tags first: which images, and by which of their tags.
    let mut taken: Vec<(&Image, Vec<String>, Vec<String>)> = Vec::new();
    for image in ordered {
        if image.tags.is_empty() {
            selected.left_out.push(LeftOut {
                image: image.clone(),
                reason: "untagged".into(),
            });
            continue;
        }
        let (tags, clauses): (Vec<String>, Vec<String>) = if selector.tags.is_empty() {
            (image.tags.clone(), vec!["every tagged image".to_owned()])
        } else {
            let mut tags = Vec::new();
            let mut clauses = Vec::new();
            for tag in &image.tags {
                if let Some(entry) = selector.tags.iter().find(|entry| entry.matches(tag)) {
                    tags.push(tag.clone());
                    let clause = match entry {
                        TagEntry::Exact(exact) => format!("tag {exact}"),
                        TagEntry::Pattern(pattern) => format!("tag {tag} matches {pattern}"),
                    };
                    if !clauses.contains(&clause) {
                        clauses.push(clause);
                    }
                }
            }
            (tags, clauses)
        };
        if tags.is_empty() {
            let entries: Vec<&str> = selector.tags.iter().map(TagEntry::as_str).collect();
            selected.left_out.push(LeftOut {
                image: image.clone(),
                reason: format!("no tag matches {}", entries.join(", ")),
            });
            continue;
        }
        taken.push((image, tags, clauses));
    }
    for entry in &selector.tags {
        if let TagEntry::Exact(exact) = entry
            && !images.iter().any(|image| image.tags.contains(exact))
        {
            selected.missing_tags.push(exact.clone());
        }
    }
    // Then recency, among what the tags took; archived images never.
    let mut rank = 0u32;
    for (image, tags, mut clauses) in taken {
        if image.archived {
            selected.left_out.push(LeftOut {
                image: image.clone(),
                reason: "archived".into(),
            });
            continue;
        }
        rank += 1;
        if selector.has_recency() {
            let mut met = Vec::new();
            let mut missed = Vec::new();
            if let Some(most_recent) = selector.most_recent {
                if rank <= most_recent {
                    met.push(format!("most recent (#{rank} of {most_recent})"));
                } else {
                    missed.push(format!("not among the {most_recent} most recent"));
                }
            }
            if let Some(days) = selector.pushed_within_days {
                if within(image.pushed_at, days, now) {
                    met.push(format!("pushed within {days} days"));
                } else {
                    missed.push(format!("not pushed within {days} days"));
                }
            }
            if let Some(days) = selector.pulled_within_days {
                if within(image.last_pulled_at, days, now) {
                    met.push(format!("pulled within {days} days"));
                } else if image.last_pulled_at.is_none() {
                    missed.push("never pulled".to_owned());
                } else {
                    missed.push(format!("not pulled within {days} days"));
                }
            }
            if met.is_empty() {
                selected.left_out.push(LeftOut {
                    image: image.clone(),
                    reason: missed.join(", "),
                });
                continue;
            }
            clauses.extend(met);
        }
        selected.chosen.push(Chosen {
            image: Image {
                tags,
                ..image.clone()
            },
            clauses,
        });
    }
    selected
}

/// Whether `at` lies within `days` days before `now` (the boundary
/// included); never for an unknown time.
fn within(at: Option<DateTime<Utc>>, days: u32, now: DateTime<Utc>) -> bool {
    at.is_some_and(|at| now - at <= Duration::days(i64::from(days)))
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
