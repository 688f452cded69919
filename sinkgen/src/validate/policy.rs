//! Check 11: policy values that would make a sink useless or spin.

use std::time::Duration;

use sinkgen_config::{DurationLiteral, policy};

use crate::diagnostic::{Ctx, Diagnostic};
use crate::model::Policy;
use crate::parse::{RawPolicy, Sp};

/// Where a policy was written, for messages.
pub(crate) enum Owner<'a> {
    Defaults,
    Sink { service: &'a str, sink: &'a str },
}

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Defaults => f.write_str("`[defaults]`"),
            Owner::Sink { service, sink } => write!(f, "sink `{sink}` of service `{service}`"),
        }
    }
}

/// Checks the values written in one policy table and returns `base` with them applied.
/// `base_raw` is the policy the values fall back to (the `[defaults]` table for a sink).
pub(crate) fn check_policy(
    ctx: &mut Ctx,
    raw: &RawPolicy,
    base: Policy,
    base_raw: Option<&RawPolicy>,
    owner: &Owner<'_>,
) -> Policy {
    let mut policy = base;
    if let Some(q) = raw
        .queue
        .as_ref()
        .and_then(|q| queue_in_range(ctx, q, owner))
    {
        policy.queue = q;
    }
    if let Some(m) = raw
        .max_frame
        .as_ref()
        .and_then(|m| max_frame_in_range(ctx, m, owner))
    {
        policy.max_frame = m;
    }
    if let Some(w) = &raw.when_down {
        policy.when_down = w.value;
    }
    for (key, value) in [
        ("connect_timeout", &raw.connect_timeout),
        ("send_timeout", &raw.send_timeout),
    ] {
        if let Some(v) = value {
            zero_timeout(ctx, key, v, owner);
        }
    }
    for (key, value) in [
        ("backoff.initial", &raw.backoff_initial),
        ("backoff.max", &raw.backoff_max),
    ] {
        if let Some(v) = value {
            zero_backoff(ctx, key, v, owner);
        }
    }
    if let Some(v) = &raw.connect_timeout {
        policy.connect_timeout = v.value;
    }
    if let Some(v) = &raw.send_timeout {
        policy.send_timeout = v.value;
    }
    if let Some(v) = &raw.backoff_initial {
        policy.backoff_initial = v.value;
    }
    if let Some(v) = &raw.backoff_max {
        policy.backoff_max = v.value;
    }
    backoff_inverted(ctx, raw, base_raw, &policy, owner);
    policy
}

/// A queue of 0 frames could never hold a frame while connecting; the runtime counts in u32.
fn queue_in_range(ctx: &mut Ctx, q: &Sp<i128>, owner: &Owner<'_>) -> Option<u32> {
    match u32::try_from(q.value) {
        Ok(0) | Err(_) if q.value <= 0 => {
            ctx.push(
                Diagnostic::error(format!("`queue` of {owner} must be at least 1"))
                    .with_span(q.span.clone())
                    .with_label(if q.value == 0 {
                        "a queue of 0 holds no frame".to_owned()
                    } else {
                        "negative queue".to_owned()
                    })
                    .with_help(format!(
                        "set the number of frames held while connecting, e.g. `queue = {}`",
                        policy::QUEUE
                    )),
            );
            None
        }
        Ok(n) => Some(n),
        Err(_) => {
            ctx.push(
                Diagnostic::error(format!("`queue` of {owner} is too large"))
                    .with_span(q.span.clone())
                    .with_label("above 4294967295")
                    .with_help(format!(
                        "use at most 4294967295 frames; the default is `queue = {}`",
                        policy::QUEUE
                    )),
            );
            None
        }
    }
}

/// A `max_frame` of 0 bytes refuses every message; a frame's length field is 32 bits.
fn max_frame_in_range(ctx: &mut Ctx, m: &Sp<i128>, owner: &Owner<'_>) -> Option<u32> {
    let limit = policy::MAX_FRAME_LIMIT;
    if m.value >= 1 && m.value <= i128::from(limit) {
        return u32::try_from(m.value).ok();
    }
    let label = if m.value <= 0 {
        "no message fits in a frame of 0 bytes or less".to_owned()
    } else {
        format!("above {limit} bytes, the most a frame's length field describes")
    };
    ctx.push(
        Diagnostic::error(format!("`max_frame` of {owner} is out of range"))
            .with_span(m.span.clone())
            .with_label(label)
            .with_help(format!(
                "set the largest payload in bytes, from 1 to {limit}; the default is `max_frame = {}` (16 MiB, what receivers and `sinkgen relay` accept)",
                policy::MAX_FRAME
            )),
    );
    None
}

/// A zero timeout fails every connect or send at once.
fn zero_timeout(ctx: &mut Ctx, key: &str, v: &Sp<Duration>, owner: &Owner<'_>) {
    if v.value.is_zero() {
        let example = DurationLiteral(if key == "connect_timeout" {
            policy::CONNECT_TIMEOUT
        } else {
            policy::SEND_TIMEOUT
        });
        ctx.push(
            Diagnostic::error(format!("`{key}` of {owner} is zero"))
                .with_span(v.span.clone())
                .with_label("every attempt would time out at once")
                .with_help(format!(
                    "use a positive duration, e.g. `{key} = \"{example}\"`"
                )),
        );
    }
}

/// A zero backoff retries a refused connection in a hot loop.
fn zero_backoff(ctx: &mut Ctx, key: &str, v: &Sp<Duration>, owner: &Owner<'_>) {
    if v.value.is_zero() {
        let example = DurationLiteral(if key == "backoff.initial" {
            policy::BACKOFF_INITIAL
        } else {
            policy::BACKOFF_MAX
        });
        ctx.push(
            Diagnostic::error(format!("`{key}` of {owner} is zero"))
                .with_span(v.span.clone())
                .with_label("reconnects would spin in a hot loop")
                .with_help(format!(
                    "use a positive duration, e.g. `{}`",
                    if key == "backoff.initial" {
                        format!("initial = \"{example}\"")
                    } else {
                        format!("max = \"{example}\"")
                    }
                )),
        );
    }
}

/// `backoff.initial` above `backoff.max` leaves no range for the jittered delay.
fn backoff_inverted(
    ctx: &mut Ctx,
    raw: &RawPolicy,
    base_raw: Option<&RawPolicy>,
    policy: &Policy,
    owner: &Owner<'_>,
) {
    if policy.backoff_initial <= policy.backoff_max {
        return;
    }
    // Report where this table wrote one of the two values; the other side may come
    // from `[defaults]` (a related span) or from the built-in defaults.
    let (primary, other_key, other) = match (&raw.backoff_initial, &raw.backoff_max) {
        (Some(i), Some(m)) => (i, "backoff.max", Some(m.span.clone())),
        (Some(i), None) => (
            i,
            "backoff.max",
            base_raw.and_then(|b| b.backoff_max.as_ref().map(|m| m.span.clone())),
        ),
        (None, Some(m)) => (
            m,
            "backoff.initial",
            base_raw.and_then(|b| b.backoff_initial.as_ref().map(|i| i.span.clone())),
        ),
        (None, None) => return,
    };
    let mut d = Diagnostic::error(format!(
        "`backoff.initial` ({}) is above `backoff.max` ({}) in {owner}",
        fmt_duration(policy.backoff_initial),
        fmt_duration(policy.backoff_max)
    ))
    .with_span(primary.span.clone())
    .with_label(if raw.backoff_initial.is_some() {
        "initial delay above the maximum".to_owned()
    } else {
        "maximum below the initial delay".to_owned()
    })
    .with_help(format!(
        "make `initial` at most `max`, e.g. `backoff = {}`",
        crate::parse::backoff_example()
    ));
    match other {
        Some(span) => d = d.with_related(span, format!("`{other_key}` is set here")),
        None if raw.backoff_initial.is_none() || raw.backoff_max.is_none() => {
            d.help = Some(format!(
                "make `initial` at most `max`; `{other_key}` here comes from the built-in default of {}",
                if other_key == "backoff.max" {
                    fmt_duration(policy.backoff_max)
                } else {
                    fmt_duration(policy.backoff_initial)
                }
            ));
        }
        None => {}
    }
    ctx.push(d);
}

/// A duration the way `services.toml` writes it, in the largest exact unit.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    for (unit, size) in [
        ("m", 60_000_000_000u128),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if ns >= size && ns.is_multiple_of(size) {
            return format!("{}{unit}", ns / size);
        }
    }
    format!("{ns}ns")
}
