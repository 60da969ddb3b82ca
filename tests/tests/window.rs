//! The window generator ([`WindowGenerator`]) in Verilator against
//! [`ConvGeometry::patches`]: several maps back to back, random data, random
//! back-pressure on both sides (seeded), every element and every `out_last`
//! / `out_last_map` compared. One Verilator model per geometry (seven),
//! covering kernels 1, 3 and 5, strides 1 and 2, padding on every border
//! (asymmetric too), widths that are not powers of two, several channels,
//! and maps whose bottom rows or right columns no output reads. Without
//! back-pressure the cycles per map are measured against the ideal. Also:
//! a wrong ordering fails the check, the Verilog is lint clean, and the line
//! buffers synthesize to iCE40 block RAM.

use lutgen_core::conv::{ConvError, ConvGeometry, Padding};
use lutgen_hdl::window::{line_buffer_bytes, line_buffer_rows, WindowError, WindowGenerator};
use lutgen_sim::{Model, ModelBuilder, PortId};
use lutgen_tests::{cache_dir, port_specs, run_tool, write_verilog, yosys_cells as cells};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn geometry(
    (h, w, c): (usize, usize, usize),
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> ConvGeometry {
    ConvGeometry {
        in_height: h,
        in_width: w,
        in_channels: c,
        kernel,
        stride,
        padding,
    }
}

fn pad(top: usize, left: usize, bottom: usize, right: usize) -> Padding {
    Padding {
        top,
        left,
        bottom,
        right,
    }
}

/// One element leaving the generator: data, `out_last`, `out_last_map`.
type Element = (i8, bool, bool);

struct Window {
    model: Model,
    clock: PortId,
    in_data: PortId,
    in_valid: PortId,
    in_ready: PortId,
    out_data: PortId,
    out_valid: PortId,
    out_ready: PortId,
    out_last: PortId,
    out_last_map: PortId,
}

/// What a run saw: every element, and the cycle each map's last element left.
struct Run {
    elements: Vec<Element>,
    map_ends: Vec<u64>,
    /// The cycle the first element left.
    first_out: u64,
}

/// Probabilities of `in_valid` and `out_ready` being high in a cycle (when
/// there is data left to offer).
#[derive(Clone, Copy)]
struct Pressure {
    input: f64,
    output: f64,
}

const FREE: Pressure = Pressure {
    input: 1.0,
    output: 1.0,
};

impl Window {
    fn new(geometry: &ConvGeometry) -> Self {
        let verilog = WindowGenerator::verilog(geometry).unwrap();
        let ports = port_specs(WindowGenerator::PORTS);
        let model = ModelBuilder::new(&verilog, WindowGenerator::MODULE, ports)
            .cache_dir(cache_dir())
            .rising_edge_only(true)
            .build()
            .expect("the window generator builds in Verilator");
        let port = |name: &str| model.port(name).unwrap();
        let mut window = Window {
            clock: port("clock"),
            in_data: port("in_data"),
            in_valid: port("in_valid"),
            in_ready: port("in_ready"),
            out_data: port("out_data"),
            out_valid: port("out_valid"),
            out_ready: port("out_ready"),
            out_last: port("out_last"),
            out_last_map: port("out_last_map"),
            model,
        };
        let reset = window.model.port("reset").unwrap();
        window.model.set(reset, 1);
        for _ in 0..4 {
            window.model.tick(window.clock);
        }
        window.model.set(reset, 0);
        // `in_ready` follows `reset` at once: settle it before reading it.
        window.model.eval();
        window
    }

    /// Streams `maps` in (HWC, back to back) with `pad_value` and collects
    /// `expected` elements, under `pressure` drawn from `rng`.
    fn run(
        &mut self,
        maps: &[Vec<i8>],
        pad_value: i8,
        expected: usize,
        pressure: Pressure,
        rng: &mut ChaCha8Rng,
    ) -> Run {
        self.model
            .set_by_name("pad_value", pad_value as u8 as u64)
            .unwrap();
        let input: Vec<i8> = maps.concat();
        let mut sent = 0;
        let mut run = Run {
            elements: Vec::with_capacity(expected),
            map_ends: Vec::new(),
            first_out: 0,
        };
        let limit = 20 * (expected + input.len()) as u64 + 1000;
        let mut cycle = 0;
        // The last map's bottom rows may arrive after its last patch left.
        while run.elements.len() < expected || sent < input.len() {
            assert!(
                cycle < limit,
                "stalled after {} elements",
                run.elements.len()
            );
            let valid = sent < input.len() && rng.gen_bool(pressure.input);
            let ready = rng.gen_bool(pressure.output);
            self.model.set(self.in_valid, u64::from(valid));
            self.model
                .set(self.in_data, input.get(sent).map_or(0, |&b| b as u8 as u64));
            self.model.set(self.out_ready, u64::from(ready));
            if valid && self.model.get(self.in_ready) == 1 {
                sent += 1;
            }
            if ready && self.model.get(self.out_valid) == 1 {
                assert!(run.elements.len() < expected, "more elements than expected");
                if run.elements.is_empty() {
                    run.first_out = cycle;
                }
                let map_last = self.model.get(self.out_last_map) == 1;
                run.elements.push((
                    self.model.get(self.out_data) as u8 as i8,
                    self.model.get(self.out_last) == 1,
                    map_last,
                ));
                if map_last {
                    run.map_ends.push(cycle);
                }
            }
            self.model.tick(self.clock);
            cycle += 1;
        }
        self.model.set(self.in_valid, 0);
        self.model.set(self.out_ready, 0);
        assert_eq!(sent, input.len(), "input left over");
        run
    }
}

/// The elements a window generator must emit for `maps`, per
/// [`ConvGeometry::patches`], with their `out_last` and `out_last_map`.
fn expected(geometry: &ConvGeometry, maps: &[Vec<i8>], pad_value: i8) -> Vec<Element> {
    let patch = geometry.patch_len();
    maps.iter()
        .flat_map(|map| {
            let patches = geometry.patches(map, pad_value).unwrap();
            let n = patches.len();
            patches
                .into_iter()
                .enumerate()
                .map(move |(i, x)| (x, (i + 1) % patch == 0, i + 1 == n))
        })
        .collect()
}

/// Ok, or where `got` first differs from `want` (map, output pixel, element).
fn compare(geometry: &ConvGeometry, got: &[Element], want: &[Element]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} elements, expected {}", got.len(), want.len()));
    }
    let per_map = geometry.out_pixels() * geometry.patch_len();
    match got.iter().zip(want).position(|(g, w)| g != w) {
        None => Ok(()),
        Some(i) => Err(format!(
            "map {}, output pixel {}, element {}: got {:?}, expected {:?}",
            i / per_map,
            i % per_map / geometry.patch_len(),
            i % geometry.patch_len(),
            got[i],
            want[i]
        )),
    }
}

fn random_maps(geometry: &ConvGeometry, count: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<i8>> {
    (0..count)
        .map(|_| (0..geometry.input_len()).map(|_| rng.gen()).collect())
        .collect()
}

/// Cycles per map with no back-pressure (between the last elements of the
/// second and third of four maps), and its ideal: one element per cycle out
/// or one byte per cycle in, whichever is more. Also checks the fill
/// latency: the first element leaves three cycles after the last byte of
/// the rows the first output row reads goes in.
fn cycles_per_map(window: &mut Window, geometry: &ConvGeometry) -> (u64, u64) {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let maps = random_maps(geometry, 4, &mut rng);
    let want = expected(geometry, &maps, 3);
    let run = window.run(&maps, 3, want.len(), FREE, &mut rng);
    compare(geometry, &run.elements, &want).unwrap();
    let first_rows = (geometry.kernel - geometry.padding.top).min(geometry.in_height);
    let fill = first_rows * geometry.in_width * geometry.in_channels + 2;
    assert_eq!(run.first_out, fill as u64, "fill latency");
    let ideal = (geometry.out_pixels() * geometry.patch_len()).max(geometry.input_len());
    (run.map_ends[2] - run.map_ends[1], ideal as u64)
}

/// Three maps under four kinds of back-pressure, then the throughput without.
fn check(geometry: ConvGeometry, seed: u64) {
    let mut window = Window::new(&geometry);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pressures = [
        (0.5, 0.5),
        (1.0, 0.3), // output-limited
        (0.3, 1.0), // input-limited
        (0.9, 0.9),
    ];
    for (round, (input, output)) in pressures.into_iter().enumerate() {
        let maps = random_maps(&geometry, 3, &mut rng);
        let pad_value = rng.gen();
        let want = expected(&geometry, &maps, pad_value);
        let run = window.run(
            &maps,
            pad_value,
            want.len(),
            Pressure { input, output },
            &mut rng,
        );
        if let Err(e) = compare(&geometry, &run.elements, &want) {
            panic!("{geometry:?}, round {round}: {e}");
        }
    }
    let (cycles, ideal) = cycles_per_map(&mut window, &geometry);
    println!(
        "{geometry:?}: {cycles} cycles per map, ideal {ideal} ({:.1}%)",
        100.0 * cycles as f64 / ideal as f64
    );
    assert_eq!(cycles, ideal, "{geometry:?}: cycles per map");
}

#[test]
fn kernel_3_stride_1_uniform_padding() {
    check(geometry((6, 5, 3), 3, 1, Padding::uniform(1)), 1);
}

#[test]
fn kernel_3_stride_2_asymmetric_padding() {
    check(geometry((7, 6, 2), 3, 2, pad(0, 1, 2, 0)), 2);
}

#[test]
fn kernel_5_stride_1_asymmetric_padding() {
    check(geometry((6, 7, 2), 5, 1, pad(2, 1, 0, 2)), 3);
}

#[test]
fn kernel_5_stride_2_wide_padding() {
    check(geometry((9, 10, 1), 5, 2, pad(4, 3, 1, 0)), 4);
}

#[test]
fn kernel_1_stride_1_channels() {
    check(geometry((3, 5, 4), 1, 1, Padding::default()), 5);
}

#[test]
fn kernel_1_stride_2_skips_rows_and_columns() {
    check(geometry((5, 5, 3), 1, 2, Padding::default()), 6);
}

#[test]
fn kernel_3_stride_2_unread_bottom_row() {
    check(geometry((8, 8, 2), 3, 2, Padding::default()), 7);
}

/// The check can fail: the hardware's own output, each patch reordered
/// pixel-major (kernel row, kernel column, channel) as HWC would have it, or
/// with the pad value changed, is refused.
#[test]
fn a_wrong_ordering_fails_the_check() {
    let g = geometry((6, 5, 3), 3, 1, Padding::uniform(1));
    let mut window = Window::new(&g);
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let maps = random_maps(&g, 1, &mut rng);
    let want = expected(&g, &maps, -5);
    let run = window.run(&maps, -5, want.len(), FREE, &mut rng);
    compare(&g, &run.elements, &want).unwrap();
    let k = g.kernel;
    let pixel_major: Vec<Element> = run
        .elements
        .chunks(g.patch_len())
        .flat_map(|patch| {
            (0..g.patch_len()).map(move |j| {
                let (ky, kx, c) = (
                    j / (k * g.in_channels),
                    j / g.in_channels % k,
                    j % g.in_channels,
                );
                let (data, ..) = patch[c * k * k + ky * k + kx];
                let (_, last, map_last) = patch[j];
                (data, last, map_last)
            })
        })
        .collect();
    assert!(compare(&g, &pixel_major, &want).is_err());
    let other_pad = expected(&g, &maps, -4);
    assert!(compare(&g, &run.elements, &other_pad).is_err());
}

#[test]
fn invalid_geometries_are_refused() {
    let bad = geometry((8, 8, 1), 7, 1, Padding::default());
    assert_eq!(
        WindowGenerator::verilog(&bad).err(),
        Some(WindowError::Geometry(ConvError::Kernel(7)))
    );
    let huge = geometry((4, 4096, 16), 3, 1, Padding::default());
    assert!(matches!(
        WindowGenerator::new(&huge).err(),
        Some(WindowError::LineBuffer { rows: 6, .. })
    ));
}

#[test]
fn lint_clean_with_all_warnings() {
    for (i, g) in [
        geometry((6, 5, 3), 3, 1, Padding::uniform(1)),
        geometry((5, 5, 3), 1, 2, Padding::default()),
        geometry((9, 10, 1), 5, 2, pad(4, 3, 1, 0)),
    ]
    .iter()
    .enumerate()
    {
        let path = write_verilog(
            &WindowGenerator::verilog(g).unwrap(),
            WindowGenerator::MODULE,
            &format!("window-lint{i}"),
        );
        let text = run_tool(
            "verilator",
            &[
                "--lint-only",
                "-Wall",
                "--top-module",
                WindowGenerator::MODULE,
                path.to_str().unwrap(),
            ],
        );
        assert!(!text.contains("%Warning"), "{g:?}:\n{text}");
    }
}

/// `synth_ice40`, stopped after memory mapping: the line buffers are
/// SB_RAM40_4K blocks, ceil(bytes / 512) of them.
#[test]
fn line_buffers_synthesize_to_ice40_block_ram() {
    let g = geometry((16, 20, 8), 3, 1, Padding::uniform(1));
    let path = write_verilog(
        &WindowGenerator::verilog(&g).unwrap(),
        WindowGenerator::MODULE,
        "window-synth",
    );
    let stat = path.with_file_name("stat.txt");
    let script = format!(
        "read_verilog {}; synth_ice40 -top {} -run begin:map_ffram; tee -q -o {} stat",
        path.display(),
        WindowGenerator::MODULE,
        stat.display()
    );
    run_tool("yosys", &["-q", "-p", &script]);
    let stat = std::fs::read_to_string(stat).unwrap();
    assert_eq!(line_buffer_bytes(&g), 640);
    assert_eq!(cells(&stat, "SB_RAM40_4K"), 2, "{stat}");
}

/// The ring's rows: `k + s` for "same" padding, more when a map's end
/// needs the next map's first rows beside its own last ones.
#[test]
fn line_buffer_rows_follow_the_padding() {
    let same = |k: usize, s: usize, h: usize| {
        line_buffer_rows(&geometry((h, 8, 1), k, s, Padding::uniform(k / 2)))
    };
    for (k, s) in [(1, 1), (1, 2), (3, 1), (3, 2), (5, 1), (5, 2)] {
        for h in 6..=9 {
            assert_eq!(same(k, s, h), k + s, "k {k} s {s} h {h}");
        }
    }
    let valid = |k: usize, s: usize, h: usize| {
        line_buffer_rows(&geometry((h, 8, 1), k, s, Padding::default()))
    };
    assert_eq!(valid(3, 1, 8), 6);
    assert_eq!(valid(3, 2, 8), 7);
    assert_eq!(valid(5, 2, 10), 11);
}
