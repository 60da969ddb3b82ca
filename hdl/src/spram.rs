//! iCE40 UltraPlus single-port RAM (`SB_SPRAM256KA`) for the lanes' tables.
//!
//! The iCE40UP5K (iCEBreaker) has 30 block RAMs of 4 Kbit (`SB_RAM40_4K`)
//! and, beside them, four 256 Kbit single-port RAMs of 16,384 x 16 bits.
//! Under [`ICE40_SPRAM`] a lane's table memory (`BlockRam::table`) is built
//! from these blocks instead of block RAM; everything else (bias, centroids,
//! thresholds, activation tables, the index FIFO) stays where it was.
//!
//! **One table entry per 16-bit word.** The lane reads one entry per cycle at
//! an address that advances by one, so one entry per word keeps the read rate
//! with no extra logic; two entries per word (written through `MASKWREN`)
//! would halve the blocks but give two entries per read, which the lane
//! would have to buffer and align (a codebook's rows start at any address).
//! The UP5K's four blocks hold 65,536 entries this way: the digits network's
//! two single-lane layers (16,384 and 2,560 entries) take two.
//!
//! **Deeper tables** span `ceil(words / 16384)` blocks: the address's bits
//! `[13:0]` go to every block, the bits above select the block, registered
//! with the read so that a multiplexer picks the block's output into the
//! memory's second read register (the pipelined `BlockRam`'s `read_data`).
//! Latency and stall behaviour are the pipelined memory's: the block's
//! `DATAOUT` is the first read register (it holds while `CHIPSELECT` is
//! low, i.e. while `read_enable` is low), `read_data` the second.
//!
//! **One port.** A write takes the port: the address is the write's while
//! `write_enable` is high, and a read in that cycle is not performed (the
//! written block's `DATAOUT` is undefined, the others read the written
//! address). The engine's load port writes only while no vector is in flight
//! (`docs/architecture.md`, load-port rule 3: a write during inference is
//! already undefined), and its table reads outside a vector are discarded
//! (no valid token goes with them), so giving writes priority at all times
//! loses nothing. What must hold: no `load_enable` write to a table memory
//! while a vector is in flight, as for every memory.
//!
//! [`MODEL`] is a behavioural model of the block for Verilator and Icarus.

/// The Verilog macro that selects the UP5K build (`read_verilog
/// -DLUTGEN_ICE40_SPRAM`): the lanes' table memories as `SB_SPRAM256KA`
/// blocks. Without it (or with [`crate::dp16kd::ECP5_PRIMITIVES`], which
/// takes precedence) the tables are the portable template or DP16KD.
pub const ICE40_SPRAM: &str = "LUTGEN_ICE40_SPRAM";

/// Words of one block.
pub const BLOCK_WORDS: usize = 16384;

/// Bits of one block's word.
pub const BLOCK_BITS: usize = 16;

/// Blocks on the iCE40UP5K.
pub const UP5K_BLOCKS: usize = 4;

/// The Verilog of a behavioural `SB_SPRAM256KA` model; define
/// [`ICE40_SPRAM`] and add this to simulate the UP5K Verilog (see
/// [`spram_simulation_verilog`]).
pub const MODEL: &str = include_str!("../verilog/sb_spram256ka_model.v");

/// `verilog` as it is synthesized for the UP5K with its tables in SPRAM
/// (the [`ICE40_SPRAM`] branches selected), with [`MODEL`] appended, ready
/// for Verilator or Icarus.
pub fn spram_simulation_verilog(verilog: &str) -> String {
    format!("`define {ICE40_SPRAM}\n{verilog}\n{MODEL}")
}

/// `verilog` with [`ICE40_SPRAM`] defined at its top, so any tool that reads
/// it (yosys `synth_ice40`, nextpnr-ice40 `--up5k`) builds the tables in SPRAM.
pub fn with_spram_define(verilog: &str) -> String {
    format!("`define {ICE40_SPRAM}\n{verilog}")
}

/// The `SB_SPRAM256KA` blocks a table memory of `words` words takes.
/// Address bits decoded for a memory of `words` words: at least one.
pub(crate) fn used_address_bits(words: usize) -> usize {
    (usize::BITS - (words - 1).leading_zeros()).max(1) as usize
}

pub fn blocks_for(words: usize) -> usize {
    words.div_ceil(BLOCK_WORDS)
}

/// How a `words` x `bits` table memory is laid out in `SB_SPRAM256KA`
/// blocks: one word per block word, `blocks` deep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Blocks, one above the other (address bits `[13:0]` within a block,
    /// the bits above select it).
    pub blocks: usize,
    words: usize,
    bits: usize,
}

impl Layout {
    /// The layout of a table memory, or `None` when its word is wider
    /// than a block's (16 bits) or it is empty.
    pub fn for_table(words: usize, bits: usize) -> Option<Layout> {
        (words > 0 && (1..=BLOCK_BITS).contains(&bits)).then(|| Layout {
            blocks: blocks_for(words),
            words,
            bits,
        })
    }

    /// Address bits the memory decodes (as in the portable template).
    fn address_bits(&self) -> usize {
        used_address_bits(self.words)
    }

    /// The 14-bit block address from `signal`'s decoded bits (zero-padded).
    fn block_address(&self, signal: &str) -> String {
        let a = self.address_bits().min(14);
        if a == 14 {
            format!("{signal}[13:0]")
        } else {
            format!("{{{}'b0, {signal}[{}:0]}}", 14 - a, a - 1)
        }
    }

    /// The block-select bits of `signal` (`None` with one block).
    fn select(&self, signal: &str) -> Option<String> {
        (self.blocks > 1).then(|| format!("{signal}[{}:14]", self.address_bits() - 1))
    }

    /// The blocks of a `BlockRam` table (its port names: `clock`,
    /// `read_enable`, `read_address`, `read_data`, `write_enable`,
    /// `write_address`, `write_data`), `read_data` the second read register.
    pub fn verilog(&self) -> String {
        let bits = self.bits;
        let data_in = if bits == BLOCK_BITS {
            "write_data".to_string()
        } else {
            format!("{{{}'b0, write_data}}", BLOCK_BITS - bits)
        };
        let mut v = format!(
            "\
// iCE40 UltraPlus: SB_SPRAM256KA blocks, one entry per 16-bit word. A write
// takes the single port (loads never overlap a vector in flight).
wire [13:0] spram_address = write_enable ? {write} : {read};
wire spram_select = read_enable | write_enable;
",
            write = self.block_address("write_address"),
            read = self.block_address("read_address"),
        );
        for b in 0..self.blocks {
            let wren = match self.select("write_address") {
                None => "write_enable".to_string(),
                Some(s) => format!(
                    "write_enable & ({s} == {w}'d{b})",
                    w = self.address_bits() - 14
                ),
            };
            v.push_str(&format!(
                "\
wire [15:0] spram_{b}_out;
SB_SPRAM256KA spram_{b} (
    .ADDRESS(spram_address), .DATAIN({data_in}), .MASKWREN(4'b1111),
    .WREN({wren}), .CHIPSELECT(spram_select), .CLOCK(clock),
    .STANDBY(1'b0), .SLEEP(1'b0), .POWEROFF(1'b1), .DATAOUT(spram_{b}_out)
);
"
            ));
        }
        let part = |b: usize| format!("spram_{b}_out[{}:0]", bits - 1);
        match self.select("read_address") {
            None => v.push_str(&format!(
                "\
always @(posedge clock) begin
    if (read_enable) begin
        read_data <= {};
    end
end
",
                part(0)
            )),
            Some(s) => {
                let w = self.address_bits() - 14;
                // The last block is the default: a select past it never
                // occurs (reads stay below `words`).
                let mut mux = part(self.blocks - 1);
                for b in (0..self.blocks - 1).rev() {
                    mux = format!("spram_block == {w}'d{b} ? {} : {mux}", part(b));
                }
                v.push_str(&format!(
                    "\
// The block read last, registered with the read: it picks the block's output.
reg [{hi}:0] spram_block;
always @(posedge clock) begin
    if (read_enable) begin
        spram_block <= {s};
        read_data <= {mux};
    end
end
",
                    hi = w - 1
                ));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_take_one_block_per_16384_entries() {
        let default = Layout::for_table(4096, 8).unwrap();
        assert_eq!(default.blocks, 1);
        assert_eq!(Layout::for_table(16384, 8).unwrap().blocks, 1);
        assert_eq!(Layout::for_table(16385, 8).unwrap().blocks, 2);
        assert_eq!(Layout::for_table(65536, 16).unwrap().blocks, 4);
        assert_eq!(Layout::for_table(1024, 17), None);
        assert_eq!(Layout::for_table(0, 8), None);
    }

    #[test]
    fn addresses_keep_the_decoded_bits_only() {
        // 4,096 words: bits [11:0], two zeros above (aliasing as the template).
        let v = Layout::for_table(4096, 8).unwrap().verilog();
        assert!(v.contains(
            "spram_address = write_enable ? {2'b0, write_address[11:0]} : {2'b0, read_address[11:0]};"
        ));
        assert!(v.contains(".WREN(write_enable)"));
        assert!(v.contains(".DATAIN({8'b0, write_data})"));
        assert!(v.contains("read_data <= spram_0_out[7:0];"));
        assert!(!v.contains("spram_block"));
        // 24,576 words: two blocks, bit 14 selects.
        let v = Layout::for_table(24576, 8).unwrap().verilog();
        assert!(v.contains("write_address[13:0] : read_address[13:0]"));
        assert!(v.contains(".WREN(write_enable & (write_address[14:14] == 1'd1))"));
        assert!(v.contains("spram_block <= read_address[14:14];"));
        assert!(
            v.contains("read_data <= spram_block == 1'd0 ? spram_0_out[7:0] : spram_1_out[7:0];")
        );
    }
}
