//! Shared pieces of the end-to-end tests: adversarial images and vectors,
//! and the bit-exact comparison of the Verilated engine with the reference.
//!
//! The tests themselves live in `tests/tests/`.

use lutgen_core::conv::{ConvGeometry, Padding};
use lutgen_core::network::{ActivationTable, Layer, Network};
use lutgen_core::spatial::{Conv, Pool, Spatial};
use lutgen_core::{EngineConfig, Image, Reference, Requantize};
use lutgen_sim::{Backpressure, EngineSim, NetworkRun, NetworkSim, PortSpec, SimOptions};
use std::path::PathBuf;

/// Where the tests cache their Verilated models: `target/lutgen-models`,
/// unless `LUTGEN_CACHE_DIR` says otherwise.
pub fn cache_dir() -> PathBuf {
    std::env::var_os(lutgen_sim::CACHE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/lutgen-models")
        })
}

/// Builds (or loads from the cache) the engine for `config`.
pub fn engine(config: &EngineConfig) -> EngineSim {
    build_engine(config, false)
}

/// The engine for `config` as synthesized for ECP5 (DP16KD instances with
/// their behavioural model, the index FIFO in LUT RAM).
pub fn ecp5_engine(config: &EngineConfig) -> EngineSim {
    build_engine(config, true)
}

/// The engine for `config` as synthesized for the iCE40UP5K with its tables
/// in SPRAM (`SB_SPRAM256KA` instances with their behavioural model).
pub fn spram_engine(config: &EngineConfig) -> EngineSim {
    build_with(
        config,
        SimOptions {
            spram: true,
            ..SimOptions::default()
        },
    )
}

fn build_engine(config: &EngineConfig, ecp5_primitives: bool) -> EngineSim {
    build_with(
        config,
        SimOptions {
            ecp5_primitives,
            ..SimOptions::default()
        },
    )
}

fn build_with(config: &EngineConfig, options: SimOptions) -> EngineSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        ..options
    };
    EngineSim::new(config, &options).unwrap_or_else(|e| panic!("building {config:?}: {e}"))
}

/// An image built to produce ties and accumulator extremes:
/// every centroid k >= K/2 repeats centroid k - K/2 (so every distance ties
/// with a lower index), codebook 0 has all centroids equal, and tables and
/// bias sit at `extreme` (the minimum or the maximum of their widths).
pub fn adversarial_image(config: &EngineConfig, seed: u64, extreme: Extreme) -> Image {
    let random = Image::random(config.clone(), seed).expect("valid config");
    let (k, v) = (config.centroids, config.sub_vector_len());
    let mut centroids = random.centroids().to_vec();
    for c in 0..config.codebooks {
        for j in 0..k {
            let source = if c == 0 { 0 } else { j % (k / 2).max(1) };
            for i in 0..v {
                centroids[(c * k + j) * v + i] = centroids[(c * k + source) * v + i];
            }
        }
    }
    let pick = |bits: u32| {
        let (lo, hi) = EngineConfig::signed_range(bits);
        match extreme {
            Extreme::Min => lo,
            Extreme::Max => hi,
        }
    };
    let tables = vec![pick(config.table_bits) as i8; random.tables().len()];
    let bias = vec![pick(config.bias_bits) as i32; config.outputs];
    Image::new(config.clone(), centroids, tables, bias).expect("values in range")
}

/// Which end of every range an adversarial image sits at.
#[derive(Clone, Copy, Debug)]
pub enum Extreme {
    Min,
    Max,
}

/// Random vectors over the full activation range.
pub fn random_vectors(config: &EngineConfig, count: usize, seed: u64) -> Vec<Vec<i8>> {
    config.random_inputs(count, seed)
}

/// Vectors at and around the edges: all minimum, all maximum, alternating,
/// zero, and each sub-vector equal to a centroid of the image (distance 0,
/// with its duplicates tying).
pub fn edge_vectors(image: &Image) -> Vec<Vec<i8>> {
    let config = image.config();
    let (lo, hi) = EngineConfig::signed_range(config.activation_bits);
    let d = config.input_dim;
    let mut out = vec![
        vec![lo as i8; d],
        vec![hi as i8; d],
        vec![0; d],
        (0..d)
            .map(|i| if i % 2 == 0 { lo } else { hi } as i8)
            .collect(),
    ];
    for k in 0..config.centroids {
        out.push(
            (0..config.codebooks)
                .flat_map(|c| image.centroid(c, k).to_vec())
                .collect(),
        );
    }
    out
}

/// Runs `vectors` on `engine` loaded with `image` and asserts every output
/// and every encoder decision equals the reference.
pub fn assert_bit_exact(
    engine: &mut EngineSim,
    image: &Image,
    vectors: &[Vec<i8>],
    backpressure: Backpressure,
) {
    engine.load(image).expect("image matches engine");
    let run = engine.run(vectors, backpressure).expect("engine run");
    let reference = Reference::new(image);
    assert_eq!(run.outputs.len(), vectors.len(), "lost or extra vectors");
    for (i, x) in vectors.iter().enumerate() {
        let want = reference.infer(x).expect("valid input");
        for (c, (w, g)) in want.encodings.iter().zip(&run.encodings[i]).enumerate() {
            assert_eq!(
                (w.index, w.score),
                (g.index, g.distance),
                "vector {i} codebook {c}: (index, distance) differs, config {:?}",
                image.config()
            );
        }
        assert_eq!(
            want.outputs,
            run.outputs[i],
            "vector {i} outputs differ, config {:?}",
            image.config()
        );
    }
}

/// `count` random vectors plus [`encoder_edge_vectors`] on a random image,
/// then [`adversarial_encoder_image`]s at both extremes (with `count / 4`
/// random vectors), each run bit-exact under random stalls and gaps; for
/// any encoder and any `entries_per_read` (the engine's configuration).
pub fn assert_encoder_cosim(engine: &mut EngineSim, seed: u64, count: usize) {
    let config = engine.config().clone();
    let image = Image::random(config.clone(), seed).unwrap();
    let mut vectors = random_vectors(&config, count, seed + 1);
    vectors.extend(encoder_edge_vectors(&image));
    assert_bit_exact(engine, &image, &vectors, Backpressure::new(0.3, 0.2, seed));
    for (i, extreme) in [Extreme::Min, Extreme::Max].into_iter().enumerate() {
        let image = adversarial_encoder_image(&config, seed + 2 + i as u64, extreme);
        let mut vectors = encoder_edge_vectors(&image);
        vectors.extend(random_vectors(&config, count / 4, seed + 5 + i as u64));
        assert_bit_exact(engine, &image, &vectors, Backpressure::new(0.5, 0.1, seed));
    }
}

/// An adversarial image for any encoder: [`adversarial_image`]'s ties and
/// extremes where they apply, and the encoder's own edges: two-level
/// centres duplicated like the centroids (ties between clusters), weights
/// all 0 (every distance ties; `Extreme::Min`) or all 15 (`Extreme::Max`),
/// tree thresholds all at the minimum (every comparison goes right) or the
/// maximum of `centroid_bits`.
pub fn adversarial_encoder_image(config: &EngineConfig, seed: u64, extreme: Extreme) -> Image {
    use lutgen_core::config::MAX_WEIGHT;
    let random = Image::random(config.clone(), seed).expect("valid config");
    let (k, v) = (config.centroids, config.sub_vector_len());
    let mut centroids = random.centroids().to_vec();
    if config.encoder.has_centroids() {
        for c in 0..config.codebooks {
            for j in 0..k {
                let source = if c == 0 { 0 } else { j % (k / 2).max(1) };
                for i in 0..v {
                    centroids[(c * k + j) * v + i] = centroids[(c * k + source) * v + i];
                }
            }
        }
    }
    let mut params = random.params().clone();
    let g = config.clusters();
    for c in 0..config.codebooks {
        for j in 0..g {
            let source = j % (g / 2).max(1);
            for i in 0..v {
                if !params.centres.is_empty() {
                    params.centres[(c * g + j) * v + i] = params.centres[(c * g + source) * v + i];
                }
            }
        }
    }
    let pick = |bits: u32| {
        let (lo, hi) = EngineConfig::signed_range(bits);
        match extreme {
            Extreme::Min => lo,
            Extreme::Max => hi,
        }
    };
    params.weights.fill(match extreme {
        Extreme::Min => 0,
        Extreme::Max => MAX_WEIGHT,
    });
    params.thresholds.fill(pick(config.centroid_bits) as i8);
    let tables = vec![pick(config.table_bits) as i8; random.tables().len()];
    let bias = vec![pick(config.bias_bits) as i32; config.outputs];
    Image::with_params(config.clone(), centroids, tables, bias, params).expect("values in range")
}

/// Edge vectors for any encoder: all minimum, all maximum, zero,
/// alternating; sub-vectors equal to up to 64 centroids and every cluster
/// centre (distance 0, ties); for `tree`, sub-vectors whose elements all
/// equal one of the codebook's thresholds (`x == t` goes right).
pub fn encoder_edge_vectors(image: &Image) -> Vec<Vec<i8>> {
    use lutgen_core::config::TREE_DEPTH;
    let config = image.config();
    let (lo, hi) = EngineConfig::signed_range(config.activation_bits);
    let clamp = |x: i8| i64::from(x).clamp(lo, hi) as i8;
    let (d, v, c) = (config.input_dim, config.sub_vector_len(), config.codebooks);
    let mut out = vec![
        vec![lo as i8; d],
        vec![hi as i8; d],
        vec![0; d],
        (0..d)
            .map(|i| if i % 2 == 0 { lo } else { hi } as i8)
            .collect(),
        (0..d).map(|i| if i % 2 == 0 { -1 } else { 0 }).collect(),
    ];
    let from = |f: &dyn Fn(usize) -> Vec<i8>| -> Vec<i8> {
        (0..c).flat_map(|cb| f(cb).into_iter().map(clamp)).collect()
    };
    if config.encoder.has_centroids() {
        for k in 0..config.centroids.min(64) {
            out.push(from(&|cb| image.centroid(cb, k).to_vec()));
        }
    }
    if config.encoder == lutgen_core::EncoderKind::TwoLevel {
        for g in 0..config.clusters() {
            out.push(from(&|cb| image.centre(cb, g).to_vec()));
        }
    }
    if config.encoder == lutgen_core::EncoderKind::Tree {
        for l in 0..TREE_DEPTH {
            for node in 0..1 << l {
                out.push(from(&|cb| vec![image.threshold(cb, l, node); v]));
            }
        }
    }
    out
}

/// Writes Verilog `text` as `<module>.v` in a fresh temporary directory named by `tag`.
pub fn write_verilog(text: &str, module: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lutgen-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{module}.v"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs an external tool (verilator, yosys), asserts it succeeded, and returns
/// its stdout and stderr; names the package to install when it is missing.
pub fn run_tool(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); install it: apt-get install {program}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

/// Runs 200 random vectors without back-pressure on a random image and
/// asserts the steady state is within 5% of the table-read bound.
pub fn assert_meets_bound(config: &EngineConfig) {
    let mut engine = engine(config);
    let image = Image::random(config.clone(), 1).unwrap();
    engine.load(&image).unwrap();
    let run = engine
        .run(&random_vectors(config, 200, 2), Backpressure::none())
        .unwrap();
    let bound = config.bound_cycles_per_inference() as f64;
    assert!(
        run.cycles_per_inference <= 1.05 * bound,
        "{config:?}: {} cycles per inference, bound {bound}",
        run.cycles_per_inference
    );
}

/// Builds (or loads from the cache) the network top for `layers`.
pub fn network_top(layers: &[EngineConfig]) -> NetworkSim {
    build_network_top(layers, false)
}

/// The network top for `layers` as synthesized for ECP5 (DP16KD instances,
/// among them the activation tables', with their behavioural model).
pub fn ecp5_network_top(layers: &[EngineConfig]) -> NetworkSim {
    build_network_top(layers, true)
}

/// The network top for `layers` as synthesized for the iCE40UP5K, every
/// engine's tables in SPRAM (`SB_SPRAM256KA` with its behavioural model).
pub fn spram_network_top(layers: &[EngineConfig]) -> NetworkSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        spram: true,
        ..SimOptions::default()
    };
    NetworkSim::new(layers, &options).unwrap_or_else(|e| panic!("building {layers:?}: {e}"))
}

/// The committed digits model (`tests/data/digits_mlp.safetensors`, 64-64-10)
/// compiled with the refit method (K = 16, V = 4) on its training split,
/// with its 360 test images quantized as the compiler quantized its
/// calibration data, and their labels.
pub fn refit_digits_network() -> (Network, Vec<Vec<i8>>, Vec<usize>) {
    use lutgen_compile::{self as compile, mlp, CompileOptions, Method, Mlp};
    let data = |name: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("data")
            .join(name)
    };
    let model = Mlp::read(&data("digits_mlp.safetensors"), &[]).unwrap();
    let train = mlp::read_matrix(&data("digits_train_x.npy"), 64, "calibration").unwrap();
    let test = mlp::read_matrix(&data("digits_test_x.npy"), 64, "test").unwrap();
    let labels = mlp::read_labels(&data("digits_test_y.npy")).unwrap();
    let options = CompileOptions {
        method: Method::Refit,
        ..CompileOptions::default()
    };
    let hidden = indicatif::ProgressBar::hidden();
    let network = compile::compile(&model, &train, &options, &hidden).unwrap();
    let inputs = test
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
    (network, inputs, labels)
}

/// The sequential top for `layers`: one engine runs them in turn.
pub fn sequential_top(layers: &[EngineConfig]) -> NetworkSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        schedule: lutgen_core::sequential::Schedule::Sequential,
        ..SimOptions::default()
    };
    NetworkSim::new(layers, &options).unwrap_or_else(|e| panic!("building {layers:?}: {e}"))
}

fn build_network_top(layers: &[EngineConfig], ecp5_primitives: bool) -> NetworkSim {
    let options = SimOptions {
        cache_dir: Some(cache_dir()),
        ecp5_primitives,
        ..SimOptions::default()
    };
    NetworkSim::new(layers, &options).unwrap_or_else(|e| panic!("building {layers:?}: {e}"))
}

/// Loads `network` into `top`, runs `vectors` and asserts every output
/// equals [`Network::infer`] bit for bit; returns the run.
pub fn assert_network_bit_exact(
    top: &mut NetworkSim,
    network: &Network,
    vectors: &[Vec<i8>],
    backpressure: Backpressure,
) -> NetworkRun {
    top.load(network).expect("network matches the hardware");
    let run = top.run(vectors, backpressure).expect("network run");
    assert_eq!(run.outputs.len(), vectors.len(), "lost or extra vectors");
    for (i, x) in vectors.iter().enumerate() {
        let want = network.infer(x).expect("valid input").outputs;
        assert_eq!(want, run.outputs[i], "vector {i}: outputs differ");
    }
    run
}

/// On a top of three or more layers loaded with `network`: every hidden
/// layer's trace equals the reference's activations and `vectors[0]` has no
/// divergence; then layer 1's requantization multiplier, halved on the device
/// only, is named as a divergence in layer 1's activations. Returns it.
pub fn assert_trace_finds_a_halved_multiplier(
    top: &mut NetworkSim,
    network: &Network,
    vectors: &[Vec<i8>],
) -> lutgen_sim::network::Divergence {
    use lutgen_core::memory_map::{LoadWord, LAYER_SHIFT, REQUANTIZE_MEMORY};
    top.load(network).unwrap();
    for layer in 0..network.layers().len() - 1 {
        let traced = top.trace(vectors, layer).unwrap();
        let want: Vec<Vec<i8>> = vectors
            .iter()
            .map(|x| network.infer(x).unwrap().activations[layer + 1].clone())
            .collect();
        assert_eq!(traced, want, "layer {layer}'s trace");
    }
    assert_eq!(top.first_divergence(network, &vectors[0]).unwrap(), None);
    let r = network.layers()[1].requantize.unwrap();
    top.write_words([LoadWord {
        address: 1 << LAYER_SHIFT | (REQUANTIZE_MEMORY as u32) << 16,
        data: (r.multiplier / 2) as u32,
    }]);
    let found = vectors
        .iter()
        .find_map(|x| top.first_divergence(network, x).unwrap())
        .expect("a halved multiplier shows on some vector");
    assert_eq!((found.layer, found.last), (1, false), "{found}");
    assert_ne!(Some(found.expected), found.got, "{found}");
    assert!(
        found.to_string().starts_with("layer 1 activation"),
        "{found}"
    );
    found
}

/// `network` with the requantization after layer `layer` replaced by `r`
/// (its `bits` are kept: they are the next layer's activation width).
pub fn with_requantize(network: &Network, layer: usize, r: Requantize) -> Network {
    let mut layers: Vec<Layer> = network.layers().to_vec();
    let bits = layers[layer].requantize.expect("not the last layer").bits;
    layers[layer].requantize = Some(Requantize { bits, ..r });
    Network::new(network.input_quantization(), layers).expect("valid requantization")
}

/// `network` with the activation table after layer `layer` replaced by
/// `table` (`None`: no table).
pub fn with_activation(network: &Network, layer: usize, table: Option<ActivationTable>) -> Network {
    let mut layers: Vec<Layer> = network.layers().to_vec();
    layers[layer].activation = table;
    Network::new(network.input_quantization(), layers).expect("valid activation table")
}

/// `network` with layer `layer`'s image replaced (same configuration).
pub fn with_image(network: &Network, layer: usize, image: Image) -> Network {
    let mut layers: Vec<Layer> = network.layers().to_vec();
    layers[layer].image = image;
    Network::new(network.input_quantization(), layers).expect("same configuration")
}

/// An image whose outputs equal its inputs: one codebook per element
/// (V = 1), centroid k of every codebook is the activation value `lo + k`
/// (K = 2^activation_bits, so every value has an exact match), and its
/// table row holds that value at output c and 0 elsewhere. As the last
/// layer of a network it makes every activation before it visible, so a
/// requantization off by one anywhere shows in the outputs.
pub fn identity_image(config: &EngineConfig) -> Image {
    let (lo, _) = EngineConfig::signed_range(config.activation_bits);
    let (c_count, k_count, n) = (config.codebooks, config.centroids, config.outputs);
    assert!(
        config.sub_vector_len() == 1 && k_count == 1 << config.activation_bits && n == c_count,
        "an identity layer needs V = 1, K = 2^activation_bits and N = C"
    );
    let mut centroids = Vec::with_capacity(c_count * k_count);
    let mut tables = vec![0i8; c_count * k_count * n];
    for c in 0..c_count {
        for k in 0..k_count {
            let value = (lo + k as i64) as i8;
            centroids.push(value);
            tables[(c * k_count + k) * n + c] = value;
        }
    }
    Image::new(config.clone(), centroids, tables, vec![0; n]).expect("identity image is valid")
}

/// Padding on each border.
pub fn padding(top: usize, left: usize, bottom: usize, right: usize) -> Padding {
    Padding {
        top,
        left,
        bottom,
        right,
    }
}

/// A convolution layer's spatial description: a `(H, W, C)` input map, a
/// `kernel x kernel` kernel, its stride, padding and pad value, and its pooling.
pub fn conv(
    (h, w, c): (usize, usize, usize),
    kernel: usize,
    stride: usize,
    padding: Padding,
    pad_value: i8,
    pool: Option<Pool>,
) -> Spatial {
    Spatial {
        conv: Some(Conv {
            geometry: ConvGeometry {
                in_height: h,
                in_width: w,
                in_channels: c,
                kernel,
                stride,
                padding,
            },
            pad_value,
        }),
        pool,
    }
}

/// Cells of one kind in a yosys `stat` report (0 when absent).
pub fn yosys_cells(stat: &str, cell: &str) -> usize {
    stat.lines()
        .find(|l| l.split_whitespace().next() == Some(cell))
        .and_then(|l| l.split_whitespace().nth(1))
        .map_or(0, |n| n.parse().unwrap())
}

/// A Verilated model's port list from `(name, width, input)` entries, as
/// the blocks with a module of their own list their ports.
pub fn port_specs<'a>(ports: impl IntoIterator<Item = (&'a str, u32, bool)>) -> Vec<PortSpec> {
    ports
        .into_iter()
        .map(|(name, width, input)| {
            if input {
                PortSpec::input(name, width)
            } else {
                PortSpec::output(name, width)
            }
        })
        .collect()
}

/// A random network of `configs` running as `spatial`. Each layer's image
/// is random with a zero bias and its requantization scales the table sums
/// (about `128 sqrt(C)`) onto the int8 range, so activations spread over the
/// whole range rather than sit at a bias-given constant; `zero_points`
/// gives each requantization's zero point and ReLU. Each convolution pads
/// with its input's zero point (the input's, or the requantization's before
/// it), as a compiled network does.
pub fn random_conv_network(
    configs: &[EngineConfig],
    spatial: &[lutgen_core::spatial::Spatial],
    zero_points: &[(i8, bool)],
    seed: u64,
) -> Network {
    let mut layers = Vec::new();
    let mut input = None;
    for (i, config) in configs.iter().enumerate() {
        // A dense pair gives this layer a requantization to the next one's bits.
        let pair = match configs.get(i + 1) {
            Some(next) => vec![
                config.clone(),
                EngineConfig {
                    input_dim: config.outputs,
                    codebooks: 1,
                    ..next.clone()
                },
            ],
            None => vec![config.clone()],
        };
        let net = lutgen_core::network::random_network(
            &pair,
            seed.wrapping_mul(31).wrapping_add(i as u64),
        )
        .unwrap();
        input.get_or_insert(net.input_quantization());
        let mut layer = net.layers()[0].clone();
        let image = &layer.image;
        layer.image = Image::with_params(
            image.config().clone(),
            image.centroids().to_vec(),
            image.tables().to_vec(),
            vec![0; image.config().outputs],
            image.params().clone(),
        )
        .unwrap();
        if let Some(r) = layer.requantize.as_mut() {
            let (zero_point, relu) = zero_points[i];
            let scale = 0.9 / (config.codebooks as f64).sqrt();
            *r = Requantize::from_scale(scale, zero_point, relu, r.bits).unwrap();
        }
        layers.push(layer);
    }
    let input = input.unwrap();
    let mut spatial = spatial.to_vec();
    for (i, s) in spatial.iter_mut().enumerate() {
        if let Some(c) = s.conv.as_mut() {
            c.pad_value = match i {
                0 => input.zero_point,
                _ => zero_points[i - 1].0,
            };
        }
    }
    Network::with_spatial(input, layers, spatial).unwrap()
}

/// The CNN fixture `tests/data/onnx/{name}.onnx` compiled as the conv
/// tests compile it (k-means, K = 4, calibrated on 400 training digits; K
/// keeps the model small, the cycles do not depend on it), and the first
/// `digits` test digits quantized as its input.
pub fn compiled_cnn_fixture(name: &str, digits: usize) -> (Network, Vec<Vec<i8>>) {
    use lutgen_compile::frontend::{self, WeightsOptions};
    use lutgen_compile::{self as compile, mlp, CompileOptions};
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data");
    let train = mlp::read_matrix(&data.join("digits_train_x.npy"), 64, "calibration").unwrap();
    let test = mlp::read_matrix(&data.join("digits_test_x.npy"), 64, "test").unwrap();
    let path = data.join("onnx").join(format!("{name}.onnx"));
    let model = frontend::read(&path, &WeightsOptions::default()).unwrap();
    let options = CompileOptions {
        centroids: 4,
        ..CompileOptions::default()
    };
    let hidden = indicatif::ProgressBar::hidden();
    let network = compile::compile(&model.mlp, &train[..400], &options, &hidden).unwrap();
    let inputs = test[..digits]
        .iter()
        .map(|x| network.input_quantization().quantize(x))
        .collect();
    (network, inputs)
}
