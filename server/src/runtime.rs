//! openraft's `AsyncRuntime`, written against the workspace's `tokio` alias so that the same node
//! runs on real tokio in production and inside madsim in simulation (DESIGN.md §5).
//!
//! openraft's stock `TokioRuntime` calls real tokio directly and panics inside madsim ("there is
//! no reactor running"). Here every runtime-bound call goes through the alias: spawn, sleep and
//! timeouts become madsim's under `--cfg madsim`, and the random source for election jitter is
//! madsim's seeded one, so a simulated run replays from its seed. `tokio::sync` (the oneshot
//! channel) is real tokio in both worlds and needs no runtime.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use openraft::async_runtime::TokioOneShotSender;
use openraft::{AsyncRuntime, OptionalSend, TokioInstant};

/// The runtime openraft runs on, in production and in simulation alike.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AliasRuntime;

impl AsyncRuntime for AliasRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = tokio::task::JoinHandle<T>;
    type Sleep = tokio::time::Sleep;
    // `std::time::Instant` is virtual inside madsim (it overrides the clock), so openraft's tokio
    // instant reads virtual time there and real time in production.
    type Instant = TokioInstant;
    type TimeoutError = Elapsed;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = Timeout<T>;
    #[cfg(madsim)]
    type ThreadLocalRng = madsim::rand::GlobalRng;
    #[cfg(not(madsim))]
    type ThreadLocalRng = rand::rngs::ThreadRng;
    type OneshotSender<T: OptionalSend> = TokioOneShotSender<T>;
    type OneshotReceiver<T: OptionalSend> = tokio::sync::oneshot::Receiver<T>;
    type OneshotReceiverError = tokio::sync::oneshot::error::RecvError;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        tokio::time::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        // The alias's `sleep_until` takes its own instant type: tokio's in production, std's in
        // madsim; both convert from std (in madsim the conversion is the identity).
        #[allow(clippy::useless_conversion)]
        tokio::time::sleep_until(deadline.into_std().into())
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout { future, sleep: Box::pin(tokio::time::sleep(duration)) }
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        Timeout { future, sleep: Box::pin(Self::sleep_until(deadline)) }
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        join_error.is_panic()
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        #[cfg(madsim)]
        {
            madsim::rand::thread_rng()
        }
        #[cfg(not(madsim))]
        #[allow(clippy::disallowed_methods)] // the production seam for election-timeout jitter
        {
            rand::thread_rng()
        }
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        (TokioOneShotSender(sender), receiver)
    }
}

pin_project_lite::pin_project! {
    /// A future bounded by a deadline. openraft needs a nameable type, and madsim's `timeout`
    /// returns an opaque one, so this is ours; it polls the future first, so a ready result wins
    /// a tie with the deadline.
    pub struct Timeout<F> {
        #[pin]
        future: F,
        sleep: Pin<Box<tokio::time::Sleep>>,
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The deadline of a [`Timeout`] passed first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

#[cfg(all(test, not(madsim)))]
mod tests {
    use super::*;

    /// A timeout fires after its duration, and a ready future wins over a due deadline.
    #[tokio::test(start_paused = true)]
    async fn timeout_fires_and_ready_future_wins() {
        let never = std::future::pending::<()>();
        assert_eq!(AliasRuntime::timeout(Duration::from_secs(5), never).await, Err(Elapsed));
        let ready = async { 7 };
        assert_eq!(AliasRuntime::timeout(Duration::ZERO, ready).await, Ok(7));
        let handle = AliasRuntime::spawn(async { 3 });
        assert_eq!(handle.await.expect("task ran"), 3);
    }
}
