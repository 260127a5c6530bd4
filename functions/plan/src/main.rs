//! `snapex-plan`: see `snapex_aws::steps::plan`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::plan::handle(input, &ctx).await
    })
    .await
}
