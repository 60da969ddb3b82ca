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

use crate::uart::Crc32Serial;
use lutgen_core::image::format::{HEADER_LEN, PAYLOAD_CRC_OFFSET};
use lutgen_core::loader::{Loader, Section, SectionKind};
use lutgen_core::protocol::DeviceError;
use rust_hdl::prelude::*;

/// A section, packed for the section ROM: see [`descriptor`] for the fields.
pub type Descriptor = Bits<384>;

#[derive(Copy, Clone, PartialEq, Debug, LogicState)]
pub enum LoaderState {
    /// Waiting for a byte.
    Accept,
    /// Starting a section: the walk's counters from the section ROM.
    SectionStart,
    /// Writing the V level masks of a `tree` codebook.
    Masks,
    /// After the last byte: waiting for the payload CRC.
    FinalCheck,
}

/// Packs `s` (fields at bit 32 i, then element bytes, kind and signedness):
/// bytes, lowest key, highest key, base, inner, inner step, inner carry,
/// row length, row step, group, group step. A key is the value with its sign
/// bit flipped for signed sections, so one unsigned compare checks the range.
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
    // The byte's element, once complete: as stored, sign-extended, and its key.
    assembled: Signal<Local, Bits<32>>,
    raw: Signal<Local, Bits<32>>,
    key: Signal<Local, Bits<32>>,
    level: Signal<Local, Bits<32>>,
    node: Signal<Local, Bits<32>>,
    mask: Signal<Local, Bits<32>>,
    image_len: Constant<Bits<32>>,
    sign_bit: Constant<Bits<32>>,
    byte_extension: Constant<Bits<32>>,
    half_extension: Constant<Bits<32>>,
    sub_vector_len: Constant<Bits<32>>,
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
            assembled: Default::default(),
            raw: Default::default(),
            key: Default::default(),
            level: Default::default(),
            node: Default::default(),
            mask: Default::default(),
            image_len: Constant::new((loader.image_len() as u64).into()),
            sign_bit: Constant::new(0x8000_0000_u64.into()),
            byte_extension: Constant::new(0xFFFF_FF00_u64.into()),
            half_extension: Constant::new(0xFFFF_0000_u64.into()),
            // The split-dimension walk's row step is V.
            sub_vector_len: Constant::new(u64::from(v.map_or(0, |s| s.row_step)).into()),
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
            value
        );
        clock!(self, clock, crc_unit);
        self.crc_unit.clear.next = false;
        self.crc_unit.start.next = false;
        self.crc_unit.data.next = self.in_byte.val();
        self.header.address.next = self.at.q.val().get_bits::<6>(0);
        self.sections.address.next = self.section.q.val();
        self.ready.next = (self.state.q.val() == LoaderState::Accept) & !self.crc_unit.busy.val();
        self.load_enable.next = self.strobe.q.val();
        self.load_address.next = self.target.q.val();
        self.load_data.next = self.value.q.val();
        self.strobe.d.next = false;
        self.offset.next = self.at.q.val();
        self.loaded.next = self.done.q.val();
        self.image_crc.next = self.loaded_crc.q.val();
        self.fault.next = self.fault_code.q.val();

        // The element this byte completes, as stored (little-endian, the
        // byte arriving last is the top one), sign-extended and as a key.
        self.assembled.next =
            (self.element.q.val() >> 8) | (bit_cast::<32, 8>(self.in_byte.val()) << 24);
        self.raw.next = self.assembled.val();
        if self.sections.data.val().get_bits::<8>(352) == 1 {
            self.raw.next = self.assembled.val() >> 24;
        }
        if self.sections.data.val().get_bits::<8>(352) == 2 {
            self.raw.next = self.assembled.val() >> 16;
        }
        self.key.next = self.raw.val();
        if self.sections.data.val().get_bit(368) {
            self.key.next = self.raw.val() ^ self.sign_bit.val();
            if (self.sections.data.val().get_bits::<8>(352) == 1) & self.raw.val().get_bit(7) {
                self.key.next = (self.raw.val() | self.byte_extension.val()) ^ self.sign_bit.val();
            }
            if (self.sections.data.val().get_bits::<8>(352) == 2) & self.raw.val().get_bit(15) {
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

        match self.state.q.val() {
            LoaderState::Accept => {
                if self.byte_valid.val()
                    & (self.fault_code.q.val() == 0)
                    & !self.crc_unit.busy.val()
                {
                    self.at.d.next = self.at.q.val() + 1;
                    if self.at.q.val() == self.image_len.val() {
                        // Past the end of this configuration's image.
                        self.at.d.next = self.at.q.val();
                        self.fault_code.d.next = 9.into();
                    } else if self.at.q.val() < 56 {
                        self.crc_unit.start.next = true;
                        if self.in_byte.val() != self.header.data.val() {
                            self.fault_code.d.next = 9.into();
                        }
                    } else if self.at.q.val() < 60 {
                        self.crc_unit.start.next = true;
                        self.payload_crc.d.next = self.assembled.val();
                        self.element.d.next = self.assembled.val();
                    } else if self.at.q.val() < 64 {
                        self.element.d.next = self.assembled.val();
                        if self.at.q.val() == 63 {
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
                        self.section_left.d.next = self.section_left.q.val() - 1;
                        if self.element_count.q.val() + 1
                            == self.sections.data.val().get_bits::<8>(352)
                        {
                            // An element is complete: check it, write it, step the walk.
                            self.element_count.d.next = 0.into();
                            if (self.key.val() < self.sections.data.val().get_bits::<32>(32))
                                | (self.key.val() > self.sections.data.val().get_bits::<32>(64))
                            {
                                self.fault_code.d.next = 11.into();
                            }
                            if self.sections.data.val().get_bits::<8>(360) == 0 {
                                self.strobe.d.next = true;
                                self.target.d.next = self.address.q.val();
                                self.value.d.next = self.raw.val();
                            }
                            if self.sections.data.val().get_bits::<8>(360) == 1 {
                                self.strobe.d.next = true;
                                self.target.d.next = self.row_base.q.val()
                                    + (self.level.val() << 16)
                                    + self.node.val();
                                self.value.d.next = self.raw.val();
                            }
                            if self.sections.data.val().get_bits::<8>(360) == 2 {
                                self.splits.d.next = (self.splits.q.val() >> 16)
                                    | (bit_cast::<64, 32>(self.raw.val()) << 48);
                            }
                            if self.position.q.val() + 1
                                == self.sections.data.val().get_bits::<32>(224)
                            {
                                self.position.d.next = 0.into();
                                self.inner.d.next = 0.into();
                                if self.sections.data.val().get_bits::<8>(360) == 2 {
                                    self.mask_index.d.next = 0.into();
                                    self.state.d.next = LoaderState::Masks;
                                }
                                if self.row.q.val() + 1
                                    == self.sections.data.val().get_bits::<32>(288)
                                {
                                    self.row.d.next = 0.into();
                                    self.row_base.d.next = self.row_base.q.val()
                                        + self.sections.data.val().get_bits::<32>(320);
                                    self.address.d.next = self.row_base.q.val()
                                        + self.sections.data.val().get_bits::<32>(320);
                                } else {
                                    self.row.d.next = self.row.q.val() + 1;
                                    self.row_base.d.next = self.row_base.q.val()
                                        + self.sections.data.val().get_bits::<32>(256);
                                    self.address.d.next = self.row_base.q.val()
                                        + self.sections.data.val().get_bits::<32>(256);
                                }
                            } else if self.inner.q.val() + 1
                                == self.sections.data.val().get_bits::<32>(128)
                            {
                                self.inner.d.next = 0.into();
                                self.position.d.next = self.position.q.val() + 1;
                                self.address.d.next = self.address.q.val()
                                    + self.sections.data.val().get_bits::<32>(192);
                            } else {
                                self.inner.d.next = self.inner.q.val() + 1;
                                self.position.d.next = self.position.q.val() + 1;
                                self.address.d.next = self.address.q.val()
                                    + self.sections.data.val().get_bits::<32>(160);
                            }
                        }
                        // A split-dimension section ends on a row's end, in
                        // Masks, which moves on to the next section itself.
                        if (self.section_left.q.val() == 1)
                            & (self.sections.data.val().get_bits::<8>(360) != 2)
                        {
                            self.state.d.next = LoaderState::SectionStart;
                            if self.at.q.val() + 1 == self.image_len.val() {
                                self.state.d.next = LoaderState::FinalCheck;
                            }
                        }
                        if self.section_left.q.val() == 1 {
                            self.section.d.next = self.section.q.val() + 1;
                        }
                    }
                }
            }
            LoaderState::SectionStart => {
                self.address.d.next = self.sections.data.val().get_bits::<32>(96);
                self.row_base.d.next = self.sections.data.val().get_bits::<32>(96);
                self.section_left.d.next = self.sections.data.val().get_bits::<32>(0);
                self.inner.d.next = 0.into();
                self.position.d.next = 0.into();
                self.row.d.next = 0.into();
                self.element_count.d.next = 0.into();
                self.state.d.next = LoaderState::Accept;
            }
            LoaderState::Masks => {
                // One mask word per cycle at the codebook's base (the walk has
                // already moved `row_base` on by V).
                self.strobe.d.next = true;
                self.target.d.next =
                    self.row_base.q.val() - self.sub_vector_len.val() + self.mask_index.q.val();
                self.value.d.next = self.mask.val();
                self.mask_index.d.next = self.mask_index.q.val() + 1;
                if self.mask_index.q.val() + 1 == self.sub_vector_len.val() {
                    self.state.d.next = LoaderState::Accept;
                    if self.section_left.q.val() == 0 {
                        self.state.d.next = LoaderState::SectionStart;
                    }
                    if self.at.q.val() == self.image_len.val() {
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
            }
            self.state.d.next = LoaderState::Accept;
        }
        if self.restart.val() {
            self.at.d.next = 0.into();
            self.done.d.next = false;
            self.loaded_crc.d.next = 0.into();
            self.fault_code.d.next = 0.into();
            self.crc_unit.clear.next = true;
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
        for encoder in [EncoderKind::L2, EncoderKind::Tree] {
            let config = crate::lint::small_engine(encoder, 16);
            let loader = Loader::new(&config).unwrap();
            crate::lint::assert_block_is_clean("image_loader", &mut ImageLoader::new(&loader));
        }
    }
}
