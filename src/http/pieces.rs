//! A response body sent as the pieces it is made of, without joining them first: a
//! response-cache hit is the kept response's bytes (shared) with this request's facts
//! between them. hyper writes the pieces with one vectored write.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

pub struct Pieces {
    pieces: VecDeque<Bytes>,
    /// Bytes not yet sent: the exact size, so that the response has a `Content-Length`.
    remaining: u64,
}

impl Pieces {
    pub fn new(pieces: Vec<Bytes>) -> Self {
        let remaining = pieces.iter().map(|piece| piece.len() as u64).sum();
        Pieces {
            pieces: pieces.into(),
            remaining,
        }
    }
}

impl Body for Pieces {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        while let Some(piece) = this.pieces.pop_front() {
            if piece.is_empty() {
                continue;
            }
            this.remaining -= piece.len() as u64;
            return Poll::Ready(Some(Ok(Frame::data(piece))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pieces_arrive_whole_and_in_order_with_their_exact_size() {
        let body = Pieces::new(vec![
            Bytes::from_static(b"{\"a\":"),
            Bytes::new(),
            Bytes::from_static(b"true"),
            Bytes::from_static(b"}"),
        ]);
        assert_eq!(body.size_hint().exact(), Some(10));
        let collected = axum::body::to_bytes(axum::body::Body::new(body), usize::MAX)
            .await
            .expect("infallible");
        assert_eq!(&collected[..], b"{\"a\":true}");
    }
}
