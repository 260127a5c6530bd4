//! `snapex-trigger`: see `snapex_aws::steps::trigger` (events) and `snapex_aws::steps::sweep`
//! (its schedule).

#[tokio::main]
async fn main() -> Result<(), snapex_aws::lambda::RuntimeError> {
    snapex_aws::lambda::serve(|input, ctx| async move {
        snapex_aws::steps::trigger::handle_invocation(input, &ctx).await
    })
    .await
}
