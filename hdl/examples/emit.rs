fn main() {
    let config = lutgen_core::EngineConfig::default();
    print!("{}", lutgen_hdl::verilog::engine_verilog(&config).unwrap());
}
