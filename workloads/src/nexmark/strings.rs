//! Nexmark's string fields: Beam's `nextString` / `nextExactString` / `nextExtra`, and the
//! tables built once per seed: the channel -> URL table of bids and the 1 MiB pool that `extra`
//! strings are cut from.
//!
//! * `next_string(max, special)`: `len = 3 + nextInt(max - 3)`; per character `nextInt(13) == 0`
//!   gives `special`, else `'a' + nextInt(26)`; then Java's `trim()` (which drops leading and
//!   trailing spaces, and nothing when `special` is `'_'`).
//! * `next_extra(current, avg)`: `""` if `current > avg`; else with `d = avg - current`,
//!   `delta = round(0.2 d)`: length `d - delta + (delta == 0 ? 0 : nextInt(2 delta))`, so the
//!   length lies in `[d - delta, d + delta)`.
//! * The `extra` string itself (Flink's fast path, taken for every length below 512 Ki): the
//!   substring of the pool at offset `nextInt(2^20 - len)`. The pool is Beam's
//!   `nextExactString(2^20)` drawn from its own `java.util.Random`, quirk included (`'a' +
//!   rnd % 26` with a signed `rnd`: characters `'H'..='z'`, never a comma or a quote). Longer
//!   strings (not reachable with validated configurations) fall back to `nextExactString`.
//! * Channels (Flink): 4 hot channels `Google`, `Facebook`, `Baidu`, `Apple` with one URL each,
//!   and 10 000 channels `channel-<i>` whose URL, for 9 in 10 of them, ends with
//!   `&channel_id=<abs(Integer.reverse(i))>` (Java's `abs` of `i32::MIN` stays negative: channel
//!   1 gets `-2147483648`, as in Flink). A URL is `https://www.nexmark.com/<s1>/<s2>/<s3>/
//!   item.htm?query=1` with `s_k = next_string(5, '_')`. Flink draws these from an unseeded
//!   generator at class load; here they come from a `java.util.Random` seeded from the
//!   configuration seed: the 4 hot URLs first, then channels 0..10 000 in order (URL, then the
//!   `nextInt(10) > 0` suffix decision).

use super::java_random::JavaRandom;

/// Length of the `extra` pool (1 MiB).
pub(crate) const POOL_LEN: usize = 1 << 20;
/// Number of non-hot channels.
pub(crate) const CHANNELS: usize = 10_000;
/// The hot channels.
pub(crate) const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// Salt of the channel table's seed.
const URL_SALT: u64 = 0x7572_6c73; // "urls"
/// Salt of the pool's seed.
const POOL_SALT: u64 = 0x65_7874_7261; // "extra"

/// The per-seed string tables.
#[derive(Clone, Debug)]
pub(crate) struct Strings {
    /// `nextExactString(POOL_LEN)`, ASCII.
    pool: Box<str>,
    /// The URL of each hot channel.
    pub(crate) hot_urls: [String; 4],
    /// `(channel, url)` of channels `0..CHANNELS`.
    pub(crate) channels: Vec<(String, String)>,
}

impl Strings {
    /// The tables of the seed word `seed_word`.
    pub(crate) fn new(seed_word: u64) -> Strings {
        let mut rng = JavaRandom::new(seed_word ^ URL_SALT);
        let hot_urls = std::array::from_fn(|_| base_url(&mut rng));
        let channels = (0..CHANNELS as i32)
            .map(|i| {
                let mut url = base_url(&mut rng);
                if rng.next_int_bounded(10) > 0 {
                    url.push_str("&channel_id=");
                    url.push_str(&i.reverse_bits().wrapping_abs().to_string());
                }
                (format!("channel-{i}"), url)
            })
            .collect();
        let pool = exact_string(&mut JavaRandom::new(seed_word ^ POOL_SALT), POOL_LEN).into_boxed_str();
        Strings { pool, hot_urls, channels }
    }

    /// Beam's `nextExtra(random, current, avg)`, with the pool fast path for the string.
    #[inline]
    pub(crate) fn next_extra(&self, rng: &mut JavaRandom, current: usize, avg: u32) -> String {
        let avg = avg as usize;
        if current > avg {
            return String::new();
        }
        let d = (avg - current) as i32;
        let delta = (f64::from(d) * 0.2).round() as i32;
        let len = (d - delta + if delta == 0 { 0 } else { rng.next_int_bounded(2 * delta) }) as usize;
        if len < POOL_LEN / 2 {
            let at = rng.next_int_bounded((POOL_LEN - len) as i32) as usize;
            self.pool[at..at + len].to_owned()
        } else {
            exact_string(rng, len)
        }
    }
}

/// Beam's `nextString(random, max_len, special)`, for `max_len` in `4..=128`.
#[inline]
pub(crate) fn next_string(rng: &mut JavaRandom, max_len: i32, special: u8) -> String {
    debug_assert!((4..=128).contains(&max_len));
    let len = (3 + rng.next_int_bounded(max_len - 3)) as usize;
    let mut buf = [0u8; 128];
    for c in &mut buf[..len] {
        *c = if rng.next_int_bounded(13) == 0 { special } else { b'a' + rng.next_int_bounded(26) as u8 };
    }
    // Java's trim() strips characters <= ' '; only `special` may be one.
    let text = std::str::from_utf8(&buf[..len]).expect("generated strings are ASCII");
    text.trim_matches(|c: char| c <= ' ').to_owned()
}

/// Beam's `nextExactString(random, len)`: one `nextInt()` per 6 characters, `'a' + rnd % 26`
/// with Java's signed remainder.
pub(crate) fn exact_string(rng: &mut JavaRandom, len: usize) -> String {
    let mut s = String::with_capacity(len);
    let mut rnd = 0i32;
    for k in 0..len {
        if k % 6 == 0 {
            rnd = rng.next_int();
        }
        s.push(char::from((i32::from(b'a') + rnd % 26) as u8));
        rnd /= 26;
    }
    s
}

/// A bid URL: `https://www.nexmark.com/<s1>/<s2>/<s3>/item.htm?query=1`.
fn base_url(rng: &mut JavaRandom) -> String {
    let s1 = next_string(rng, 5, b'_');
    let s2 = next_string(rng, 5, b'_');
    let s3 = next_string(rng, 5, b'_');
    format!("https://www.nexmark.com/{s1}/{s2}/{s3}/item.htm?query=1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_have_the_documented_shape() {
        let mut rng = JavaRandom::new(5);
        for _ in 0..2000 {
            let s = next_string(&mut rng, 20, b' ');
            assert!(s.len() <= 19 && !s.starts_with(' ') && !s.ends_with(' '), "{s:?}");
            assert!(s.bytes().all(|c| c == b' ' || c.is_ascii_lowercase()));
        }
        let pool = exact_string(&mut rng, 100_000);
        assert!(pool.bytes().all(|c| (b'H'..=b'z').contains(&c)));
        assert!(pool.bytes().any(|c| c < b'a'), "the signed remainder quirk shows up");
    }

    #[test]
    fn channel_table_is_seeded() {
        let a = Strings::new(1);
        assert_eq!(a.channels.len(), CHANNELS);
        assert_eq!(a.channels[1].0, "channel-1");
        let with_id = a.channels.iter().filter(|(_, u)| u.contains("&channel_id=")).count();
        assert!((8700..9300).contains(&with_id), "{with_id} of 10000 URLs carry a channel id");
        for (c, u) in &a.channels {
            assert!(u.starts_with("https://www.nexmark.com/") && u.contains("/item.htm?query=1"), "{c}: {u}");
        }
        let b = Strings::new(1);
        assert_eq!(a.channels, b.channels);
        assert_eq!(a.pool, b.pool);
        let c = Strings::new(2);
        assert_ne!(a.hot_urls, c.hot_urls);
        assert_ne!(a.pool, c.pool);
    }
}
