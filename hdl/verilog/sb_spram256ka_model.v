// Behavioural model of the Lattice iCE40 UltraPlus SB_SPRAM256KA single-port
// RAM (16,384 words of 16 bits), for simulating the Verilog as built for the
// UP5K (`define LUTGEN_ICE40_SPRAM, hdl/src/spram.rs) in Verilator and
// Icarus. It follows yosys's own model (share/yosys/ice40/cells_sim.v): at a
// rising CLOCK with CHIPSELECT high, a read (WREN low) registers the word at
// ADDRESS into DATAOUT; a write (WREN high) stores the DATAIN nibbles that
// MASKWREN enables and leaves DATAOUT undefined (x); with CHIPSELECT low
// DATAOUT holds. Not modelled: STANDBY, SLEEP and POWEROFF (lutgen ties them
// to 0, 0 and 1: powered and awake), and the power-up contents (undefined on
// the chip; the engine loads every word it reads).
// UNUSEDSIGNAL: the power-control pins lutgen ties off.
// DECLFILENAME: the model is appended to the engine's file.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off DECLFILENAME */
module SB_SPRAM256KA(
    input [13:0] ADDRESS,
    input [15:0] DATAIN,
    input [3:0] MASKWREN,
    input WREN, CHIPSELECT, CLOCK, STANDBY, SLEEP, POWEROFF,
    output reg [15:0] DATAOUT
);
    reg [15:0] mem [0:16383];

    always @(posedge CLOCK) begin
        if (CHIPSELECT) begin
            if (!WREN) begin
                DATAOUT <= mem[ADDRESS];
            end else begin
                if (MASKWREN[0]) mem[ADDRESS][3:0] <= DATAIN[3:0];
                if (MASKWREN[1]) mem[ADDRESS][7:4] <= DATAIN[7:4];
                if (MASKWREN[2]) mem[ADDRESS][11:8] <= DATAIN[11:8];
                if (MASKWREN[3]) mem[ADDRESS][15:12] <= DATAIN[15:12];
                DATAOUT <= 16'bx;
            end
        end
    end
endmodule
/* verilator lint_on DECLFILENAME */
/* verilator lint_on UNUSEDSIGNAL */
