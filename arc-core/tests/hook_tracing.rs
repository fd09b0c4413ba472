//! Every hook call opens a `tracing` span named `hook`, with the spec and
//! hook as fields, when a subscriber listens at TRACE level.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_core::plugin::{Plugin, PluginManager, PluginMetadata};
use arc_core::{hookimpl, hookspec};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[hookspec]
pub trait TracedSpec {
    fn ping(&self) -> u8 {
        0
    }
}

struct Ponger;
impl Plugin for Ponger {
    fn metadata(&self) -> PluginMetadata {
        PluginMetadata::named("ponger")
    }
}
#[hookimpl]
impl TracedSpec for Ponger {
    fn ping(&self) -> u8 {
        1
    }
}

/// Records the spans opened, as `name spec=.. hook=..`.
#[derive(Default)]
struct Recorder {
    next: AtomicU64,
    spans: Arc<Mutex<Vec<String>>>,
}

struct Fields(String);
impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push_str(&format!(" {}={value}", field.name()));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = Fields(span.metadata().name().to_owned());
        span.record(&mut fields);
        self.spans.lock().unwrap().push(fields.0);
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn each_hook_call_opens_a_span_naming_spec_and_hook() {
    let recorder = Recorder::default();
    let spans = recorder.spans.clone();
    let pm = PluginManager::new();
    pm.register_plugin(Ponger, "ponger").unwrap();
    tracing::subscriber::with_default(recorder, || {
        let hook = pm.hook::<dyn TracedSpec>();
        assert_eq!(hook.ping().unwrap().into_vec(), [1]);
        assert_eq!(hook.ping().unwrap().into_vec(), [1]);
    });
    assert_eq!(*spans.lock().unwrap(), ["hook spec=TracedSpec hook=ping", "hook spec=TracedSpec hook=ping"]);
}
