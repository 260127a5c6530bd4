//! `snapex-watch`: see `snapex_aws::steps::watch`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|event, ctx| async move {
        snapex_aws::steps::watch::handle(event, &ctx).await
    })
    .await
}
