//! `snapex-restore`: see `snapex_aws::steps::restore`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::restore::handle(input, &ctx).await
    })
    .await
}
