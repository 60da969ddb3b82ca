//! A convolution layer top ([`Top::Conv`]) in Verilator, checked bit for bit:
//! the LUT layer against [`Reference::outputs`] on every output pixel's
//! patch, the dense baseline against [`DenseWeights::reference`]; cycles
//! per input map measured without back-pressure, against the bound
//! `output pixels x the engine's cycles per patch` (the window generator
//! is never the limit: tests/tests/conv_layer.rs).

use super::dense_sim::random_vectors;
use super::top::Top;
use super::BoardError;
use lutgen_core::conv::ConvGeometry;
use lutgen_core::memory_map::{LoadWord, MemoryMap};
use lutgen_core::{Image, Reference};
use lutgen_hdl::dense::DenseWeights;
use lutgen_sim::conv_layer::ConvLayerSim;
use lutgen_sim::{Backpressure, SimOptions};

/// What a convolution layer top computes for a patch.
type PatchReference = Box<dyn Fn(&[i8]) -> Result<Vec<i32>, BoardError>>;

/// The layer's load words (random tables or weights from `seed`), its
/// reference per patch, N and the bound per patch.
fn layer_of(
    engine: &Top,
    seed: u64,
) -> Result<(Vec<LoadWord>, PatchReference, usize, usize), BoardError> {
    match engine {
        Top::Engine(config) => {
            let image = Image::random(config.clone(), seed)?;
            let words = MemoryMap::load_words_for(config, &image);
            let outputs = move |patch: &[i8]| {
                Reference::new(&image)
                    .outputs(patch)
                    .map_err(|e| BoardError::Usage(e.to_string()))
            };
            Ok((
                words,
                Box::new(outputs),
                config.outputs,
                config.bound_cycles_per_inference(),
            ))
        }
        Top::Dense(config) => {
            let weights = DenseWeights::random(*config, seed)?;
            let words = weights
                .load_words()
                .into_iter()
                .map(|w| LoadWord {
                    address: w.address,
                    data: w.data,
                })
                .collect();
            let outputs = move |patch: &[i8]| Ok(weights.reference(patch)?);
            Ok((
                words,
                Box::new(outputs),
                config.outputs,
                config.bound_cycles_per_inference(),
            ))
        }
        other => Err(BoardError::Usage(format!(
            "a convolution layer wraps a LUT or dense engine, not {}",
            other.describe()
        ))),
    }
}

/// Streams `maps` random input maps through the convolution layer `top`
/// (a [`Top::Conv`]) under `bp`, with random contents from `seed` and a
/// random padding value, and checks every output. Returns the cycles per
/// map and the bound.
pub fn check_conv(
    top: &Top,
    maps: usize,
    bp: Backpressure,
    seed: u64,
    options: &SimOptions,
) -> Result<(f64, usize), BoardError> {
    let (geometry, engine): (&ConvGeometry, &Top) = match top {
        Top::Conv(g, engine) => (g, engine),
        other => {
            return Err(BoardError::Usage(format!(
                "{} is not a convolution layer",
                other.describe()
            )))
        }
    };
    let (words, reference, outputs, per_patch) = layer_of(engine, seed)?;
    let mut sim = ConvLayerSim::new(&top.verilog()?, top.module(), geometry, outputs, options)?;
    sim.load(words);
    let inputs = random_vectors(maps, geometry.input_len(), seed ^ 0x5eed);
    let pad = (seed % 251) as u8 as i8;
    let run = sim.run(&inputs, pad, bp)?;
    for (m, (map, got)) in inputs.iter().zip(&run.outputs).enumerate() {
        let patches = geometry
            .patches(map, pad)
            .map_err(|e| BoardError::Usage(e.to_string()))?;
        for (pixel, patch) in patches.chunks(geometry.patch_len()).enumerate() {
            let want = reference(patch)?;
            let have = &got[pixel * outputs..(pixel + 1) * outputs];
            if have != want.as_slice() {
                return Err(BoardError::Mismatch {
                    what: "convolution layer",
                    vector: m,
                    detail: format!("output pixel {pixel}: {have:?} != {want:?}"),
                });
            }
        }
    }
    Ok((run.cycles_per_map, geometry.out_pixels() * per_patch))
}
