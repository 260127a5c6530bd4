//! `snapex-finalize`: see `snapex_aws::steps::finalize`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::finalize::handle(input, &ctx).await
    })
    .await
}
