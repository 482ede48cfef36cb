//! The AWS implementations: [`S3Store`](s3::S3Store) and
//! [`EcrBackend`](ecr::EcrBackend).

#[cfg(feature = "ecr")]
pub mod ecr;
#[cfg(feature = "s3")]
pub mod s3;
