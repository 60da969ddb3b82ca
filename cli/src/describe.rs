//! What a network file holds, as the CLI reports it: `lutgen compile`'s
//! summary and `lutgen image --show FILE.lutnet` print the same description.

use lutgen_core::config::EncoderKind;
use lutgen_core::network::Layer;
use lutgen_core::spatial::Spatial;
use lutgen_core::Network;
use serde::Serialize;

/// One layer of a network file.
#[derive(Debug, Serialize)]
pub struct LayerSummary {
    pub encoder: EncoderKind,
    pub input_dim: usize,
    pub codebooks: usize,
    pub sub_vector_len: usize,
    pub centroids: usize,
    pub outputs: usize,
    pub lanes: usize,
    pub activation_bits: u32,
    pub table_bits: u32,
    pub bias_bits: u32,
    pub table_bytes: usize,
    pub centroid_bytes: usize,
    /// Real value of one accumulator unit.
    pub accumulator_scale: f32,
    pub requantize_multiplier: Option<i32>,
    pub requantize_shift: Option<u8>,
    /// The next layer's input zero point.
    pub requantize_zero_point: Option<i8>,
    /// What follows the layer in integers: `relu` (the requantization's
    /// clamp at the zero point), `table` (a 256-entry activation table),
    /// `identity`, or `output` on the last layer.
    pub then: &'static str,
    /// A convolution layer's geometry and its pooling (absent on a dense layer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spatial: Option<String>,
}

impl LayerSummary {
    fn of(layer: &Layer, spatial: &Spatial) -> Self {
        let c = layer.image.config();
        let r = layer.requantize;
        LayerSummary {
            encoder: c.encoder,
            input_dim: c.input_dim,
            codebooks: c.codebooks,
            sub_vector_len: c.sub_vector_len(),
            centroids: c.centroids,
            outputs: c.outputs,
            lanes: c.lanes,
            activation_bits: c.activation_bits,
            table_bits: c.table_bits,
            bias_bits: c.bias_bits,
            table_bytes: layer.image.tables().len(),
            centroid_bytes: layer.image.centroids().len(),
            accumulator_scale: layer.accumulator_scale,
            requantize_multiplier: r.map(|r| r.multiplier),
            requantize_shift: r.map(|r| r.shift),
            requantize_zero_point: r.map(|r| r.zero_point),
            then: match (r, &layer.activation) {
                (None, _) => "output",
                (Some(_), Some(_)) => "table",
                (Some(r), None) if r.relu => "relu",
                (Some(_), None) => "identity",
            },
            spatial: (!spatial.is_dense()).then(|| spatial.describe()),
        }
    }

    /// One line: shapes, encoder, table bytes, and `after` (what follows the layer).
    pub fn line(&self, index: usize, after: &str) -> String {
        format!(
            "layer {index}: {} -> {} outputs, {} encoder, C = {} codebooks of V = {}, K = {}, \
             {} table bytes, then {after}{}",
            self.input_dim,
            self.outputs,
            self.encoder,
            self.codebooks,
            self.sub_vector_len,
            self.centroids,
            self.table_bytes,
            self.spatial
                .as_ref()
                .map(|s| format!(" [{s}]"))
                .unwrap_or_default()
        )
    }
}

/// A whole network file.
#[derive(Debug, Serialize)]
pub struct NetworkSummary {
    pub input_dim: usize,
    pub outputs: usize,
    /// Real inputs become int8 as `round(x / input_scale) + input_zero_point`, clamped.
    pub input_scale: f32,
    pub input_zero_point: i8,
    /// Real value of one unit of the last layer's int32 outputs.
    pub output_scale: f32,
    pub table_bytes: usize,
    pub centroid_bytes: usize,
    pub layers: Vec<LayerSummary>,
}

impl NetworkSummary {
    pub fn of(network: &Network) -> Self {
        let input = network.input_quantization();
        NetworkSummary {
            input_dim: network.input_dim(),
            outputs: network.outputs(),
            input_scale: input.scale,
            input_zero_point: input.zero_point,
            output_scale: network.output_scale(),
            table_bytes: network.table_bytes(),
            centroid_bytes: network.centroid_bytes(),
            layers: network
                .layers()
                .iter()
                .zip(network.spatial())
                .map(|(layer, spatial)| LayerSummary::of(layer, spatial))
                .collect(),
        }
    }

    /// The description `lutgen image --show` prints for a network file.
    pub fn text(&self) -> String {
        let zp = i32::from(self.input_zero_point);
        let sign = if zp < 0 { '-' } else { '+' };
        let mut s = format!(
            "input: {} values, quantized as round(x / {}) {sign} {} (clamped to int8)\n",
            self.input_dim,
            self.input_scale,
            zp.abs()
        );
        for (i, l) in self.layers.iter().enumerate() {
            let after = match (l.then, l.requantize_multiplier, l.requantize_shift) {
                ("output", ..) => "int32 outputs".to_string(),
                (then, Some(m), Some(s)) => format!(
                    "requantize (x {m} / 2^{s}, zero point {}) and {then}",
                    l.requantize_zero_point.unwrap_or(0)
                ),
                (then, ..) => then.to_string(),
            };
            s += &l.line(i, &after);
            s.push('\n');
        }
        s += &format!(
            "output: {} int32 values, one unit = {} (the logits, before any softmax)\n\
             {} table bytes, {} centroid bytes\n",
            self.outputs, self.output_scale, self.table_bytes, self.centroid_bytes
        );
        s
    }
}
