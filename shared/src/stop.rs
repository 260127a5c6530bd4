//! Asking a running export to stop. The core knows no signals: the command line turns Ctrl-C
//! and SIGTERM into [`Stopper::stop`], and the export, holding the matching [`Stop`], takes no
//! new chunk, abandons the pieces it is reading (their partial uploads aborted) and ends with
//! [`crate::Error::Interrupted`], leaving what a resumed run needs.

use std::future::Future;

use tokio::sync::watch;

use crate::error::{Error, Result};

/// The receiving side: cheap to clone into every task. The default never stops.
#[derive(Clone, Default)]
pub struct Stop {
    /// `None`: nothing can ask this run to stop (the Lambdas, the library's callers).
    asked: Option<watch::Receiver<bool>>,
}

/// The asking side, held by whoever handles the signals.
pub struct Stopper {
    ask: watch::Sender<bool>,
}

impl std::fmt::Debug for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stop")
            .field("requested", &self.requested())
            .finish()
    }
}

impl Stop {
    /// A stop and the handle that asks for it.
    pub fn new() -> (Stopper, Stop) {
        let (ask, asked) = watch::channel(false);
        (Stopper { ask }, Stop { asked: Some(asked) })
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.asked.as_ref().is_some_and(|a| *a.borrow())
    }

    /// Resolves once a stop is asked for; never, if none can be.
    pub async fn wait(&self) {
        let Some(mut asked) = self.asked.clone() else {
            return std::future::pending().await;
        };
        if asked.wait_for(|stop| *stop).await.is_err() {
            // The stopper is gone without asking: nothing will.
            std::future::pending::<()>().await;
        }
    }

    /// Runs `work` unless a stop is asked for first, in which case `work` is dropped and the
    /// result is [`Error::Interrupted`] (its counts zero: the caller knows them). Only for
    /// work that is safe to drop at any await: reads, or writes that a resumed run replaces.
    pub async fn or_interrupted<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            // Work that finishes as the stop arrives counts as done.
            biased;
            done = work => done,
            () = self.wait() => Err(Error::interrupted()),
        }
    }
}

impl Stopper {
    /// Asks every holder of the matching [`Stop`] to stop.
    pub fn stop(&self) {
        self.ask.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stop_interrupts_work_and_the_default_never_does() {
        let never = Stop::default();
        assert!(!never.requested());
        assert_eq!(never.or_interrupted(async { Ok(1) }).await.unwrap(), 1);

        let (stopper, stop) = Stop::new();
        let waiting = tokio::spawn({
            let stop = stop.clone();
            async move {
                stop.or_interrupted(std::future::pending::<Result<()>>())
                    .await
            }
        });
        stopper.stop();
        assert!(stop.requested());
        let e = waiting.await.unwrap().unwrap_err();
        assert!(matches!(e, Error::Interrupted { .. }), "{e}");
        // Work already done when asked is not thrown away.
        assert_eq!(stop.or_interrupted(async { Ok(2) }).await.unwrap(), 2);
    }
}
