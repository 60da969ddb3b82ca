//! Co-simulation throughput: simulated inferences (and cycles) per second of
//! the Verilated engine, and its cycles per inference.
//!
//! `cargo bench -p lutgen-sim --bench engine`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use lutgen_core::{EngineConfig, Image};
use lutgen_sim::{Backpressure, EngineSim, SimOptions};

fn engine(c: &mut Criterion) {
    let config = EngineConfig::default();
    let mut engine = EngineSim::new(&config, &SimOptions::default()).expect("engine builds");
    let image = Image::random(config.clone(), 1).unwrap();
    engine.load(&image).unwrap();
    let vectors: Vec<Vec<i8>> = (0..100)
        .map(|v| {
            (0..config.input_dim)
                .map(|i| ((v * 31 + i * 7) % 256) as u8 as i8)
                .collect()
        })
        .collect();
    let run = engine.run(&vectors, Backpressure::none()).unwrap();
    eprintln!(
        "default engine: {:.2} cycles per inference (bound {})",
        run.cycles_per_inference,
        config.bound_cycles_per_inference()
    );
    let mut group = c.benchmark_group("cosim");
    group.sample_size(10);
    group.throughput(Throughput::Elements(vectors.len() as u64));
    group.bench_function("default_100_vectors", |b| {
        b.iter(|| engine.run(&vectors, Backpressure::none()).unwrap())
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
