//! `snapex-export-chunk`: see `snapex_aws::steps::export_chunk`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::export_chunk::handle(input, &ctx).await
    })
    .await
}
