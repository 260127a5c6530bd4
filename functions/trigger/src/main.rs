//! `snapex-trigger`: see `snapex_aws::steps::trigger`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::trigger::handle(input, &ctx).await
    })
    .await
}
