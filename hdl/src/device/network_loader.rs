//! [`NetworkFileLoader`]: takes a network file's bytes (`LUTNET` v3) in
//! file order and writes the network top's memories itself.
//!
//! It is the hardware of [`lutgen_core::network_loader::NetworkLoader`],
//! generated from the same [`Field`]s, with the same port list and
//! handshake as [`ImageLoader`] (which the executor drives), so a network
//! device loads a network file as a single-layer device loads an image.
//!
//! **What it checks**, in file order, the first failing check's code held
//! on [`fault`](NetworkFileLoader::fault) until `abandon`: every fixed byte
//! (magic, version, layer count, reserved zeros, the last layer's empty
//! requantization, the activation widths and image lengths of this
//! device's layers: `WrongImage`); the scales (finite, positive f32), the
//! requantization values (within their ranges), `has_table` (0 or 1) and
//! every activation table entry (within the next layer's width where a
//! requantized value can land, zero elsewhere): `ValueRange`; each layer's
//! image, walked by that layer's own [`ImageLoader`] (its header, CRCs and
//! values, with its code); the file's trailing CRC-32, over every byte
//! before it: `ImageCrc`. A byte after the last CRC byte is `WrongImage`.
//! A truncated file is not an error here: the loader waits for the rest.
//!
//! **The field program** ([`field_program`]): a ROM with one entry per
//! byte of every fixed, scale, value, flag and CRC field, and one entry
//! per image (layer, length) and per activation table (address, range).
//! A program counter steps through it; a table's entry is skipped when the
//! preceding `has_table` byte was 0, so file offsets are not fixed. Each
//! entry is [`FieldEntry`]: `[7:0]` the operation (`OP_*`), `[15:8]` the
//! expected byte (fixed), the element's bytes (value) or the layer
//! (image), bit 16 the field's last byte, bit 17 signed, bit 18 written,
//! bit 19 mirrored, `[63:32]` the lowest key (a value with its sign bit
//! flipped when signed, so one unsigned compare checks a range) or the
//! image's length, `[95:64]` the highest key, `[127:96]` the load-port
//! address (a value's, `has_table`'s, a table's first entry's, or an
//! image's layer base, OR'ed into its loader's addresses), `[159:128]` a
//! mirrored value's second address (a pooling layer's requantization zero
//! point is also its pool stage's, [`Field::Value`]'s `mirror`). The entry
//! after the CRC's last byte is [`OP_PAST`].
//!
//! **Timing**: the executor's byte is registered (`take`, `byte_r`), then
//! taken in `Accept`; an image byte goes on to that layer's loader (which
//! registers it again), any other byte is decoded (`Decode`: the element
//! as stored and its range key, the fixed, f32 and flag tests), range-checked
//! (`Check`: one 32-bit compare pair, or the file CRC's equality) and
//! committed (`Commit`: the fault or the write, the step; a mirrored value
//! writes its second address in `Mirror`, a cycle later), and the next
//! entry is read from the ROM into a register (`Fetch`). No cycle holds more
//! than one 32-bit carry chain in series, so the loader does not set the
//! device's clock. A byte costs at most 7 cycles here, and bytes arrive at
//! most one per 9 cycles anyway (the file's CRC unit, like an image's, takes
//! 8). After an image's last byte `ready` stays low until its loader has
//! checked its payload CRC, so an image's fault always comes before any
//! later field's, as in the software walk. Writes go out registered, the
//! images' a cycle after their loader's.

use super::loader::ImageLoader;
use crate::uart::Crc32Serial;
use lutgen_core::network_loader::{Field, NetworkLoader};
use lutgen_core::protocol::DeviceError;
use lutgen_core::EngineConfig;
use rust_hdl::prelude::*;

/// One entry of the field program (see the module documentation).
pub type FieldEntry = Bits<160>;

/// Address bits of the field program ROM (the longest program, 16
/// convolution layers, has 633 entries; 16 dense layers, 384).
const PROGRAM_BITS: usize = 10;

/// A byte that must equal `[15:8]`.
pub const OP_FIXED: u8 = 0;
/// Any byte.
pub const OP_ANY: u8 = 1;
/// A byte of a little-endian f32 that must be finite and positive.
pub const OP_POSITIVE_F32: u8 = 2;
/// A byte of a little-endian integer within `[63:32]..=[95:64]` (keys).
pub const OP_VALUE: u8 = 3;
/// `has_table`: 0 or 1, written; 1 makes the next table entry count.
pub const OP_TABLE_FLAG: u8 = 4;
/// A layer's image, handed to its [`ImageLoader`].
pub const OP_IMAGE: u8 = 5;
/// An activation table: 256 bytes (when the flag before was 1).
pub const OP_TABLE: u8 = 6;
/// A byte of the file's trailing CRC-32.
pub const OP_CRC: u8 = 7;
/// Past the end of the file: any byte is `WrongImage`.
pub const OP_PAST: u8 = 8;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum NetworkLoaderState {
    /// Read the program counter's entry into `prog` (skipping an absent table).
    Fetch,
    /// Waiting for a byte.
    Accept,
    /// Decode the element and run the tests that need no compare.
    Decode,
    /// Compare the element's key with its range (or the file's CRC).
    Check,
    /// Fault, or write and step the program.
    Commit,
    /// A mirrored value's second write.
    Mirror,
    /// After an image's last byte: wait for its loader's verdict.
    ImageWait,
}

#[allow(clippy::too_many_arguments)]
fn entry(
    op: u8,
    arg: u8,
    last: bool,
    signed: bool,
    written: bool,
    low: u32,
    high: u32,
    address: u32,
) -> FieldEntry {
    let mut e = FieldEntry::default();
    e.set_bits::<8>(0, u64::from(op).into());
    e.set_bits::<8>(8, u64::from(arg).into());
    e.set_bits::<8>(
        16,
        (u64::from(last) | u64::from(signed) << 1 | u64::from(written) << 2).into(),
    );
    e.set_bits::<32>(32, u64::from(low).into());
    e.set_bits::<32>(64, u64::from(high).into());
    e.set_bits::<32>(96, u64::from(address).into());
    e
}

/// `e` with a second write to `mirror` (bit 19, `[159:128]`).
fn mirrored(e: FieldEntry, mirror: u32) -> FieldEntry {
    let mut e = e.replace_bit(19, true);
    e.set_bits::<32>(128, u64::from(mirror).into());
    e
}

/// The field program of `loader`'s walk: the ROM's entries, in order.
pub fn field_program(loader: &NetworkLoader) -> Vec<FieldEntry> {
    let mut program = Vec::new();
    let simple = |op: u8, arg: u8, last: bool| entry(op, arg, last, false, false, 0, 0, 0);
    for field in loader.fields() {
        match field {
            Field::Fixed(bytes) => {
                program.extend(bytes.iter().map(|&b| simple(OP_FIXED, b, true)));
            }
            Field::PositiveF32 => {
                program.extend((0..4).map(|k| simple(OP_POSITIVE_F32, 4, k == 3)));
            }
            Field::Any => program.push(simple(OP_ANY, 1, true)),
            Field::Value {
                bytes,
                signed,
                min,
                max,
                address,
                mirror,
            } => {
                let key = |v: i64| {
                    if *signed {
                        (v as u32) ^ 0x8000_0000
                    } else {
                        v as u32
                    }
                };
                for k in 0..*bytes {
                    let e = entry(
                        OP_VALUE,
                        *bytes as u8,
                        k + 1 == *bytes,
                        *signed,
                        address.is_some(),
                        key(*min),
                        key(*max),
                        address.unwrap_or(0),
                    );
                    program.push(match mirror {
                        Some(m) if address.is_some() => mirrored(e, *m),
                        _ => e,
                    });
                }
            }
            Field::TableFlag { address } => {
                program.push(entry(OP_TABLE_FLAG, 1, true, false, true, 0, 1, *address));
            }
            Field::Image { layer, base } => {
                let len = loader.loaders()[*layer].image_len() as u32;
                program.push(entry(
                    OP_IMAGE,
                    *layer as u8,
                    true,
                    false,
                    true,
                    len,
                    0,
                    *base,
                ));
            }
            Field::Table { address, bits } => {
                let (lo, hi) = EngineConfig::signed_range(*bits);
                let key = |v: i64| u32::from((v as i8 as u8) ^ 0x80);
                program.push(entry(
                    OP_TABLE,
                    0,
                    false,
                    true,
                    true,
                    key(lo),
                    key(hi),
                    *address,
                ));
            }
        }
    }
    program.extend((0..4).map(|k| simple(OP_CRC, 4, k == 3)));
    program.push(simple(OP_PAST, 0, false));
    program
}

/// The loader of a network device, between the executor (bytes in) and the
/// network top's load port; its ports are [`ImageLoader`]'s.
#[derive(LogicBlock)]
pub struct NetworkFileLoader {
    pub clock: Signal<In, Clock>,
    /// Start a new load: offset 0, no network loaded, no fault.
    pub restart: Signal<In, Bit>,
    /// Forget a load in progress; after a fault, also any loaded network
    /// (without one, a loaded network stays loaded: a reset).
    pub abandon: Signal<In, Bit>,
    /// The next byte of the file, taken when `byte_valid & ready`.
    pub byte_valid: Signal<In, Bit>,
    pub in_byte: Signal<In, Bits<8>>,
    /// Can take a byte (and has finished with the last one).
    pub ready: Signal<Out, Bit>,
    /// The network top's load port, registered.
    pub load_enable: Signal<Out, Bit>,
    pub load_address: Signal<Out, Bits<32>>,
    pub load_data: Signal<Out, Bits<32>>,
    /// Bytes taken so far in this load (the file offset of the next byte).
    pub offset: Signal<Out, Bits<32>>,
    /// A complete network file passed every check.
    pub loaded: Signal<Out, Bit>,
    /// The trailing CRC-32 of the loaded file.
    pub image_crc: Signal<Out, Bits<32>>,
    /// The first fault of this load (a `DeviceError` code), 0 when none.
    pub fault: Signal<Out, Bits<8>>,
    images: Vec<ImageLoader>,
    crc_unit: Crc32Serial,
    field_rom: ROM<FieldEntry, PROGRAM_BITS>,
    // The current entry, registered from the ROM.
    prog: DFF<FieldEntry>,
    pc: DFF<Bits<PROGRAM_BITS>>,
    take: DFF<Bit>,
    byte_r: DFF<Bits<8>>,
    state: DFF<NetworkLoaderState>,
    at: DFF<Bits<32>>,
    done: DFF<Bit>,
    fault_code: DFF<Bits<8>>,
    loaded_crc: DFF<Bits<32>>,
    // Image bytes left; the table's entry index and write address.
    left: DFF<Bits<32>>,
    index: DFF<Bits<8>>,
    table_address: DFF<Bits<32>>,
    table_follows: DFF<Bit>,
    // The bytes taken, the last one on top (little-endian elements).
    element: DFF<Bits<32>>,
    // Decoded: the element as stored, its key, a table entry's index and
    // value keys, and the fault this byte raises (0: none).
    value_r: DFF<Bits<32>>,
    key_r: DFF<Bits<32>>,
    index_key: DFF<Bits<8>>,
    entry_key: DFF<Bits<8>>,
    entry_zero: DFF<Bit>,
    pending: DFF<Bits<8>>,
    // The write port, registered.
    strobe: DFF<Bit>,
    target: DFF<Bits<32>>,
    value: DFF<Bits<32>>,
    op: Signal<Local, Bits<8>>,
    top_byte: Signal<Local, Bits<8>>,
    raw: Signal<Local, Bits<32>>,
    key: Signal<Local, Bits<32>>,
    // The current layer's image loader.
    child_ready: Signal<Local, Bit>,
    ready_r: DFF<Bit>,
    child_fault: Signal<Local, Bits<8>>,
    child_loaded: Signal<Local, Bit>,
    child_write: Signal<Local, Bit>,
    child_address: Signal<Local, Bits<32>>,
    child_data: Signal<Local, Bits<32>>,
    can_take: Signal<Local, Bit>,
    accept: Signal<Local, Bit>,
    feed: Signal<Local, Bit>,
    reset_load: Signal<Local, Bit>,
    layer_ids: Vec<Constant<Bits<8>>>,
    sign_bit: Constant<Bits<32>>,
    byte_extension: Constant<Bits<32>>,
    half_extension: Constant<Bits<32>>,
    _layers: usize,
}

impl NetworkFileLoader {
    /// The loader of a network device whose layers `loader` describes.
    pub fn new(loader: &NetworkLoader) -> Self {
        let program = field_program(loader);
        assert!(
            program.len() <= 1 << PROGRAM_BITS,
            "the field program ROM holds {} entries",
            1 << PROGRAM_BITS
        );
        let layers = loader.loaders().len();
        NetworkFileLoader {
            clock: Default::default(),
            restart: Default::default(),
            abandon: Default::default(),
            byte_valid: Default::default(),
            in_byte: Default::default(),
            ready: Default::default(),
            load_enable: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            offset: Default::default(),
            loaded: Default::default(),
            image_crc: Default::default(),
            fault: Default::default(),
            images: loader.loaders().iter().map(ImageLoader::new).collect(),
            crc_unit: Default::default(),
            field_rom: program.into_iter().into(),
            prog: Default::default(),
            pc: Default::default(),
            take: Default::default(),
            byte_r: Default::default(),
            state: Default::default(),
            at: Default::default(),
            done: Default::default(),
            fault_code: Default::default(),
            loaded_crc: Default::default(),
            left: Default::default(),
            index: Default::default(),
            table_address: Default::default(),
            table_follows: Default::default(),
            element: Default::default(),
            value_r: Default::default(),
            key_r: Default::default(),
            index_key: Default::default(),
            entry_key: Default::default(),
            entry_zero: Default::default(),
            pending: Default::default(),
            strobe: Default::default(),
            target: Default::default(),
            value: Default::default(),
            op: Default::default(),
            top_byte: Default::default(),
            raw: Default::default(),
            key: Default::default(),
            child_ready: Default::default(),
            ready_r: Default::default(),
            child_fault: Default::default(),
            child_loaded: Default::default(),
            child_write: Default::default(),
            child_address: Default::default(),
            child_data: Default::default(),
            can_take: Default::default(),
            accept: Default::default(),
            feed: Default::default(),
            reset_load: Default::default(),
            layer_ids: (0..layers)
                .map(|i| Constant::new((i as u64).into()))
                .collect(),
            sign_bit: Constant::new(0x8000_0000_u64.into()),
            byte_extension: Constant::new(0xFFFF_FF00_u64.into()),
            half_extension: Constant::new(0xFFFF_0000_u64.into()),
            _layers: layers,
        }
    }
}

// The codes and operations the loader writes as literals (rust-hdl's
// generator takes literals, not paths).
const _: () = {
    assert!(DeviceError::WrongImage as u8 == 9);
    assert!(DeviceError::ImageCrc as u8 == 10);
    assert!(DeviceError::ValueRange as u8 == 11);
    assert!(OP_FIXED == 0 && OP_ANY == 1 && OP_POSITIVE_F32 == 2 && OP_VALUE == 3);
    assert!(OP_TABLE_FLAG == 4 && OP_IMAGE == 5 && OP_TABLE == 6 && OP_CRC == 7);
    assert!(OP_PAST == 8);
};

impl Logic for NetworkFileLoader {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            prog,
            pc,
            take,
            byte_r,
            state,
            at,
            done,
            fault_code,
            loaded_crc,
            left,
            index,
            table_address,
            table_follows,
            element,
            value_r,
            key_r,
            index_key,
            entry_key,
            entry_zero,
            pending,
            strobe,
            target,
            value,
            ready_r
        );
        // The executor's byte, registered before anything looks at it.
        self.take.d.next = self.byte_valid.val();
        self.byte_r.d.next = self.in_byte.val();
        clock!(self, clock, crc_unit);
        self.crc_unit.clear.next = false;
        self.crc_unit.start.next = false;
        self.crc_unit.data.next = self.byte_r.q.val();
        self.field_rom.address.next = self.pc.q.val();
        self.op.next = self.prog.q.val().get_bits::<8>(0);
        self.top_byte.next = self.element.q.val().get_bits::<8>(24);
        self.load_enable.next = self.strobe.q.val();
        self.load_address.next = self.target.q.val();
        self.load_data.next = self.value.q.val();
        self.strobe.d.next = false;
        self.offset.next = self.at.q.val();
        self.loaded.next = self.done.q.val();
        self.image_crc.next = self.loaded_crc.q.val();
        self.fault.next = self.fault_code.q.val();

        // A load is forgotten (restart, or abandon without a clean load).
        self.reset_load.next = self.restart.val()
            | (self.abandon.val() & (!self.done.q.val() | (self.fault_code.q.val() != 0)));

        // The current layer's image loader, and any image loader's write.
        self.child_ready.next = false;
        self.child_fault.next = 0.into();
        self.child_loaded.next = false;
        self.child_write.next = false;
        self.child_address.next = 0.into();
        self.child_data.next = 0.into();
        for i in 0..self._layers {
            self.images[i].clock.next = self.clock.val();
            self.images[i].restart.next = self.reset_load.val();
            self.images[i].abandon.next = self.abandon.val();
            self.images[i].in_byte.next = self.byte_r.q.val();
            if self.prog.q.val().get_bits::<8>(8) == self.layer_ids[i].val() {
                self.child_ready.next = self.images[i].ready.val();
                self.child_fault.next = self.images[i].fault.val();
                self.child_loaded.next = self.images[i].loaded.val();
            }
            if self.images[i].load_enable.val() {
                self.child_write.next = true;
                self.child_address.next =
                    self.images[i].load_address.val() | self.prog.q.val().get_bits::<32>(96);
                self.child_data.next = self.images[i].load_data.val();
            }
        }

        // A byte can be taken: an image's only when its loader can take it
        // too and has not faulted (its fault becomes this loader's first).
        self.can_take.next = (self.state.q.val() == NetworkLoaderState::Accept)
            & !self.crc_unit.busy.val()
            & ((self.op.val() != 5)
                | (self.fault_code.q.val() != 0)
                | (self.child_ready.val() & (self.child_fault.val() == 0)));
        // `ready` is registered, so no path runs from an image loader's CRC
        // unit through the layer multiplexer into the executor (the network
        // device's critical path on the ECP5 before): it is a cycle late,
        // and low the cycle after a byte is handed over, a restart or an
        // abandon, so it is never high when a byte could not be taken.
        self.ready_r.d.next = self.can_take.val()
            & !self.take.q.val()
            & !self.byte_valid.val()
            & !self.reset_load.val()
            & !self.abandon.val();
        self.ready.next = self.ready_r.q.val();
        self.accept.next = self.take.q.val() & self.can_take.val() & (self.fault_code.q.val() == 0);
        self.feed.next = self.accept.val() & (self.op.val() == 5);
        for i in 0..self._layers {
            self.images[i].byte_valid.next =
                self.feed.val() & (self.prog.q.val().get_bits::<8>(8) == self.layer_ids[i].val());
        }
        if self.child_write.val() {
            self.strobe.d.next = true;
            self.target.d.next = self.child_address.val();
            self.value.d.next = self.child_data.val();
        }

        // The element as stored and its range key (as the image loader's).
        self.raw.next = self.element.q.val();
        if self.prog.q.val().get_bits::<8>(8) == 1 {
            self.raw.next = self.element.q.val() >> 24;
        }
        if self.prog.q.val().get_bits::<8>(8) == 2 {
            self.raw.next = self.element.q.val() >> 16;
        }
        self.key.next = self.raw.val();
        if self.prog.q.val().get_bit(17) {
            self.key.next = self.raw.val() ^ self.sign_bit.val();
            if (self.prog.q.val().get_bits::<8>(8) == 1) & self.raw.val().get_bit(7) {
                self.key.next = (self.raw.val() | self.byte_extension.val()) ^ self.sign_bit.val();
            }
            if (self.prog.q.val().get_bits::<8>(8) == 2) & self.raw.val().get_bit(15) {
                self.key.next = (self.raw.val() | self.half_extension.val()) ^ self.sign_bit.val();
            }
        }

        match self.state.q.val() {
            NetworkLoaderState::Fetch => {
                self.prog.d.next = self.field_rom.data.val();
                self.left.d.next = self.field_rom.data.val().get_bits::<32>(32);
                self.table_address.d.next = self.field_rom.data.val().get_bits::<32>(96);
                self.index.d.next = 0.into();
                self.state.d.next = NetworkLoaderState::Accept;
                if self.field_rom.data.val().get_bits::<8>(0) == 6 {
                    // A table is there only after a `has_table` of 1.
                    self.table_follows.d.next = false;
                    if !self.table_follows.q.val() {
                        self.pc.d.next = self.pc.q.val() + 1;
                        self.state.d.next = NetworkLoaderState::Fetch;
                    }
                }
            }
            NetworkLoaderState::Accept => {
                if self.accept.val() {
                    self.at.d.next = self.at.q.val() + 1;
                    self.element.d.next = (self.element.q.val() >> 8)
                        | (bit_cast::<32, 8>(self.byte_r.q.val()) << 24);
                    if self.op.val() == 8 {
                        // Past the end of this device's network files.
                        self.at.d.next = self.at.q.val();
                        self.fault_code.d.next = 9.into();
                    } else if self.op.val() == 5 {
                        // An image byte: to its layer's loader.
                        self.crc_unit.start.next = true;
                        self.left.d.next = self.left.q.val() - 1;
                        if self.left.q.val() == 1 {
                            self.state.d.next = NetworkLoaderState::ImageWait;
                        }
                    } else {
                        if self.op.val() != 7 {
                            self.crc_unit.start.next = true;
                        }
                        self.state.d.next = NetworkLoaderState::Decode;
                    }
                }
                if (self.op.val() == 5)
                    & (self.child_fault.val() != 0)
                    & (self.fault_code.q.val() == 0)
                {
                    self.fault_code.d.next = self.child_fault.val();
                }
            }
            NetworkLoaderState::Decode => {
                self.value_r.d.next = self.raw.val();
                self.key_r.d.next = self.key.val();
                self.index_key.d.next = self.index.q.val() ^ 128;
                self.entry_key.d.next = self.top_byte.val() ^ 128;
                self.entry_zero.d.next = self.top_byte.val() == 0;
                self.pending.d.next = 0.into();
                if (self.op.val() == 0)
                    & (self.top_byte.val() != self.prog.q.val().get_bits::<8>(8))
                {
                    self.pending.d.next = 9.into();
                }
                if (self.op.val() == 2)
                    & self.prog.q.val().get_bit(16)
                    & (self.element.q.val().get_bit(31)
                        | (self.element.q.val().get_bits::<8>(23) == 255)
                        | (self.element.q.val() == 0))
                {
                    self.pending.d.next = 11.into();
                }
                if (self.op.val() == 4) & (self.top_byte.val() > 1) {
                    self.pending.d.next = 11.into();
                }
                self.state.d.next = NetworkLoaderState::Check;
            }
            NetworkLoaderState::Check => {
                if (self.op.val() == 3)
                    & self.prog.q.val().get_bit(16)
                    & ((self.key_r.q.val() < self.prog.q.val().get_bits::<32>(32))
                        | (self.key_r.q.val() > self.prog.q.val().get_bits::<32>(64)))
                {
                    self.pending.d.next = 11.into();
                }
                if self.op.val() == 6 {
                    // Where a requantized value can land (the index's key in
                    // range), the entry within the width; elsewhere zero.
                    if (self.index_key.q.val() >= self.prog.q.val().get_bits::<8>(32))
                        & (self.index_key.q.val() <= self.prog.q.val().get_bits::<8>(64))
                    {
                        if (self.entry_key.q.val() < self.prog.q.val().get_bits::<8>(32))
                            | (self.entry_key.q.val() > self.prog.q.val().get_bits::<8>(64))
                        {
                            self.pending.d.next = 11.into();
                        }
                    } else if !self.entry_zero.q.val() {
                        self.pending.d.next = 11.into();
                    }
                }
                if (self.op.val() == 7)
                    & self.prog.q.val().get_bit(16)
                    & (self.element.q.val() != !self.crc_unit.crc.val())
                {
                    self.pending.d.next = 10.into();
                }
                self.state.d.next = NetworkLoaderState::Commit;
            }
            NetworkLoaderState::Commit => {
                self.state.d.next = NetworkLoaderState::Fetch;
                self.pc.d.next = self.pc.q.val() + 1;
                if self.pending.q.val() != 0 {
                    self.fault_code.d.next = self.pending.q.val();
                    self.pc.d.next = self.pc.q.val();
                    self.state.d.next = NetworkLoaderState::Accept;
                } else {
                    if (self.op.val() == 3)
                        & self.prog.q.val().get_bit(16)
                        & self.prog.q.val().get_bit(18)
                    {
                        self.strobe.d.next = true;
                        self.target.d.next = self.prog.q.val().get_bits::<32>(96);
                        self.value.d.next = self.value_r.q.val();
                        if self.prog.q.val().get_bit(19) {
                            self.state.d.next = NetworkLoaderState::Mirror;
                        }
                    }
                    if self.op.val() == 4 {
                        self.strobe.d.next = true;
                        self.target.d.next = self.prog.q.val().get_bits::<32>(96);
                        self.value.d.next = self.element.q.val() >> 24;
                        self.table_follows.d.next = self.top_byte.val().get_bit(0);
                    }
                    if self.op.val() == 6 {
                        self.strobe.d.next = true;
                        self.target.d.next = self.table_address.q.val();
                        self.value.d.next = self.element.q.val() >> 24;
                        self.table_address.d.next = self.table_address.q.val() + 1;
                        self.index.d.next = self.index.q.val() + 1;
                        if self.index.q.val() != 255 {
                            self.pc.d.next = self.pc.q.val();
                            self.state.d.next = NetworkLoaderState::Accept;
                        }
                    }
                    if (self.op.val() == 7) & self.prog.q.val().get_bit(16) {
                        self.done.d.next = true;
                        self.loaded_crc.d.next = self.element.q.val();
                    }
                }
            }
            NetworkLoaderState::Mirror => {
                // The value's second address (the program counter has stepped).
                self.strobe.d.next = true;
                self.target.d.next = self.prog.q.val().get_bits::<32>(128);
                self.value.d.next = self.value_r.q.val();
                self.state.d.next = NetworkLoaderState::Fetch;
            }
            NetworkLoaderState::ImageWait => {
                // The image's loader has its payload CRC to check.
                if self.child_fault.val() != 0 {
                    self.fault_code.d.next = self.child_fault.val();
                    self.state.d.next = NetworkLoaderState::Accept;
                } else if self.child_loaded.val() {
                    self.pc.d.next = self.pc.q.val() + 1;
                    self.state.d.next = NetworkLoaderState::Fetch;
                }
            }
        }
        if self.abandon.val() {
            // After a fault the device holds no network (even one the
            // faulting frame had completed); a reset keeps a loaded one.
            self.fault_code.d.next = 0.into();
        }
        if self.reset_load.val() {
            self.at.d.next = 0.into();
            self.done.d.next = false;
            self.loaded_crc.d.next = 0.into();
            self.fault_code.d.next = 0.into();
            self.table_follows.d.next = false;
            self.crc_unit.clear.next = true;
            self.pc.d.next = 0.into();
            self.state.d.next = NetworkLoaderState::Fetch;
        }
    }
}

const LOADER_WAIVERS: &str = "\
// Lint waivers (verilator --lint-only -Wall is otherwise clean):
// WIDTH: rust-hdl 0.46 writes every integer literal as a 32-bit constant and
//   every bit_cast as a mask; both are intended zero extensions or truncations.
// UNOPTFLAT: rust-hdl puts a module's combinational logic in one always block.
// DECLFILENAME: one file holds the top module and all its submodules.
// UNUSEDSIGNAL: the image loaders' offsets and CRCs, and bits of the field
//   program's entries, are not needed.
// UNUSEDPARAM: rust-hdl declares every state of an enum register as a
//   localparam in the register's module, where only some are compared.
/* verilator lint_off WIDTH */
/* verilator lint_off UNOPTFLAT */
/* verilator lint_off DECLFILENAME */
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
";

impl NetworkFileLoader {
    /// Name of the loader's module in [`NetworkFileLoader::verilog`].
    pub const MODULE: &'static str = "lutgen_network_loader";

    /// Ports of [`NetworkFileLoader::MODULE`]: (name, width, input).
    pub const PORTS: [(&'static str, u32, bool); 13] = [
        ("clock", 1, true),
        ("restart", 1, true),
        ("abandon", 1, true),
        ("byte_valid", 1, true),
        ("in_byte", 8, true),
        ("ready", 1, false),
        ("load_enable", 1, false),
        ("load_address", 32, false),
        ("load_data", 32, false),
        ("offset", 32, false),
        ("loaded", 1, false),
        ("image_crc", 32, false),
        ("fault", 8, false),
    ];

    /// The Verilog of the loader for `loader` on its own, module
    /// [`NetworkFileLoader::MODULE`] (ports [`NetworkFileLoader::PORTS`]), for simulation.
    pub fn verilog(loader: &NetworkLoader) -> String {
        let mut block = NetworkFileLoader::new(loader);
        block.connect_all();
        let top = Self::MODULE;
        let mut out = format!(
            "// lutgen {}: generated network file loader ({} layers), do not edit.\n{LOADER_WAIVERS}",
            env!("CARGO_PKG_VERSION"),
            loader.loaders().len()
        );
        for line in generate_verilog(&block).lines() {
            if line.trim() == "/* verilator lint_on UNUSEDSIGNAL */" {
                continue;
            }
            let line = line
                .replace("module top(", &format!("module {top}("))
                .replace("endmodule // top", &format!("endmodule // {top}"))
                .replace("top$", &format!("{top}$"));
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    fn layers() -> Vec<EngineConfig> {
        let first = crate::lint::small_engine(EncoderKind::L2, 8);
        let second = EngineConfig {
            input_dim: 8,
            codebooks: 2,
            centroids: 16,
            outputs: 4,
            encoder: EncoderKind::Tree,
            activation_bits: 6,
            ..EngineConfig::default()
        };
        vec![first, second]
    }

    #[test]
    fn network_loader_verilog_is_lint_clean() {
        let loader = NetworkLoader::new(&layers()).unwrap();
        crate::lint::assert_block_is_clean("network_loader", &mut NetworkFileLoader::new(&loader));
    }

    #[test]
    fn network_loader_program_has_an_entry_per_byte() {
        let loader = NetworkLoader::new(&layers()).unwrap();
        let program = field_program(&loader);
        let op = |e: &FieldEntry| e.get_bits::<8>(0).index() as u8;
        // Every byte but the images' and tables' has an entry; then the end.
        let per_byte = program
            .iter()
            .filter(|e| op(e) != OP_IMAGE && op(e) != OP_TABLE && op(e) != OP_PAST)
            .count();
        let images: usize = loader.loaders().iter().map(|l| l.image_len()).sum();
        let tables = program.iter().filter(|e| op(e) == OP_TABLE).count();
        assert_eq!(per_byte + images + 256 * tables, loader.max_len());
        assert_eq!(op(program.last().unwrap()), OP_PAST);
    }
}
