//! The ScanBackend conformance suite on the simulated ECR, and on the
//! recorder in front of it over each local store (reading recorded results
//! and reading live).

use std::sync::Arc;

use ecrscan_core::conformance::{backend_conforms, simulated_fixture};
use ecrscan_core::{DirStore, MemoryStore, ReadFrom, RecordingBackend, ResultStore};

#[tokio::test]
async fn the_simulated_ecr_conforms() {
    let (ecr, fixture) = simulated_fixture();
    backend_conforms(&ecr, &fixture).await;
}

async fn recorder_conforms(store: Arc<dyn ResultStore>) {
    for read_from in [ReadFrom::Live, ReadFrom::Recorded] {
        let (ecr, fixture) = simulated_fixture();
        let recorder = RecordingBackend::new(Arc::new(ecr), Arc::clone(&store), read_from);
        backend_conforms(&recorder, &fixture).await;
    }
}

#[tokio::test]
async fn the_recorder_over_the_memory_store_conforms() {
    recorder_conforms(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn the_recorder_over_the_directory_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    recorder_conforms(Arc::new(DirStore::open(dir.path()).await.unwrap())).await;
}
