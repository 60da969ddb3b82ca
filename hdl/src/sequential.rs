//! The sequential schedule: one [`Engine`], sized for the network's largest
//! layer, runs the layers in turn; between them a [`RequantStage`] and a
//! [`PoolStage`] per layer boundary write the next layer's input into an
//! activation buffer, which the sequencer then reads back into the engine.
//! Same ports, load port and trace port as the dataflow
//! [`crate::network::NetworkTop`]; it trades throughput (the sum of the
//! layers' cycles, one layer in the engine at a time) for area (one search
//! and one set of lanes).
//!
//! Every engine memory holds one bank per layer
//! ([`lutgen_core::sequential`]): the images are padded to the engine's
//! shape (C, K, N, and V: a layer's sub-vectors padded with zero elements),
//! the sequencer feeds zeros where the padding is and drops the outputs past
//! a layer's N. Before each layer it writes the layer's number to the
//! engine's bank register through the engine's load port (a cycle in which
//! no outside load can arrive: the device loads only while no vector is in
//! flight).
//!
//! **Activation buffer**: one block RAM of two halves of
//! [`SequentialPlan::buffer_half`] bytes (the largest map a layer reads,
//! rounded up to a power of two). The input vector or map is written into
//! half 0 as it arrives on `in_data`; layer `i` reads half `i % 2` and
//! writes its output (requantized, then pooled: the map the next layer
//! reads, HWC) into the other half, so a convolution's later patches are
//! still there while its first outputs are written.
//!
//! **Sequencer**: per layer it walks the engine passes (one for a dense
//! layer, one per output pixel `(oy, ox)` of a convolution, row by row) and
//! in each pass the engine's `C * V` input elements, codebook by codebook.
//! Element `j < V_layer` of codebook `c < C_layer` is the layer's patch
//! element `c * V_layer + j` (channel-major, `ch * k * k + ky * k + kx`, as
//! [`lutgen_core::conv::ConvGeometry::patch`]): it is read from the buffer,
//! or is the layer's pad value (a load-port register) when its pixel lies
//! outside the map; every other element is 0. A dense layer is walked as a
//! 1x1 convolution over a 1x1xD map. The patch walk uses only adders: a
//! running address `((iy - top) * W + (ix - left)) * C + ch` (modulo 2^16; it
//! is only read inside the map) steps by generation-time constants as `kx`,
//! `ky`, `ch` and the pixel advance, with `iy`, `ix` in padded coordinates
//! for the border test. One element a cycle goes to the engine: the read is
//! issued when the element is generated and the buffer's registered output
//! is held until the engine takes it.
//!
//! Per vector: load the input into half 0 (layer 0 runs on it as it
//! arrives, from its first element on, so a load between vectors is whole
//! before anything reaches the engine; an element not yet written waits; layer 0's output writes take
//! the write port first, the input waits); for each layer select its bank,
//! feed its passes, and take its engine outputs (N per pass, the padded
//! ones dropped) into the layer's requantization and pooling stage, whose
//! output fills the other half; the next layer starts when the engine has
//! sent the layer's last output and the stage has written the whole map.
//! The last layer's N outputs leave on `out_data`, then the next vector loads.

use crate::engine::Engine;
use crate::memory::{address, Address, BlockRam};
use crate::pool::PoolStage;
use crate::requantize::RequantStage;
use lutgen_core::memory_map::{BANK_MEMORY, PAD_VALUE_WORD, REQUANTIZE_MEMORY, SPATIAL_MEMORY};
use lutgen_core::sequential::SequentialPlan;
use lutgen_core::spatial::Spatial;
use rust_hdl::prelude::*;

/// A value modulo 2^16 (the running buffer address's arithmetic).
fn wrapping(value: i64) -> Constant<Address> {
    Constant::new((value.rem_euclid(1 << 16) as u64).into())
}

/// One layer's walk, as generation-time constants.
struct Walk {
    v: usize,
    codebooks: usize,
    k1: usize,
    step_x: i64,
    step_y: i64,
    step_c: i64,
    base: i64,
    step_pixel: i64,
    step_row: i64,
    stride: usize,
    last_x: usize,
    last_y: usize,
    top: usize,
    bottom_end: usize,
    left: usize,
    right_end: usize,
}

impl Walk {
    fn new(config: &lutgen_core::EngineConfig, spatial: &Spatial) -> Walk {
        let (h, w, c, k, s, top, left) = match spatial.conv {
            Some(conv) => {
                let g = conv.geometry;
                (
                    g.in_height,
                    g.in_width,
                    g.in_channels,
                    g.kernel,
                    g.stride,
                    g.padding.top,
                    g.padding.left,
                )
            }
            None => (1, 1, config.input_dim, 1, 1, 0, 0),
        };
        let (ow, oh) = match spatial.conv {
            Some(conv) => (conv.geometry.out_width(), conv.geometry.out_height()),
            None => (1, 1),
        };
        let (wc, ci, k1) = ((w * c) as i64, c as i64, (k - 1) as i64);
        Walk {
            v: config.sub_vector_len(),
            codebooks: config.codebooks,
            k1: k - 1,
            step_x: ci,
            step_y: wc - k1 * ci,
            step_c: 1 - k1 * wc - k1 * ci,
            base: -((top as i64) * wc + (left as i64) * ci),
            step_pixel: (s as i64) * ci,
            step_row: (s as i64) * wc - (ow as i64 - 1) * (s as i64) * ci,
            stride: s,
            last_x: ow - 1,
            last_y: oh - 1,
            top,
            bottom_end: top + h,
            left,
            right_end: left + w,
        }
    }
}

#[derive(LogicBlock)]
pub struct SequentialTop {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset of the engine, stages and sequencer; hold for
    /// [`crate::engine::RESET_CYCLES`]. Memories and parameters are kept.
    pub reset: Signal<In, Bit>,
    /// The first layer's input (a vector, or a map in HWC order), element 0 first.
    pub in_data: Signal<In, Bits<8>>,
    pub in_valid: Signal<In, Bit>,
    pub in_ready: Signal<Out, Bit>,
    /// The last layer's outputs, output 0 first.
    pub out_data: Signal<Out, Bits<32>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_ready: Signal<In, Bit>,
    /// High with the last output of each vector.
    pub out_last: Signal<Out, Bit>,
    /// Load port: layer, memory and word in `load_address`, as the network
    /// top's (memories in the padded engine's map; memory `SPATIAL_MEMORY`
    /// the layer's pad value and pool zero point).
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    /// Sticky: the engine raised its fault.
    pub fault: Signal<Out, Bit>,
    /// Trace port, as the network top's: the activations layer
    /// `trace_select` hands to the next layer (pooled), as they enter the buffer.
    pub trace_select: Signal<In, Bits<4>>,
    pub trace_data: Signal<Out, Bits<8>>,
    pub trace_valid: Signal<Out, Bit>,

    engine: Engine,
    stages: Vec<RequantStage>,
    pools: Vec<PoolStage>,
    buffer: BlockRam<Bits<8>>,
    /// Each layer's pad value (a load-port register; reset keeps it).
    pads: Vec<DFF<Bits<8>>>,
    /// The layer in the engine.
    layer: DFF<Bits<4>>,
    /// Loading the input into half 0; elements loaded.
    loading: DFF<Bit>,
    loaded: DFF<Address>,
    /// Select `layer`'s bank this cycle; feed it from the next.
    start: DFF<Bit>,
    /// The walk has elements left this layer.
    feeding: DFF<Bit>,
    /// The element offered to the engine: valid, a padding zero, the pad value
    /// (else the buffer's output).
    held: DFF<Bit>,
    held_zero: DFF<Bit>,
    held_pad: DFF<Bit>,
    /// The pass: output pixel, its top-left corner (padded coordinates) and
    /// the address of that corner's channel 0.
    ox: DFF<Address>,
    oy: DFF<Address>,
    corner_x: DFF<Address>,
    corner_y: DFF<Address>,
    corner: DFF<Address>,
    /// The element in the pass: codebook and offset in the engine's input.
    cb: DFF<Address>,
    off: DFF<Address>,
    /// The patch element: kernel position, pixel (padded coordinates), address.
    kx: DFF<Address>,
    ky: DFF<Address>,
    ix: DFF<Address>,
    iy: DFF<Address>,
    at: DFF<Address>,
    /// Engine outputs taken in this pass; passes done this layer; the
    /// engine has sent the layer's last output.
    taken: DFF<Address>,
    passes_out: DFF<Address>,
    outputs_done: DFF<Bit>,
    /// Activations written to the buffer this layer; all of them are.
    written: DFF<Address>,
    writes_done: DFF<Bit>,

    sel_v: Signal<Local, Address>,
    sel_codebooks: Signal<Local, Address>,
    sel_k1: Signal<Local, Address>,
    sel_step_x: Signal<Local, Address>,
    sel_step_y: Signal<Local, Address>,
    sel_step_c: Signal<Local, Address>,
    sel_base: Signal<Local, Address>,
    sel_step_pixel: Signal<Local, Address>,
    sel_step_row: Signal<Local, Address>,
    sel_stride: Signal<Local, Address>,
    sel_last_x: Signal<Local, Address>,
    sel_last_y: Signal<Local, Address>,
    sel_top: Signal<Local, Address>,
    sel_bottom_end: Signal<Local, Address>,
    sel_left: Signal<Local, Address>,
    sel_right_end: Signal<Local, Address>,
    sel_outputs: Signal<Local, Address>,
    sel_last_pass: Signal<Local, Address>,
    sel_written: Signal<Local, Address>,
    sel_read_half: Signal<Local, Address>,
    sel_write_half: Signal<Local, Address>,
    sel_pad: Signal<Local, Bits<8>>,
    is_last: Signal<Local, Bit>,
    live: Signal<Local, Bit>,
    in_map: Signal<Local, Bit>,
    pass_end: Signal<Local, Bit>,
    advance: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
    next_x: Signal<Local, Address>,
    next_y: Signal<Local, Address>,
    next_corner: Signal<Local, Address>,
    real_output: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    stage_data: Signal<Local, Bits<8>>,
    stage_valid: Signal<Local, Bit>,
    input_accept: Signal<Local, Bit>,
    load_layer: Signal<Local, Bits<4>>,
    load_memory: Signal<Local, Bits<16>>,
    last_loaded: Constant<Address>,
    last_codebook: Constant<Address>,
    last_offset: Constant<Address>,
    c_v: Vec<Constant<Address>>,
    c_codebooks: Vec<Constant<Address>>,
    c_k1: Vec<Constant<Address>>,
    c_step_x: Vec<Constant<Address>>,
    c_step_y: Vec<Constant<Address>>,
    c_step_c: Vec<Constant<Address>>,
    c_base: Vec<Constant<Address>>,
    c_step_pixel: Vec<Constant<Address>>,
    c_step_row: Vec<Constant<Address>>,
    c_stride: Vec<Constant<Address>>,
    c_last_x: Vec<Constant<Address>>,
    c_last_y: Vec<Constant<Address>>,
    c_top: Vec<Constant<Address>>,
    c_bottom_end: Vec<Constant<Address>>,
    c_left: Vec<Constant<Address>>,
    c_right_end: Vec<Constant<Address>>,
    c_outputs: Vec<Constant<Address>>,
    c_last_pass: Vec<Constant<Address>>,
    c_written: Vec<Constant<Address>>,
    c_read_half: Vec<Constant<Address>>,
    c_write_half: Vec<Constant<Address>>,
    layer_ids: Vec<Constant<Bits<4>>>,
    last_layer: Constant<Bits<4>>,
    layer_count: Constant<Bits<4>>,
    memory_mask: Constant<Bits<16>>,
    requantize_id: Constant<Bits<16>>,
    bank_id: Constant<Bits<16>>,
    spatial_id: Constant<Bits<16>>,
    pad_word: Constant<Bits<16>>,
    bank_address: Constant<Bits<32>>,
    _layers: usize,
    _stages: usize,
}

impl SequentialTop {
    /// The sequential top for a plan's layers (dense, or convolutions as
    /// the plan's spatial descriptions say).
    pub fn new(plan: &SequentialPlan) -> Self {
        let layers = plan.layers();
        let count = layers.len();
        let engine = plan.engine();
        let walks: Vec<Walk> = layers
            .iter()
            .zip(plan.spatial())
            .map(|(c, s)| Walk::new(c, s))
            .collect();
        let each = |f: &dyn Fn(&Walk) -> usize| walks.iter().map(|w| address(f(w))).collect();
        let each_wrapping =
            |f: &dyn Fn(&Walk) -> i64| walks.iter().map(|w| wrapping(f(w))).collect();
        let half = plan.buffer_half();
        let pools = (0..count - 1)
            .map(|i| {
                let s = plan.spatial()[i];
                match (s.pool, s.output_map(layers[i].outputs)) {
                    (Some(pool), Some(map)) => {
                        PoolStage::new(pool, map).expect("the plan bounds every map")
                    }
                    _ => PoolStage::wire(),
                }
            })
            .collect();
        SequentialTop {
            clock: Default::default(),
            reset: Default::default(),
            in_data: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            out_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_last: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            fault: Default::default(),
            trace_select: Default::default(),
            trace_data: Default::default(),
            trace_valid: Default::default(),
            engine: Engine::banked(engine, count),
            stages: layers[1..]
                .iter()
                .map(|next| RequantStage::new(next.activation_bits))
                .collect(),
            pools,
            buffer: BlockRam::new(2 * half),
            pads: (0..count).map(|_| Default::default()).collect(),
            layer: Default::default(),
            loading: Default::default(),
            loaded: Default::default(),
            start: Default::default(),
            feeding: Default::default(),
            held: Default::default(),
            held_zero: Default::default(),
            held_pad: Default::default(),
            ox: Default::default(),
            oy: Default::default(),
            corner_x: Default::default(),
            corner_y: Default::default(),
            corner: Default::default(),
            cb: Default::default(),
            off: Default::default(),
            kx: Default::default(),
            ky: Default::default(),
            ix: Default::default(),
            iy: Default::default(),
            at: Default::default(),
            taken: Default::default(),
            passes_out: Default::default(),
            outputs_done: Default::default(),
            written: Default::default(),
            writes_done: Default::default(),
            sel_v: Default::default(),
            sel_codebooks: Default::default(),
            sel_k1: Default::default(),
            sel_step_x: Default::default(),
            sel_step_y: Default::default(),
            sel_step_c: Default::default(),
            sel_base: Default::default(),
            sel_step_pixel: Default::default(),
            sel_step_row: Default::default(),
            sel_stride: Default::default(),
            sel_last_x: Default::default(),
            sel_last_y: Default::default(),
            sel_top: Default::default(),
            sel_bottom_end: Default::default(),
            sel_left: Default::default(),
            sel_right_end: Default::default(),
            sel_outputs: Default::default(),
            sel_last_pass: Default::default(),
            sel_written: Default::default(),
            sel_read_half: Default::default(),
            sel_write_half: Default::default(),
            sel_pad: Default::default(),
            is_last: Default::default(),
            live: Default::default(),
            in_map: Default::default(),
            pass_end: Default::default(),
            advance: Default::default(),
            accept: Default::default(),
            next_x: Default::default(),
            next_y: Default::default(),
            next_corner: Default::default(),
            real_output: Default::default(),
            take: Default::default(),
            stage_data: Default::default(),
            stage_valid: Default::default(),
            input_accept: Default::default(),
            load_layer: Default::default(),
            load_memory: Default::default(),
            last_loaded: address(plan.input_len(0) - 1),
            last_codebook: address(engine.codebooks - 1),
            last_offset: address(engine.sub_vector_len() - 1),
            c_v: each(&|w| w.v),
            c_codebooks: each(&|w| w.codebooks),
            c_k1: each(&|w| w.k1),
            c_step_x: each_wrapping(&|w| w.step_x),
            c_step_y: each_wrapping(&|w| w.step_y),
            c_step_c: each_wrapping(&|w| w.step_c),
            c_base: each_wrapping(&|w| w.base),
            c_step_pixel: each_wrapping(&|w| w.step_pixel),
            c_step_row: each_wrapping(&|w| w.step_row),
            c_stride: each(&|w| w.stride),
            c_last_x: each(&|w| w.last_x),
            c_last_y: each(&|w| w.last_y),
            c_top: each(&|w| w.top),
            c_bottom_end: each(&|w| w.bottom_end),
            c_left: each(&|w| w.left),
            c_right_end: each(&|w| w.right_end),
            c_outputs: layers.iter().map(|l| address(l.outputs)).collect(),
            c_last_pass: (0..count).map(|i| address(plan.passes(i) - 1)).collect(),
            c_written: (0..count).map(|i| address(plan.output_len(i))).collect(),
            c_read_half: (0..count).map(|i| address((i % 2) * half)).collect(),
            c_write_half: (0..count).map(|i| address(((i + 1) % 2) * half)).collect(),
            layer_ids: (0..count)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            last_layer: Constant::new(((count - 1) as u64).into()),
            layer_count: Constant::new((count as u64).into()),
            memory_mask: Constant::new(0x0FFFu64.into()),
            requantize_id: Constant::new((REQUANTIZE_MEMORY as u64).into()),
            bank_id: Constant::new((BANK_MEMORY as u64).into()),
            spatial_id: Constant::new((SPATIAL_MEMORY as u64).into()),
            pad_word: Constant::new((PAD_VALUE_WORD as u64).into()),
            bank_address: Constant::new(((BANK_MEMORY as u64) << 16).into()),
            _layers: count,
            _stages: count - 1,
        }
    }
}

impl Logic for SequentialTop {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            layer,
            loading,
            loaded,
            start,
            feeding,
            held,
            held_zero,
            held_pad,
            ox,
            oy,
            corner_x,
            corner_y,
            corner,
            cb,
            off,
            kx,
            ky,
            ix,
            iy,
            at,
            taken,
            passes_out,
            outputs_done,
            written,
            writes_done
        );
        self.load_layer.next = self.load_address.val().get_bits::<4>(28);
        self.load_memory.next = self.load_address.val().get_bits::<16>(16) & self.memory_mask.val();

        // ---- This layer's constants.
        self.sel_v.next = self.c_v[0].val();
        self.sel_codebooks.next = self.c_codebooks[0].val();
        self.sel_k1.next = self.c_k1[0].val();
        self.sel_step_x.next = self.c_step_x[0].val();
        self.sel_step_y.next = self.c_step_y[0].val();
        self.sel_step_c.next = self.c_step_c[0].val();
        self.sel_base.next = self.c_base[0].val();
        self.sel_step_pixel.next = self.c_step_pixel[0].val();
        self.sel_step_row.next = self.c_step_row[0].val();
        self.sel_stride.next = self.c_stride[0].val();
        self.sel_last_x.next = self.c_last_x[0].val();
        self.sel_last_y.next = self.c_last_y[0].val();
        self.sel_top.next = self.c_top[0].val();
        self.sel_bottom_end.next = self.c_bottom_end[0].val();
        self.sel_left.next = self.c_left[0].val();
        self.sel_right_end.next = self.c_right_end[0].val();
        self.sel_outputs.next = self.c_outputs[0].val();
        self.sel_last_pass.next = self.c_last_pass[0].val();
        self.sel_written.next = self.c_written[0].val();
        self.sel_read_half.next = self.c_read_half[0].val();
        self.sel_write_half.next = self.c_write_half[0].val();
        self.sel_pad.next = self.pads[0].q.val();
        for i in 0..self._layers {
            self.pads[i].clock.next = self.clock.val();
            self.pads[i].d.next = self.pads[i].q.val();
            if self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.spatial_id.val())
                & (self.load_address.val().get_bits::<16>(0) == self.pad_word.val())
            {
                self.pads[i].d.next = self.load_data.val().get_bits::<8>(0);
            }
            if self.layer.q.val() == self.layer_ids[i].val() {
                self.sel_v.next = self.c_v[i].val();
                self.sel_codebooks.next = self.c_codebooks[i].val();
                self.sel_k1.next = self.c_k1[i].val();
                self.sel_step_x.next = self.c_step_x[i].val();
                self.sel_step_y.next = self.c_step_y[i].val();
                self.sel_step_c.next = self.c_step_c[i].val();
                self.sel_base.next = self.c_base[i].val();
                self.sel_step_pixel.next = self.c_step_pixel[i].val();
                self.sel_step_row.next = self.c_step_row[i].val();
                self.sel_stride.next = self.c_stride[i].val();
                self.sel_last_x.next = self.c_last_x[i].val();
                self.sel_last_y.next = self.c_last_y[i].val();
                self.sel_top.next = self.c_top[i].val();
                self.sel_bottom_end.next = self.c_bottom_end[i].val();
                self.sel_left.next = self.c_left[i].val();
                self.sel_right_end.next = self.c_right_end[i].val();
                self.sel_outputs.next = self.c_outputs[i].val();
                self.sel_last_pass.next = self.c_last_pass[i].val();
                self.sel_written.next = self.c_written[i].val();
                self.sel_read_half.next = self.c_read_half[i].val();
                self.sel_write_half.next = self.c_write_half[i].val();
                self.sel_pad.next = self.pads[i].q.val();
            }
        }
        self.is_last.next = self.layer.q.val() == self.last_layer.val();

        // ---- Engine load port: the bank select when a layer starts, else
        // outside loads to the engine's memories of an existing layer.
        self.engine.clock.next = self.clock.val();
        self.engine.reset.next = self.reset.val();
        if self.start.q.val() {
            self.engine.load_enable.next = true;
            self.engine.load_address.next = self.bank_address.val();
            self.engine.load_data.next = bit_cast::<32, 4>(self.layer.q.val());
        } else {
            self.engine.load_enable.next = self.load_enable.val()
                & (self.load_layer.val() < self.layer_count.val())
                & (self.load_memory.val() != self.requantize_id.val())
                & (self.load_memory.val() != self.bank_id.val())
                & (self.load_memory.val() != self.spatial_id.val());
            self.engine.load_address.next = self.load_address.val();
            self.engine.load_data.next = self.load_data.val();
        }
        self.fault.next = self.engine.fault.val();

        // ---- The walk: one element generated per advance, held until the
        // engine takes it.
        self.engine.in_valid.next = self.held.q.val();
        self.engine.in_data.next = self.buffer.read_data.val();
        if self.held_pad.q.val() {
            self.engine.in_data.next = self.sel_pad.val();
        }
        if self.held_zero.q.val() {
            self.engine.in_data.next = 0.into();
        }
        self.accept.next = self.held.q.val() & self.engine.in_ready.val();
        self.live.next =
            (self.cb.q.val() < self.sel_codebooks.val()) & (self.off.q.val() < self.sel_v.val());
        self.in_map.next = (self.iy.q.val() >= self.sel_top.val())
            & (self.iy.q.val() < self.sel_bottom_end.val())
            & (self.ix.q.val() >= self.sel_left.val())
            & (self.ix.q.val() < self.sel_right_end.val());
        // While the input loads, nothing goes to the engine before its first
        // element has arrived (a load between vectors, pad values included,
        // is whole by then), and an element it has not written yet waits
        // (the input arrives in order: address `at` is written once `loaded`
        // is past it).
        self.advance.next = self.feeding.q.val()
            & (!self.held.q.val() | self.accept.val())
            & (!self.loading.q.val()
                | ((self.loaded.q.val() != 0)
                    & (!(self.live.val() & self.in_map.val())
                        | (self.at.q.val() < self.loaded.q.val()))));
        self.pass_end.next = (self.cb.q.val() == self.last_codebook.val())
            & (self.off.q.val() == self.last_offset.val());
        // The next pass's corner.
        if self.ox.q.val() == self.sel_last_x.val() {
            self.next_x.next = 0.into();
            self.next_y.next = self.corner_y.q.val() + self.sel_stride.val();
            self.next_corner.next = self.corner.q.val() + self.sel_step_row.val();
        } else {
            self.next_x.next = self.corner_x.q.val() + self.sel_stride.val();
            self.next_y.next = self.corner_y.q.val();
            self.next_corner.next = self.corner.q.val() + self.sel_step_pixel.val();
        }
        self.buffer.clock.next = self.clock.val();
        self.buffer.read_enable.next = self.advance.val() & self.live.val() & self.in_map.val();
        self.buffer.read_address.next = self.at.q.val() + self.sel_read_half.val();
        if self.accept.val() {
            self.held.d.next = false;
        }
        if self.advance.val() {
            self.held.d.next = true;
            self.held_zero.d.next = !self.live.val();
            self.held_pad.d.next = self.live.val() & !self.in_map.val();
            // The patch element: kx, then ky, then the channel.
            if self.live.val() {
                if self.kx.q.val() == self.sel_k1.val() {
                    self.kx.d.next = 0.into();
                    self.ix.d.next = self.ix.q.val() - self.sel_k1.val();
                    if self.ky.q.val() == self.sel_k1.val() {
                        self.ky.d.next = 0.into();
                        self.iy.d.next = self.iy.q.val() - self.sel_k1.val();
                        self.at.d.next = self.at.q.val() + self.sel_step_c.val();
                    } else {
                        self.ky.d.next = self.ky.q.val() + 1;
                        self.iy.d.next = self.iy.q.val() + 1;
                        self.at.d.next = self.at.q.val() + self.sel_step_y.val();
                    }
                } else {
                    self.kx.d.next = self.kx.q.val() + 1;
                    self.ix.d.next = self.ix.q.val() + 1;
                    self.at.d.next = self.at.q.val() + self.sel_step_x.val();
                }
            }
            // The engine's element: offset, then codebook.
            if self.off.q.val() == self.last_offset.val() {
                self.off.d.next = 0.into();
                self.cb.d.next = self.cb.q.val() + 1;
            } else {
                self.off.d.next = self.off.q.val() + 1;
            }
            // The next pass: the next output pixel, row by row.
            if self.pass_end.val() {
                self.cb.d.next = 0.into();
                self.kx.d.next = 0.into();
                self.ky.d.next = 0.into();
                self.corner_x.d.next = self.next_x.val();
                self.corner_y.d.next = self.next_y.val();
                self.corner.d.next = self.next_corner.val();
                self.ix.d.next = self.next_x.val();
                self.iy.d.next = self.next_y.val();
                self.at.d.next = self.next_corner.val();
                if self.ox.q.val() == self.sel_last_x.val() {
                    self.ox.d.next = 0.into();
                    self.oy.d.next = self.oy.q.val() + 1;
                    if self.oy.q.val() == self.sel_last_y.val() {
                        self.feeding.d.next = false;
                    }
                } else {
                    self.ox.d.next = self.ox.q.val() + 1;
                }
            }
        }
        if self.start.q.val() {
            self.start.d.next = false;
            self.feeding.d.next = true;
            self.held.d.next = false;
            self.ox.d.next = 0.into();
            self.oy.d.next = 0.into();
            self.corner_x.d.next = 0.into();
            self.corner_y.d.next = 0.into();
            self.corner.d.next = self.sel_base.val();
            self.cb.d.next = 0.into();
            self.off.d.next = 0.into();
            self.kx.d.next = 0.into();
            self.ky.d.next = 0.into();
            self.ix.d.next = 0.into();
            self.iy.d.next = 0.into();
            self.at.d.next = self.sel_base.val();
        }

        // ---- Engine outputs: the layer's N of each pass go on (to the last
        // layer's output, or into the stage), the padded ones are dropped.
        self.real_output.next = self.taken.q.val() < self.sel_outputs.val();
        self.out_data.next = self.engine.out_data.val();
        self.out_valid.next =
            self.is_last.val() & self.engine.out_valid.val() & self.real_output.val();
        self.out_last.next = (self.taken.q.val() + 1) == self.sel_outputs.val();
        self.engine.out_ready.next = !self.real_output.val();
        if self.is_last.val() {
            self.engine.out_ready.next = self.out_ready.val() | !self.real_output.val();
        }
        self.stage_data.next = 0.into();
        self.stage_valid.next = false;
        self.trace_data.next = 0.into();
        self.trace_valid.next = false;
        for i in 0..self._stages {
            self.stages[i].clock.next = self.clock.val();
            self.stages[i].reset.next = self.reset.val();
            self.stages[i].in_data.next = self.engine.out_data.val();
            self.stages[i].in_valid.next = false;
            self.pools[i].clock.next = self.clock.val();
            self.pools[i].reset.next = self.reset.val();
            self.pools[i].in_data.next = self.stages[i].out_data.val();
            self.pools[i].in_valid.next = self.stages[i].out_valid.val();
            self.stages[i].out_ready.next = self.pools[i].in_ready.val();
            self.pools[i].out_ready.next = true;
            if self.layer.q.val() == self.layer_ids[i].val() {
                self.stages[i].in_valid.next = self.engine.out_valid.val() & self.real_output.val();
                self.engine.out_ready.next =
                    self.stages[i].in_ready.val() | !self.real_output.val();
                self.stage_data.next = self.pools[i].out_data.val();
                self.stage_valid.next = self.pools[i].out_valid.val();
            }
            if self.trace_select.val() == self.layer_ids[i].val() {
                self.trace_data.next = self.pools[i].out_data.val();
                self.trace_valid.next = self.pools[i].out_valid.val();
            }
            self.stages[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.requantize_id.val());
            self.stages[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.stages[i].load_data.next = self.load_data.val();
            self.pools[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.spatial_id.val());
            self.pools[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.pools[i].load_data.next = self.load_data.val();
        }
        self.take.next = self.engine.out_valid.val() & self.engine.out_ready.val();
        if self.take.val() {
            self.taken.d.next = self.taken.q.val() + 1;
            if self.engine.out_last.val() {
                self.taken.d.next = 0.into();
                self.passes_out.d.next = self.passes_out.q.val() + 1;
                if self.passes_out.q.val() == self.sel_last_pass.val() {
                    self.passes_out.d.next = 0.into();
                    self.outputs_done.d.next = true;
                }
            }
        }
        // ---- The input, into half 0, while layer 0 already runs on what
        // has arrived; the stage's writes (layer 0's output, into half 1)
        // take the buffer's write port first.
        self.in_ready.next = self.loading.q.val() & !self.stage_valid.val();
        self.input_accept.next = self.in_ready.val() & self.in_valid.val();
        if self.input_accept.val() {
            self.loaded.d.next = self.loaded.q.val() + 1;
            if self.loaded.q.val() == self.last_loaded.val() {
                self.loaded.d.next = 0.into();
                self.loading.d.next = false;
            }
        }

        // The buffer's write port: the stage, else the input.
        if self.stage_valid.val() {
            self.buffer.write_enable.next = true;
            self.buffer.write_address.next = self.written.q.val() + self.sel_write_half.val();
            self.buffer.write_data.next = self.stage_data.val();
        } else {
            self.buffer.write_enable.next = self.input_accept.val();
            self.buffer.write_address.next = self.loaded.q.val();
            self.buffer.write_data.next = self.in_data.val();
        }
        if self.stage_valid.val() {
            self.written.d.next = self.written.q.val() + 1;
            if (self.written.q.val() + 1) == self.sel_written.val() {
                self.writes_done.d.next = true;
            }
        }

        // ---- Next layer, or the next vector.
        if self.outputs_done.q.val() & (self.writes_done.q.val() | self.is_last.val()) {
            self.outputs_done.d.next = false;
            self.writes_done.d.next = false;
            self.written.d.next = 0.into();
            self.start.d.next = true;
            if self.is_last.val() {
                self.layer.d.next = 0.into();
                self.loading.d.next = true;
            } else {
                self.layer.d.next = self.layer.q.val() + 1;
            }
        }
        if self.reset.val() {
            self.layer.d.next = 0.into();
            self.loading.d.next = true;
            self.loaded.d.next = 0.into();
            self.start.d.next = true;
            self.feeding.d.next = false;
            self.held.d.next = false;
            self.taken.d.next = 0.into();
            self.passes_out.d.next = 0.into();
            self.outputs_done.d.next = false;
            self.written.d.next = 0.into();
            self.writes_done.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{assert_block_is_clean, small_engine};
    use lutgen_core::{EncoderKind, EngineConfig};

    #[test]
    fn sequential_top_synthesizes_cleanly() {
        let layers = [
            small_engine(EncoderKind::L2, 16),
            EngineConfig {
                input_dim: 8,
                codebooks: 2,
                outputs: 4,
                ..small_engine(EncoderKind::L2, 8)
            },
        ];
        let plan = SequentialPlan::new(&layers).unwrap();
        assert_block_is_clean("sequential", &mut SequentialTop::new(&plan));
    }
}
