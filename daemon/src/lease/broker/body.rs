//! Bodies the broker passes on while looking at them: a request body that stops at a
//! placeholder no rule allows there, an answer whose real values become placeholders.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use hyper::body::{Body, Bytes, Frame, SizeHint};

use super::rewrite::{Finder, Pair, Replacer, scrub_headers};

pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which variable's placeholder stopped a request body; read after the request failed.
pub(super) type Stopped = Arc<Mutex<Option<String>>>;

/// A request body that fails (so hyper aborts the upstream request and its connection)
/// before a chunk completing a watched placeholder is sent.
pub(super) struct Watched<B> {
    inner: B,
    finder: Finder,
    stopped: Stopped,
}

impl<B> Watched<B> {
    pub fn new(inner: B, finder: Finder, stopped: Stopped) -> Self {
        Self {
            inner,
            finder,
            stopped,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request body carries {0}'s placeholder, which may not go there")]
pub(super) struct PlaceholderInBody(String);

impl<B> Body for Watched<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref()
            && let Some(name) = this.finder.push(data)
        {
            *this.stopped.lock().unwrap_or_else(|p| p.into_inner()) = Some(name.clone());
            return Poll::Ready(Some(Err(PlaceholderInBody(name).into())));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body with every real value replaced by its placeholder. Trailers are
/// scrubbed too.
pub(super) struct Scrubbed<B> {
    inner: B,
    replacer: Replacer,
    pairs: Vec<Pair>,
    /// Trailers that wait until the replacer's last bytes went out.
    trailers: Option<Frame<Bytes>>,
    done: bool,
}

impl<B> Scrubbed<B> {
    pub fn new(inner: B, pairs: Vec<Pair>) -> Self {
        Self {
            inner,
            replacer: Replacer::new(pairs.clone()),
            pairs,
            trailers: None,
            done: false,
        }
    }
}

impl<B> Scrubbed<B> {
    /// Whether the body stays as long as it was (its Content-Length holds).
    pub fn keeps_length(&self) -> bool {
        self.replacer.keeps_length()
    }
}

impl<B> Body for Scrubbed<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        while !this.done {
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                None => {
                    this.done = true;
                    break;
                }
            };
            match frame.into_data() {
                Ok(data) => {
                    let out = this.replacer.push(&data);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Err(frame) => {
                    let mut trailers = frame.into_trailers().unwrap_or_default();
                    scrub_headers(&mut trailers, &this.pairs);
                    this.done = true;
                    this.trailers = Some(Frame::trailers(trailers));
                    break;
                }
            }
        }
        let rest = this.replacer.finish();
        if !rest.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(Bytes::from(rest)))));
        }
        Poll::Ready(this.trailers.take().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.replacer.keeps_length() {
            self.inner.size_hint()
        } else {
            SizeHint::default()
        }
    }
}
