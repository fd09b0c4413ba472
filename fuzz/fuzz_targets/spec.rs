//! Spec parsing and static validation: any bytes give a spec or an error, never a panic,
//! an abort or an allocation over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let _ = common::scratch();
    let text = String::from_utf8_lossy(data);
    if let Ok(spec) = arc::spec::ArcSpec::from_yaml(&text, "fuzz.yaml") {
        let _ = arc::validate::validate(&spec, arc::get_plugin_manager());
    }
});
