//! `snapex-register`: see `snapex_aws::steps::register`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::register::handle(input, &ctx).await
    })
    .await
}
