use arc_core::arc_plugin;

#[arc_plugin(name = "needs_args")]
pub struct NeedsArgs {
    threshold: f32,
}

fn main() {
    let _ = NeedsArgs { threshold: 0.5 }.threshold;
}
