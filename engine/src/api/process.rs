//! Keyed process functions: per-key state plus event-time and processing-time timers, the
//! lowest layer of Rill's APIs (Flink's `KeyedProcessFunction`).
//!
//! # When to use one
//! Use a process function when the logic does not fit a window: per-key state machines
//! (fraud rules, sessions with custom gaps), de-duplication, joins with custom expiry, buffering
//! and re-ordering events, emitting on a timeout. Prefer a window operator when the computation
//! is an aggregate over tumbling/sliding/session windows: it knows its state's life cycle and
//! can share work across keys; a process function must clear its own state.
//!
//! # Semantics
//! * **Keys**: records are exchanged by key group and handed to
//!   [`KeyedProcessFunction::process_element`] with the record's key as the *current key*; every
//!   state access through the [`ProcessContext`] is for that key.
//! * **Lateness**: a record whose event time plus the allowed lateness is below the event-time
//!   coordinate of its batch's stamp (the watermark of its source when it was read) is late. It
//!   goes to the operator's `late` output and is never given to the function. The rule depends
//!   only on the stamp, so it is deterministic whatever the scheduling.
//! * **Event-time timers** fire once the operator's input watermark is at or past their time
//!   (`watermark >= t`; the watermark is `EventTime::MAX` once the input has ended, so every
//!   event-time timer fires then). A round fires all due timers in `(time, key)` order across
//!   keys; a `(key, time)` fires once however often it was registered; a deleted timer does not
//!   fire; a timer registered during a round at or below the watermark fires in that round.
//! * **Processing-time timers** fire when the wall clock (`SystemTime`, ms since the Unix epoch)
//!   reaches them; the operator re-activates itself while any is pending. When the input ends,
//!   pending processing-time timers are **dropped** (they would otherwise keep a finished job
//!   alive), while event-time timers all fire.
//! * **Output times**: what `process_element` emits is stamped with the element's batch stamp;
//!   what an event-time timer at `t` emits is stamped `(e, max(t, h))` where `(e, h)` is a
//!   capability the operator holds for its pending timers (so downstream watermarks stay
//!   meaningful); processing-time timer output is stamped at the held capability's epoch and the
//!   current watermark.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::state::{
    Key, KeyGroup, KeyedStateBackend, ListState, MapState, PodValueState, ReducingState, StateMap, StateRegistry,
    TimerService, ValueState,
};
use crate::time::EventTime;

/// A function applied per key, with keyed state and timers.
///
/// # Examples
/// A running sum per key:
/// ```
/// use rill::process::{KeyedProcessFunction, ProcessContext};
/// use rill::state::{StateRegistry, ValueState};
///
/// #[derive(Default)]
/// struct RunningSum {
///     sum: ValueState<u64>,
/// }
///
/// impl KeyedProcessFunction<u32, (u32, u64)> for RunningSum {
///     type Out = (u32, u64);
///     type Side = ();
///     fn open(&mut self, state: &mut StateRegistry<'_, u32>) {
///         self.sum = state.value("sum");
///     }
///     fn process_element(&mut self, value: &(u32, u64), ctx: &mut ProcessContext<'_, u32, (u32, u64), ()>) {
///         let s = ctx.value_or_insert_with(&self.sum, || 0);
///         *s += value.1;
///         let s = *s;
///         ctx.emit((value.0, s));
///     }
/// }
/// ```
pub trait KeyedProcessFunction<K: Key, In>: 'static {
    /// What the function emits on its main output.
    type Out: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// What the function emits on its side output (`()` if unused).
    type Side: Clone + Send + Serialize + DeserializeOwned + 'static;

    /// Declares the function's state (names and handles); called once per operator instance,
    /// before any element.
    fn open(&mut self, state: &mut StateRegistry<'_, K>);

    /// Handles one on-time element; its key is the context's current key.
    fn process_element(&mut self, value: &In, ctx: &mut ProcessContext<'_, K, Self::Out, Self::Side>);

    /// Handles a timer of the context's current key firing at `timestamp` (in event time or, for
    /// [`TimeDomain::ProcessingTime`], in wall-clock ms). Does nothing by default.
    fn on_timer(
        &mut self,
        timestamp: EventTime,
        domain: TimeDomain,
        ctx: &mut ProcessContext<'_, K, Self::Out, Self::Side>,
    ) {
        let _ = (timestamp, domain, ctx);
    }
}

/// What a [`KeyedProcessFunction`] sees while it handles an element or a timer: the current key,
/// times, state, timers and outputs.
pub struct ProcessContext<'a, K: Key, Out, Side> {
    pub(crate) state: &'a mut KeyedStateBackend<K>,
    pub(crate) timers: &'a mut TimerService<K>,
    pub(crate) out: &'a mut Vec<Out>,
    pub(crate) side: &'a mut Vec<Side>,
    pub(crate) timestamp: EventTime,
    pub(crate) watermark: EventTime,
    pub(crate) now_ms: u64,
    /// Set when an event-time timer was registered through this context.
    pub(crate) registered_event: bool,
    /// Set when a processing-time timer was registered through this context.
    pub(crate) registered_processing: bool,
}

impl<'a, K: Key, Out, Side> ProcessContext<'a, K, Out, Side> {
    #[inline]
    fn current(&self) -> (&K, KeyGroup) {
        match (self.state.current_key(), self.state.current_key_group()) {
            (Some(k), Some(g)) => (k, g),
            _ => panic!("process context used without a current key"),
        }
    }

    /// The current key.
    #[inline]
    pub fn key(&self) -> &K {
        self.current().0
    }

    /// The current key's key group.
    #[inline]
    pub fn key_group(&self) -> KeyGroup {
        self.current().1
    }

    /// The element's event time, or the firing timer's time.
    #[inline]
    pub fn timestamp(&self) -> EventTime {
        self.timestamp
    }

    /// The operator's input watermark (`EventTime::MAX` once the input has ended).
    #[inline]
    pub fn watermark(&self) -> EventTime {
        self.watermark
    }

    /// The wall-clock time (ms since the Unix epoch) read at the start of this activation.
    #[inline]
    pub fn current_processing_time(&self) -> u64 {
        self.now_ms
    }

    /// The whole keyed state backend (for accesses without a shortcut here).
    #[inline]
    pub fn state(&mut self) -> &mut KeyedStateBackend<K> {
        self.state
    }

    /// Emits `out` on the main output.
    #[inline]
    pub fn emit(&mut self, out: Out) {
        self.out.push(out);
    }

    /// Emits `out` on the side output.
    #[inline]
    pub fn emit_side(&mut self, out: Side) {
        self.side.push(out);
    }

    // ----- timers -----

    fn timer_op(&mut self, domain: TimeDomain, t: u64, register: bool) -> bool {
        let (key, kg) = match (self.state.current_key(), self.state.current_key_group()) {
            (Some(k), Some(g)) => (k, g),
            _ => panic!("timer registered without a current key"),
        };
        let g = self.timers.local(kg);
        let q = self.timers.queue(domain);
        if register { q.register(g, t, key) } else { q.delete(g, t, key) }
    }

    /// Registers an event-time timer at `t` for the current key (fires once the watermark
    /// reaches `t`; at once in this round if it already has).
    pub fn register_event_time_timer(&mut self, t: EventTime) {
        self.timer_op(TimeDomain::EventTime, t.0, true);
        self.registered_event = true;
    }

    /// Deletes the current key's event-time timer at `t`; returns whether it existed.
    pub fn delete_event_time_timer(&mut self, t: EventTime) -> bool {
        self.timer_op(TimeDomain::EventTime, t.0, false)
    }

    /// Registers a processing-time timer at wall-clock `ms` for the current key.
    pub fn register_processing_time_timer(&mut self, ms: u64) {
        self.timer_op(TimeDomain::ProcessingTime, ms, true);
        self.registered_processing = true;
    }

    /// Deletes the current key's processing-time timer at `ms`; returns whether it existed.
    pub fn delete_processing_time_timer(&mut self, ms: u64) -> bool {
        self.timer_op(TimeDomain::ProcessingTime, ms, false)
    }

    // ----- state shortcuts (current key) -----

    /// The current key's value.
    #[inline]
    pub fn value<T: 'static>(&self, h: &ValueState<T>) -> Option<&T> {
        self.state.value(h)
    }

    /// The current key's value, mutably.
    #[inline]
    pub fn value_mut<T: 'static>(&mut self, h: &ValueState<T>) -> Option<&mut T> {
        self.state.value_mut(h)
    }

    /// The current key's value, inserted with `init` if absent.
    #[inline]
    pub fn value_or_insert_with<T: 'static>(&mut self, h: &ValueState<T>, init: impl FnOnce() -> T) -> &mut T {
        self.state.value_or_insert_with(h, init)
    }

    /// Sets the current key's value.
    #[inline]
    pub fn set_value<T: 'static>(&mut self, h: &ValueState<T>, v: T) {
        self.state.set_value(h, v);
    }

    /// Removes the current key's value.
    #[inline]
    pub fn clear_value<T: 'static>(&mut self, h: &ValueState<T>) -> Option<T> {
        self.state.clear_value(h)
    }

    /// The current key's fixed-layout value ([`PodValueState`]).
    #[inline]
    pub fn pod_value<T: bytemuck::Pod>(&self, h: &PodValueState<T>) -> Option<&T>
    where
        K: bytemuck::Pod,
    {
        self.state.pod_value(h)
    }

    /// The current key's fixed-layout value, mutably.
    #[inline]
    pub fn pod_value_mut<T: bytemuck::Pod>(&mut self, h: &PodValueState<T>) -> Option<&mut T>
    where
        K: bytemuck::Pod,
    {
        self.state.pod_value_mut(h)
    }

    /// The current key's fixed-layout value, inserted with `init` if absent.
    #[inline]
    pub fn pod_value_or_insert_with<T: bytemuck::Pod>(
        &mut self,
        h: &PodValueState<T>,
        init: impl FnOnce() -> T,
    ) -> &mut T
    where
        K: bytemuck::Pod,
    {
        self.state.pod_value_or_insert_with(h, init)
    }

    /// Sets the current key's fixed-layout value.
    #[inline]
    pub fn set_pod_value<T: bytemuck::Pod>(&mut self, h: &PodValueState<T>, v: T)
    where
        K: bytemuck::Pod,
    {
        self.state.set_pod_value(h, v);
    }

    /// Removes the current key's fixed-layout value.
    #[inline]
    pub fn clear_pod_value<T: bytemuck::Pod>(&mut self, h: &PodValueState<T>) -> Option<T>
    where
        K: bytemuck::Pod,
    {
        self.state.clear_pod_value(h)
    }

    /// The current key's list.
    #[inline]
    pub fn list<T: 'static>(&self, h: &ListState<T>) -> &[T] {
        self.state.list(h)
    }

    /// Appends to the current key's list.
    #[inline]
    pub fn list_push<T: 'static>(&mut self, h: &ListState<T>, v: T) {
        self.state.list_push(h, v);
    }

    /// Removes and returns the current key's list.
    #[inline]
    pub fn list_take<T: 'static>(&mut self, h: &ListState<T>) -> Vec<T> {
        self.state.list_take(h)
    }

    /// The value of `mk` in the current key's map.
    #[inline]
    pub fn map_get<MK: Key, V: 'static>(&self, h: &MapState<MK, V>, mk: &MK) -> Option<&V> {
        self.state.map_get(h, mk)
    }

    /// The current key's map, if any.
    #[inline]
    pub fn map<MK: Key, V: 'static>(&self, h: &MapState<MK, V>) -> Option<&StateMap<MK, V>> {
        self.state.map(h)
    }

    /// Inserts into the current key's map.
    #[inline]
    pub fn map_insert<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>, mk: MK, v: V) -> Option<V> {
        self.state.map_insert(h, mk, v)
    }

    /// Removes `mk` from the current key's map.
    #[inline]
    pub fn map_remove<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>, mk: &MK) -> Option<V> {
        self.state.map_remove(h, mk)
    }

    /// Removes and returns the current key's map.
    #[inline]
    pub fn map_take<MK: Key, V: 'static>(&mut self, h: &MapState<MK, V>) -> StateMap<MK, V> {
        self.state.map_take(h)
    }

    /// Folds `v` into the current key's reduced value.
    #[inline]
    pub fn reduce<T: 'static>(&mut self, h: &ReducingState<T>, v: T) {
        self.state.reduce(h, v);
    }

    /// The current key's reduced value.
    #[inline]
    pub fn reduced<T: 'static>(&self, h: &ReducingState<T>) -> Option<&T> {
        self.state.reduced(h)
    }
}

pub use crate::operators::process::{ProcessConfig, ProcessKeyed, ProcessOutput};
pub use crate::state::TimeDomain;
