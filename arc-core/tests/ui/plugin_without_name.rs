use arc_core::arc_plugin;

#[arc_plugin(version = "1.0.0", description = "no name")]
#[derive(Default)]
pub struct MyPlugin;

fn main() {}
