//! A live source fed from outside the dataflow through channels: for embedding Rill in a
//! program that receives events itself, and for driving jobs step by step in tests.
//!
//! [`LiveInput::new`] makes one [`LiveSender`] per worker; each worker's source reads its own
//! channel. A sender sends records and may declare explicit watermarks ("no data before `t`");
//! dropping it ends that worker's input. While a channel is empty the reader reports
//! [`ReadStatus::Pending`], which is what the idle timeout of a
//! [`WatermarkStrategy`](crate::time::watermark::WatermarkStrategy) acts on.

use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::error::{Error, Result};
use crate::operators::source::{ReadStatus, SourceReader};
use crate::time::{Event, EventTime};

enum Message<T> {
    Record(T),
    Watermark(EventTime),
}

/// The sending side of one worker's live input.
pub struct LiveSender<T> {
    tx: Sender<Message<T>>,
}

impl<T> LiveSender<T> {
    /// Sends one record. Fails only if the job has already ended.
    pub fn send(&self, record: T) -> Result<()> {
        self.tx.send(Message::Record(record)).map_err(|_| Error::Config("live input: the job has ended".into()))
    }

    /// Declares that no record with an event time below `t` will be sent any more.
    pub fn advance_watermark(&self, t: EventTime) -> Result<()> {
        self.tx.send(Message::Watermark(t)).map_err(|_| Error::Config("live input: the job has ended".into()))
    }
}

/// The receiving sides of a live input, one per worker; clone it into the job's builder.
pub struct LiveInput<T> {
    /// Per worker, its channel until the worker's reader takes it.
    receivers: Arc<Mutex<Vec<Unclaimed<T>>>>,
}

type Unclaimed<T> = Option<Receiver<Message<T>>>;

impl<T> Clone for LiveInput<T> {
    fn clone(&self) -> Self {
        LiveInput { receivers: Arc::clone(&self.receivers) }
    }
}

impl<T: Send + 'static> LiveInput<T> {
    /// A live input for a job of `workers` workers, and the senders for each worker's share.
    pub fn new(workers: usize) -> (LiveInput<T>, Vec<LiveSender<T>>) {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (tx, rx) = crossbeam_channel::unbounded();
                (LiveSender { tx }, Some(rx))
            })
            .unzip();
        (LiveInput { receivers: Arc::new(Mutex::new(rxs)) }, txs)
    }

    /// The reader of worker `worker`; each worker takes its own exactly once.
    pub fn reader(&self, worker: usize) -> Result<LiveReader<T>> {
        let rx = self
            .receivers
            .lock()
            .expect("live input lock")
            .get_mut(worker)
            .and_then(Option::take)
            .ok_or_else(|| Error::Config(format!("live input has no unused channel for worker {worker}")))?;
        Ok(LiveReader { rx, declared: None, read: 0 })
    }
}

/// One worker's side of a [`LiveInput`].
pub struct LiveReader<T> {
    rx: Receiver<Message<T>>,
    declared: Option<EventTime>,
    read: u64,
}

impl<T> SourceReader for LiveReader<T>
where
    T: Event + Clone + Send + serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    type Item = T;

    fn read(&mut self, out: &mut Vec<T>, max: usize) -> Result<ReadStatus> {
        for _ in 0..max {
            match self.rx.try_recv() {
                Ok(Message::Record(r)) => {
                    out.push(r);
                    self.read += 1;
                }
                Ok(Message::Watermark(t)) => {
                    self.declared = Some(self.declared.map_or(t, |d| d.max(t)));
                    // Stamp what came before the declaration before honouring it.
                    return Ok(ReadStatus::Ready);
                }
                Err(TryRecvError::Empty) => return Ok(ReadStatus::Pending),
                Err(TryRecvError::Disconnected) => return Ok(ReadStatus::Done),
            }
        }
        Ok(ReadStatus::Ready)
    }

    fn position(&self) -> u64 {
        self.read
    }

    fn declared_watermark(&mut self) -> Option<EventTime> {
        self.declared.take()
    }
}
