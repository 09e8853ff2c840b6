//! The shared store: one sorted set per key in Redis, scores = epoch seconds, members = ticket
//! ids; the check-and-record is one Lua script.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Script};

use crate::decision::{Recent, Verdict, evaluate};
use crate::error::{RateLimitError, StoreError};
use crate::rules::Rules;

/// KEYS[1]: the sorted set. ARGV[1]: now (epoch seconds, as a string); ARGV[2]: the member to
/// record if allowed ("" to only look); ARGV[3]: time to live in ms; then `window_secs, max`
/// pairs. Replies with strings (Lua numbers would be truncated to integers): "1"/"0" for
/// allowed, the newest attempt's score ("" when none), then for each rule the score of its
/// `max`-th newest attempt ("" when fewer) and how many attempts are inside its window — all as
/// they were before this attempt. Each lookup is logarithmic in the set's size: a rule with a
/// large `max` costs no more than a small one.
const CHECK_SCRIPT: &str = r#"
local key = KEYS[1]
local now = tonumber(ARGV[1])
local member = ARGV[2]
local rules = {}
local maxw, maxn = 0, 0
for i = 4, #ARGV - 1, 2 do
  local w, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  rules[#rules + 1] = {w, n}
  if w > maxw then maxw = w end
  if n > maxn then maxn = n end
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%.17g', now - maxw))
local function nth_newest(i)
  local r = redis.call('ZREVRANGE', key, i, i, 'WITHSCORES')
  return r[2]
end
local reply = {'', nth_newest(0) or ''}
local allowed = 1
for _, rule in ipairs(rules) do
  local w, n = rule[1], rule[2]
  local score = nil
  if n < 1 then
    allowed = 0
  else
    score = nth_newest(n - 1)
    if score and tonumber(score) > now - w then allowed = 0 end
  end
  reply[#reply + 1] = score or ''
  reply[#reply + 1] = tostring(redis.call('ZCOUNT', key, '(' .. string.format('%.17g', now - w), '+inf'))
end
reply[1] = tostring(allowed)
if allowed == 1 and member ~= '' then
  redis.call('ZADD', key, ARGV[1], member)
  redis.call('ZREMRANGEBYRANK', key, 0, -(maxn + 1))
  redis.call('PEXPIRE', key, ARGV[3])
end
return reply
"#;

pub(crate) struct RedisStore {
    client: Client,
    /// The live connection, dropped after any failure so the next call reconnects.
    conn: Mutex<Option<MultiplexedConnection>>,
    /// Serialises reconnects so a burst of requests opens one connection, not one each.
    connecting: tokio::sync::Mutex<()>,
    script: Script,
    timeout: Duration,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client holds the URL, which may hold a password: do not print it.
        f.debug_struct("RedisStore")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<RedisStore, RateLimitError> {
        let client = Client::open(url).map_err(|e| RateLimitError::InvalidRedisUrl {
            reason: e.to_string(),
        })?;
        Ok(RedisStore {
            client,
            conn: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            script: Script::new(CHECK_SCRIPT),
            timeout,
        })
    }

    fn cached(&self) -> Option<MultiplexedConnection> {
        self.conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Forgets the connection after a failure.
    pub(crate) fn reset(&self) {
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let _one_at_a_time = self.connecting.lock().await;
        if let Some(conn) = self.cached() {
            return Ok(conn);
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        let conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        *self.conn.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `op` on a connection, the whole (connect included) bounded by the timeout; any
    /// failure drops the connection.
    async fn run<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let attempt = async {
            let conn = self.connection().await?;
            op(conn).await
        };
        let result = match tokio::time::timeout(self.timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        };
        if result.is_err() {
            self.reset();
        }
        result
    }

    /// The atomic check (and record, with `record = Some(id)`).
    pub(crate) async fn check(
        &self,
        key: &str,
        rules: &Rules,
        now: f64,
        record: Option<u128>,
    ) -> Result<Verdict, StoreError> {
        // The longest window, plus a second for clocks that differ between instances and Redis.
        let longest = rules.longest_window().min(crate::rules::MAX_WINDOW);
        let ttl_ms = longest.as_millis() + 1000;
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key)
            .arg(now.to_string())
            .arg(record.map(member).unwrap_or_default())
            .arg(ttl_ms.to_string());
        for rule in rules.as_slice() {
            invocation.arg(rule.window_secs().to_string()).arg(rule.max);
        }
        let reply: Vec<String> = self
            .run(|mut conn| async move { Ok(invocation.invoke_async(&mut conn).await?) })
            .await?;

        let (allowed, facts) = parse_reply(&reply, now, rules)?;
        Ok(evaluate(
            now,
            &facts,
            rules,
            Some(allowed),
            record.is_some(),
        ))
    }

    pub(crate) async fn withdraw(&self, key: &str, id: u128) -> Result<(), StoreError> {
        let cmd = redis::cmd("ZREM").arg(key).arg(member(id)).to_owned();
        self.run(|mut conn| async move {
            let _removed: i64 = cmd.query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn clear(&self, key: &str) -> Result<(), StoreError> {
        let cmd = redis::cmd("DEL").arg(key).to_owned();
        self.run(|mut conn| async move {
            let _deleted: i64 = cmd.query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn ping(&self) -> Result<(), StoreError> {
        self.run(|mut conn| async move {
            let _pong: String = redis::cmd("PING").query_async(&mut conn).await?;
            Ok(())
        })
        .await
    }
}

/// The sorted-set member of a ticket.
fn member(id: u128) -> String {
    format!("{id:032x}")
}

/// What the script told of a key: the newest attempt, and per rule its `max`-th newest attempt
/// and the attempts inside its window (keyed by the cutoff `evaluate` computes for it).
#[derive(Debug)]
struct Facts {
    newest: Option<f64>,
    nth: Vec<(usize, Option<f64>)>,
    counts: Vec<(f64, usize)>,
}

impl Recent for Facts {
    fn nth_newest(&self, i: usize) -> Option<f64> {
        if i == 0 {
            return self.newest;
        }
        self.nth
            .iter()
            .find(|(at, _)| *at == i)
            .and_then(|(_, ts)| *ts)
    }

    fn count_after(&self, cutoff: f64) -> usize {
        self.counts
            .iter()
            .find(|(c, _)| *c == cutoff)
            .map_or(0, |(_, n)| *n)
    }
}

fn parse_reply(reply: &[String], now: f64, rules: &Rules) -> Result<(bool, Facts), StoreError> {
    let score = |s: &String| -> Result<Option<f64>, StoreError> {
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<f64>().map(Some).map_err(|_| StoreError::BadReply)
    };
    let (allowed, rest) = reply.split_first().ok_or(StoreError::BadReply)?;
    let allowed = match allowed.as_str() {
        "1" => true,
        "0" => false,
        _ => return Err(StoreError::BadReply),
    };
    let (newest, per_rule) = rest.split_first().ok_or(StoreError::BadReply)?;
    if per_rule.len() != 2 * rules.as_slice().len() {
        return Err(StoreError::BadReply);
    }
    let mut facts = Facts {
        newest: score(newest)?,
        nth: Vec::new(),
        counts: Vec::new(),
    };
    for (rule, pair) in rules.as_slice().iter().zip(per_rule.chunks(2)) {
        let n = rule.max as usize;
        if let Some(i) = n.checked_sub(1) {
            facts.nth.push((i, score(&pair[0])?));
        }
        let count = pair[1].parse::<usize>().map_err(|_| StoreError::BadReply)?;
        facts.counts.push((now - rule.window_secs(), count));
    }
    Ok((allowed, facts))
}
