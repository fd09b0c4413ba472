//! The compiled predictor path allocates nothing: a counting global
//! allocator (this test binary's own) counts the allocations the calling
//! thread makes during `predict_row_into` calls after a warm-up call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use arc::Predictor;
use arc::predictor::Value;
use arc::spec::{ArcSpec, Config};

/// Counts the allocations of threads that switched counting on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn note() {
    // `try_with`: the thread-locals may be gone while a thread exits.
    let on = COUNTING.try_with(Cell::get).unwrap_or(false);
    if on {
        let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

#[test]
fn predict_row_into_allocates_nothing_after_warm_up() -> arc::Result<()> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/specs/iris.yaml")).expect("the iris spec");
    let text = text.replace("epochs: 100", "epochs: 3");
    let pm = arc::get_plugin_manager();
    let table = pm
        .get_data_source("csv")?
        .create(&Config::new())?
        .load(&root.join("examples/data/iris.csv").display().to_string())?;
    let spec = ArcSpec::from_yaml(&text, "iris.yaml")?;
    let trainer = spec.trainer.clone().expect("a trainer");
    let trained = arc::train::train(&spec, &trainer, &table, pm, &mut |_| {})?;
    let dir = std::env::temp_dir().join(format!("arc-predictor-alloc-{}", std::process::id()));
    arc::model_dir::save(&dir, &text, &trained.model.named_values(), &trained.fitted, &trained.history)?;
    let predictor = Predictor::load(&dir)?;
    assert!(predictor.is_allocation_free());

    let rows: Vec<[f32; 4]> = (0..table.num_rows())
        .map(|i| {
            let v = |c: &str| table.numeric(c).map(|col| col[i] as f32);
            Ok([v("sepal_length")?, v("sepal_width")?, v("petal_length")?, v("petal_width")?])
        })
        .collect::<arc::Result<_>>()?;
    let mut out = [0.0f32; 3];
    // Warm-up: the thread's scratch arena is sized on the first call.
    predictor.predict_row_into(&rows[0], &mut out)?;
    let mut classes = [0usize; 3];
    let count = allocations(|| {
        for _ in 0..10 {
            for row in &rows {
                let class = predictor.predict_row_into(row, &mut out).expect("a good row");
                classes[class.expect("a classifier")] += 1;
            }
        }
    });
    assert_eq!(count, 0, "allocations in {} predict_row_into calls", 10 * rows.len());
    assert_eq!(classes.iter().sum::<usize>(), 1500);
    // The counter does count: one Vec is one allocation.
    assert_eq!(allocations(|| drop(std::hint::black_box(vec![1u8; 16]))), 1);
    // Named rows allocate only the returned output's values.
    let named = [
        ("sepal_length", Value::Number(5.1)),
        ("sepal_width", Value::Number(3.5)),
        ("petal_length", Value::Number(1.4)),
        ("petal_width", Value::Number(0.2)),
    ];
    let count = allocations(|| {
        let out = predictor.predict_row(&named[..]).expect("a good row");
        assert_eq!(out.values.len(), 3);
    });
    assert_eq!(count, 1, "only the output's values vector");
    std::fs::remove_dir_all(dir).ok();
    Ok(())
}
