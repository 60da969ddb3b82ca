//! Software reference throughput: inferences per second of the integer model.
//!
//! `cargo bench -p lutgen-core --bench reference`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use lutgen_core::{EngineConfig, Image, Reference};

fn reference(c: &mut Criterion) {
    let mut group = c.benchmark_group("reference");
    let configs = [
        ("default", EngineConfig::default()),
        (
            "k256",
            EngineConfig {
                centroids: 256,
                ..EngineConfig::default()
            },
        ),
    ];
    for (name, config) in configs {
        let image = Image::random(config.clone(), 1).unwrap();
        let x: Vec<i8> = (0..config.input_dim)
            .map(|i| (i * 37 % 256) as u8 as i8)
            .collect();
        let model = Reference::new(&image);
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("infer", name), &x, |b, x| {
            b.iter(|| model.outputs(std::hint::black_box(x)).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, reference);
criterion_main!(benches);
