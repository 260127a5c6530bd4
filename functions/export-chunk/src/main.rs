//! `snapex-export-chunk`: see `snapex_aws::steps::export_chunk`.

fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    // Before the runtime's threads start (see `snapex::memory`): a chunk worker's memory.
    snapex_aws::lambda::return_large_blocks_to_the_system();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(snapex_aws::lambda::serve(|input, ctx| async move {
            snapex_aws::steps::export_chunk::handle(input, &ctx).await
        }))
}
