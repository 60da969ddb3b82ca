//! [`ImageLoader`]: takes an image file's bytes in file order and writes
//! the engine's memories itself, so a host never needs the memory map.
//!
//! It is the hardware of [`lutgen_core::loader`], generated from the same
//! [`Section`]s: it compares the header's first 56 bytes with its own
//! configuration's, checks the header CRC and, at the end, the payload CRC
//! (one CRC-32 unit, a bit per clock), checks every value against its
//! width, and walks each section's addresses with counters and adders (no
//! multiplier). The first fault stops it: [`fault`](ImageLoader::fault)
//! holds the error code (`DeviceError`) until `abandon`.
//!
//! No cycle holds more than one 32-bit carry chain and a few LUTs, so that
//! the loader does not set the device's clock: where the file offset is in
//! the header is kept in registers a cycle behind it (`stale` holds off the
//! next byte for that cycle), and an element that a byte completes is
//! decoded in one cycle (`Decode`: value, range key, tree place, the walk's
//! end-of-row tests), range-checked in the next (`Check`) and written and
//! walked in the third (`Commit`); the executor's byte is registered
//! before any of it looks at it. Bytes come at most one per 9 cycles
//! anyway (the CRC unit takes 8), so this costs no throughput.
//!
//! The registers are declared 32 bits wide, but each is kept to the width
//! its configuration needs by a constant mask on what is written to it
//! (load-port addresses to the engine's memories, file offsets to the
//! image's length, the walk's counters to its longest row, inner run and
//! group; the `tree` registers to nothing without a `tree` codebook):
//! synthesis drops the flip-flops and adder bits above. Since the walk's
//! adders wrap, the low bits are those of the 32-bit walk of
//! [`lutgen_core::loader`], and its addresses never need more.

use crate::uart::Crc32Serial;
use lutgen_core::image::format::{HEADER_LEN, PAYLOAD_CRC_OFFSET};
use lutgen_core::loader::{Loader, Section, SectionKind};
use lutgen_core::protocol::DeviceError;
use rust_hdl::prelude::*;

/// A section, packed for the section ROM: see [`descriptor`] for the fields.
pub type Descriptor = Bits<424>;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum LoaderState {
    /// Waiting for a byte.
    Accept,
    /// A payload byte completed an element: decode it (value, range key,
    /// tree place) and the walk's end-of-row tests into registers.
    Decode,
    /// Compare the element's key with the section's range.
    Check,
    /// Write the element (or fault on its range), step the walk.
    Commit,
    /// Starting a section: the walk's counters from the section ROM.
    SectionStart,
    /// Before the masks of a `tree` codebook: their first address.
    MaskStart,
    /// Writing the V level masks of a `tree` codebook.
    Masks,
    /// After the last byte: waiting for the payload CRC.
    FinalCheck,
}

/// Packs `s` (fields at bit 32 i, then element bytes, kind and signedness):
/// bytes, lowest key, highest key, base, inner, inner step, inner carry,
/// row length, row step, group, group step; then (bits 376 to 423) the
/// elements per packed write, the bits each keeps and their mask. A key is
/// the value with its sign bit flipped for signed sections, so one unsigned
/// compare checks the range.
pub fn descriptor(s: &Section) -> Descriptor {
    let key = |v: i64| {
        if s.signed {
            (v as u32) ^ 0x8000_0000
        } else {
            v as u32
        }
    };
    let mut d = Descriptor::default();
    for (i, field) in [
        s.bytes,
        key(s.min),
        key(s.max),
        s.base,
        s.inner,
        s.inner_step,
        s.inner_carry,
        s.row_len,
        s.row_step,
        s.group,
        s.group_step,
    ]
    .into_iter()
    .enumerate()
    {
        d.set_bits::<32>(32 * i, u64::from(field).into());
    }
    d.set_bits::<8>(352, u64::from(s.element_bytes).into());
    d.set_bits::<8>(360, (s.kind as u64).into());
    d.set_bits::<8>(368, u64::from(s.signed).into());
    d.set_bits::<8>(376, u64::from(s.pack).into());
    d.set_bits::<8>(384, u64::from(s.pack_bits).into());
    d.set_bits::<32>(392, (u64::MAX >> (64 - s.pack_bits)).into());
    d
}

/// The loader between the executor (bytes in) and the engine's load port.
#[derive(LogicBlock)]
pub struct ImageLoader {
    pub clock: Signal<In, Clock>,
    /// Start a new load: offset 0, no image loaded, no fault.
    pub restart: Signal<In, Bit>,
    /// Forget a load in progress; after a fault, also any loaded image (without
    /// one, a loaded image stays loaded: a reset).
    pub abandon: Signal<In, Bit>,
    /// The next byte of the image, taken when `byte_valid & ready`.
    pub byte_valid: Signal<In, Bit>,
    pub in_byte: Signal<In, Bits<8>>,
    /// Can take a byte (and has finished with the last one).
    pub ready: Signal<Out, Bit>,
    /// The engine's load port, registered.
    pub load_enable: Signal<Out, Bit>,
    pub load_address: Signal<Out, Bits<32>>,
    pub load_data: Signal<Out, Bits<32>>,
    /// The file offset of the next byte expected.
    pub offset: Signal<Out, Bits<32>>,
    /// A complete image passed every check.
    pub loaded: Signal<Out, Bit>,
    /// The payload CRC of the loaded image.
    pub image_crc: Signal<Out, Bits<32>>,
    /// The first fault of this load (a `DeviceError` code), 0 when none.
    pub fault: Signal<Out, Bits<8>>,
    crc_unit: Crc32Serial,
    header: ROM<Bits<8>, 6>,
    sections: ROM<Descriptor, 3>,
    // The section's descriptor, registered when it starts (so its fields
    // are register outputs, not ROM logic, where the walk uses them).
    desc: DFF<Descriptor>,
    // `byte_valid` and `in_byte`, registered (so `ready` stays low until
    // the byte is taken).
    take: DFF<Bit>,
    byte_r: DFF<Bits<8>>,
    state: DFF<LoaderState>,
    at: DFF<Bits<32>>,
    done: DFF<Bit>,
    fault_code: DFF<Bits<8>>,
    loaded_crc: DFF<Bits<32>>,
    payload_crc: DFF<Bits<32>>,
    section: DFF<Bits<3>>,
    section_left: DFF<Bits<32>>,
    element: DFF<Bits<32>>,
    element_count: DFF<Bits<8>>,
    address: DFF<Bits<32>>,
    row_base: DFF<Bits<32>>,
    inner: DFF<Bits<32>>,
    position: DFF<Bits<32>>,
    row: DFF<Bits<32>>,
    splits: DFF<Bits<64>>,
    mask_index: DFF<Bits<32>>,
    strobe: DFF<Bit>,
    target: DFF<Bits<32>>,
    value: DFF<Bits<32>>,
    // Where `at` is, one cycle behind it (no byte is taken while `stale`):
    // the end of the image, its last byte, the header's compared bytes, the
    // payload CRC field, the header CRC field and its last byte.
    stale: DFF<Bit>,
    at_end: DFF<Bit>,
    at_last: DFF<Bit>,
    in_prefix: DFF<Bit>,
    in_payload_crc: DFF<Bit>,
    in_header: DFF<Bit>,
    at_header_end: DFF<Bit>,
    // The element being decoded ends its section (and the image).
    ending: DFF<Bit>,
    ending_image: DFF<Bit>,
    // The decoded element: as stored, its range key, its tree place.
    value_r: DFF<Bits<32>>,
    key_r: DFF<Bits<32>>,
    out_of_range: DFF<Bit>,
    tree_offset: DFF<Bits<32>>,
    // The walk's end-of-row tests.
    position_end: DFF<Bit>,
    inner_end: DFF<Bit>,
    row_end: DFF<Bit>,
    // The masks' first address.
    mask_base: DFF<Bits<32>>,
    // A packed section (R table entries a word): the word so far, its
    // entry count and the next entry's bit offset; the element's field
    // shifted into place (in Check); the element completes a word (Decode).
    word_so_far: DFF<Bits<32>>,
    pack_count: DFF<Bits<8>>,
    pack_shift: DFF<Bits<8>>,
    shifted: DFF<Bits<32>>,
    pack_end: DFF<Bit>,
    mid_word: Signal<Local, Bit>,
    // The walk's next address, from one adder: the address plus the inner
    // step (or carry at an inner run's end), or at a row's end the row's
    // base plus the row step (or the group step at a group's end).
    walk_from: Signal<Local, Bits<32>>,
    walk_step: Signal<Local, Bits<32>>,
    walk_sum: Signal<Local, Bits<32>>,
    // The byte's element, once complete: as stored, sign-extended, and its key.
    assembled: Signal<Local, Bits<32>>,
    raw: Signal<Local, Bits<32>>,
    key: Signal<Local, Bits<32>>,
    level: Signal<Local, Bits<32>>,
    node: Signal<Local, Bits<32>>,
    mask: Signal<Local, Bits<32>>,
    image_len: Constant<Bits<32>>,
    last_offset: Constant<Bits<32>>,
    mask_last: Constant<Bits<32>>,
    sign_bit: Constant<Bits<32>>,
    byte_extension: Constant<Bits<32>>,
    half_extension: Constant<Bits<32>>,
    sub_vector_len: Constant<Bits<32>>,
    // The registers' widths for this configuration, as masks (the bits
    // above them are constant 0, so synthesis drops their flip-flops and
    // adders): load-port addresses (this engine's memories), file offsets
    // and section lengths (this image), the walk's counters (its longest
    // row, inner run and group) and the mask index (V).
    address_mask: Constant<Bits<32>>,
    offset_mask: Constant<Bits<32>>,
    count_mask: Constant<Bits<32>>,
    mask_index_mask: Constant<Bits<32>>,
    // The `tree` sections' registers (split dimensions, the masks' base, a
    // threshold's place), all ones with a `tree` codebook and 0 without one
    // (their sections never occur, so they would only hold 0).
    tree_mask: Constant<Bits<32>>,
    splits_mask: Constant<Bits<64>>,
    // Whether any section packs several elements a word (R > 1), as a mask
    // on the packing registers: without one, the word so far, its count and
    // the shift are constant 0 and synthesis drops the shifter.
    pack_mask: Constant<Bits<32>>,
    // Whether any section's range is narrower than its elements can hold:
    // without one, no element can be out of range and the range compare
    // (the keys and their two comparators) is constant false.
    range_checked: Constant<Bit>,
    // The elements' widest value (8 bits a byte of the widest element), as
    // a mask on the decoded value.
    element_mask: Constant<Bits<32>>,
}

/// Whether `s`'s range excludes a value its elements can hold (so the
/// loader must compare each element with it).
fn range_is_checked(s: &Section) -> bool {
    let bits = 8 * s.element_bytes;
    let (lowest, highest) = if s.signed {
        (-(1i64 << (bits - 1)), (1i64 << (bits - 1)) - 1)
    } else {
        (0, (1i64 << bits) - 1)
    };
    s.min > lowest || s.max < highest
}

/// The smallest all-ones mask that covers `max` (0 for 0), at most 32 bits.
fn covering_mask(max: u64) -> u64 {
    let bits = (64 - max.leading_zeros()).min(32);
    if bits == 32 {
        0xFFFF_FFFF
    } else {
        (1 << bits) - 1
    }
}

impl ImageLoader {
    /// The loader of a device whose engine `loader` describes.
    pub fn new(loader: &Loader) -> Self {
        let header = loader
            .header_prefix()
            .iter()
            .map(|&b| Bits::<8>::from(u64::from(b)));
        let sections = loader.sections().iter().map(descriptor);
        assert!(loader.sections().len() <= 8, "the section ROM holds 8");
        let v = loader
            .sections()
            .iter()
            .find(|s| s.kind == SectionKind::TreeSplits);
        let tree = loader
            .sections()
            .iter()
            .any(|s| s.kind != SectionKind::Strided);
        ImageLoader {
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
            crc_unit: Default::default(),
            header: header.into(),
            sections: sections.into(),
            desc: Default::default(),
            take: Default::default(),
            byte_r: Default::default(),
            state: Default::default(),
            at: Default::default(),
            done: Default::default(),
            fault_code: Default::default(),
            loaded_crc: Default::default(),
            payload_crc: Default::default(),
            section: Default::default(),
            section_left: Default::default(),
            element: Default::default(),
            element_count: Default::default(),
            address: Default::default(),
            row_base: Default::default(),
            inner: Default::default(),
            position: Default::default(),
            row: Default::default(),
            splits: Default::default(),
            mask_index: Default::default(),
            strobe: Default::default(),
            target: Default::default(),
            value: Default::default(),
            stale: Default::default(),
            at_end: Default::default(),
            at_last: Default::default(),
            in_prefix: Default::default(),
            in_payload_crc: Default::default(),
            in_header: Default::default(),
            at_header_end: Default::default(),
            ending: Default::default(),
            ending_image: Default::default(),
            value_r: Default::default(),
            key_r: Default::default(),
            out_of_range: Default::default(),
            tree_offset: Default::default(),
            position_end: Default::default(),
            inner_end: Default::default(),
            row_end: Default::default(),
            mask_base: Default::default(),
            word_so_far: Default::default(),
            pack_count: Default::default(),
            pack_shift: Default::default(),
            shifted: Default::default(),
            pack_end: Default::default(),
            mid_word: Default::default(),
            walk_from: Default::default(),
            walk_step: Default::default(),
            walk_sum: Default::default(),
            assembled: Default::default(),
            raw: Default::default(),
            key: Default::default(),
            level: Default::default(),
            node: Default::default(),
            mask: Default::default(),
            image_len: Constant::new((loader.image_len() as u64).into()),
            // `at + 1 == image_len` and `mask_index + 1 == V` as compares
            // with constants (32-bit wrap as the adds had).
            last_offset: Constant::new(
                u64::from((loader.image_len() as u32).wrapping_sub(1)).into(),
            ),
            mask_last: Constant::new(u64::from(v.map_or(0, |s| s.row_step).wrapping_sub(1)).into()),
            sign_bit: Constant::new(0x8000_0000_u64.into()),
            byte_extension: Constant::new(0xFFFF_FF00_u64.into()),
            half_extension: Constant::new(0xFFFF_0000_u64.into()),
            // The split-dimension walk's row step is V.
            sub_vector_len: Constant::new(u64::from(v.map_or(0, |s| s.row_step)).into()),
            // Every write goes to one of the engine's memories (`memory << 16 | word`);
            // the walk's adders wrap, so their low bits are those of 32-bit adders.
            address_mask: Constant::new(
                covering_mask(
                    (u64::try_from(loader.config().memory_count()).unwrap_or(u64::MAX) << 16)
                        .saturating_sub(1),
                )
                .into(),
            ),
            // `at` stops at the image's length; a section's bytes left count down from
            // at most that.
            offset_mask: Constant::new(covering_mask(loader.image_len() as u64).into()),
            // `position + 1` reaches the row length, `inner + 1` the inner run and
            // `row + 1` the group, and no further.
            count_mask: Constant::new(
                covering_mask(
                    loader
                        .sections()
                        .iter()
                        .map(|s| u64::from(s.row_len.max(s.inner).max(s.group)))
                        .max()
                        .unwrap_or(0),
                )
                .into(),
            ),
            tree_mask: Constant::new(if tree { 0xFFFF_FFFF_u64 } else { 0 }.into()),
            pack_mask: Constant::new(
                if loader.sections().iter().any(|s| s.pack > 1) {
                    0xFFFF_FFFF_u64
                } else {
                    0
                }
                .into(),
            ),
            range_checked: Constant::new(loader.sections().iter().any(range_is_checked)),
            element_mask: Constant::new(
                covering_mask(
                    loader
                        .sections()
                        .iter()
                        .map(|s| (1u64 << (8 * s.element_bytes)) - 1)
                        .max()
                        .unwrap_or(0),
                )
                .into(),
            ),
            splits_mask: Constant::new(if tree { u64::MAX } else { 0 }.into()),
            // `mask_index + 1` reaches V.
            mask_index_mask: Constant::new(
                covering_mask(u64::from(v.map_or(1, |s| s.row_step.max(1)))).into(),
            ),
        }
    }
}

// The codes the loader writes as literals (rust-hdl's generator takes literals).
const _: () = {
    assert!(DeviceError::WrongImage as u8 == 9);
    assert!(DeviceError::ImageCrc as u8 == 10);
    assert!(DeviceError::ValueRange as u8 == 11);
    assert!(HEADER_LEN == 64 && PAYLOAD_CRC_OFFSET == 56);
    assert!(SectionKind::Strided as u8 == 0);
    assert!(SectionKind::TreeThresholds as u8 == 1);
    assert!(SectionKind::TreeSplits as u8 == 2);
};

impl Logic for ImageLoader {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            at,
            done,
            fault_code,
            loaded_crc,
            payload_crc,
            section,
            section_left,
            element,
            element_count,
            address,
            row_base,
            inner,
            position,
            row,
            splits,
            mask_index,
            strobe,
            target,
            value,
            stale,
            at_end,
            at_last,
            in_prefix,
            in_payload_crc,
            in_header,
            at_header_end,
            ending,
            ending_image,
            value_r,
            key_r,
            out_of_range,
            tree_offset,
            position_end,
            inner_end,
            row_end,
            mask_base,
            word_so_far,
            pack_count,
            pack_shift,
            shifted,
            pack_end,
            desc,
            take,
            byte_r
        );
        // The executor's byte, registered before anything looks at it.
        self.take.d.next = self.byte_valid.val();
        self.byte_r.d.next = self.in_byte.val();
        clock!(self, clock, crc_unit);
        self.crc_unit.clear.next = false;
        self.crc_unit.start.next = false;
        self.crc_unit.data.next = self.byte_r.q.val();
        self.header.address.next = self.at.q.val().get_bits::<6>(0);
        self.sections.address.next = self.section.q.val();
        self.ready.next = (self.state.q.val() == LoaderState::Accept)
            & !self.crc_unit.busy.val()
            & !self.stale.q.val()
            & !self.take.q.val();
        self.load_enable.next = self.strobe.q.val();
        self.load_address.next = self.target.q.val();
        self.load_data.next = self.value.q.val();
        self.strobe.d.next = false;
        self.offset.next = self.at.q.val();
        self.loaded.next = self.done.q.val();
        self.image_crc.next = self.loaded_crc.q.val();
        self.fault.next = self.fault_code.q.val();

        // Where `at` is, registered: valid the cycle after `at` changes,
        // which is why `stale` holds off the next byte for that cycle.
        self.stale.d.next = false;
        self.at_end.d.next = self.at.q.val() == self.image_len.val();
        self.at_last.d.next = self.at.q.val() == self.last_offset.val();
        self.in_prefix.d.next = self.at.q.val() < 56;
        self.in_payload_crc.d.next = self.at.q.val() < 60;
        self.in_header.d.next = self.at.q.val() < 64;
        self.at_header_end.d.next = self.at.q.val() == 63;

        // The element this byte completes, as stored (little-endian, the
        // byte arriving last is the top one); decoded a cycle later from
        // `element`, sign-extended and as a key.
        self.assembled.next =
            (self.element.q.val() >> 8) | (bit_cast::<32, 8>(self.byte_r.q.val()) << 24);
        self.raw.next = self.element.q.val();
        if self.desc.q.val().get_bits::<8>(352) == 1 {
            self.raw.next = self.element.q.val() >> 24;
        }
        if self.desc.q.val().get_bits::<8>(352) == 2 {
            self.raw.next = self.element.q.val() >> 16;
        }
        self.raw.next = self.raw.val() & self.element_mask.val();
        self.key.next = self.raw.val();
        if self.desc.q.val().get_bit(368) {
            self.key.next = self.raw.val() ^ self.sign_bit.val();
            if (self.desc.q.val().get_bits::<8>(352) == 1) & self.raw.val().get_bit(7) {
                self.key.next = (self.raw.val() | self.byte_extension.val()) ^ self.sign_bit.val();
            }
            if (self.desc.q.val().get_bits::<8>(352) == 2) & self.raw.val().get_bit(15) {
                self.key.next = (self.raw.val() | self.half_extension.val()) ^ self.sign_bit.val();
            }
        }
        // Heap place of threshold `position`: level l holds 2^l - 1 .. 2^(l+1) - 2.
        self.level.next = 0.into();
        self.node.next = 0.into();
        if self.position.q.val() >= 1 {
            self.level.next = 1.into();
            self.node.next = self.position.q.val() - 1;
        }
        if self.position.q.val() >= 3 {
            self.level.next = 2.into();
            self.node.next = self.position.q.val() - 3;
        }
        if self.position.q.val() >= 7 {
            self.level.next = 3.into();
            self.node.next = self.position.q.val() - 7;
        }
        // Level mask of element `mask_index`: the four split dimensions, level 0 lowest.
        self.mask.next = 0.into();
        if bit_cast::<32, 16>(self.splits.q.val().get_bits::<16>(0)) == self.mask_index.q.val() {
            self.mask.next = self.mask.val() | 1;
        }
        if bit_cast::<32, 16>(self.splits.q.val().get_bits::<16>(16)) == self.mask_index.q.val() {
            self.mask.next = self.mask.val() | 2;
        }
        if bit_cast::<32, 16>(self.splits.q.val().get_bits::<16>(32)) == self.mask_index.q.val() {
            self.mask.next = self.mask.val() | 4;
        }
        if bit_cast::<32, 16>(self.splits.q.val().get_bits::<16>(48)) == self.mask_index.q.val() {
            self.mask.next = self.mask.val() | 8;
        }

        self.mid_word.next = !self.pack_end.q.val() & !self.position_end.q.val();
        self.walk_from.next = self.address.q.val();
        self.walk_step.next = self.desc.q.val().get_bits::<32>(160);
        if self.inner_end.q.val() {
            self.walk_step.next = self.desc.q.val().get_bits::<32>(192);
        }
        if self.position_end.q.val() {
            self.walk_from.next = self.row_base.q.val();
            self.walk_step.next = self.desc.q.val().get_bits::<32>(256);
            if self.row_end.q.val() {
                self.walk_step.next = self.desc.q.val().get_bits::<32>(320);
            }
        }
        self.walk_sum.next =
            (self.walk_from.val() + self.walk_step.val()) & self.address_mask.val();
        match self.state.q.val() {
            LoaderState::Accept => {
                if self.take.q.val()
                    & (self.fault_code.q.val() == 0)
                    & !self.crc_unit.busy.val()
                    & !self.stale.q.val()
                {
                    self.at.d.next = (self.at.q.val() + 1) & self.offset_mask.val();
                    self.stale.d.next = true;
                    if self.at_end.q.val() {
                        // Past the end of this configuration's image.
                        self.at.d.next = self.at.q.val();
                        self.fault_code.d.next = 9.into();
                    } else if self.in_prefix.q.val() {
                        self.crc_unit.start.next = true;
                        if self.byte_r.q.val() != self.header.data.val() {
                            self.fault_code.d.next = 9.into();
                        }
                    } else if self.in_payload_crc.q.val() {
                        self.crc_unit.start.next = true;
                        self.payload_crc.d.next = self.assembled.val();
                        self.element.d.next = self.assembled.val();
                    } else if self.in_header.q.val() {
                        self.element.d.next = self.assembled.val();
                        if self.at_header_end.q.val() {
                            if self.assembled.val() != !self.crc_unit.crc.val() {
                                self.fault_code.d.next = 10.into();
                            }
                            self.crc_unit.clear.next = true;
                            self.section.d.next = 0.into();
                            self.state.d.next = LoaderState::SectionStart;
                        }
                    } else {
                        // A payload byte.
                        self.crc_unit.start.next = true;
                        self.element.d.next = self.assembled.val();
                        self.element_count.d.next = self.element_count.q.val() + 1;
                        self.section_left.d.next =
                            (self.section_left.q.val() - 1) & self.offset_mask.val();
                        if self.element_count.q.val() + 1 == self.desc.q.val().get_bits::<8>(352) {
                            // An element is complete: decode it next cycle,
                            // then check it, write it and step the walk
                            // (this section's descriptor until then).
                            self.element_count.d.next = 0.into();
                            self.ending.d.next = self.section_left.q.val() == 1;
                            self.ending_image.d.next = self.at_last.q.val();
                            self.state.d.next = LoaderState::Decode;
                        } else if self.section_left.q.val() == 1 {
                            // (Sections hold whole elements; kept as the walk of
                            // `lutgen_core::loader` has it.)
                            if self.desc.q.val().get_bits::<8>(360) != 2 {
                                self.state.d.next = LoaderState::SectionStart;
                                if self.at_last.q.val() {
                                    self.state.d.next = LoaderState::FinalCheck;
                                }
                            }
                            self.section.d.next = self.section.q.val() + 1;
                        }
                    }
                }
            }
            LoaderState::Decode => {
                self.value_r.d.next = self.raw.val();
                self.key_r.d.next = self.key.val();
                self.tree_offset.d.next = ((self.level.val() << 16) + self.node.val())
                    & self.address_mask.val()
                    & self.tree_mask.val();
                self.position_end.d.next =
                    self.position.q.val() + 1 == self.desc.q.val().get_bits::<32>(224);
                self.inner_end.d.next =
                    self.inner.q.val() + 1 == self.desc.q.val().get_bits::<32>(128);
                self.row_end.d.next = self.row.q.val() + 1 == self.desc.q.val().get_bits::<32>(288);
                self.pack_end.d.next =
                    self.pack_count.q.val() + 1 == self.desc.q.val().get_bits::<8>(376);
                self.state.d.next = LoaderState::Check;
            }
            LoaderState::Check => {
                self.out_of_range.d.next = ((self.key_r.q.val()
                    < self.desc.q.val().get_bits::<32>(32))
                    | (self.key_r.q.val() > self.desc.q.val().get_bits::<32>(64)))
                    & self.range_checked.val();
                self.shifted.d.next = (self.value_r.q.val()
                    & self.desc.q.val().get_bits::<32>(392))
                    << (self.pack_shift.q.val() & self.pack_mask.val().get_bits::<8>(0));
                self.state.d.next = LoaderState::Commit;
            }
            LoaderState::Commit => {
                self.state.d.next = LoaderState::Accept;
                if self.out_of_range.q.val() {
                    self.fault_code.d.next = 11.into();
                }
                if self.desc.q.val().get_bits::<8>(360) == 0 {
                    self.strobe.d.next = true;
                    self.target.d.next = self.address.q.val();
                    self.value.d.next = self.word_so_far.q.val() | self.shifted.q.val();
                }
                if self.desc.q.val().get_bits::<8>(360) == 1 {
                    self.strobe.d.next = true;
                    self.target.d.next = (self.row_base.q.val() + self.tree_offset.q.val())
                        & self.address_mask.val();
                    self.value.d.next = self.value_r.q.val();
                }
                if self.desc.q.val().get_bits::<8>(360) == 2 {
                    self.splits.d.next = ((self.splits.q.val() >> 16)
                        | (bit_cast::<64, 32>(self.value_r.q.val()) << 48))
                        & self.splits_mask.val();
                }
                if self.position_end.q.val() {
                    self.position.d.next = 0.into();
                    self.inner.d.next = 0.into();
                    if self.desc.q.val().get_bits::<8>(360) == 2 {
                        self.mask_index.d.next = 0.into();
                        self.state.d.next = LoaderState::MaskStart;
                    }
                    self.row_base.d.next = self.walk_sum.val();
                    self.address.d.next = self.walk_sum.val();
                    if self.row_end.q.val() {
                        self.row.d.next = 0.into();
                    } else {
                        self.row.d.next = (self.row.q.val() + 1) & self.count_mask.val();
                    }
                } else if self.inner_end.q.val() {
                    self.inner.d.next = 0.into();
                    self.position.d.next = (self.position.q.val() + 1) & self.count_mask.val();
                    self.address.d.next = self.walk_sum.val();
                } else {
                    self.inner.d.next = (self.inner.q.val() + 1) & self.count_mask.val();
                    self.position.d.next = (self.position.q.val() + 1) & self.count_mask.val();
                    self.address.d.next = self.walk_sum.val();
                }
                // A packed word not complete yet (nor its row): keep its
                // fields, count the element, write nothing, hold the address.
                self.word_so_far.d.next = 0.into();
                self.pack_count.d.next = 0.into();
                self.pack_shift.d.next = 0.into();
                if self.mid_word.val() {
                    self.strobe.d.next = false;
                    self.word_so_far.d.next =
                        (self.word_so_far.q.val() | self.shifted.q.val()) & self.pack_mask.val();
                    self.pack_count.d.next =
                        (self.pack_count.q.val() + 1) & self.pack_mask.val().get_bits::<8>(0);
                    self.pack_shift.d.next = (self.pack_shift.q.val()
                        + self.desc.q.val().get_bits::<8>(384))
                        & self.pack_mask.val().get_bits::<8>(0);
                    self.inner.d.next = self.inner.q.val();
                    self.address.d.next = self.address.q.val();
                    self.position.d.next = (self.position.q.val() + 1) & self.count_mask.val();
                }
                // A split-dimension section ends on a row's end, in
                // Masks, which moves on to the next section itself.
                if self.ending.q.val() {
                    if self.desc.q.val().get_bits::<8>(360) != 2 {
                        self.state.d.next = LoaderState::SectionStart;
                        if self.ending_image.q.val() {
                            self.state.d.next = LoaderState::FinalCheck;
                        }
                    }
                    self.section.d.next = self.section.q.val() + 1;
                }
            }
            LoaderState::SectionStart => {
                self.address.d.next =
                    self.sections.data.val().get_bits::<32>(96) & self.address_mask.val();
                self.row_base.d.next =
                    self.sections.data.val().get_bits::<32>(96) & self.address_mask.val();
                self.section_left.d.next =
                    self.sections.data.val().get_bits::<32>(0) & self.offset_mask.val();
                self.inner.d.next = 0.into();
                self.position.d.next = 0.into();
                self.row.d.next = 0.into();
                self.element_count.d.next = 0.into();
                self.word_so_far.d.next = 0.into();
                self.pack_count.d.next = 0.into();
                self.pack_shift.d.next = 0.into();
                self.desc.d.next = self.sections.data.val();
                self.state.d.next = LoaderState::Accept;
            }
            LoaderState::MaskStart => {
                // The codebook's base (the walk has already moved `row_base` on by V).
                self.mask_base.d.next = (self.row_base.q.val() - self.sub_vector_len.val())
                    & self.address_mask.val()
                    & self.tree_mask.val();
                self.state.d.next = LoaderState::Masks;
            }
            LoaderState::Masks => {
                // One mask word per cycle at the codebook's base.
                self.strobe.d.next = true;
                self.target.d.next =
                    (self.mask_base.q.val() + self.mask_index.q.val()) & self.address_mask.val();
                self.value.d.next = self.mask.val();
                self.mask_index.d.next = (self.mask_index.q.val() + 1) & self.mask_index_mask.val();
                if self.mask_index.q.val() == self.mask_last.val() {
                    self.state.d.next = LoaderState::Accept;
                    if self.section_left.q.val() == 0 {
                        self.state.d.next = LoaderState::SectionStart;
                    }
                    if self.at_end.q.val() {
                        self.state.d.next = LoaderState::FinalCheck;
                    }
                }
            }
            LoaderState::FinalCheck => {
                if !self.crc_unit.busy.val() {
                    self.state.d.next = LoaderState::Accept;
                    if (!self.crc_unit.crc.val() == self.payload_crc.q.val())
                        & (self.fault_code.q.val() == 0)
                    {
                        self.done.d.next = true;
                        self.loaded_crc.d.next = self.payload_crc.q.val();
                    } else if self.fault_code.q.val() == 0 {
                        self.fault_code.d.next = 10.into();
                    }
                }
            }
        }
        if self.abandon.val() {
            // After a fault the device holds no image (even one the faulting
            // frame had completed); a reset keeps a loaded image.
            self.fault_code.d.next = 0.into();
            if !self.done.q.val() | (self.fault_code.q.val() != 0) {
                self.at.d.next = 0.into();
                self.done.d.next = false;
                self.loaded_crc.d.next = 0.into();
                self.stale.d.next = true;
            }
            self.state.d.next = LoaderState::Accept;
        }
        if self.restart.val() {
            self.at.d.next = 0.into();
            self.done.d.next = false;
            self.loaded_crc.d.next = 0.into();
            self.fault_code.d.next = 0.into();
            self.crc_unit.clear.next = true;
            self.stale.d.next = true;
            self.state.d.next = LoaderState::Accept;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lutgen_core::EncoderKind;

    #[test]
    fn verilog_is_lint_clean() {
        for (encoder, r) in [
            (EncoderKind::L2, 1),
            (EncoderKind::Tree, 1),
            (EncoderKind::L2, 4),
        ] {
            let config = lutgen_core::EngineConfig {
                entries_per_read: r,
                ..crate::lint::small_engine(encoder, 16)
            };
            let loader = Loader::new(&config).unwrap();
            crate::lint::assert_block_is_clean("image_loader", &mut ImageLoader::new(&loader));
        }
    }
}
