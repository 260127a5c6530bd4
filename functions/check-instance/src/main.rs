//! `snapex-check-instance`: see `snapex_aws::steps::check_instance`.

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::check_instance::handle(input, &ctx).await
    })
    .await
}
