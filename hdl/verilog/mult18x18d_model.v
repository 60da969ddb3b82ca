// Behavioural model of the Lattice ECP5 MULT18X18D multiplier: the subset
// the dense baseline instantiates (hdl/src/dense.rs), so that its ECP5
// Verilog (`define LUTGEN_ECP5_PRIMITIVES) runs in Verilator and Icarus.
// Covered: 18 x 18 -> 36-bit product, signed or unsigned per operand
// (SIGNEDA, SIGNEDB), the input registers A and B
// and the pipeline and output registers, each either off ("NONE") or on
// CLK0 with clock enable CE0. Not modelled: C, the shift chains
// (SOURCEA/SOURCEB tied low), RST (tied low), CLK1 to CLK3, GSR.
// UNUSEDSIGNAL, UNUSEDPARAM: the primitive's ports and parameters that
//   lutgen ties off or leaves at default.
// DECLFILENAME: the model is appended to the engine's file.
/* verilator lint_off UNUSEDSIGNAL */
/* verilator lint_off UNUSEDPARAM */
/* verilator lint_off DECLFILENAME */
module MULT18X18D(
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CE0, RST0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
    output P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter GSR = "ENABLED";
    parameter RESETMODE = "SYNC";
    wire [17:0] a = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg [17:0] a_q = 18'h0;
    reg [17:0] b_q = 18'h0;
    reg signed_a_q = 1'b0;
    reg signed_b_q = 1'b0;
    reg [35:0] pipeline_q = 36'h0;
    reg [35:0] p_q = 36'h0;
    wire [17:0] a_in = REG_INPUTA_CLK == "CLK0" ? a_q : a;
    wire [17:0] b_in = REG_INPUTB_CLK == "CLK0" ? b_q : b;
    wire signed_a = REG_INPUTA_CLK == "CLK0" ? signed_a_q : SIGNEDA;
    wire signed_b = REG_INPUTB_CLK == "CLK0" ? signed_b_q : SIGNEDB;
    wire signed [36:0] a_wide = $signed({signed_a & a_in[17], {18{signed_a & a_in[17]}}, a_in});
    wire signed [36:0] b_wide = $signed({signed_b & b_in[17], {18{signed_b & b_in[17]}}, b_in});
    wire signed [73:0] full = a_wide * b_wide;
    wire [35:0] product = full[35:0];
    wire [35:0] pipelined = REG_PIPELINE_CLK == "CLK0" ? pipeline_q : product;
    wire [35:0] p = REG_OUTPUT_CLK == "CLK0" ? p_q : pipelined;
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18,
            P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = p;
    always @(posedge CLK0) begin
        if (CE0) begin
            a_q <= a;
            b_q <= b;
            signed_a_q <= SIGNEDA;
            signed_b_q <= SIGNEDB;
            pipeline_q <= product;
            p_q <= pipelined;
        end
    end
endmodule
/* verilator lint_on DECLFILENAME */
/* verilator lint_on UNUSEDPARAM */
/* verilator lint_on UNUSEDSIGNAL */
