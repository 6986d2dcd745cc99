//! The rules every [`MessageQueue`](crate::MessageQueue) backend must pass (feature `conformance`).
//!
//! Each rule takes a [`Fixture`] and fails by `assert!` or by returning an error; the macro
//! [`queue_conformance!`](crate::queue_conformance) turns every rule into a `#[test]`:
//!
//! ```
//! fn fresh() -> ays_store::conformance::Fixture {
//!     ays_store::conformance::Fixture::memory()
//! }
//! ays_store::queue_conformance!(fresh);
//! # fn main() {}
//! ```
//!
//! The in-memory queue must behave like Redis Streams, so every rule holds for both. Rules
//! about idle time wait for real time to pass (that is what they test), with margins of
//! hundreds of milliseconds; rules about blocking reads bound their waits generously.

use std::collections::BTreeSet;
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{Fixture, panic_on, unique};
use crate::queue::MAX_BLOCK;
use crate::{Delivery, Key, Message, MessageId, PendingCount, StoreError};

/// A bound on how long a call that should return at once may take (not a performance target).
const PROMPT: Duration = Duration::from_secs(2);

/// The lease of the idle-time rules: entries idle this long may be claimed.
const LEASE: Duration = Duration::from_millis(500);

/// How long the idle-time rules let an entry sit before claiming it: longer than [`LEASE`].
const PAST_LEASE: Duration = Duration::from_millis(650);

/// Expands to one `#[test]` per queue conformance rule, in a module `queue_conformance`;
/// `$fixture` is a function returning a fresh [`Fixture`], called once per test.
#[macro_export]
macro_rules! queue_conformance {
    ($fixture:path) => {
        $crate::queue_conformance!(@rules $fixture;
            publish_then_read_in_order,
            blocking_reads_wake_on_publish,
            group_delivers_each_message_once,
            pending_counts_per_consumer,
            ack_removes_from_pending_and_stream,
            claim_idle_takes_only_idle_entries,
            renew_keeps_an_entry_and_never_steals,
            deleted_entries_leave_other_groups,
            reset_removes_everything,
            missing_stream_or_group_reads_empty,
            zero_count_is_invalid,
            namespaces_isolate,
            bodies_are_binary_safe,
        );
    };
    (@rules $fixture:path; $($rule:ident,)*) => {
        mod queue_conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $rule() -> ::std::result::Result<(), $crate::StoreError> {
                    let fixture = $fixture();
                    $crate::conformance::queue::$rule(&fixture)
                }
            )*
        }
    };
}

fn bodies(messages: &[Message]) -> Vec<&[u8]> {
    messages.iter().map(|m| m.body.as_slice()).collect()
}

fn delivered(deliveries: &[Delivery]) -> Vec<&[u8]> {
    deliveries.iter().map(|d| d.body.as_slice()).collect()
}

fn ids(deliveries: &[Delivery]) -> Vec<MessageId> {
    deliveries.iter().map(|d| d.id.clone()).collect()
}

fn counts(pairs: &[(&str, u64)]) -> Vec<PendingCount> {
    pairs
        .iter()
        .map(|(consumer, count)| PendingCount {
            consumer: (*consumer).to_owned(),
            count: *count,
        })
        .collect()
}

/// Sleeps until `since + wait`: the idle-time rules need real time to pass.
fn sleep_until(since: Instant, wait: Duration) {
    let until = since + wait;
    let now = Instant::now();
    if until > now {
        std::thread::sleep(until - now);
    }
}

fn join<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match handle.join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Messages read back in publish order with the ids `publish` returned; `read` pages from a
/// position and sees nothing after the last message; `publish_many` appends in order.
pub fn publish_then_read_in_order(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    let mut published = Vec::new();
    for body in [&b"one"[..], b"two", b"three"] {
        published.push(q.publish("s", body)?);
    }
    published.extend(q.publish_many("s", &[b"four", b"five", b"six"])?);
    assert_eq!(q.publish_many("s", &[])?, Vec::<MessageId>::new());
    let all = q.read("s", &MessageId::start(), 100, Duration::ZERO)?;
    assert_eq!(
        bodies(&all),
        [&b"one"[..], b"two", b"three", b"four", b"five", b"six"]
    );
    assert_eq!(
        all.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        published
    );
    // Paging from a position, two at a time.
    let mut after = MessageId::start();
    let mut paged = Vec::new();
    loop {
        let page = q.read("s", &after, 2, Duration::ZERO)?;
        assert!(page.len() <= 2, "{} messages for a count of 2", page.len());
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let third = published.get(2).cloned().unwrap_or_else(MessageId::start);
    assert_eq!(
        bodies(&q.read("s", &third, 10, Duration::ZERO)?),
        [&b"four"[..], b"five", b"six"]
    );
    assert_eq!(
        q.read("other", &MessageId::start(), 10, Duration::ZERO)?,
        []
    );
    Ok(())
}

/// A read with no block returns at once; a block with nothing to read waits about that long,
/// at most [`MAX_BLOCK`]; a blocked `read` and a blocked `read_group` both wake when another
/// thread publishes, before their block runs out.
pub fn blocking_reads_wake_on_publish(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.create_group("s", "g")?;
    let started = Instant::now();
    assert_eq!(q.read("s", &MessageId::start(), 10, Duration::ZERO)?, []);
    assert_eq!(q.read_group("s", "g", "c", 10, Duration::ZERO)?, []);
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    let started = Instant::now();
    assert_eq!(
        q.read_group("s", "g", "c", 10, Duration::from_millis(200))?,
        []
    );
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < PROMPT,
        "a 200 ms block returned after {waited:?}"
    );
    let started = Instant::now();
    assert_eq!(
        q.read("s", &MessageId::start(), 10, Duration::from_secs(3600))?,
        []
    );
    let waited = started.elapsed();
    assert!(
        waited >= MAX_BLOCK - Duration::from_millis(100) && waited < MAX_BLOCK + PROMPT,
        "a block of an hour returned after {waited:?}, not about MAX_BLOCK"
    );

    let barrier = Barrier::new(3);
    let (read, grouped, published) = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            barrier.wait();
            let started = Instant::now();
            let got = q.read("s", &MessageId::start(), 10, MAX_BLOCK);
            (got, started.elapsed())
        });
        let consumer = scope.spawn(|| {
            barrier.wait();
            let started = Instant::now();
            let got = q.read_group("s", "g", "c", 10, MAX_BLOCK);
            (got, started.elapsed())
        });
        barrier.wait();
        // Give the readers time to block; were they not blocked yet, they would find the
        // message at once, which passes too.
        std::thread::sleep(Duration::from_millis(100));
        let published = q.publish("s", b"wake");
        (join(reader), join(consumer), published)
    });
    published?;
    let (read, read_took) = read;
    let (grouped, grouped_took) = grouped;
    assert_eq!(bodies(&read?), [&b"wake"[..]]);
    assert_eq!(delivered(&grouped?), [&b"wake"[..]]);
    assert!(
        read_took < MAX_BLOCK && grouped_took < MAX_BLOCK,
        "woken after {read_took:?} and {grouped_took:?}, not by the publish"
    );
    Ok(())
}

/// 500 messages published while 4 consumers of one group read them: each message goes to
/// exactly one consumer (none twice, none lost), pending counts match what each holds, and
/// once acknowledged nothing is pending or left in the stream.
pub fn group_delivers_each_message_once(fx: &Fixture) -> Result<(), StoreError> {
    const MESSAGES: usize = 500;
    const CONSUMERS: usize = 4;
    let q = fx.fresh_queue()?;
    q.create_group("jobs", "workers")?;
    let taken = AtomicUsize::new(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let expected: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| format!("job-{i}").into_bytes())
        .collect();
    let per_consumer: Vec<Vec<Delivery>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let (q, taken) = (&q, &taken);
                scope.spawn(move || -> Result<Vec<Delivery>, StoreError> {
                    let name = format!("w{c}");
                    let mut mine = Vec::new();
                    while taken.load(Ordering::SeqCst) < MESSAGES && Instant::now() < deadline {
                        let got =
                            q.read_group("jobs", "workers", &name, 7, Duration::from_millis(50))?;
                        taken.fetch_add(got.len(), Ordering::SeqCst);
                        mine.extend(got);
                    }
                    Ok(mine)
                })
            })
            .collect();
        for chunk in expected.chunks(50) {
            let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
            q.publish_many("jobs", &refs)?;
        }
        handles
            .into_iter()
            .map(join)
            .collect::<Result<Vec<_>, StoreError>>()
    })?;
    let mut seen = BTreeSet::new();
    let mut all_bodies = Vec::new();
    for (c, mine) in per_consumer.iter().enumerate() {
        for d in mine {
            assert!(seen.insert(d.id.clone()), "{} delivered twice", d.id);
            assert_eq!(
                (d.deliveries, &d.previous_consumer),
                (1, &None),
                "w{c}: {d:?}"
            );
            all_bodies.push(d.body.clone());
        }
    }
    all_bodies.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(all_bodies.len(), MESSAGES, "messages lost or duplicated");
    assert_eq!(all_bodies, want);
    assert_eq!(
        q.read_group("jobs", "workers", "late", 100, Duration::ZERO)?,
        [],
        "nothing is delivered again"
    );
    let want_pending: Vec<PendingCount> = per_consumer
        .iter()
        .enumerate()
        .filter(|(_, mine)| !mine.is_empty())
        .map(|(c, mine)| PendingCount {
            consumer: format!("w{c}"),
            count: u64::try_from(mine.len()).unwrap_or(u64::MAX),
        })
        .collect();
    assert_eq!(q.pending("jobs", "workers")?, want_pending);
    for mine in &per_consumer {
        q.ack("jobs", "workers", &ids(mine))?;
    }
    assert_eq!(q.pending("jobs", "workers")?, []);
    assert_eq!(q.read("jobs", &MessageId::start(), 10, Duration::ZERO)?, []);
    Ok(())
}

/// Two consumers share a group's messages, each message going to one of them, and `pending`
/// counts what each holds (ordered by consumer name), dropping a consumer that holds nothing.
pub fn pending_counts_per_consumer(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.create_group("s", "g")?;
    assert_eq!(q.pending("s", "g")?, []);
    q.publish_many("s", &[b"1", b"2", b"3", b"4", b"5"])?;
    let b = q.read_group("s", "g", "b", 2, Duration::ZERO)?;
    let a = q.read_group("s", "g", "a", 10, Duration::ZERO)?;
    assert_eq!(delivered(&b), [&b"1"[..], b"2"]);
    assert_eq!(delivered(&a), [&b"3"[..], b"4", b"5"]);
    assert_eq!(q.pending("s", "g")?, counts(&[("a", 3), ("b", 2)]));
    q.ack("s", "g", &ids(&a)[..1])?;
    assert_eq!(q.pending("s", "g")?, counts(&[("a", 2), ("b", 2)]));
    q.ack("s", "g", &ids(&b))?;
    assert_eq!(q.pending("s", "g")?, counts(&[("a", 2)]));
    // A second group over the same stream has its own pending list.
    q.create_group("s", "other")?;
    assert_eq!(q.pending("s", "other")?, []);
    Ok(())
}

/// `ack` takes messages out of the pending list and out of the stream (`read` no longer sees
/// them); unknown ids, malformed ids and a second ack are ignored.
pub fn ack_removes_from_pending_and_stream(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.publish_many("s", &[b"a", b"b", b"c"])?;
    // A group created after the messages still reads them from the first.
    q.create_group("s", "g")?;
    q.create_group("s", "g")?;
    let got = q.read_group("s", "g", "c", 10, Duration::ZERO)?;
    assert_eq!(delivered(&got), [&b"a"[..], b"b", b"c"]);
    let first = ids(&got).into_iter().take(1).collect::<Vec<_>>();
    let mut acks = first.clone();
    acks.push(MessageId("99999999999999-0".to_owned()));
    acks.push(MessageId("not-an-id".to_owned()));
    q.ack("s", "g", &acks)?;
    assert_eq!(q.pending("s", "g")?, counts(&[("c", 2)]));
    assert_eq!(
        bodies(&q.read("s", &MessageId::start(), 10, Duration::ZERO)?),
        [&b"b"[..], b"c"]
    );
    q.ack("s", "g", &first)?;
    q.ack("s", "g", &[])?;
    q.ack("missing", "g", &first)?;
    q.ack("s", "g", &ids(&got))?;
    assert_eq!(q.pending("s", "g")?, []);
    assert_eq!(q.read("s", &MessageId::start(), 10, Duration::ZERO)?, []);
    assert_eq!(q.claim_idle("s", "g", "x", Duration::ZERO, 10)?, []);
    Ok(())
}

/// `claim_idle` takes only entries idle for at least `min_idle`, names the consumer that held
/// each, counts the delivery (2 for a first claim), restarts the idle time, and takes at most
/// `count`, oldest first.
pub fn claim_idle_takes_only_idle_entries(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.create_group("s", "g")?;
    q.publish_many("s", &[b"old", b"young"])?;
    let old = q.read_group("s", "g", "a", 1, Duration::ZERO)?;
    let read_at = Instant::now();
    assert_eq!(delivered(&old), [&b"old"[..]]);
    sleep_until(read_at, PAST_LEASE);
    let young = q.read_group("s", "g", "a", 1, Duration::ZERO)?;
    assert_eq!(delivered(&young), [&b"young"[..]]);

    let claimed = q.claim_idle("s", "g", "b", LEASE, 10)?;
    let old_id = ids(&old).into_iter().next();
    assert_eq!(
        claimed,
        [Delivery {
            id: old_id.clone().unwrap_or_else(MessageId::start),
            body: b"old".to_vec(),
            deliveries: 2,
            previous_consumer: Some("a".to_owned()),
        }]
    );
    assert_eq!(
        q.claim_idle("s", "g", "c", LEASE, 10)?,
        [],
        "a claim restarts the idle time"
    );
    assert_eq!(q.pending("s", "g")?, counts(&[("a", 1), ("b", 1)]));

    let one = q.claim_idle("s", "g", "c", Duration::ZERO, 1)?;
    assert_eq!(ids(&one), old_id.iter().cloned().collect::<Vec<_>>());
    assert_eq!(
        one.iter()
            .map(|d| (d.deliveries, d.previous_consumer.as_deref()))
            .collect::<Vec<_>>(),
        [(3, Some("b"))]
    );
    let both = q.claim_idle("s", "g", "d", Duration::ZERO, 10)?;
    assert_eq!(
        both.iter()
            .map(|d| (
                d.body.as_slice(),
                d.deliveries,
                d.previous_consumer.as_deref()
            ))
            .collect::<Vec<_>>(),
        [(&b"old"[..], 4, Some("c")), (&b"young"[..], 2, Some("a"))]
    );
    assert_eq!(q.pending("s", "g")?, counts(&[("d", 2)]));
    Ok(())
}

/// `renew` restarts the idle time of what a consumer holds, so it is not claimed; once another
/// consumer has claimed an entry, the old holder's `renew` returns nothing and leaves it with
/// the new one.
pub fn renew_keeps_an_entry_and_never_steals(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.create_group("s", "g")?;
    q.publish("s", b"job")?;
    let got = q.read_group("s", "g", "a", 1, Duration::ZERO)?;
    let read_at = Instant::now();
    let job = ids(&got);
    assert_eq!(job.len(), 1);
    sleep_until(read_at, PAST_LEASE);
    let mut renewing = job.clone();
    renewing.push(MessageId("99999999999999-0".to_owned()));
    renewing.push(MessageId("not-an-id".to_owned()));
    assert_eq!(q.renew("s", "g", "a", &renewing)?, job);
    let renewed_at = Instant::now();
    assert_eq!(
        q.claim_idle("s", "g", "b", LEASE, 10)?,
        [],
        "a renewed entry is not idle"
    );
    assert_eq!(q.renew("s", "g", "b", &job)?, [], "b does not hold it");
    sleep_until(renewed_at, PAST_LEASE);
    let claimed = q.claim_idle("s", "g", "b", LEASE, 10)?;
    assert_eq!(
        claimed
            .iter()
            .map(|d| (d.id.clone(), d.deliveries, d.previous_consumer.as_deref()))
            .collect::<Vec<_>>(),
        job.iter()
            .map(|id| (id.clone(), 2, Some("a")))
            .collect::<Vec<_>>()
    );
    assert_eq!(q.renew("s", "g", "a", &job)?, [], "a lost it");
    assert_eq!(q.pending("s", "g")?, counts(&[("b", 1)]));
    assert_eq!(q.renew("s", "g", "b", &job)?, job);
    assert_eq!(q.renew("s", "missing", "b", &job)?, []);
    assert_eq!(q.renew("missing", "g", "b", &job)?, []);
    Ok(())
}

/// A message acknowledged by one group is gone from the stream, but another group that had it
/// delivered still counts it pending, as Redis does, until a `renew` or `claim_idle` finds it
/// deleted: then it leaves that group's pending list and is neither renewed nor claimed.
pub fn deleted_entries_leave_other_groups(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.publish_many("s", &[b"a", b"b"])?;
    q.create_group("s", "one")?;
    q.create_group("s", "two")?;
    let first = q.read_group("s", "one", "x", 10, Duration::ZERO)?;
    let second = q.read_group("s", "two", "c", 10, Duration::ZERO)?;
    assert_eq!(ids(&first), ids(&second));
    q.ack("s", "one", &ids(&first))?;
    assert_eq!(q.read("s", &MessageId::start(), 10, Duration::ZERO)?, []);
    assert_eq!(q.pending("s", "two")?, counts(&[("c", 2)]));
    let a = ids(&second).into_iter().take(1).collect::<Vec<_>>();
    assert_eq!(
        q.renew("s", "two", "c", &a)?,
        [],
        "a deleted entry is not renewed"
    );
    assert_eq!(q.pending("s", "two")?, counts(&[("c", 1)]));
    assert_eq!(q.claim_idle("s", "two", "d", Duration::ZERO, 10)?, []);
    assert_eq!(q.pending("s", "two")?, []);
    Ok(())
}

/// `reset` removes a stream with its messages and groups and says whether it existed; the
/// stream then reads as empty and can be used again from scratch.
pub fn reset_removes_everything(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.publish_many("s", &[b"1", b"2", b"3"])?;
    q.create_group("s", "g")?;
    assert_eq!(q.read_group("s", "g", "c", 10, Duration::ZERO)?.len(), 3);
    assert!(q.reset("s")?);
    assert_eq!(q.read("s", &MessageId::start(), 10, Duration::ZERO)?, []);
    assert_eq!(q.pending("s", "g")?, []);
    assert_eq!(q.read_group("s", "g", "c", 10, Duration::ZERO)?, []);
    assert_eq!(q.claim_idle("s", "g", "c", Duration::ZERO, 10)?, []);
    assert!(!q.reset("s")?);
    assert!(!q.reset("never")?);
    q.publish("s", b"again")?;
    q.create_group("s", "g")?;
    let got = q.read_group("s", "g", "c", 10, Duration::ZERO)?;
    assert_eq!(delivered(&got), [&b"again"[..]]);
    assert_eq!(got.first().map(|d| d.deliveries), Some(1));
    assert_eq!(q.pending("s", "g")?, counts(&[("c", 1)]));
    Ok(())
}

/// A stream or group that does not exist reads as empty everywhere, blocking or not.
pub fn missing_stream_or_group_reads_empty(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    let block = Duration::from_millis(100);
    assert_eq!(q.read_group("none", "g", "c", 10, Duration::ZERO)?, []);
    assert_eq!(q.read_group("none", "g", "c", 10, block)?, []);
    assert_eq!(q.read("none", &MessageId::start(), 10, block)?, []);
    assert_eq!(q.pending("none", "g")?, []);
    assert_eq!(q.claim_idle("none", "g", "c", Duration::ZERO, 10)?, []);
    q.publish("s", b"x")?;
    assert_eq!(q.read_group("s", "nogroup", "c", 10, Duration::ZERO)?, []);
    assert_eq!(q.read_group("s", "nogroup", "c", 10, block)?, []);
    assert_eq!(q.pending("s", "nogroup")?, []);
    assert_eq!(q.claim_idle("s", "nogroup", "c", Duration::ZERO, 10)?, []);
    assert_eq!(
        bodies(&q.read("s", &MessageId::start(), 10, Duration::ZERO)?),
        [&b"x"[..]]
    );
    Ok(())
}

/// A zero `count` is [`StoreError::InvalidArgument`] naming the call and the stream; a `read`
/// position that is no message id names the position.
pub fn zero_count_is_invalid(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    q.create_group("s", "g")?;
    let results = [
        (
            "read_group",
            q.read_group("s", "g", "c", 0, Duration::ZERO).map(drop),
        ),
        (
            "claim_idle",
            q.claim_idle("s", "g", "c", Duration::ZERO, 0).map(drop),
        ),
        (
            "read",
            q.read("s", &MessageId::start(), 0, Duration::ZERO)
                .map(drop),
        ),
    ];
    for (want, result) in results {
        match result {
            Err(StoreError::InvalidArgument { op, key, reason }) => {
                assert_eq!(
                    (op, key, reason),
                    (want, Key::from(&b"s"[..]), "count must be at least 1")
                );
            }
            other => panic_on(want, &other),
        }
    }
    match q.read("s", &MessageId("later".to_owned()), 10, Duration::ZERO) {
        Err(StoreError::InvalidArgument { op, key, reason }) => assert_eq!(
            (op, key, reason),
            ("read", Key::from(&b"later"[..]), "not a message id")
        ),
        other => panic_on("read from `later`", &other),
    }
    Ok(())
}

/// Queues on different namespaces of one backing share no stream, group or message, even under
/// the same stream name.
pub fn namespaces_isolate(fx: &Fixture) -> Result<(), StoreError> {
    let base = unique("qiso");
    let a = fx.open_queue(&base)?;
    let b = fx.open_queue(&format!("{base}.b"))?;
    let again = fx.open_queue(&base)?;
    a.publish("s", b"in a")?;
    a.create_group("s", "g")?;
    assert_eq!(b.read("s", &MessageId::start(), 10, Duration::ZERO)?, []);
    assert_eq!(b.read_group("s", "g", "c", 10, Duration::ZERO)?, []);
    b.create_group("s", "g")?;
    assert_eq!(b.read_group("s", "g", "c", 10, Duration::ZERO)?, []);
    b.publish("s", b"in b")?;
    assert_eq!(
        delivered(&again.read_group("s", "g", "c", 10, Duration::ZERO)?),
        [&b"in a"[..]],
        "same namespace, same stream"
    );
    assert_eq!(a.pending("s", "g")?, counts(&[("c", 1)]));
    assert_eq!(b.pending("s", "g")?, []);
    assert!(b.reset("s")?);
    assert_eq!(
        bodies(&a.read("s", &MessageId::start(), 10, Duration::ZERO)?),
        [&b"in a"[..]]
    );
    assert_eq!(a.pending("s", "g")?, counts(&[("c", 1)]));
    Ok(())
}

/// Bodies come back byte for byte through `read`, `read_group` and `claim_idle`: all 256 byte
/// values, an empty body and a 1 MiB body, published one by one and in one batch.
pub fn bodies_are_binary_safe(fx: &Fixture) -> Result<(), StoreError> {
    let q = fx.fresh_queue()?;
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    let big: Vec<u8> = (0..1usize << 20)
        .map(|i| u8::try_from(i.wrapping_mul(31) % 251).unwrap_or(0))
        .collect();
    let want: Vec<&[u8]> = vec![&all_bytes, b"", &big];
    for body in &want {
        q.publish("one", body)?;
    }
    q.publish_many("many", &want)?;
    for stream in ["one", "many"] {
        assert!(
            bodies(&q.read(stream, &MessageId::start(), 10, Duration::ZERO)?) == want,
            "{stream}: read changed a body"
        );
        q.create_group(stream, "g")?;
        let got = q.read_group(stream, "g", "a", 10, Duration::ZERO)?;
        assert!(
            delivered(&got) == want,
            "{stream}: read_group changed a body"
        );
        let claimed = q.claim_idle(stream, "g", "b", Duration::ZERO, 10)?;
        assert!(
            delivered(&claimed) == want,
            "{stream}: claim_idle changed a body"
        );
    }
    Ok(())
}
