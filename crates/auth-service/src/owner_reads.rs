//! The key cache's database reads, batched: misses for different keys that arrive while reads
//! are running wait for the next one, which looks all of them up in one query
//! (`WHERE digest IN (...)`), so a cold cache (a restart, every client at once) costs one round
//! trip per batch rather than one per key.
//!
//! Nothing waits to fill a batch: a read starts at once while fewer than [`MAX_RUNNING`] run,
//! so a lone miss costs what it did before batching. Only under load do misses queue behind the
//! running reads, and then the queue goes out together (at most [`MAX_BATCH`] keys a query).
//! The reads run in their own tasks: a cancelled request leaves the others' answers intact.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use auth_core::{KeyDigest, Realm, User};
use auth_store::{Store, StoreError};
use tokio::sync::oneshot;

/// Batched reads running at once (each holds a database connection while it runs).
pub const MAX_RUNNING: usize = 4;
/// Keys looked up by one query at most.
pub const MAX_BATCH: usize = 128;

type Reply = oneshot::Sender<Result<Option<(User, Realm)>, StoreError>>;

#[derive(Default)]
struct Queue {
    waiting: Vec<(KeyDigest, Reply)>,
    running: usize,
}

/// See the module documentation. Shared by clones of the key service.
pub struct OwnerReads {
    store: Store,
    queue: Mutex<Queue>,
}

impl OwnerReads {
    pub fn new(store: Store) -> Arc<Self> {
        Arc::new(OwnerReads {
            store,
            queue: Mutex::default(),
        })
    }

    /// The owner of the key with this digest, with the owner's realm (one query for this and
    /// whatever other keys are waiting).
    pub async fn read(
        self: &Arc<Self>,
        digest: KeyDigest,
    ) -> Result<Option<(User, Realm)>, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push((digest, reply));
            let start = queue.running < MAX_RUNNING;
            queue.running += usize::from(start);
            start
        };
        if start {
            tokio::spawn(self.clone().run());
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable(
                "the key owner read stopped before answering".to_owned(),
            ))
        })
    }

    /// Reads what is waiting, a batch at a time, until nothing is.
    async fn run(self: Arc<Self>) {
        loop {
            let batch: Vec<(KeyDigest, Reply)> = {
                let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    return;
                }
                let n = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..n).collect()
            };
            metrics::histogram!("latchkey_key_read_batch_size").record(batch.len() as f64);
            // One request per digest, however many asked for it (a refresh beside a miss).
            let mut asked: HashMap<String, Vec<Reply>> = HashMap::with_capacity(batch.len());
            let mut digests = Vec::with_capacity(batch.len());
            for (digest, reply) in batch {
                let replies = asked.entry(digest.as_str().to_owned()).or_default();
                if replies.is_empty() {
                    digests.push(digest);
                }
                replies.push(reply);
            }
            match self.store.users_by_key_digests(digests).await {
                Ok(rows) => {
                    for (digest, user, realm) in rows {
                        if let Some(replies) = asked.remove(&digest) {
                            answer_all(replies, Ok(Some((user, realm))));
                        }
                    }
                    for (_, replies) in asked {
                        answer_all(replies, Ok(None));
                    }
                }
                Err(e) => {
                    for (_, replies) in asked {
                        answer_all(replies, Err(e.clone()));
                    }
                }
            }
        }
    }
}

/// Sends `answer` to each of `replies` (a request that gave up no longer listens: ignored).
fn answer_all(mut replies: Vec<Reply>, answer: Result<Option<(User, Realm)>, StoreError>) {
    let last = replies.pop();
    for reply in replies {
        let _ = reply.send(answer.clone());
    }
    if let Some(reply) = last {
        let _ = reply.send(answer);
    }
}
