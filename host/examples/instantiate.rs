//! Measures the per-request cost of a fresh instance: store creation plus `instantiate_async`
//! of a pre-instantiated component. Usage: `instantiate <spin.toml> <component> <n>`; prints JSON.

use fieldline_host::{App, Options};
use std::time::Instant;

/// The host's allocator, so that the comparison is of the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let manifest = args.get(1).map_or("spin.toml", String::as_str);
    let component = args.get(2).map_or("health", String::as_str);
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let state = tempfile::tempdir()?;
    let app = App::load(std::path::Path::new(manifest), Options::new(state.path())).await?;
    let c = app.component(component)?;
    let mut times = Vec::with_capacity(n);
    for _ in 0..n + n / 10 {
        let started = Instant::now();
        let mut store = app.store(c);
        let instance = app.pre(c).instantiate_async(&mut store).await?;
        std::hint::black_box(&instance);
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    // The first tenth warms caches and the pool.
    let mut times = times.split_off(n / 10);
    times.sort_by(f64::total_cmp);
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    println!(
        "{{\"n\": {}, \"mean_us\": {mean:.2}, \"p50_us\": {:.2}, \"p99_us\": {:.2}}}",
        times.len(),
        pct(0.5),
        pct(0.99)
    );
    app.shutdown();
    Ok(())
}
