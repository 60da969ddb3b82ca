//! The sequential schedule: one [`Engine`], sized for the network's largest
//! layer, runs the layers in turn; between them a [`RequantStage`] per layer
//! boundary writes the next layer's input into an activation buffer, which
//! the sequencer then streams back into the engine. Same ports, load port
//! and trace port as the dataflow [`crate::network::NetworkTop`]; it trades
//! throughput (the sum of the layers' cycles, one vector in the engine at a
//! time) for area (one search and one set of lanes).
//!
//! Every engine memory holds one bank per layer
//! ([`lutgen_core::sequential`]): the images are padded to the engine's
//! shape, the sequencer feeds zeros past a layer's D and drops the outputs
//! past its N. Before each layer it writes the layer's number to the engine's
//! bank register through the engine's load port (a cycle in which no outside
//! load can arrive: the device loads only while no vector is in flight).
//!
//! Per vector: feed layer 0 (D inputs from `in_data`, then zeros up to the
//! engine's D); take its N outputs into the stage, whose activations fill
//! the buffer; when the buffer holds them and the engine has sent its last
//! (padded) output, select the next bank and feed the buffer; the last
//! layer's N outputs leave on `out_data`, then the next vector starts.

use crate::engine::Engine;
use crate::memory::{address, Address, BlockRam};
use crate::requantize::RequantStage;
use lutgen_core::memory_map::{BANK_MEMORY, REQUANTIZE_MEMORY};
use lutgen_core::sequential::SequentialPlan;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct SequentialTop {
    pub clock: Signal<In, Clock>,
    /// Synchronous reset of the engine, stages and sequencer; hold for
    /// [`crate::engine::RESET_CYCLES`]. Memories and parameters are kept.
    pub reset: Signal<In, Bit>,
    /// The first layer's activations, element 0 first.
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
    /// top's (memories in the padded engine's map).
    pub load_enable: Signal<In, Bit>,
    pub load_address: Signal<In, Bits<32>>,
    pub load_data: Signal<In, Bits<32>>,
    /// Sticky: the engine raised its fault.
    pub fault: Signal<Out, Bit>,
    /// Trace port, as the network top's: the activations layer
    /// `trace_select` hands to the next layer, as they enter the buffer.
    pub trace_select: Signal<In, Bits<4>>,
    pub trace_data: Signal<Out, Bits<8>>,
    pub trace_valid: Signal<Out, Bit>,

    engine: Engine,
    stages: Vec<RequantStage>,
    buffer: BlockRam<Bits<8>>,
    /// The layer in the engine.
    layer: DFF<Bits<4>>,
    /// Select `layer`'s bank this cycle; feed it from the next.
    start: DFF<Bit>,
    /// Feeding the engine; inputs accepted so far this layer.
    feeding: DFF<Bit>,
    fed: DFF<Address>,
    /// A buffer-fed layer's first element is on the buffer's output.
    primed: DFF<Bit>,
    /// Engine outputs taken this layer; the engine has sent its last.
    taken: DFF<Address>,
    outputs_done: DFF<Bit>,
    /// Activations written to the buffer this layer; all of them are.
    written: DFF<Address>,
    writes_done: DFF<Bit>,
    /// This layer's D and N, whether it is the last, and the engine's D - 1.
    layer_inputs: Signal<Local, Address>,
    layer_outputs: Signal<Local, Address>,
    is_last: Signal<Local, Bit>,
    feed_data: Signal<Local, Bits<8>>,
    feed_valid: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
    real_output: Signal<Local, Bit>,
    take: Signal<Local, Bit>,
    stage_data: Signal<Local, Bits<8>>,
    stage_valid: Signal<Local, Bit>,
    load_layer: Signal<Local, Bits<4>>,
    load_memory: Signal<Local, Bits<16>>,
    last_feed: Constant<Address>,
    inputs: Vec<Constant<Address>>,
    outputs: Vec<Constant<Address>>,
    layer_ids: Vec<Constant<Bits<4>>>,
    last_layer: Constant<Bits<4>>,
    layer_count: Constant<Bits<4>>,
    memory_mask: Constant<Bits<16>>,
    requantize_id: Constant<Bits<16>>,
    bank_id: Constant<Bits<16>>,
    bank_address: Constant<Bits<32>>,
    _layers: usize,
    _stages: usize,
}

impl SequentialTop {
    /// The sequential top for a plan's layers.
    pub fn new(plan: &SequentialPlan) -> Self {
        let layers = plan.layers();
        let count = layers.len();
        let engine = plan.engine();
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
            buffer: BlockRam::new(engine.input_dim),
            layer: Default::default(),
            start: Default::default(),
            feeding: Default::default(),
            fed: Default::default(),
            primed: Default::default(),
            taken: Default::default(),
            outputs_done: Default::default(),
            written: Default::default(),
            writes_done: Default::default(),
            layer_inputs: Default::default(),
            layer_outputs: Default::default(),
            is_last: Default::default(),
            feed_data: Default::default(),
            feed_valid: Default::default(),
            accept: Default::default(),
            real_output: Default::default(),
            take: Default::default(),
            stage_data: Default::default(),
            stage_valid: Default::default(),
            load_layer: Default::default(),
            load_memory: Default::default(),
            last_feed: address(engine.input_dim - 1),
            inputs: layers.iter().map(|l| address(l.input_dim)).collect(),
            outputs: layers.iter().map(|l| address(l.outputs)).collect(),
            layer_ids: (0..count)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            last_layer: Constant::new(((count - 1) as u64).into()),
            layer_count: Constant::new((count as u64).into()),
            memory_mask: Constant::new(0x0FFFu64.into()),
            requantize_id: Constant::new((REQUANTIZE_MEMORY as u64).into()),
            bank_id: Constant::new((BANK_MEMORY as u64).into()),
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
            start,
            feeding,
            fed,
            primed,
            taken,
            outputs_done,
            written,
            writes_done
        );
        self.load_layer.next = self.load_address.val().get_bits::<4>(28);
        self.load_memory.next = self.load_address.val().get_bits::<16>(16) & self.memory_mask.val();

        // ---- This layer's shape.
        self.layer_inputs.next = self.inputs[0].val();
        self.layer_outputs.next = self.outputs[0].val();
        for i in 0..self._layers {
            if self.layer.q.val() == self.layer_ids[i].val() {
                self.layer_inputs.next = self.inputs[i].val();
                self.layer_outputs.next = self.outputs[i].val();
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
                & (self.load_memory.val() != self.bank_id.val());
            self.engine.load_address.next = self.load_address.val();
            self.engine.load_data.next = self.load_data.val();
        }
        self.fault.next = self.engine.fault.val();

        // ---- Feed: layer 0 from `in_data`, later layers from the buffer,
        // zeros past the layer's D.
        self.in_ready.next = false;
        if self.layer.q.val() == 0 {
            self.feed_data.next = self.in_data.val();
            self.feed_valid.next = self.in_valid.val();
            self.in_ready.next = self.feeding.q.val()
                & self.engine.in_ready.val()
                & (self.fed.q.val() < self.layer_inputs.val());
        } else {
            self.feed_data.next = self.buffer.read_data.val();
            self.feed_valid.next = self.primed.q.val();
        }
        if self.fed.q.val() >= self.layer_inputs.val() {
            self.feed_data.next = 0.into();
            self.feed_valid.next = true;
        }
        self.engine.in_data.next = self.feed_data.val();
        self.engine.in_valid.next = self.feeding.q.val() & self.feed_valid.val();
        self.accept.next = self.engine.in_valid.val() & self.engine.in_ready.val();
        if self.accept.val() {
            self.fed.d.next = self.fed.q.val() + 1;
            if self.fed.q.val() == self.last_feed.val() {
                self.feeding.d.next = false;
                self.primed.d.next = false;
            }
        }
        // The buffer's registered read: word 0 while priming, the next word
        // with each accepted element.
        self.buffer.clock.next = self.clock.val();
        self.buffer.read_enable.next =
            self.accept.val() | (self.feeding.q.val() & !self.primed.q.val());
        if self.accept.val() {
            self.buffer.read_address.next = self.fed.q.val() + 1;
        } else {
            self.buffer.read_address.next = 0.into();
        }
        if self.feeding.q.val() & !self.primed.q.val() & (self.layer.q.val() != 0) {
            self.primed.d.next = true;
        }
        if self.start.q.val() {
            self.start.d.next = false;
            self.feeding.d.next = true;
            self.fed.d.next = 0.into();
            self.primed.d.next = false;
        }

        // ---- Engine outputs: the layer's N go on (to the last layer's
        // output, or into the stage), the padded ones are dropped.
        self.real_output.next = self.taken.q.val() < self.layer_outputs.val();
        self.out_data.next = self.engine.out_data.val();
        self.out_valid.next =
            self.is_last.val() & self.engine.out_valid.val() & self.real_output.val();
        self.out_last.next = (self.taken.q.val() + 1) == self.layer_outputs.val();
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
            self.stages[i].out_ready.next = true;
            if self.layer.q.val() == self.layer_ids[i].val() {
                self.stages[i].in_valid.next = self.engine.out_valid.val() & self.real_output.val();
                self.engine.out_ready.next =
                    self.stages[i].in_ready.val() | !self.real_output.val();
                self.stage_data.next = self.stages[i].out_data.val();
                self.stage_valid.next = self.stages[i].out_valid.val();
            }
            if self.trace_select.val() == self.layer_ids[i].val() {
                self.trace_data.next = self.stages[i].out_data.val();
                self.trace_valid.next = self.stages[i].out_valid.val();
            }
            self.stages[i].load_enable.next = self.load_enable.val()
                & (self.load_layer.val() == self.layer_ids[i].val())
                & (self.load_memory.val() == self.requantize_id.val());
            self.stages[i].load_word.next = self.load_address.val().get_bits::<16>(0);
            self.stages[i].load_data.next = self.load_data.val();
        }
        self.take.next = self.engine.out_valid.val() & self.engine.out_ready.val();
        if self.take.val() {
            self.taken.d.next = self.taken.q.val() + 1;
            if self.engine.out_last.val() {
                self.outputs_done.d.next = true;
            }
        }
        self.buffer.write_enable.next = self.stage_valid.val();
        self.buffer.write_address.next = self.written.q.val();
        self.buffer.write_data.next = self.stage_data.val();
        if self.stage_valid.val() {
            self.written.d.next = self.written.q.val() + 1;
            if (self.written.q.val() + 1) == self.layer_outputs.val() {
                self.writes_done.d.next = true;
            }
        }

        // ---- Next layer, or the next vector.
        if self.outputs_done.q.val() & (self.writes_done.q.val() | self.is_last.val()) {
            self.outputs_done.d.next = false;
            self.writes_done.d.next = false;
            self.taken.d.next = 0.into();
            self.written.d.next = 0.into();
            self.start.d.next = true;
            if self.is_last.val() {
                self.layer.d.next = 0.into();
            } else {
                self.layer.d.next = self.layer.q.val() + 1;
            }
        }
        if self.reset.val() {
            self.layer.d.next = 0.into();
            self.start.d.next = true;
            self.feeding.d.next = false;
            self.fed.d.next = 0.into();
            self.primed.d.next = false;
            self.taken.d.next = 0.into();
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
