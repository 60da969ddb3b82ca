//! The network device's loader in Verilator ([`NetworkFileLoader`]) against
//! the software walk ([`NetworkLoader::load`]): network files fed one byte
//! at a time with the executor's handshake (a byte only after `ready`, one
//! every ten cycles or so, the byte lines holding garbage in between); every
//! write of the load port recorded and compared with the software's, in
//! order, and the outcome (loaded with the file's CRC, or the fault code)
//! with the software's. Valid networks with and without activation tables,
//! damaged files (random byte flips in the fields and anywhere), truncated
//! and overlong files, files for other layers; restart and abandon.
//!
//! Where the two differ by design (the hardware cannot know a file's
//! length, so it streams): a truncated file leaves the hardware waiting,
//! not loaded and with no fault, where the software says `WrongImage`; and
//! a file longer than its walk whose trailing bytes (read as the CRC) do not
//! match is `ImageCrc` in hardware, `WrongImage` in software.

use lutgen_core::network::{random_network, ActivationTable, Network};
use lutgen_core::network_loader::{Field, NetworkLoader};
use lutgen_core::protocol::DeviceError;
use lutgen_core::{EncoderKind, EngineConfig};
use lutgen_hdl::device::NetworkFileLoader;
use lutgen_sim::{Model, ModelBuilder, PortId};
use lutgen_tests::port_specs;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Three layers as in the core loader's tests: `l2` with two lanes, a
/// `tree` layer taking 6-bit activations, a small `l2` layer.
fn configs() -> Vec<EngineConfig> {
    let first = EngineConfig {
        input_dim: 16,
        codebooks: 4,
        centroids: 8,
        outputs: 12,
        lanes: 2,
        ..EngineConfig::default()
    };
    let second = EngineConfig {
        input_dim: 12,
        codebooks: 3,
        centroids: 16,
        outputs: 8,
        encoder: EncoderKind::Tree,
        activation_bits: 6,
        ..EngineConfig::default()
    };
    let third = EngineConfig {
        input_dim: 8,
        codebooks: 2,
        centroids: 4,
        outputs: 5,
        ..EngineConfig::default()
    };
    vec![first, second, third]
}

/// A random network of `configs` with an activation table after layer `i`
/// when bit `i` of `tables` is set (never after the last layer).
fn network(configs: &[EngineConfig], seed: u64, tables: u32) -> Network {
    let net = random_network(configs, seed).unwrap();
    let mut layers = net.layers().to_vec();
    let last = layers.len() - 1;
    for (i, layer) in layers[..last].iter_mut().enumerate() {
        let bits = layer.requantize.unwrap().bits;
        let (lo, hi) = EngineConfig::signed_range(bits);
        layer.activation = (tables >> i & 1 == 1).then(|| {
            ActivationTable::from_fn(bits, |q| (i64::from(q) / 2 + 1).clamp(lo, hi) as i8).unwrap()
        });
    }
    Network::new(net.input_quantization(), layers).unwrap()
}

/// What the loader ended with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Loaded, with this trailing CRC.
    Loaded(u32),
    /// This fault code.
    Fault(u8),
    /// Neither: waiting for more bytes.
    Waiting,
}

struct Hw {
    model: Model,
    clock: PortId,
    restart: PortId,
    abandon: PortId,
    byte_valid: PortId,
    in_byte: PortId,
    ready: PortId,
    load_enable: PortId,
    load_address: PortId,
    load_data: PortId,
    offset: PortId,
    loaded: PortId,
    image_crc: PortId,
    fault: PortId,
    writes: Vec<(u32, u32)>,
    rng: ChaCha8Rng,
    cycles: u64,
}

impl Hw {
    fn new(loader: &NetworkLoader) -> Self {
        let verilog = NetworkFileLoader::verilog(loader);
        let ports = port_specs(NetworkFileLoader::PORTS);
        let model = ModelBuilder::new(&verilog, NetworkFileLoader::MODULE, ports)
            .build()
            .expect("the loader builds in Verilator");
        let port = |name: &str| model.port(name).unwrap();
        let mut hw = Hw {
            clock: port("clock"),
            restart: port("restart"),
            abandon: port("abandon"),
            byte_valid: port("byte_valid"),
            in_byte: port("in_byte"),
            ready: port("ready"),
            load_enable: port("load_enable"),
            load_address: port("load_address"),
            load_data: port("load_data"),
            offset: port("offset"),
            loaded: port("loaded"),
            image_crc: port("image_crc"),
            fault: port("fault"),
            model,
            writes: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(7),
            cycles: 0,
        };
        for _ in 0..4 {
            hw.tick();
        }
        hw
    }

    fn tick(&mut self) {
        self.model.tick(self.clock);
        self.cycles += 1;
        if self.model.get(self.load_enable) == 1 {
            self.writes.push((
                self.model.get(self.load_address) as u32,
                self.model.get(self.load_data) as u32,
            ));
        }
    }

    fn pulse(&mut self, port: PortId) {
        self.model.set(port, 1);
        self.tick();
        self.model.set(port, 0);
        self.tick();
    }

    /// A new load (the executor's restart at offset 0).
    fn restart(&mut self) {
        self.pulse(self.restart);
        self.writes.clear();
    }

    fn abandon(&mut self) {
        self.pulse(self.abandon);
    }

    fn fault(&self) -> u8 {
        self.model.get(self.fault) as u8
    }

    fn offset(&self) -> u64 {
        self.model.get(self.offset)
    }

    /// Waits, as the executor does, for a fault or `ready`: false on a fault.
    fn wait_ready(&mut self) -> bool {
        for _ in 0..2000 {
            if self.fault() != 0 {
                return false;
            }
            if self.model.get(self.ready) == 1 {
                return true;
            }
            self.tick();
        }
        panic!("the loader never became ready (offset {})", self.offset());
    }

    /// Feeds `bytes` until they end or the loader faults, then waits for it
    /// to finish with the last one.
    fn feed(&mut self, bytes: &[u8]) -> Outcome {
        for &b in bytes {
            if !self.wait_ready() {
                break;
            }
            // The executor reads its buffer for a cycle (or more: the
            // receive side may be slow), then offers the byte for one.
            for _ in 0..self.rng.gen_range(1..4) {
                self.tick();
            }
            self.model.set(self.in_byte, u64::from(b));
            self.model.set(self.byte_valid, 1);
            self.tick();
            self.model.set(self.byte_valid, 0);
            self.model.set(self.in_byte, self.rng.gen::<u8>().into());
        }
        self.wait_ready();
        self.outcome()
    }

    fn outcome(&self) -> Outcome {
        if self.fault() != 0 {
            Outcome::Fault(self.fault())
        } else if self.model.get(self.loaded) == 1 {
            Outcome::Loaded(self.model.get(self.image_crc) as u32)
        } else {
            Outcome::Waiting
        }
    }

    /// A whole load: restart, every byte, the outcome.
    fn load(&mut self, file: &[u8]) -> Outcome {
        self.restart();
        let outcome = self.feed(file);
        if matches!(outcome, Outcome::Loaded(_)) {
            assert_eq!(self.offset(), file.len() as u64, "offset after a load");
        }
        outcome
    }
}

/// The software's outcome and writes for `file`.
fn software(loader: &NetworkLoader, file: &[u8]) -> (Outcome, Vec<(u32, u32)>) {
    match loader.load(file) {
        Ok(words) => {
            let n = file.len();
            let crc = u32::from_le_bytes(file[n - 4..].try_into().unwrap());
            (
                Outcome::Loaded(crc),
                words.into_iter().map(|w| (w.address, w.data)).collect(),
            )
        }
        Err(e) => (Outcome::Fault(e as u8), Vec::new()),
    }
}

/// Where the walk of `file`'s own `has_table` flags puts each field:
/// (offset, length, the field; `None` for the CRC), and the walk's
/// length (CRC included), or `None` when the file ends before a flag the
/// walk depends on (or a flag is neither 0 nor 1).
type Layout = Vec<(usize, usize, Option<Field>)>;

fn layout(loader: &NetworkLoader, file: &[u8]) -> (Layout, Option<usize>) {
    let mut at = 0;
    let mut follows = false;
    let mut out = Vec::new();
    for field in loader.fields() {
        if let Field::Table { .. } = field {
            if !std::mem::take(&mut follows) {
                continue;
            }
        }
        let n = field.bytes(loader.loaders());
        if let Field::TableFlag { .. } = field {
            match file.get(at) {
                Some(0) => {}
                Some(1) => follows = true,
                _ => return (out, None),
            }
        }
        out.push((at, n, Some(field.clone())));
        at += n;
    }
    out.push((at, 4, None));
    (out, Some(at + 4))
}

/// Loads `file` in hardware and checks it against the software walk.
fn check(hw: &mut Hw, loader: &NetworkLoader, file: &[u8], what: &str) -> Outcome {
    let outcome = hw.load(file);
    let (expected, words) = software(loader, file);
    let walk = layout(loader, file).1;
    let wrong = Outcome::Fault(DeviceError::WrongImage as u8);
    let crc = Outcome::Fault(DeviceError::ImageCrc as u8);
    match walk {
        // The file is as long as its walk: the same, exactly.
        Some(len) if len == file.len() => {
            assert_eq!(outcome, expected, "{what}: outcome");
            if let Outcome::Loaded(_) = expected {
                assert_eq!(hw.writes.len(), words.len(), "{what}: number of writes");
                assert!(hw.writes == words, "{what}: writes differ");
            }
        }
        // Longer than its walk: the software refuses it for its length
        // first (WrongImage) unless a field fails before; the hardware
        // reads the walk's last four bytes as the CRC, then faults on the
        // next byte.
        Some(len) if len < file.len() => {
            if expected == wrong {
                assert!(outcome == wrong || outcome == crc, "{what}: {outcome:?}");
            } else {
                assert_eq!(outcome, expected, "{what}: outcome");
            }
        }
        // Shorter: the hardware waits for the rest unless a field fails.
        _ => {
            if expected == wrong {
                assert!(
                    outcome == wrong || outcome == Outcome::Waiting,
                    "{what}: {outcome:?}"
                );
            } else {
                assert_eq!(outcome, expected, "{what}: outcome");
            }
        }
    }
    outcome
}

#[test]
fn network_loader_matches_the_software_walk() {
    let configs = configs();
    let loader = NetworkLoader::new(&configs).unwrap();
    let mut hw = Hw::new(&loader);
    let start = std::time::Instant::now();

    // (a) Valid networks: every combination of tables, several seeds.
    let mut good = Vec::new();
    for seed in 0..6u64 {
        let tables = (seed % 4) as u32;
        let file = network(&configs, seed, tables).to_bytes();
        let outcome = check(
            &mut hw,
            &loader,
            &file,
            &format!("seed {seed} tables {tables}"),
        );
        assert!(matches!(outcome, Outcome::Loaded(_)), "{outcome:?}");
        good.push(file);
    }
    let longest = network(&configs, 9, 3).to_bytes();
    assert_eq!(longest.len(), loader.max_len());
    assert!(matches!(
        check(&mut hw, &loader, &longest, "longest"),
        Outcome::Loaded(_)
    ));
    eprintln!(
        "{} bytes per file at most, {} cycles so far",
        longest.len(),
        hw.cycles
    );

    // (b) Damaged: random flips, half in the non-image fields (where the
    // device's own checks are), half anywhere.
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let mut seen = std::collections::BTreeMap::new();
    for case in 0..48 {
        let base = &good[rng.gen_range(0..good.len())];
        let mut file = base.clone();
        let (fields, _) = layout(&loader, base);
        let field_bytes: Vec<usize> = fields
            .iter()
            .filter(|(_, _, f)| !matches!(f, Some(Field::Image { .. })))
            .flat_map(|&(at, n, _)| at..at + n)
            .collect();
        for _ in 0..rng.gen_range(1..=3) {
            let at = if case % 2 == 0 {
                field_bytes[rng.gen_range(0..field_bytes.len())]
            } else {
                rng.gen_range(0..file.len())
            };
            file[at] ^= rng.gen_range(1..=255u8);
        }
        let outcome = check(&mut hw, &loader, &file, &format!("damaged case {case}"));
        *seen.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    eprintln!("damaged files: {seen:?}");
    for code in [9, 10, 11] {
        assert!(
            seen.contains_key(&format!("{:?}", Outcome::Fault(code))),
            "no damaged file raised {code}: {seen:?}"
        );
    }

    // Truncated: waits, no fault, nothing more than the full file's writes.
    let file = &good[1];
    let (_, full) = software(&loader, file);
    for cut in [1, 4, 5, 100, file.len() / 2] {
        let part = &file[..file.len() - cut];
        assert_eq!(hw.load(part), Outcome::Waiting, "cut {cut}");
        assert_eq!(hw.offset(), part.len() as u64);
        assert!(full.starts_with(&hw.writes), "cut {cut}: writes");
        // The rest completes it.
        assert!(matches!(
            hw.feed(&file[file.len() - cut..]),
            Outcome::Loaded(_)
        ));
        assert!(hw.writes == full, "cut {cut}: writes after the rest");
    }

    // An extra byte: loaded, then WrongImage on it.
    let mut long = good[2].clone();
    long.push(0);
    assert_eq!(
        check(&mut hw, &loader, &long, "extra byte"),
        Outcome::Fault(9)
    );
    assert_eq!(
        hw.offset(),
        good[2].len() as u64,
        "the extra byte is not taken"
    );

    // Networks for other layers.
    let mut other = configs.clone();
    other[2].outputs = 6;
    let foreign = random_network(&other, 1).unwrap().to_bytes();
    assert_eq!(
        check(&mut hw, &loader, &foreign, "other outputs"),
        Outcome::Fault(9)
    );
    let short = random_network(&configs[..2], 1).unwrap().to_bytes();
    assert_eq!(
        check(&mut hw, &loader, &short, "two layers"),
        Outcome::Fault(9)
    );
    let mut wider = configs.clone();
    wider[1].activation_bits = 8;
    let foreign = random_network(&wider, 2).unwrap().to_bytes();
    assert_eq!(
        check(&mut hw, &loader, &foreign, "other widths"),
        Outcome::Fault(9)
    );

    eprintln!(
        "{} cycles in {:.1} s",
        hw.cycles,
        start.elapsed().as_secs_f64()
    );
}

#[test]
fn network_loader_restarts_and_abandons() {
    let configs = configs();
    let loader = NetworkLoader::new(&configs).unwrap();
    let mut hw = Hw::new(&loader);
    let good = network(&configs, 11, 1).to_bytes();
    let other = network(&configs, 12, 2).to_bytes();
    let (loaded, words) = software(&loader, &good);
    let (loaded_other, other_words) = software(&loader, &other);

    // A fault, the executor's abandon (the fault and the load forgotten),
    // then a new load.
    let mut bad = good.clone();
    bad[8] ^= 1; // the version
    assert_eq!(hw.load(&bad), Outcome::Fault(9));
    hw.abandon();
    assert_eq!(hw.outcome(), Outcome::Waiting);
    assert_eq!(hw.offset(), 0);
    assert_eq!(hw.load(&good), loaded);
    assert!(hw.writes == words);

    // A reset (abandon with nothing in progress) keeps a loaded network.
    hw.abandon();
    assert_eq!(hw.outcome(), loaded);
    assert_eq!(hw.offset(), good.len() as u64);

    // A second load after a complete one.
    assert_eq!(hw.load(&other), loaded_other);
    assert!(hw.writes == other_words);

    // Abandoned halfway (a reset during the load): nothing loaded, and the
    // next load works.
    hw.restart();
    assert_eq!(hw.feed(&good[..good.len() / 2]), Outcome::Waiting);
    hw.abandon();
    assert_eq!(hw.outcome(), Outcome::Waiting);
    assert_eq!(hw.offset(), 0);
    assert_eq!(hw.load(&good), loaded);
    assert!(hw.writes == words);

    // Restarted halfway, without an abandon: starts over.
    hw.restart();
    assert_eq!(hw.feed(&other[..other.len() / 3]), Outcome::Waiting);
    assert_eq!(hw.load(&other), loaded_other);
    assert!(hw.writes == other_words);

    // An extra byte after a complete load faults; abandon then forgets the network.
    assert_eq!(hw.feed(&[0]), Outcome::Fault(9));
    hw.abandon();
    assert_eq!(hw.outcome(), Outcome::Waiting);
    assert_eq!(hw.offset(), 0);

    // A fault inside an image (its header), then a restart without abandon.
    let mut bad = other.clone();
    let image_at = layout(&loader, &other)
        .0
        .iter()
        .find(|(_, _, f)| matches!(f, Some(Field::Image { layer: 1, .. })))
        .unwrap()
        .0;
    bad[image_at + 3] ^= 0x40;
    assert_eq!(hw.load(&bad), Outcome::Fault(9));
    assert_eq!(hw.load(&other), loaded_other);
    assert!(hw.writes == other_words);
}

/// `file` with its trailing CRC made right again.
fn with_crc(mut file: Vec<u8>) -> Vec<u8> {
    let n = file.len() - 4;
    let crc = lutgen_core::protocol::crc32(&file[..n]);
    file[n..].copy_from_slice(&crc.to_le_bytes());
    file
}

/// Every range the device checks, at its edges and just past them, in
/// files whose CRC is right (so an accepted edit loads): the requantization
/// values, the scales (zero, negative, infinite, NaN, the smallest and
/// largest positive), `has_table`, and table entries where a requantized
/// value can land and where it cannot.
#[test]
fn network_loader_range_edges() {
    let configs = configs();
    let loader = NetworkLoader::new(&configs).unwrap();
    let mut hw = Hw::new(&loader);
    let base = network(&configs, 21, 3).to_bytes();
    let (fields, _) = layout(&loader, &base);
    let mut outcomes = std::collections::BTreeMap::new();
    let mut run = |file: Vec<u8>, what: String| {
        let outcome = match check(&mut hw, &loader, &with_crc(file), &what) {
            Outcome::Loaded(_) => "loaded".to_string(),
            other => format!("{other:?}"),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    };
    for &(at, n, ref field) in &fields {
        match field {
            Some(Field::Value {
                signed, min, max, ..
            }) => {
                for v in [min - 1, *min, *max, max + 1] {
                    let bytes = &v.to_le_bytes()[..n];
                    // Only values the field's bytes can hold.
                    let mut raw = [0u8; 8];
                    raw[..n].copy_from_slice(bytes);
                    let back = i64::from_le_bytes(raw);
                    let shift = 64 - 8 * n as u32;
                    let back = if *signed {
                        (back << shift) >> shift
                    } else {
                        back
                    };
                    if back != v {
                        continue;
                    }
                    let mut file = base.clone();
                    file[at..at + n].copy_from_slice(bytes);
                    run(file, format!("value at {at} = {v}"));
                }
            }
            Some(Field::PositiveF32) => {
                for v in [
                    0.0f32,
                    -0.0,
                    -1.0,
                    f32::INFINITY,
                    f32::NAN,
                    f32::MIN_POSITIVE,
                    1e-45,
                    f32::MAX,
                ] {
                    let mut file = base.clone();
                    file[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    run(file, format!("scale at {at} = {v}"));
                }
            }
            Some(Field::TableFlag { .. }) => {
                for v in [2u8, 255] {
                    let mut file = base.clone();
                    file[at] = v;
                    run(file, format!("has_table at {at} = {v}"));
                }
            }
            Some(Field::Table { bits, .. }) => {
                let (lo, hi) = EngineConfig::signed_range(*bits);
                // Reachable entries at and past their edges, unreachable
                // ones zero and not.
                for (i, v) in [
                    (0u8, hi),
                    (1, lo),
                    (2, hi + 1),
                    (3, lo - 1),
                    (hi as u8, 0),
                    ((hi + 1) as u8, 0),
                    ((hi + 1) as u8, 1),
                    ((lo - 1) as u8, -1),
                    (lo as u8, lo),
                ] {
                    let mut file = base.clone();
                    file[at + usize::from(i)] = v as i8 as u8;
                    run(file, format!("table at {at} entry {i} = {v}"));
                }
            }
            _ => {}
        }
    }
    eprintln!("range edges: {outcomes:?}");
    assert!(outcomes.contains_key("Fault(11)") && outcomes.contains_key("loaded"));
}

/// Layers whose engines read R > 1 entries per lane per cycle: the hardware
/// loader packs R table entries into each write (entry r at bit r * t, the
/// last word of a row partial when L * R does not divide N), as the software
/// walk does (itself checked against `MemoryMap::load_words_for` in core),
/// and walks the R bias memories of every lane. Layer 0: R = 4 of 8 bits,
/// two lanes, N = 12 (a full 32-bit word, rows of 8 outputs, the last
/// partial); layer 1 (`tree`): R = 8 of 4 bits, N = 8; layer 2: R = 2, N = 5.
#[test]
fn packed_table_words_match_the_software_walk() {
    let mut configs = configs();
    configs[0].entries_per_read = 4;
    configs[1].entries_per_read = 8;
    configs[1].table_bits = 4;
    configs[2].entries_per_read = 2;
    let loader = NetworkLoader::new(&configs).unwrap();
    let mut hw = Hw::new(&loader);
    for seed in 0..4u64 {
        let tables = (seed % 4) as u32;
        let file = network(&configs, seed, tables).to_bytes();
        let outcome = check(&mut hw, &loader, &file, &format!("packed seed {seed}"));
        assert!(matches!(outcome, Outcome::Loaded(_)), "{outcome:?}");
    }
}

/// A conv network: a 5x6x2 map, a 3x3 convolution (pad 1, 6-bit input, so
/// the pad value has a range to check) to 4 channels, MaxPool 2x2; a 1x1
/// convolution to 3 channels, GlobalAveragePool; a dense layer 3 -> 5.
fn conv_network(seed: u64, pad: i8, tables: u32) -> Network {
    use lutgen_core::conv::{ConvGeometry, Padding};
    use lutgen_core::spatial::{Conv, Pool, Spatial};
    let config = |d, c, n, bits| EngineConfig {
        input_dim: d,
        codebooks: c,
        centroids: 4,
        outputs: n,
        activation_bits: bits,
        ..EngineConfig::default()
    };
    let configs = [config(18, 2, 4, 6), config(4, 1, 3, 8), config(3, 3, 5, 8)];
    let dense = network(&configs, seed, tables);
    let conv = |h, w, c, k, p, pad_value| Conv {
        geometry: ConvGeometry {
            in_height: h,
            in_width: w,
            in_channels: c,
            kernel: k,
            stride: 1,
            padding: Padding::uniform(p),
        },
        pad_value,
    };
    let spatial = vec![
        Spatial {
            conv: Some(conv(5, 6, 2, 3, 1, pad)),
            pool: Some(Pool::Max2),
        },
        Spatial {
            conv: Some(conv(2, 3, 4, 1, 0, 0)),
            pool: Some(Pool::GlobalAvg),
        },
        Spatial::DENSE,
    ];
    Network::with_spatial(dense.input_quantization(), dense.layers().to_vec(), spatial).unwrap()
}

/// The loader of a conv network device in Verilator against the software
/// walk: conv blocks (geometry fixed, the pad value range-checked and
/// written to the layer's spatial register), a pooling layer's zero point
/// written twice (its requantization stage's and its pool stage's, in that
/// order, a cycle apart), every write in order; damaged files, every value
/// range at its edges (the pad value's and the mirrored zero point's
/// included), and files for the dense device of the same engines.
#[test]
fn conv_network_loader_matches_the_software_walk() {
    use lutgen_core::spatial::Spatial;
    let first = conv_network(0, -3, 0);
    let configs = first.configs();
    let shapes: Vec<Spatial> = first.spatial().iter().map(Spatial::device_shape).collect();
    let loader = NetworkLoader::with_spatial(&configs, &shapes).unwrap();
    let mut hw = Hw::new(&loader);
    let mut good = Vec::new();
    for (seed, pad, tables) in [(0, -3, 0), (1, 31, 1), (2, -32, 2), (3, 0, 3)] {
        let file = conv_network(seed, pad, tables).to_bytes();
        let outcome = check(&mut hw, &loader, &file, &format!("conv seed {seed}"));
        assert!(matches!(outcome, Outcome::Loaded(_)), "{outcome:?}");
        // Layer 0's and layer 1's pool zero points, and layer 0's pad value.
        let spatial = |layer: u32, word: u32| layer << 28 | 0xFFD << 16 | word;
        for address in [spatial(0, 0), spatial(0, 1), spatial(1, 1)] {
            assert!(hw.writes.iter().any(|w| w.0 == address), "{address:#x}");
        }
        good.push(file);
    }
    let longest = conv_network(9, 5, 3).to_bytes();
    assert_eq!(longest.len(), loader.max_len());

    // Damaged files: flips in the non-image fields (the conv blocks among them).
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let mut seen = std::collections::BTreeMap::new();
    for case in 0..32 {
        let base = &good[rng.gen_range(0..good.len())];
        let (fields, _) = layout(&loader, base);
        let field_bytes: Vec<usize> = fields
            .iter()
            .filter(|(_, _, f)| !matches!(f, Some(Field::Image { .. })))
            .flat_map(|&(at, n, _)| at..at + n)
            .collect();
        let mut file = base.clone();
        let at = field_bytes[rng.gen_range(0..field_bytes.len())];
        file[at] ^= rng.gen_range(1..=255u8);
        if case % 2 == 0 {
            file = with_crc(file);
        }
        let outcome = check(
            &mut hw,
            &loader,
            &file,
            &format!("conv damaged case {case}"),
        );
        *seen.entry(format!("{outcome:?}")).or_insert(0) += 1;
    }
    eprintln!("damaged conv files: {seen:?}");

    // Every value at its range's edges, the CRC right.
    let base = &good[1];
    let (fields, _) = layout(&loader, base);
    let mut outcomes = std::collections::BTreeMap::new();
    for &(at, n, ref field) in &fields {
        if let Some(Field::Value {
            signed: true,
            min,
            max,
            ..
        }) = field
        {
            if n != 1 {
                continue;
            }
            for v in [min - 1, *min, *max, max + 1] {
                if !(-128..=127).contains(&v) {
                    continue;
                }
                let mut file = base.clone();
                file[at] = v as i8 as u8;
                let outcome = check(
                    &mut hw,
                    &loader,
                    &with_crc(file),
                    &format!("conv value at {at} = {v}"),
                );
                *outcomes.entry(format!("{outcome:?}")).or_insert(0) += 1;
            }
        }
    }
    eprintln!("conv range edges: {outcomes:?}");
    assert!(outcomes.contains_key("Fault(11)"), "{outcomes:?}");

    // The file for the dense device of the same engines, and a conv file
    // on the dense device's loader: WrongImage both ways.
    let dense = network(&configs, 4, 1).to_bytes();
    assert_eq!(
        check(&mut hw, &loader, &dense, "dense file"),
        Outcome::Fault(9)
    );
    let dense_loader = NetworkLoader::new(&configs).unwrap();
    assert_eq!(software(&dense_loader, &good[0]).0, Outcome::Fault(9));
}
