//! `snapex-cleanup`: see `snapex_aws::steps::cleanup`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::cleanup::handle(input, &ctx).await
    })
    .await
}
