//! Incremental aggregation: the [`AggregateFunction`] trait and the built-in aggregates.
//!
//! A window keeps one accumulator per key and pane and folds each record into it as it
//! arrives: no window buffers its records when its aggregate is incremental. `merge` combines
//! accumulators (the panes of a sliding window, merging sessions).
//!
//! Aggregates compose as tuples: `(Count, Avg::of(f), Min::of(f), Max::of(f))` is itself an
//! aggregate whose output is the tuple of outputs, with one accumulator per element.
//!
//! ```
//! use rill::api::aggregate::{AggregateFunction, Count, Sum};
//! let agg = (Count, Sum::of(|x: &i64| *x));
//! let mut acc = agg.create();
//! for x in [3, 4, 5] { agg.add(&mut acc, &x); }
//! assert_eq!(agg.result(&acc), (3, 12));
//! ```

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Folds records into an accumulator and turns it into a result.
pub trait AggregateFunction<In>: Clone + 'static {
    /// The running state; kept per key and window (or pane).
    type Acc: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// The result.
    type Out: Clone + Send + Serialize + DeserializeOwned + 'static;

    /// A fresh accumulator.
    fn create(&self) -> Self::Acc;
    /// Folds one record in.
    fn add(&self, acc: &mut Self::Acc, input: &In);
    /// Folds another accumulator in (`other` covers records disjoint from `acc`'s).
    fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc);
    /// The result of an accumulator.
    fn result(&self, acc: &Self::Acc) -> Self::Out;
}

/// Counts records.
#[derive(Debug, Clone, Copy, Default)]
pub struct Count;

impl<In> AggregateFunction<In> for Count {
    type Acc = u64;
    type Out = u64;
    #[inline]
    fn create(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, acc: &mut u64, _: &In) {
        *acc += 1;
    }
    #[inline]
    fn merge(&self, acc: &mut u64, other: &u64) {
        *acc += other;
    }
    #[inline]
    fn result(&self, acc: &u64) -> u64 {
        *acc
    }
}

/// Numbers the built-in aggregates work on.
pub trait Number: Copy + PartialOrd + Send + Serialize + DeserializeOwned + 'static {
    /// Widened for exact sums: `i64` for integers up to 32 bits, `i128` for 64-bit ones, `f64`
    /// for floats.
    type Wide: Copy + Default + std::ops::AddAssign + Send + Serialize + DeserializeOwned + 'static;
    /// Widens.
    fn wide(self) -> Self::Wide;
    /// The mean of a sum over `n` values.
    fn mean(sum: Self::Wide, n: u64) -> f64;
}

macro_rules! number_int {
    ($wide:ty: $($t:ty),*) => {$(
        impl Number for $t {
            type Wide = $wide;
            #[inline] fn wide(self) -> $wide { <$wide>::from(self) }
            #[inline] fn mean(sum: $wide, n: u64) -> f64 { sum as f64 / n as f64 }
        }
    )*};
}
number_int!(i64: i8, i16, i32, u8, u16, u32);
number_int!(i128: i64, u64);

impl Number for f64 {
    type Wide = f64;
    #[inline]
    fn wide(self) -> f64 {
        self
    }
    #[inline]
    fn mean(sum: f64, n: u64) -> f64 {
        sum / n as f64
    }
}

impl Number for f32 {
    type Wide = f64;
    #[inline]
    fn wide(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn mean(sum: f64, n: u64) -> f64 {
        sum / n as f64
    }
}

macro_rules! field_aggregate {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<F> {
            field: F,
        }

        impl<F> $name<F> {
            /// The aggregate over the value `field` extracts from each record.
            pub fn of(field: F) -> Self {
                $name { field }
            }
        }
    };
}

field_aggregate!(
    /// Sums a numeric field exactly (integers widen to `i128`).
    Sum
);
field_aggregate!(
    /// The smallest value of a field (`None` for an empty window).
    Min
);
field_aggregate!(
    /// The largest value of a field (`None` for an empty window).
    Max
);
field_aggregate!(
    /// The mean of a field, from an exact sum and a count.
    Avg
);

impl<In, N: Number, F: Fn(&In) -> N + Clone + 'static> AggregateFunction<In> for Sum<F> {
    type Acc = N::Wide;
    type Out = N::Wide;
    #[inline]
    fn create(&self) -> N::Wide {
        N::Wide::default()
    }
    #[inline]
    fn add(&self, acc: &mut N::Wide, input: &In) {
        *acc += (self.field)(input).wide();
    }
    #[inline]
    fn merge(&self, acc: &mut N::Wide, other: &N::Wide) {
        *acc += *other;
    }
    #[inline]
    fn result(&self, acc: &N::Wide) -> N::Wide {
        *acc
    }
}

/// Min and Max: keep the value that compares `$op` against the one held.
macro_rules! extreme_aggregate {
    ($name:ident, $op:tt) => {
        impl<In, N: Number, F: Fn(&In) -> N + Clone + 'static> AggregateFunction<In> for $name<F> {
            type Acc = Option<N>;
            type Out = Option<N>;
            #[inline]
            fn create(&self) -> Option<N> {
                None
            }
            #[inline]
            fn add(&self, acc: &mut Option<N>, input: &In) {
                self.merge(acc, &Some((self.field)(input)));
            }
            #[inline]
            fn merge(&self, acc: &mut Option<N>, other: &Option<N>) {
                if let Some(o) = *other
                    && acc.is_none_or(|a| o $op a)
                {
                    *acc = Some(o);
                }
            }
            #[inline]
            fn result(&self, acc: &Option<N>) -> Option<N> {
                *acc
            }
        }
    };
}
extreme_aggregate!(Min, <);
extreme_aggregate!(Max, >);

impl<In, N: Number, F: Fn(&In) -> N + Clone + 'static> AggregateFunction<In> for Avg<F> {
    type Acc = (N::Wide, u64);
    type Out = Option<f64>;
    #[inline]
    fn create(&self) -> (N::Wide, u64) {
        (N::Wide::default(), 0)
    }
    #[inline]
    fn add(&self, acc: &mut (N::Wide, u64), input: &In) {
        acc.0 += (self.field)(input).wide();
        acc.1 += 1;
    }
    #[inline]
    fn merge(&self, acc: &mut (N::Wide, u64), other: &(N::Wide, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    #[inline]
    fn result(&self, acc: &(N::Wide, u64)) -> Option<f64> {
        (acc.1 > 0).then(|| N::mean(acc.0, acc.1))
    }
}

/// Reduces records of one type with a binary function. Only for windows, which are never
/// empty: the result of an accumulator that saw no record is a broken invariant.
#[derive(Clone, Copy)]
pub struct Reduce<F> {
    f: F,
}

impl<F> Reduce<F> {
    /// The reduction by `f(accumulated, next)`.
    pub fn new(f: F) -> Self {
        Reduce { f }
    }
}

impl<In, F> AggregateFunction<In> for Reduce<F>
where
    In: Clone + Send + Serialize + DeserializeOwned + 'static,
    F: Fn(&In, &In) -> In + Clone + 'static,
{
    type Acc = Option<In>;
    type Out = In;
    fn create(&self) -> Option<In> {
        None
    }
    fn add(&self, acc: &mut Option<In>, input: &In) {
        *acc = Some(match acc.take() {
            Some(a) => (self.f)(&a, input),
            None => input.clone(),
        });
    }
    fn merge(&self, acc: &mut Option<In>, other: &Option<In>) {
        if let Some(o) = other {
            self.add(acc, o);
        }
    }
    fn result(&self, acc: &Option<In>) -> In {
        acc.clone().expect("a window's reduction saw at least one record")
    }
}

macro_rules! tuple_aggregate {
    ($($a:ident $i:tt),+) => {
        impl<In, $($a: AggregateFunction<In>),+> AggregateFunction<In> for ($($a,)+) {
            type Acc = ($($a::Acc,)+);
            type Out = ($($a::Out,)+);
            #[inline]
            fn create(&self) -> Self::Acc { ($(self.$i.create(),)+) }
            #[inline]
            fn add(&self, acc: &mut Self::Acc, input: &In) { $(self.$i.add(&mut acc.$i, input);)+ }
            #[inline]
            fn merge(&self, acc: &mut Self::Acc, other: &Self::Acc) { $(self.$i.merge(&mut acc.$i, &other.$i);)+ }
            #[inline]
            fn result(&self, acc: &Self::Acc) -> Self::Out { ($(self.$i.result(&acc.$i),)+) }
        }
    };
}
tuple_aggregate!(A 0);
tuple_aggregate!(A 0, B 1);
tuple_aggregate!(A 0, B 1, C 2);
tuple_aggregate!(A 0, B 1, C 2, D 3);
tuple_aggregate!(A 0, B 1, C 2, D 3, E 4);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_and_merge() {
        let agg = (Count, Sum::of(|x: &i32| *x), Min::of(|x: &i32| *x), Max::of(|x: &i32| *x), Avg::of(|x: &i32| *x));
        let mut a = agg.create();
        let mut b = agg.create();
        for x in [5, -2, 9] {
            agg.add(&mut a, &x);
        }
        agg.add(&mut b, &1);
        agg.merge(&mut a, &b);
        assert_eq!(agg.result(&a), (4, 13, Some(-2), Some(9), Some(13.0 / 4.0)));
        assert_eq!(agg.result(&agg.create()), (0, 0, None, None, None));
        let r = Reduce::new(|a: &u64, b: &u64| a.max(b).to_owned());
        let mut acc = r.create();
        for x in [3u64, 8, 1] {
            r.add(&mut acc, &x);
        }
        assert_eq!(r.result(&acc), 8);
    }
}
